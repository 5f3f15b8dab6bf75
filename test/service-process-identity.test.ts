import { spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { isAlive, readProcNow } from "../src/lib/proc.js";
import { identityNow, writeIdentity } from "../src/lib/process-identity.js";
import { serviceRestart } from "../src/playbooks/steps/service.js";
import { processProbe } from "../src/probes/process.js";
import { runProbe } from "../src/probes/run.js";
import { processService } from "../src/services/process.js";
import { PidTicker } from "../src/services/pid-ticker.js";
import { watchPidFile } from "../src/services/process-watch.js";
import type { WatchEvent } from "../src/probes/types.js";
import { ask, fixtureService, NODE } from "./fixtures/process-service.js";
import { stepContext, waitGone } from "./fixtures/steps-context.js";

// A pid file can name a process medic did not start: a wrong file, a pid reused after the service
// died, a file another program wrote. medic must never signal such a process or its group, and the
// probe must not call it the service. Every process here is real; the foreign ones are `sh` with a
// `sleep` child in a process group of their own, which the test itself kills at the end.

let dir: string;
const never = () => new AbortController().signal;
/** Process groups this file started, and single processes: SIGKILLed after each test. */
const groups = new Set<number>();
const served = new Set<number>();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "medic-process-identity-"));
  await mkdir(join(dir, "run"), { recursive: true });
});
afterEach(() => {
  for (const target of [...[...groups].map((g) => -g), ...served]) {
    try {
      process.kill(target, "SIGKILL");
    } catch {
      // already gone
    }
  }
  groups.clear();
  served.clear();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const FAMILY_SCRIPT = 'sleep 300 & echo $! > "$1"; wait';

/** `sh` leading a process group of its own, with a `sleep` child in it: a program medic did not start. */
async function foreignGroup(name: string): Promise<{ leader: number; member: number }> {
  const memberFile = join(dir, `${name}.member`);
  const child = spawn("/bin/sh", ["-c", FAMILY_SCRIPT, "sh", memberFile], { detached: true, stdio: "ignore" });
  child.unref();
  groups.add(child.pid!);
  return { leader: child.pid!, member: await pidFrom(memberFile) };
}

/** Waits for a pid to be written to `file` (by a shell that started it). */
async function pidFrom(file: string): Promise<number> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const text = await readFile(file, "utf8").catch(() => "");
    if (/^\d+\n$/.test(text)) return Number(text);
    if (Date.now() > deadline) throw new Error(`no pid in ${file}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function pidIn(file: string): Promise<number> {
  const pid = Number((await readFile(file, "utf8")).trim());
  served.add(pid);
  return pid;
}

const probeOf = (pidFile: string) =>
  runProbe(processProbe.create(processProbe.schema.parse({ pidFile }), { target: "app", timeoutMs: 2000, baseDir: dir }), {
    target: "app",
    timeoutMs: 2000,
  });

describe("process service and probe: a pid medic cannot prove it started", () => {
  it("a live process medic did not start, named by the pid file: stop and restart signal neither it nor its group, and say why", async () => {
    const other = await foreignGroup("foreign");
    const svc = fixtureService(dir, "foreign");
    await writeFile(svc.pidFile, `${other.leader}\n`);
    const reason = `pid ${other.leader} in ${svc.pidFile} was not started by medic (no record in ${svc.pidFile}.identity) and runs "/bin/sh", not ${JSON.stringify(NODE)}`;

    expect(await svc.driver.stop(never())).toMatchObject({ ok: true, detail: `not running: ${reason}; left alone` });
    // The pid file may be another program's own: stop leaves it as it was.
    expect(await readFile(svc.pidFile, "utf8")).toBe(`${other.leader}\n`);

    const restarted = await serviceRestart.run({}, stepContext(dir, 30_000, { service: svc.driver }));
    const pid = await pidIn(svc.pidFile);
    expect(restarted).toMatchObject({ ok: true, detail: `not running: ${reason}; left alone; started pid ${pid}` });
    expect(await ask(svc.portFile, pid)).toBe(String(pid));
    // And then: the service medic started is its own, and stopping it still leaves the other group alone.
    expect((await svc.driver.stop(never())).detail).toMatch(new RegExp(`^stopped pid ${pid} with SIGTERM`));
    expect(await isAlive(other.leader)).toBe(true);
    expect(await isAlive(other.member)).toBe(true);
  });

  it("a reused pid: medic's record has another start time, so stop leaves the process alone, the probe and the watch say not running, start replaces it", async () => {
    const svc = fixtureService(dir, "reused");
    // What medic recorded for a process that has exited since (read before Node reaps it), under
    // the pid an unrelated live process holds now: pid reuse, without waiting for the pids to wrap.
    const quits = spawn(NODE, ["-e", "0"], { stdio: "ignore" });
    const recorded = identityNow(quits.pid!, NODE, true)!;
    await once(quits, "exit");
    let other = await foreignGroup("reused");
    // Start times count 10 ms ticks: one started in the same tick would be indistinguishable.
    while (readProcNow(other.leader)!.startTicks === recorded.startTicks) other = await foreignGroup("reused");
    await writeIdentity(svc.pidFile, { ...recorded, pid: other.leader });
    await writeFile(svc.pidFile, `${other.leader}\n`);

    const obs = await probeOf(svc.pidFile);
    expect(obs).toMatchObject({ ok: false, facts: { alive: false, pid: other.leader }, error: { code: "PID_REUSED" } });
    const why = obs.error!.message;
    expect(why).toContain(
      `pid ${other.leader} in ${svc.pidFile} is not the process medic started: medic started ${JSON.stringify(NODE)} as pid ${other.leader} at ${recorded.startedAt}; `,
    );
    expect(why).toMatch(new RegExp(`pid ${other.leader} is now "/bin/sh", started at \\d{4}-\\d\\d-\\d\\dT`));

    const events: WatchEvent[] = [];
    const unwatch = watchPidFile(svc.pidFile, (e) => events.push(e), new PidTicker(() => 20));
    try {
      expect(await svc.driver.stop(never())).toMatchObject({ ok: true, detail: `not running: ${why}; left alone` });
      expect(await isAlive(other.leader)).toBe(true);
      expect(await isAlive(other.member)).toBe(true);

      const started = await svc.driver.start(never());
      const pid = await pidIn(svc.pidFile);
      expect(started).toMatchObject({ ok: true, detail: `${why}; left alone; started pid ${pid}` });
      expect(await ask(svc.portFile, pid)).toBe(String(pid));
      expect(await probeOf(svc.pidFile)).toMatchObject({ ok: true, facts: { alive: true, pid } });
      // The process that held the reused pid dies: it never was the service, so the watch says nothing.
      process.kill(-other.leader, "SIGKILL");
      expect(await waitGone(other.leader)).toBe(true);
      expect(await waitGone(other.member)).toBe(true);
      // The service medic started dies: that is an event (the watch now follows it).
      process.kill(pid, "SIGKILL");
      expect(await waitGone(pid)).toBe(true);
      await waitFor(() => events.length > 0);
      expect(events).toEqual([{ what: `pid ${pid} (from ${svc.pidFile}) exited`, confirmsFailure: true }]);
    } finally {
      unwatch();
    }
  });

  it("stops the process it started with its whole group, grandchild included, also as a new medic that knows it only from disk", async () => {
    const memberFile = join(dir, "family.member");
    const params = processService.schema.parse({
      start: ["/bin/sh", "-c", FAMILY_SCRIPT, "sh", memberFile],
      pidFile: "run/family.pid",
      stopTimeout: "5s",
    });
    const pidFile = join(dir, "run", "family.pid");
    const first = processService.create(params, { target: "family", baseDir: dir });
    const started = await first.start(never());
    const leader = await pidIn(pidFile);
    expect(started).toMatchObject({ ok: true, detail: `started pid ${leader}` });
    const grandchild = await pidFrom(memberFile);
    served.add(grandchild);
    const record = await readFile(`${pidFile}.identity`, "utf8");
    expect(JSON.parse(record)).toMatchObject({ pid: leader, ownGroup: true, program: "/bin/sh" });
    // The program only: arguments may hold secrets, and this file is as readable as the pid file.
    expect(record).not.toContain(memberFile);

    // medic restarted: a new driver, with only the pid file and the record to go by.
    const second = processService.create(params, { target: "family", baseDir: dir });
    expect(await second.start(never())).toMatchObject({ ok: true, detail: `already running (pid ${leader})` });
    // A pid file lost (medic stopped between writing the record and the pid file, or someone removed
    // it): the record still finds the service, so no second copy starts, and the pid file is put back.
    await rm(pidFile);
    expect(await second.start(never())).toMatchObject({
      ok: true,
      detail: `already running (pid ${leader}); pid file ${pidFile} named no pid, medic's record pid ${leader}`,
    });
    expect(await readFile(pidFile, "utf8")).toBe(`${leader}\n`);
    const stopped = await second.stop(never());
    expect(stopped.detail).toMatch(new RegExp(`^stopped pid ${leader} with SIGTERM in `));
    expect(await waitGone(leader)).toBe(true);
    expect(await waitGone(grandchild)).toBe(true);
    expect(existsSync(pidFile)).toBe(false);
    expect(existsSync(`${pidFile}.identity`)).toBe(false);
  });

  it("a pid file without a record (an older medic, a script) whose process runs exactly start: stopped, but the pid alone, not its group", async () => {
    const memberFile = join(dir, "adopted.member");
    const start = ["/bin/sh", "-c", FAMILY_SCRIPT, "sh", memberFile];
    const child = spawn(start[0]!, start.slice(1), { detached: true, stdio: "ignore" });
    child.unref();
    groups.add(child.pid!);
    const member = await pidFrom(memberFile);
    const pidFile = join(dir, "run", "adopted.pid");
    await writeFile(pidFile, `${child.pid}\n`);
    const driver = processService.create(processService.schema.parse({ start, pidFile: "run/adopted.pid", stopTimeout: "5s" }), {
      target: "adopted",
      baseDir: dir,
    });

    expect(await driver.start(never())).toMatchObject({ ok: true, detail: `already running (pid ${child.pid})` });
    expect(await probeOf(pidFile)).toMatchObject({ ok: true, facts: { pid: child.pid } });
    const stopped = await driver.stop(never());
    expect(stopped.detail).toMatch(
      new RegExp(
        `^stopped pid ${child.pid} with SIGTERM in .+ \\(its pid file was not written by medic, its command is start's: ` +
          "signalled the process, not its group\\)$",
      ),
    );
    expect(await waitGone(child.pid!)).toBe(true);
    // medic cannot prove it made that group: what else is in it is not medic's to end.
    expect(await isAlive(member)).toBe(true);
    expect(existsSync(pidFile)).toBe(false);
  });
});

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}
