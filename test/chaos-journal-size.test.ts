import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { JournalRecord } from "../src/incidents/types.js";
import { apiUrl, cleanup, freePort, journal, medic, startMedic, tempDir } from "./harness.js";

afterEach(cleanup);

/** Past V8's longest string (about 512 MiB): reading this journal whole into one string throws ERR_STRING_TOO_LONG. */
const HOLE_BYTES = 600 * 1024 * 1024;

const line = (r: Partial<JournalRecord> & { incident: string; type: string; at: number }) => JSON.stringify(r) + "\n";

/**
 * A journal larger than 512 MiB that costs almost no disk: real records, then a sparse hole (read
 * back as one 600 MiB "line" of NULs, as a crash on some filesystems leaves), then real records
 * again and a line cut short.
 */
function bigJournal(stateDir: string, now: number): { validBytes: number; size: number } {
  mkdirSync(stateDir, { recursive: true });
  const head = [
    line({
      at: now - 7_200_000,
      incident: "before01",
      type: "opened",
      target: "api",
      kind: "server_down",
      severity: "P1",
      evidence: "refused",
    }),
    line({ at: now - 7_100_000, incident: "before01", type: "resolved", reason: "healthy for 2 rounds" }),
  ].join("");
  const tail =
    "\n" +
    [
      line({
        at: now - 60_000,
        incident: "after001",
        type: "opened",
        target: "api",
        kind: "server_down",
        severity: "P1",
        evidence: "connection refused after the hole",
      }),
      ...[1, 2, 3].map((n) =>
        line({
          at: now - 50_000 + n,
          incident: "after001",
          type: "playbook_started",
          runId: `after001-${n}`,
          playbook: "restart",
          steps: [],
        }),
      ),
      line({ at: now - 40_000, incident: "after001", type: "escalated", reason: "verification failed" }),
    ].join("");
  const fd = openSync(join(stateDir, "journal.jsonl"), "w");
  try {
    writeSync(fd, head, 0);
    const tailAt = HOLE_BYTES;
    writeSync(fd, tail, tailAt);
    const validBytes = tailAt + Buffer.byteLength(tail);
    writeSync(fd, '{"at":1,"incident":"after001","type":"resol', validBytes);
    return { validBytes, size: statSync(join(stateDir, "journal.jsonl")).size };
  } finally {
    closeSync(fd);
  }
}

// Peak resident memory of a live process, in MiB (Linux).
const peakRssMiB = (pid: number) => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;

describe("a journal larger than 512 MiB", () => {
  it("does not stop incidents, plan, run --dry-run or run from starting; each sees the records after the junk", async () => {
    const dir = tempDir();
    const state = join(dir, "state");
    const now = Date.now();
    const { size } = bigJournal(state, now);
    expect(size).toBeGreaterThan(512 * 1024 * 1024);
    const file = join(dir, "medic.yaml");
    // A port nobody listens on, probed once an hour: the rounds add nothing to what is read.
    writeFileSync(
      file,
      `stateDir: ${JSON.stringify(state)}
playbooks: []
defaults: { interval: 1h, timeout: 1s }
targets:
  - name: api
    probe: { tcp: { host: 127.0.0.1, port: ${await freePort()} } }
`,
    );

    const listed = await medic(["incidents", "--json", "--config", file]);
    expect(listed.code, listed.stderr).toBe(0);
    const incidents = JSON.parse(listed.stdout) as { id: string; state: string; runs: unknown[] }[];
    expect(incidents.map((i) => [i.id, i.state, i.runs.length])).toEqual([
      ["after001", "escalated", 3],
      ["before01", "resolved", 0],
    ]);
    expect(listed.stderr).toMatch(/skipped 1 lines that are not journal records \(1 of them longer than 16 MiB, never held in memory\)/);

    const plan = await medic(["plan", "--config", file, "--target", "api", "--incident", "server_down"]);
    expect(plan.code, plan.stderr).toBe(0);
    // The three runs journaled after the hole trip the flap guard (its limit is 3 an hour).
    expect(plan.stdout).toMatch(/=> would escalate instead of running the playbook below: flap guard: 3 server_down playbook runs on api/);

    for (const dryRun of [true, false]) {
      const t0 = performance.now();
      const daemon = startMedic(["run", "--config", file, ...(dryRun ? ["--dry-run"] : [])]);
      const url = await apiUrl(daemon, 60_000);
      const startMs = Math.round(performance.now() - t0);
      const rssMiB = peakRssMiB(daemon.child.pid!);
      const list = (await (await fetch(`${url}/api/incidents`)).json()) as { incidents: { id: string; state: string }[] };
      expect(list.incidents.map((i) => [i.id, i.state])).toEqual([
        ["after001", "escalated"],
        ["before01", "resolved"],
      ]);
      // Streamed: the 600 MiB line never sat in memory (whole, it would take at least 600 MiB as a string).
      expect(rssMiB).toBeLessThan(400);
      console.log(
        `medic run${dryRun ? " --dry-run" : ""}: API up ${startMs} ms after spawn on a ${Math.round(size / 1024 / 1024)} MiB journal; peak RSS ${Math.round(rssMiB)} MiB`,
      );
      daemon.child.kill("SIGTERM");
      expect(await daemon.exited).toBe(0);
      expect(daemon.stdout()).toMatch(/"skipped":1,"oversized":1/);
    }
    // The real run migrated the journal into segments: every whole record, in order, and not the line cut short;
    // the old file is kept as it was, under a new name.
    expect(
      journal(state)
        .slice(0, 7)
        .map((r) => `${r.incident}:${r.type}`),
    ).toEqual([
      "before01:opened",
      "before01:resolved",
      "after001:opened",
      "after001:playbook_started",
      "after001:playbook_started",
      "after001:playbook_started",
      "after001:escalated",
    ]);
    expect(journal(state).filter((r) => r.at === 1)).toEqual([]);
    const kept = readdirSync(state).filter((n) => n.startsWith("journal.jsonl.migrated-"));
    expect(kept.map((n) => statSync(join(state, n)).size)).toEqual([size]);
  }, 240_000);
});
