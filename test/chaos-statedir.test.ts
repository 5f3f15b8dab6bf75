import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseJournal } from "../src/incidents/journal-read.js";
import { within } from "./chaos-common.js";
import { startPagerDutyReceiver } from "./fixtures/pagerduty-receiver.js";
import { startSlackReceiver } from "./fixtures/slack-receiver.js";
import {
  apiUrl,
  appendToJournal,
  cleanup,
  journal,
  journalText,
  onCleanup,
  startMedic,
  tempDir,
  waitUntil,
  type MedicProcess,
} from "./harness.js";

// Issue 8, "state directory trouble"; the mounts need root.
afterEach(cleanup);

const ROOT_USER = process.getuid?.() === 0;
const rootOnly = it.skipIf(!ROOT_USER);

/** A target the test breaks and heals: 200 or 500. */
async function switchable(): Promise<{ url: string; set(status: number): void }> {
  let status = 200;
  const server: Server = createServer((_req, res) =>
    res.writeHead(status, { "content-type": "application/json" }).end(`{"status":"${status < 400 ? "UP" : "DOWN"}"}`),
  );
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  onCleanup(() => new Promise<void>((ok) => server.close(() => ok())));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/health`, set: (s) => (status = s) };
}

/** A small tmpfs of its own, unmounted at cleanup. */
function tmpfs(size: string): string {
  const dir = tempDir("medic-chaos-fs-");
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir]);
  onCleanup(() => void execFileSync("umount", ["-l", dir]));
  return dir;
}

async function scenario(stateDir: string, notify = "", env: Record<string, string> = {}) {
  const api = await switchable();
  const dir = tempDir();
  const config = join(dir, "medic.yaml");
  writeFileSync(
    config,
    `stateDir: ${JSON.stringify(stateDir)}
playbooks: []
defaults: { interval: 100ms, timeout: 1s, failureThreshold: 1, successThreshold: 1 }
targets:
  - { name: api, probe: { http: { url: "${api.url}" } } }
${notify}`,
  );
  const daemon = startMedic(["run", "--config", config], env);
  const url = await apiUrl(daemon);
  const healthz = async () => {
    const res = await fetch(`${url}/healthz`);
    return { status: res.status, body: (await res.json()) as { checks: { name: string; ok: boolean; detail: string }[] } };
  };
  /** Breaks and heals the target `n` times, each an incident opened and resolved in the journal. */
  const flap = async (n: number) => {
    const count = (type: string) => journal(stateDir).filter((r) => r.type === type).length;
    const [opened, resolved] = [count("opened"), count("resolved")];
    for (let i = 1; i <= n; i++) {
      api.set(500);
      await waitUntil(() => count("opened") >= opened + i, 10_000, "an incident").catch((err: Error) => {
        throw new Error(`${err.message}; ${describeJournal(stateDir)}; medic's last words: ${daemon.stdout().slice(-1500)}`);
      });
      api.set(200);
      await waitUntil(() => count("resolved") >= resolved + i, 10_000, "its resolve");
    }
  };
  /** Incidents as medic holds them in memory (the journal on disk may lag while the disk is full). */
  const incidents = async () =>
    ((await (await fetch(`${url}/api/incidents?limit=1000`)).json()) as { incidents: { id: string; target: string; state: string }[] })
      .incidents;
  return { api, daemon, url, healthz, flap, incidents };
}

/** The state dir trouble is reported loudly and probing goes on. */
async function expectTroubleReported(
  healthz: () => Promise<{ status: number; body: { checks: { name: string; ok: boolean; detail: string }[] } }>,
  daemon: MedicProcess,
) {
  const h = await waitUntil(
    async () => {
      const r = await healthz();
      return r.status === 503 ? r : undefined;
    },
    10_000,
    "healthz 503",
  );
  expect(h.body.checks.find((c) => c.name === "state dir")).toMatchObject({ ok: false, detail: expect.stringMatching(/not writable/) });
  expect(h.body.checks.find((c) => c.name === "scheduler")?.ok).toBe(true);
  expect(daemon.child.exitCode).toBeNull();
}

// What a failure message needs: the records by incident, and every line that is not a whole record.
function describeJournal(stateDir: string): string {
  const bad = journalText(stateDir)
    .split("\n")
    .filter((l) => {
      try {
        return l !== "" && !JSON.parse(l);
      } catch {
        return true;
      }
    });
  return `journal: ${journal(stateDir)
    .map((r) => `${r.incident}:${r.type}`)
    .join(",")}; bad lines: ${JSON.stringify(bad.map((l) => l.slice(0, 300)))}`;
}

