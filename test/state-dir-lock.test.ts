import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { ownerNow, parseOwner, type LockOwner } from "../src/lib/lock-owner.js";
import { LOCK_FILE, lockStateDir } from "../src/lib/lockfile.js";
import { createLogger } from "../src/lib/log.js";
import { isAlive, readProcNow } from "../src/lib/proc.js";
import { apiUrl, cleanup, onCleanup, startMedic, tempDir, waitUntil } from "./harness.js";

afterEach(cleanup);

// The state dir lock, against real processes. The container case (two containers on one volume,
// both pid 1) runs on the real engine in state-dir-lock-container.test.ts.

/** A logger whose lines the test reads. */
function capturedLog(): { log: ReturnType<typeof createLogger>; lines: () => Array<Record<string, unknown>> } {
  let text = "";
  const sink = new PassThrough();
  sink.on("data", (d: Buffer) => (text += d.toString()));
  const log = createLogger({ pretty: false, destination: sink, level: "info" });
  return {
    log,
    lines: () =>
      text
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** A process that is not medic, in its own group, killed at cleanup; started in a later clock tick than `ticks`. */
function unrelatedStartedAfter(ticks: number): ChildProcess {
  for (;;) {
    const child = spawn("sleep", ["300"], { stdio: "ignore", detached: true });
    onCleanup(() => void (child.exitCode === null && child.kill("SIGKILL")));
    // Start times count 10 ms ticks: one started in the same tick would be indistinguishable.
    if (readProcNow(child.pid!)!.startTicks !== ticks) return child;
  }
}

/** The start time of a process that has exited since: what a crashed medic's record holds. */
async function startTicksOfAnExitedProcess(): Promise<number> {
  const quits = spawn(process.execPath, ["-e", "0"], { stdio: "ignore" });
  const ticks = readProcNow(quits.pid!)!.startTicks; // before the event loop reaps it
  await once(quits, "exit");
  return ticks;
}

const writeLock = (dir: string, owner: LockOwner) => writeFileSync(join(dir, LOCK_FILE), `${JSON.stringify(owner)}\n`);
const lockOwner = (dir: string) => parseOwner(readFileSync(join(dir, LOCK_FILE), "utf8"));

describe("state dir lock", () => {
  it("a crashed medic whose pid now belongs to an unrelated process: taken over, with a log line saying so (bare pid of an older medic too)", async () => {
    const dir = tempDir();
    const crashedTicks = await startTicksOfAnExitedProcess();
    const other = unrelatedStartedAfter(crashedTicks);
    writeLock(dir, { ...ownerNow(), pid: other.pid!, startTicks: crashedTicks, token: "crashed" });
    const { log, lines } = capturedLog();
    const release = await lockStateDir(dir, { log });
    expect(lockOwner(dir)).toMatchObject({ pid: process.pid });
    expect(lines()).toContainEqual(
      expect.objectContaining({
        msg: "took over the state dir lock of a medic that is gone",
        why: expect.stringMatching(new RegExp(`^pid ${other.pid} is now another process, started at `)),
      }),
    );
    release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);

    // What medic wrote before the owner record: a bare pid, here reused by `sleep`.
    writeFileSync(join(dir, "medic.pid"), `${other.pid}\n`);
    const again = capturedLog();
    const release2 = await lockStateDir(dir, { log: again.log });
    expect(again.lines()).toContainEqual(
      expect.objectContaining({ msg: "removed the lock of an older medic that is gone", pid: other.pid }),
    );
    expect(existsSync(join(dir, "medic.pid"))).toBe(false);
    release2();
    expect(await isAlive(other.pid!)).toBe(true);
  });

  it("a medic in another pid namespace or on another host: refused while its heartbeat moves, taken over once it stops", async () => {
    for (const [where, place] of [
      ["a container on this machine", { pidNs: "pid:[4026599999]" }],
      ["another host", { host: "ops-2", bootId: "boot-of-ops-2" }],
    ] as const) {
      const dir = tempDir();
      // pid 1 here is init, not a medic: it must not matter, since medic cannot look into that namespace or host.
      writeLock(dir, { ...ownerNow(), ...place, pid: 1, startTicks: 42, token: "there" });
      const beat = setInterval(() => utimesSync(join(dir, LOCK_FILE), new Date(), new Date()), 50);
      let refused: unknown;
      try {
        await lockStateDir(dir, { staleAfterMs: 2000 });
      } catch (err) {
        refused = err;
      } finally {
        clearInterval(beat);
      }
      expect(refused, where).toMatchObject({
        code: "STATE_DIR_LOCKED",
        message: expect.stringMatching(/^another medic \(pid 1 on host .+\) is using .+: it refreshed its lock just now$/),
        hint: expect.stringContaining("taken over once it has not been refreshed for 2 s"),
      });
      expect(lockOwner(dir)?.token).toBe("there");

      // Its heartbeat stopped (the container or host died): taken over.
      const { log, lines } = capturedLog();
      const release = await lockStateDir(dir, { staleAfterMs: 2000, log });
      expect(lockOwner(dir)).toMatchObject({ pid: process.pid });
      expect(lines()).toContainEqual(
        expect.objectContaining({
          msg: "took over the state dir lock of a medic that is gone",
          why: expect.stringContaining("not refreshed for 2 s"),
        }),
      );
      release();
    }
  });

  it("the holder writes a missing lock again, and notices when another medic took it over", async () => {
    const dir = tempDir();
    const lost: string[] = [];
    const release = await lockStateDir(dir, { heartbeatMs: 20, onLost: (why) => lost.push(why) });
    const mine = readFileSync(join(dir, LOCK_FILE), "utf8");
    // Someone removed it (or the state dir was recreated): the holder claims it again.
    rmSync(join(dir, LOCK_FILE));
    await waitUntil(() => existsSync(join(dir, LOCK_FILE)), 5000, "the lock to be written again");
    expect(readFileSync(join(dir, LOCK_FILE), "utf8")).toBe(mine);
    expect(lost).toEqual([]);
    // Another medic judged this one gone and took over: this one must stop acting.
    writeLock(dir, { ...ownerNow(), pid: 999_999, host: "ops-2", token: "usurper" });
    await waitUntil(() => lost.length > 0, 5000, "the lost lock to be noticed");
    expect(lost).toEqual([expect.stringMatching(/medic\.lock now names another medic \(pid 999999 on host ops-2, locked at /)]);
    release();
    expect(lockOwner(dir)?.token).toBe("usurper");
  });

  it("medic run: a second medic on the state dir exits 2 naming the first; after a kill -9 the next takes over; one whose lock was taken stops acting", async () => {
    const dir = tempDir();
    const stateDir = join(dir, "state");
    const config = join(dir, "medic.yaml");
    writeFileSync(
      config,
      `stateDir: ${JSON.stringify(stateDir)}
playbooks: []
targets:
  - { name: quiet, probe: { tcp: { host: 127.0.0.1, port: 9 } }, interval: 1h }
`,
    );
    const first = startMedic(["run", "--config", config]);
    await waitUntil(() => first.stdout().includes("medic started"), 15_000, "the first medic to start");
    const second = startMedic(["run", "--config", config]);
    expect(await second.exited).toBe(2);
    expect(second.stdout()).toContain(`another medic (pid ${first.child.pid} on host `);
    expect(first.child.exitCode).toBeNull();

    first.child.kill("SIGKILL");
    await first.exited;
    const third = startMedic(["run", "--config", config]);
    await waitUntil(() => third.stdout().includes("medic started"), 15_000, "the third medic to start");
    expect(third.stdout()).toMatch(
      new RegExp(`"why":"pid ${first.child.pid} is gone"[^\\n]*"msg":"took over the state dir lock of a medic that is gone"`),
    );
    // And then: another medic judges this one gone and takes the lock (its heartbeat stalled, say).
    // This one must stop acting, and say so where a supervisor looks.
    const api = await apiUrl(third);
    writeLock(stateDir, { ...ownerNow(), pid: 999_999, host: "ops-2", token: "usurper" });
    await waitUntil(() => third.stdout().includes("another medic took over the state dir: stopping"), 15_000, "the third medic to notice");
    await waitUntil(() => third.stdout().includes("medic stopped"), 15_000, "the third medic to stop acting");
    const health = await fetch(`${api}/healthz`);
    expect(health.status).toBe(503);
    expect(await health.text()).toContain("medic.lock now names another medic (pid 999999 on host ops-2");
    third.child.kill("SIGTERM");
    expect(await third.exited).toBe(0);
    // It let go of nothing that was not its own.
    expect(lockOwner(stateDir)?.token).toBe("usurper");
  });
});
