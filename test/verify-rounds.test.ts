import { mkdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config/load.js";
import { openDaemon } from "../src/daemon/open.js";
import type { JournalRecord } from "../src/incidents/types.js";
import { createLogger } from "../src/lib/log.js";
import { cleanup, onCleanup, tempDir, waitUntil } from "./harness.js";

afterEach(cleanup);

/**
 * The service of the report: after its "fix" it answers verification's checks but fails every
 * regular round (it flaps, and the regular rounds happen to land on the failures). The daemon's
 * round hooks tell the server when a regular round is out; that is the only thing the test adds.
 */
async function flappingService() {
  const s = { mode: "down" as "down" | "flapping" | "up", fixTo: "flapping" as "flapping" | "up", regularOut: false, fixes: 0 };
  const server = http.createServer((req, res) => {
    if (req.method === "POST" && req.url === "/fix") {
      s.fixes++;
      s.mode = s.fixTo;
      return void res.writeHead(200).end("fixed");
    }
    const ok = s.mode === "up" || (s.mode === "flapping" && !s.regularOut);
    res.writeHead(ok ? 200 : 503, { "content-type": "application/json" }).end(JSON.stringify({ status: ok ? "pass" : "fail" }));
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  onCleanup(() => new Promise<void>((ok) => server.close(() => ok())));
  return { s, port: (server.address() as AddressInfo).port };
}

describe("verification and the target's regular rounds", () => {
  it("is not fooled by healthy checks while every regular round fails; a real recovery still verifies", async () => {
    const dir = tempDir();
    const { s, port } = await flappingService();
    mkdirSync(join(dir, "playbooks"));
    writeFileSync(
      join(dir, "playbooks", "fix.yaml"),
      `name: fix-it
on: [server_down]
steps:
  - http: { url: "http://127.0.0.1:${port}/fix" }
verify: { within: 3s }
`,
    );
    writeFileSync(
      join(dir, "medic.yaml"),
      `stateDir: ${JSON.stringify(join(dir, "state"))}
playbooks: [./playbooks]
defaults: { interval: 200ms, timeout: 1s, failureThreshold: 2, successThreshold: 3 }
safety: { flapGuard: { backoff: { initial: 0s, max: 0s } } }
targets:
  - name: api
    probe: { http: { url: "http://127.0.0.1:${port}/health" } }
`,
    );
    const loaded = await loadConfig(join(dir, "medic.yaml"));
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
    const records: JournalRecord[] = [];
    const daemon = await openDaemon({
      config: loaded.config,
      log: createLogger({ level: "silent", pretty: false }),
      onRecord: (r) => void records.push(r),
      onRoundStart: () => void (s.regularOut = true),
      onRound: () => void (s.regularOut = false),
    });
    onCleanup(() => daemon.stop());
    await daemon.start();
    const of = (id: string) => records.filter((r) => r.incident === id && !r.type.startsWith("notification_"));

    // Down, fixed into a flapping state: verification's own checks pass, every regular round fails.
    const first = await waitUntil(() => records.find((r) => r.type === "opened"), 10_000, "the incident");
    const ended = await waitUntil(
      () => of(first.incident).find((r) => r.type === "escalated" || r.type === "resolved"),
      15_000,
      "verification's verdict",
    );
    expect(s.fixes).toBe(1);
    expect(ended).toMatchObject({
      type: "escalated",
      reason: expect.stringMatching(
        /^verification: not recovered within 3s \(.*a regular probe round [\d.]+m?s into verification saw server_down: HTTP 503/,
      ),
    });
    // And then: the same incident stays open (no "verified" resolve, no second incident a moment later) ...
    await new Promise((r) => setTimeout(r, 600));
    expect(records.filter((r) => r.type === "opened")).toHaveLength(1);
    // ... until the service really is healthy, when its regular rounds resolve it.
    s.mode = "up";
    await waitUntil(() => of(first.incident).find((r) => r.type === "resolved"), 10_000, "the escalated incident to resolve");

    // A real fix, with the regular rounds going on (healthy now), is verified as before.
    s.fixTo = "up";
    s.mode = "down";
    const second = await waitUntil(
      () => records.find((r) => r.type === "opened" && r.incident !== first.incident),
      10_000,
      "a second incident",
    );
    const verdict = await waitUntil(
      () => of(second.incident).find((r) => r.type === "escalated" || r.type === "resolved"),
      15_000,
      "its verdict",
    );
    expect(verdict).toMatchObject({ type: "resolved", reason: expect.stringMatching(/^verified: healthy for 3 rounds/) });
  }, 60_000);
});