describe("chaos: state directory trouble", () => {
  // Gap: JournalStore.persist does one writeSync; at ENOSPC the write is short, half a line stays in the
  // journal, and the first record written once there is room again is glued to it and lost.
  rootOnly(
    "full disk: keeps watching, healthz 503, what it wrote before stays intact, and records again once there is room",
    async () => {
      const fs = tmpfs("64k");
      const stateDir = join(fs, "state");
      const { api, daemon, healthz, flap, incidents } = await scenario(stateDir);
      await flap(2);
      const before = journalText(stateDir);
      const known = new Set(parseJournal(before).records.map((r) => r.incident));
      // Fill every byte left, then make medic want to write.
      try {
        execFileSync("dd", ["if=/dev/zero", `of=${join(fs, "filler")}`, "bs=1k"], { stdio: "ignore" });
      } catch {
        /* ENOSPC is the point */
      }
      api.set(500);
      await expectTroubleReported(healthz, daemon);
      // medic decides on while the disk is full: incidents open and resolve in memory. The journal's
      // last page may still have room for a few records, so flap until an incident's resolve has to wait.
      const whileFullIds: string[] = [];
      const unwritten = () => {
        const resolvedOnDisk = new Set(
          journal(stateDir)
            .filter((r) => r.type === "resolved")
            .map((r) => r.incident),
        );
        return whileFullIds.filter((id) => !resolvedOnDisk.has(id));
      };
      for (let round = 0; round < 30 && unwritten().length === 0; round++) {
        api.set(500);
        const fresh = await waitUntil(
          async () => (await incidents()).find((i) => i.target === "api" && !known.has(i.id)),
          10_000,
          "an incident opened while the disk is full",
        );
        api.set(200);
        await waitUntil(
          async () => (await incidents()).find((i) => i.id === fresh.id && i.state === "resolved"),
          10_000,
          "its resolve while the disk is full",
        );
        known.add(fresh.id);
        whileFullIds.push(fresh.id);
      }
      expect(unwritten().length, describeJournal(stateDir)).toBeGreaterThan(0);
      expect((await healthz()).body.checks.find((c) => c.name === "state dir")?.detail).toMatch(/\d+ journal records? waiting in memory/);
      expect(daemon.child.exitCode, daemon.stderr()).toBeNull();
      const whileFull = journalText(stateDir);
      const lost = unwritten();
      expect(whileFull.startsWith(before)).toBe(true);

      rmSync(join(fs, "filler"));
      await waitUntil(async () => (await healthz()).status === 200, 10_000, "healthz 200 again");
      // What was decided while the disk was full is in the journal now, in order, after what was written then.
      const after = journalText(stateDir);
      expect(after.startsWith(whileFull)).toBe(true);
      const records = parseJournal(after).records;
      for (const id of lost) {
        const kept = records.filter((r) => r.incident === id).map((r) => r.type);
        expect(kept[0], id).toBe("opened");
        expect(kept, id).toContain("resolved");
      }
      const flapped = await flap(2).then(
        () => "ok",
        (err: Error) => err.message,
      );
      const text = journalText(stateDir);
      expect(text.startsWith(before)).toBe(true);
      // Every line is a whole record: no half-written line left between the old and the new
      // (a short write at ENOSPC leaves one, and the next record is glued to it and lost).
      const bad = text.split("\n").filter((l) => {
        try {
          return l !== "" && !JSON.parse(l);
        } catch {
          return true;
        }
      });
      expect(bad.map((l) => l.slice(0, 200))).toEqual([]);
      expect(flapped).toBe("ok");
      daemon.child.kill("SIGTERM");
      expect(await within(daemon.exited, 15_000, "medic to stop")).toBe(0);
    },
    60_000,
  );

  // Linux refuses to remount a filesystem read-only while medic holds its journal open for writing
  // (EBUSY), so the state dir's path turns read-only instead: a read-only tmpfs mounted over it.
  rootOnly(
    "read-only state dir: keeps watching, healthz 503, and records again once it is writable",
    async () => {
      const stateDir = join(tempDir(), "state");
      const { api, daemon, healthz, flap } = await scenario(stateDir);
      await flap(1);
      const before = journalText(stateDir);
      execFileSync("mount", ["-t", "tmpfs", "-o", "ro,size=4k", "tmpfs", stateDir]);
      let mounted = true;
      onCleanup(() => void (mounted && execFileSync("umount", ["-l", stateDir])));
      api.set(500);
      await expectTroubleReported(healthz, daemon);
      await new Promise((r) => setTimeout(r, 1000));
      api.set(200);
      await new Promise((r) => setTimeout(r, 1000));
      expect(daemon.child.exitCode, daemon.stderr()).toBeNull();
      execFileSync("umount", [stateDir]);
      mounted = false;
      await waitUntil(async () => (await healthz()).status === 200, 10_000, "healthz 200 again");
      await flap(1);
      const text = journalText(stateDir);
      expect(text.startsWith(before)).toBe(true);
      expect(parseJournal(text).skipped).toBe(0);
      daemon.child.kill("SIGTERM");
      expect(await within(daemon.exited, 15_000, "medic to stop")).toBe(0);
    },
    60_000,
  );

  // Gap: the journal's fd still points at the deleted file; healthz turns 200 again once the directory
  // exists, yet every record goes to the unlinked inode and is lost (nothing reopens the journal).
  rootOnly(
    "state dir deleted under the running daemon: healthz 503, and once it exists again new records land in it",
    async () => {
      const stateDir = join(tempDir(), "state");
      const { daemon, healthz, flap } = await scenario(stateDir);
      await flap(1);
      // The resolve's notification is journaled just after the resolve: a record written after the rm recreates the dir.
      await waitUntil(() => journal(stateDir).at(-1)?.type === "notification_sent", 10_000, "the journal to settle");
      rmSync(stateDir, { recursive: true, force: true });
      await expectTroubleReported(healthz, daemon);
      mkdirSync(stateDir);
      await waitUntil(async () => (await healthz()).status === 200, 10_000, "healthz 200 again");
      // What medic records now must be in the journal on disk, not in the deleted file's inode.
      await within(flap(1), 15_000, "an incident recorded in the recreated state dir");
      expect(parseJournal(journalText(stateDir)).records.some((r) => r.type === "opened")).toBe(true);
      daemon.child.kill("SIGTERM");
      expect(await within(daemon.exited, 15_000, "medic to stop")).toBe(0);
    },
    60_000,
  );

  it("a truncated last journal line: medic starts, drops only that line, keeps every earlier record and writes whole lines after it", async () => {
    const stateDir = join(tempDir(), "state");
    const first = await scenario(stateDir);
    await first.flap(2);
    first.daemon.child.kill("SIGKILL");
    await first.daemon.exited;
    const before = journalText(stateDir);
    appendToJournal(stateDir, '{"incident":"x","type":"opened","target":"ap');
    const second = await scenario(stateDir);
    expect((await second.healthz()).status).toBe(200);
    await second.flap(1);
    const text = journalText(stateDir);
    expect(text.startsWith(before)).toBe(true);
    expect(parseJournal(text).skipped).toBe(0);
    expect(parseJournal(text).records.length).toBeGreaterThan(parseJournal(before).records.length);
    second.daemon.child.kill("SIGTERM");
    expect(await within(second.daemon.exited, 15_000, "medic to stop")).toBe(0);
  }, 60_000);

  rootOnly(
    "state dir trouble is announced on Slack and paged on PagerDuty once when it starts, and once more when it ends",
    async () => {
      const slack = await startSlackReceiver();
      const pd = await startPagerDutyReceiver();
      onCleanup(() => slack.close());
      onCleanup(() => pd.close());
      const stateDir = join(tempDir(), "state");
      const notify = `notify:
  slack: { webhookUrl: "${slack.url}", timeout: 1s }
  pagerduty: { routingKey: "\${PD_KEY}", server: "${pd.server}", ca: ${JSON.stringify(pd.caFile)}, timeout: 1s }
`;
      const { daemon, healthz, flap } = await scenario(stateDir, notify, { PD_KEY: "0123456789abcdef0123456789abcdef" });
      await flap(1);
      const seen = slack.posted().length;
      const about = (re: RegExp) =>
        slack
          .posted()
          .slice(seen)
          .filter((m) => re.test(JSON.stringify(m.body)));
      const key = `medic:state-dir:${stateDir}`;
      const pages = () => pd.events.filter((e) => e.body?.dedup_key === key);
      execFileSync("mount", ["-t", "tmpfs", "-o", "ro,size=4k", "tmpfs", stateDir]);
      let mounted = true;
      onCleanup(() => void (mounted && execFileSync("umount", ["-l", stateDir])));
      await expectTroubleReported(healthz, daemon);
      await waitUntil(() => about(/cannot write its state dir/).length > 0, 15_000, "a Slack message about the state dir").catch(
        (err: Error) => {
          throw new Error(
            `${err.message}; Slack got ${JSON.stringify(slack.posted().slice(seen)).slice(0, 1500)}; medic's last words: ${daemon.stdout().slice(-3000)}`,
          );
        },
      );
      await waitUntil(() => pages().length > 0, 15_000, "a page about the state dir");
      expect(JSON.stringify(about(/cannot write its state dir/)[0]!.body)).toContain(stateDir);
      expect(pages()[0]!.body).toMatchObject({
        event_action: "trigger",
        payload: { severity: "critical", summary: expect.stringContaining(stateDir) },
      });
      expect(pages()[0]!.body.payload.summary).toMatch(/not writable.*Hint:/);
      // Trouble that lasts is not announced again on every tick or failed write.
      await new Promise((r) => setTimeout(r, 3000));
      expect(about(/cannot write its state dir/)).toHaveLength(1);
      expect(pages()).toHaveLength(1);

      execFileSync("umount", [stateDir]);
      mounted = false;
      await waitUntil(async () => (await healthz()).status === 200, 10_000, "healthz 200 again");
      await waitUntil(() => about(/takes writes again/).length > 0, 15_000, "a Slack message that the trouble ended");
      await waitUntil(() => pages().length >= 2, 15_000, "the page resolved");
      expect(pages().map((e) => e.body.event_action)).toEqual(["trigger", "resolve"]);
      expect(pd.alerts().get(key)?.status).toBe("resolved");
      await new Promise((r) => setTimeout(r, 2000));
      expect(about(/cannot write its state dir/)).toHaveLength(1);
      expect(about(/takes writes again/)).toHaveLength(1);
      daemon.child.kill("SIGTERM");
      expect(await within(daemon.exited, 15_000, "medic to stop")).toBe(0);
    },
    90_000,
  );
});
