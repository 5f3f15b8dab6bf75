import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { WatchEvent } from "../probes/types.js";
import { watchPidFile } from "./process-watch.js";

const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function sleeper(): ChildProcess {
  const child = spawn("sleep", ["60"], { stdio: "ignore" });
  children.push(child);
  return child;
}

function pidFile(pid: number | undefined): string {
  const dir = mkdtempSync(join(tmpdir(), "medic-pidwatch-"));
  dirs.push(dir);
  const file = join(dir, "svc.pid");
  if (pid !== undefined) writeFileSync(file, `${pid}\n`);
  return file;
}

const exited = (child: ChildProcess) => new Promise((ok) => child.once("exit", ok));
const pause = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

describe("watchPidFile", () => {
  it("reports once when the process it saw alive is killed", async () => {
    const child = sleeper();
    const file = pidFile(child.pid);
    const events: WatchEvent[] = [];
    const stop = watchPidFile(file, (e) => events.push(e), 20);
    try {
      await pause(100);
      expect(events).toEqual([]);
      child.kill("SIGKILL");
      await exited(child);
      await pause(200);
      expect(events).toEqual([{ what: `pid ${child.pid} (from ${file}) exited`, confirmsFailure: true }]);
    } finally {
      stop();
    }
  });

  it("says nothing when the pid file moves to another live process or goes away, and nothing after unwatch", async () => {
    const [a, b, c] = [sleeper(), sleeper(), sleeper()];
    const file = pidFile(a.pid);
    const events: WatchEvent[] = [];
    const stop = watchPidFile(file, (e) => events.push(e), 20);
    await pause(60);
    // Restarted by someone else: the pid file names the new process before the old one is gone.
    writeFileSync(file, `${b.pid}\n`);
    a.kill("SIGKILL");
    await exited(a);
    await pause(100);
    // Stopped on purpose: the pid file is removed with the process.
    rmSync(file);
    b.kill("SIGKILL");
    await exited(b);
    await pause(100);
    expect(events).toEqual([]);
    writeFileSync(file, `${c.pid}\n`);
    await pause(60);
    stop();
    c.kill("SIGKILL");
    await exited(c);
    await pause(100);
    expect(events).toEqual([]);
  });
});
