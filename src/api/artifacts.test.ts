import { createHash } from "node:crypto";
import { symlink, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { removeTrees, writeTree } from "../../test/fixtures/config-tmp.js";
import { createArtifactSink } from "../artifacts/store.js";
import { loadConfig } from "../config/load.js";
import type { Config } from "../config/types.js";
import { Metrics } from "../metrics/metrics.js";
import { MemoryStore } from "../store/memory.js";
import { createApi, type Api } from "./server.js";
import type { ApiDaemon } from "./types.js";

// The artifact download against files the real sink wrote; a stand-in daemon holds the journal.

const log = pino({ level: "silent" });
const apis: Api[] = [];
afterEach(async () => {
  await Promise.all(apis.splice(0).map((a) => a.close()));
  await removeTrees();
});

async function setUp(opts: { publicReads?: boolean } = {}) {
  const dir = await writeTree({ v: `${"v".repeat(32)}\n` });
  const open = opts.publicReads ? "  publicReads: true\n" : "";
  const yaml = `stateDir: ./state\nplaybooks: []\napi:\n${open}  tokens:\n    - { name: vic, tokenFile: ${dir}/v, role: viewer }\ntargets:\n  - { name: api, probe: { tcp: { port: 1 } } }\n`;
  await writeFile(join(dir, "medic.yaml"), yaml);
  const loaded = await loadConfig(join(dir, "medic.yaml"), { env: {} });
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
  const config: Config = loaded.config;
  const sink = createArtifactSink({ stateDir: config.stateDir, incident: "abcd1234", limits: config.artifacts });
  const logs = await sink.save("logs", "boom\n", { keep: "tail" });
  const heap = await sink.save("heap", Buffer.from([1, 2, 3, 0xff]), { binary: true, ext: "heapsnapshot" });
  const store = new MemoryStore();
  store.append("abcd1234", { type: "opened", target: "api", kind: "memory_pressure", severity: "P2", evidence: "rss" }, 1_000);
  store.append(
    "abcd1234",
    { type: "playbook_started", runId: "r", playbook: "p", steps: [{ name: "cap", kind: "capture.logs", description: "d" }] },
    1_001,
  );
  store.append(
    "abcd1234",
    { type: "step_finished", runId: "r", index: 0, outcome: "ok", detail: "kept", durationMs: 1, artifacts: [logs, heap] },
    1_002,
  );
  const daemon = {
    liveIncidents: () => store.live(),
    findIncident: (id: string) => store.find(id),
    history: (q: Parameters<MemoryStore["history"]>[0]) => store.history(q),
    health: () => ({ ok: true, checks: [] }),
  } as unknown as ApiDaemon;
  const api = createApi({ config, daemon, metrics: new Metrics(), log, dryRun: false, listen: { host: "127.0.0.1", port: 0 } })!;
  apis.push(api);
  const at = await api.listen();
  return { url: `http://127.0.0.1:${at.port}`, config, logs, heap };
}

const viewer = { authorization: `Bearer ${"v".repeat(32)}` };

describe("GET /api/incidents/ID/artifacts/NAME", () => {
  it("serves a listed artifact to a viewer as an attachment, nosniff, with the journal's hash; the detail lists it", async () => {
    const { url, heap } = await setUp();
    const detail = (await (await fetch(`${url}/api/incidents/abcd1234`, { headers: viewer })).json()) as { artifacts: unknown[] };
    expect(detail.artifacts).toEqual([
      expect.objectContaining({
        name: "logs-1.txt",
        step: "cap",
        excerpt: "boom",
        download: "/api/incidents/abcd1234/artifacts/logs-1.txt",
      }),
      expect.objectContaining({ name: "heap-2.heapsnapshot", bytes: 4, sha256: heap.sha256 }),
    ]);
    const res = await fetch(`${url}/api/incidents/abcd1234/artifacts/heap-2.heapsnapshot`, { headers: viewer });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-disposition")).toBe('attachment; filename="medic-abcd1234-heap-2.heapsnapshot"');
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("content-type")).toBe("application/octet-stream");
    const body = Buffer.from(await res.arrayBuffer());
    expect(createHash("sha256").update(body).digest("hex")).toBe(heap.sha256);
  });

  it("needs a token, refuses a name that is not one medic makes, one the journal does not list, and says when it is gone", async () => {
    const { url, config, logs } = await setUp();
    expect((await fetch(`${url}/api/incidents/abcd1234/artifacts/logs-1.txt`)).status).toBe(401);
    for (const name of ["..%2F..%2Fmedic.yaml", "%2Fetc%2Fpasswd", "logs-1.txt.", ".tmp-abc"]) {
      const res = await fetch(`${url}/api/incidents/abcd1234/artifacts/${name}`, { headers: viewer });
      expect([name, res.status]).toEqual([name, 400]);
    }
    // A file in the folder that the journal does not list (put there by hand) is not served.
    await writeFile(join(config.stateDir, "artifacts/abcd1234/logs-9.txt"), "not medic's");
    const unlisted = await fetch(`${url}/api/incidents/abcd1234/artifacts/logs-9.txt`, { headers: viewer });
    expect(unlisted.status).toBe(404);
    expect(((await unlisted.json()) as { hint: string }).hint).toBe("GET /api/incidents/abcd1234 lists its artifacts");
    // A listed artifact swapped for a symlink is not followed.
    const path = join(config.stateDir, logs.path);
    await unlink(path);
    await symlink(join(config.stateDir, "..", "medic.yaml"), path);
    expect((await fetch(`${url}/api/incidents/abcd1234/artifacts/logs-1.txt`, { headers: viewer })).status).toBe(403);
    await unlink(path);
    const gone = await fetch(`${url}/api/incidents/abcd1234/artifacts/logs-1.txt`, { headers: viewer });
    expect(gone.status).toBe(410);
  });

  it("never without a token, even where reads are open: evidence may hold every secret the process had", async () => {
    const { url } = await setUp({ publicReads: true });
    expect((await fetch(`${url}/api/incidents/abcd1234`)).status).toBe(200);
    const anonymous = await fetch(`${url}/api/incidents/abcd1234/artifacts/heap-2.heapsnapshot`);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: string }).error).toBe("downloading evidence needs a token");
    expect((await fetch(`${url}/api/incidents/abcd1234/artifacts/heap-2.heapsnapshot`, { headers: viewer })).status).toBe(200);
  });
});
