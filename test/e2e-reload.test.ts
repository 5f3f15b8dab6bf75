import { existsSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { readPidFile } from "../src/lib/proc.js";
import { startSlackReceiver } from "./fixtures/slack-receiver.js";
import {
  cleanup,
  freePort,
  journal,
  MEDIC,
  onCleanup,
  SERVICE,
  SHIPPED_PLAYBOOKS,
  startMedic,
  startService,
  tempDir,
  waitUntil,
} from "./harness.js";

afterEach(cleanup);

const target = (dir: string, name: string, port: number) => `  - name: ${name}
    probe: { http: { url: "http://127.0.0.1:${port}/health" } }
    service: { process: { start: [${JSON.stringify(process.execPath)}, ${JSON.stringify(SERVICE)}, "${port}", ${JSON.stringify(dir)}], pidFile: ${name}.pid, stopTimeout: 2s } }
`;
const config = (dir: string, targets: string, extra = "") => `stateDir: ${JSON.stringify(join(dir, "state"))}
playbooks: [${JSON.stringify(SHIPPED_PLAYBOOKS)}]
defaults: { interval: 200ms, timeout: 1s, failureThreshold: 2, successThreshold: 2 }
safety: { flapGuard: { backoff: { initial: 0s, max: 0s } } }
${extra}targets:
${targets}`;

describe("SIGHUP reload", () => {
  it("applies a new target, keeps the old config on a broken one, and carries open incidents over", async () => {
    const dir = tempDir();
    const [portA, portB] = [await freePort(), await freePort()];
    const file = join(dir, "medic.yaml");
    const state = join(dir, "state");
    writeFileSync(file, config(dir, target(dir, "a", portA)));
    await startService(dir, portA, join(dir, "a.pid"));
    const pidB = await startService(dir, portB, join(dir, "b.pid"));
    const daemon = startMedic(["run", "--config", file]);
    await waitUntil(() => daemon.stdout().includes("medic started"), 10_000, "medic to start");

    // b is not watched yet: killing it changes nothing.
    process.kill(pidB, "SIGKILL");
    await new Promise((r) => setTimeout(r, 1000));
    expect(journal(state).filter((r) => r.type === "opened")).toHaveLength(0);

    // An incident that stays open across the reload: a, unhealthy in a way no playbook handles.
    writeFileSync(file, config(dir, target(dir, "a", portA) + target(dir, "b", portB)));
    daemon.child.kill("SIGHUP");
    await waitUntil(() => /"msg":"config reloaded"/.test(daemon.stdout()), 10_000, "the reload");
    expect(daemon.stdout()).toMatch(/"added":\["b"\]/);
    const opened = await waitUntil(() => journal(state).find((r) => r.type === "opened" && r.target === "b"), 10_000, "b's incident");
    await waitUntil(
      () => journal(state).find((r) => r.type === "resolved" && r.incident === opened.incident),
      20_000,
      "b restarted and verified",
    );

    // A broken config: every problem logged with file:line:col, the old config keeps running.
    writeFileSync(file, config(dir, target(dir, "a", portA) + "  - name: c\n    probe: { htp: {} }\n", "defaults: { interval: fast }\n"));
    daemon.child.kill("SIGHUP");
    await waitUntil(
      () => /problems? in the new config; the previous config keeps running/.test(daemon.stdout()),
      10_000,
      "the rejected reload",
    );
    expect(daemon.stdout()).toMatch(/medic\.yaml:\d+:\d+/);
    // Still watching both with the old config: a kill of a is restarted.
    process.kill((await readPidFile(join(dir, "a.pid")))!, "SIGKILL");
    const aOpened = await waitUntil(() => journal(state).find((r) => r.type === "opened" && r.target === "a"), 10_000, "a's incident");
    await waitUntil(() => journal(state).find((r) => r.type === "resolved" && r.incident === aOpened.incident), 20_000, "a restarted");

    // Removing a target resolves its open incidents and stops watching it; a reload does not reopen or lose anything else.
    const before = journal(state).filter((r) => r.type === "opened").length;
    writeFileSync(file, config(dir, target(dir, "a", portA)));
    daemon.child.kill("SIGHUP");
    await waitUntil(() => /"removed":\["b"\]/.test(daemon.stdout()), 10_000, "b removed");
    process.kill((await readPidFile(join(dir, "b.pid")))!, "SIGKILL");
    await new Promise((r) => setTimeout(r, 1000));
    expect(journal(state).filter((r) => r.type === "opened")).toHaveLength(before);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 90_000);

  it("an incident open before the reload is the same incident after it (no duplicate, no lost escalation)", async () => {
    const dir = tempDir();
    const port = await freePort();
    const file = join(dir, "medic.yaml");
    const state = join(dir, "state");
    // No playbook for server_down here: the incident escalates and stays open while the service is down.
    const none = (text: string) => text.replace(JSON.stringify(SHIPPED_PLAYBOOKS), JSON.stringify(join(dir, "none")));
    mkdirSync(join(dir, "none"));
    writeFileSync(file, none(config(dir, target(dir, "a", port))));
    const pid = await startService(dir, port, join(dir, "a.pid"));
    const daemon = startMedic(["run", "--config", file]);
    await waitUntil(() => daemon.stdout().includes("medic started"), 10_000, "medic to start");
    process.kill(pid, "SIGKILL");
    const escalated = await waitUntil(() => journal(state).find((r) => r.type === "escalated"), 10_000, "the escalation");
    writeFileSync(file, none(config(dir, target(dir, "a", port), "severities: { server_down: P2 }\n")));
    daemon.child.kill("SIGHUP");
    await waitUntil(() => /"msg":"config reloaded"/.test(daemon.stdout()), 10_000, "the reload");
    await new Promise((r) => setTimeout(r, 1000));
    const opened = journal(state).filter((r) => r.type === "opened");
    expect(opened).toHaveLength(1);
    expect(opened[0]!.incident).toBe(escalated.incident);
    expect(journal(state).some((r) => r.type === "resolved")).toBe(false);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 60_000);

  it("removing a target while its playbook runs lets the step finish, runs nothing more, resolves it and tells Slack; a restart and a re-add start fresh", async () => {
    const dir = tempDir();
    const port = await freePort();
    const file = join(dir, "medic.yaml");
    const state = join(dir, "state");
    const gate = join(dir, "gate");
    const slack = await startSlackReceiver();
    onCleanup(() => slack.close());
    // A first step that lasts until the test opens the gate (a long diagnostic, say), then the restart.
    mkdirSync(join(dir, "playbooks"));
    writeFileSync(
      join(dir, "playbooks", "slow.yaml"),
      `name: slow-restart
on: [server_down]
steps:
  - exec: { argv: [${JSON.stringify(process.execPath)}, "-e", "setInterval(() => require('fs').existsSync(process.argv[1]) && process.exit(0), 50)", ${JSON.stringify(gate)}] }
  - service.restart: {}
verify: { within: 10s }
`,
    );
    const withSlack = (targets: string) =>
      config(dir, targets, `notify: { slack: { webhookUrl: ${JSON.stringify(slack.url)}, timeout: 1s } }\n`).replace(
        JSON.stringify(SHIPPED_PLAYBOOKS),
        JSON.stringify(join(dir, "playbooks")),
      );
    const keep = await freePort();
    const other = `  - name: other\n    probe: { tcp: { host: 127.0.0.1, port: ${keep} } }\n    interval: 1h\n`;
    writeFileSync(file, withSlack(target(dir, "a", port)));
    const pid = await startService(dir, port, join(dir, "a.pid"));
    let daemon = startMedic(["run", "--config", file]);
    await waitUntil(() => daemon.stdout().includes("medic started"), 10_000, "medic to start");
    process.kill(pid, "SIGKILL");
    const opened = await waitUntil(() => journal(state).find((r) => r.type === "opened" && r.target === "a"), 10_000, "a's incident");
    const id = opened.incident;
    await waitUntil(
      () => journal(state).find((r) => r.incident === id && r.type === "step_started" && r.index === 0),
      10_000,
      "the first step to start",
    );
    const [trigger] = await slack.waitForMessages(1);
    expect(JSON.stringify(trigger!.body)).toContain(id);

    // Reload without a: its step is still running (the gate is shut).
    writeFileSync(file, withSlack(other));
    daemon.child.kill("SIGHUP");
    await waitUntil(() => /"removed":\["a"\]/.test(daemon.stdout()), 10_000, "a removed");
    expect(
      journal(state)
        .filter((r) => r.incident === id)
        .map((r) => r.type),
    ).not.toContain("step_finished");
    writeFileSync(gate, "");
    const resolved = await waitUntil(
      () => journal(state).find((r) => r.incident === id && r.type === "resolved"),
      15_000,
      "a's incident to close",
    );
    expect(resolved).toMatchObject({ reason: "no longer watched: target removed from config" });
    const lifecycle = journal(state)
      .filter((r) => r.incident === id && !r.type.startsWith("notification_"))
      .map((r) => r.type);
    // The step in flight finished; the restart and the verification never ran; nothing escalated.
    expect(lifecycle).toEqual(["opened", "playbook_started", "step_started", "step_finished", "resolved"]);
    const messages = await slack.waitForMessages(2);
    expect(messages[1]!.body.text).toMatch(new RegExp(`^resolved: no longer watched: target removed from config .*incident ${id}`));

    // And then: a restart with a still gone resumes nothing, escalates nothing, pages nobody again.
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    const before = journal(state).length;
    daemon = startMedic(["run", "--config", file]);
    await waitUntil(() => daemon.stdout().includes("medic started"), 10_000, "medic to restart");
    await new Promise((r) => setTimeout(r, 1000));
    expect(daemon.stdout()).not.toContain("resuming incident left in flight");
    expect(journal(state).slice(before)).toEqual([]);
    expect(slack.posted()).toHaveLength(2);

    // Re-adding a (still down) opens a new incident and runs its playbook from the first step.
    writeFileSync(file, withSlack(target(dir, "a", port) + other));
    daemon.child.kill("SIGHUP");
    const again = await waitUntil(
      () => journal(state).find((r) => r.type === "opened" && r.target === "a" && r.incident !== id),
      10_000,
      "a new incident on a",
    );
    const done = await waitUntil(
      () => journal(state).find((r) => r.incident === again.incident && r.type === "resolved"),
      20_000,
      "a restarted and verified",
    );
    expect(done).toMatchObject({ reason: expect.stringMatching(/^verified/) });
    expect(
      journal(state)
        .filter((r) => r.incident === again.incident && r.type === "step_finished")
        .map((r) => r.type === "step_finished" && r.outcome),
    ).toEqual(["ok", "ok"]);
    expect(existsSync(gate)).toBe(true);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 90_000);
});

/** Whether medic's `pid` has a handler for SIGHUP (bit 0 of SigCgt in /proc/PID/status). */
function catchesSighup(pid: number): boolean {
  try {
    // Until it execs, the child is a copy of this test's process, with this process's handlers.
    if (!readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(MEDIC)) return false;
    const mask = /^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return mask !== undefined && (BigInt(`0x${mask}`) & 1n) === 1n;
  } catch {
    return false;
  }
}

describe("SIGHUP while medic starts", () => {
  it("a SIGHUP while medic loads a slow config neither kills it nor is lost: it reloads once up, and stops cleanly", async () => {
    const dir = tempDir();
    // 150 playbooks: loading them takes a second or more, the window in which a SIGHUP used to kill medic.
    mkdirSync(join(dir, "many"));
    for (let i = 0; i < 150; i++) {
      writeFileSync(
        join(dir, "many", `p${i}.yaml`),
        `name: p${i}\non: [server_down]\nsteps:\n  - wait: 1s\n  - exec: { argv: [/bin/true, "{{ target.name }}"] }\nverify: { within: 10s }\nonFailure: escalate\n`,
      );
    }
    const file = join(dir, "medic.yaml");
    writeFileSync(
      file,
      `stateDir: ${JSON.stringify(join(dir, "state"))}\nplaybooks: [./many]\ntargets:\n  - { name: a, probe: { tcp: { port: 1 } } }\n`,
    );
    // An access time older than the file: the first read moves it (relatime), which says medic is loading its config.
    const { mtime } = statSync(file);
    const unread = new Date(mtime.getTime() - 3_600_000);
    utimesSync(file, unread, mtime);

    const daemon = startMedic(["run", "--config", file]);
    const pid = daemon.child.pid!;
    // From the first moment medic catches SIGHUP, or has begun reading its config, whichever is seen first.
    let seen: { configRead: boolean; caught: boolean } | undefined;
    while (!seen && daemon.child.exitCode === null) {
      // Set an hour back (utimes may round it by a microsecond); a read sets it to now.
      const configRead = statSync(file).atimeMs > unread.getTime() + 60_000;
      const caught = catchesSighup(pid);
      if (configRead || caught) seen = { configRead, caught };
      else await new Promise((r) => setTimeout(r, 2));
    }
    let sent = 0;
    while (!daemon.stdout().includes("medic started") && daemon.child.exitCode === null && daemon.child.signalCode === null) {
      daemon.child.kill("SIGHUP");
      sent++;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect({ exit: daemon.child.exitCode, signal: daemon.child.signalCode, stderr: daemon.stderr() }).toEqual({
      exit: null,
      signal: null,
      stderr: "",
    });
    expect(sent).toBeGreaterThan(0);
    // medic caught SIGHUP before it read its config (a SIGHUP then was fatal).
    if (seen?.configRead) expect(seen.caught).toBe(true);

    await waitUntil(() => daemon.stdout().includes('"msg":"config reloaded"'), 20_000, "the reload asked for during start-up");
    const messages = daemon
      .stdout()
      .split("\n")
      .map((l) => /"msg":"([^"]*)"/.exec(l)?.[1])
      .filter(Boolean);
    const waits = messages.indexOf("reload asked for while medic starts: it runs once medic is up");
    expect(waits).toBeGreaterThanOrEqual(0);
    expect(waits).toBeLessThan(messages.indexOf("medic started"));
    expect(messages.indexOf("medic started")).toBeLessThan(messages.indexOf("reloading the config"));
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 60_000);
});
