import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import Docker from "dockerode";
import { afterEach, describe, expect, it } from "vitest";
import { isAlive } from "../src/lib/proc.js";
import { TEST_IMAGE } from "./docker-harness.js";
import { cleanup, journal, onCleanup, startMedic, tempDir, waitUntil } from "./harness.js";

const run = promisify(execFile);
afterEach(cleanup);

/**
 * A second, private Docker engine on its own socket, data root and network namespace, so this test
 * can restart an engine without pulling the machine's engine out from under the other test files.
 */
async function privateEngine() {
  const dir = mkdtempSync("/tmp/medic-de-");
  const socket = join(dir, "d.sock");
  const args = [
    "--host",
    `unix://${socket}`,
    "--data-root",
    join(dir, "data"),
    "--exec-root",
    join(dir, "x"),
    "--pidfile",
    join(dir, "d.pid"),
    "--bridge",
    "none",
    "--iptables=false",
    "--ip-masq=false",
  ];
  const client = new Docker({ socketPath: socket });
  const start = async () => {
    // Its own network namespace: an engine starting or stopping may rework host bridges (docker0),
    // which would pull the network out from under the machine's engine and the other tests.
    const child = spawn("unshare", ["--net", "dockerd", ...args], { detached: true, stdio: ["ignore", "ignore", "ignore"] });
    child.unref();
    await waitUntil(
      () =>
        client.ping().then(
          () => true,
          () => false,
        ),
      30_000,
      "the private engine",
    );
  };
  const stop = async () => {
    const pid = Number(readFileSync(join(dir, "d.pid"), "utf8"));
    process.kill(pid, "SIGTERM");
    await waitUntil(async () => !(await isAlive(pid)), 30_000, "the private engine to stop");
  };
  await start();
  onCleanup(async () => {
    await client.listContainers({ all: true }).then(
      (l) => Promise.all(l.map((c) => client.getContainer(c.Id).remove({ force: true }))),
      () => {},
    );
    await stop().catch(() => {});
    await run("umount", ["-R", join(dir, "x")]).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });
  // The image travels from the machine's engine: no registry is reachable.
  await run("sh", ["-c", `docker save ${TEST_IMAGE} | docker -H unix://${socket} load`]);
  return { socket, client, start, stop };
}

describe("the engine restarted under medic", () => {
  it("medic reconnects its event stream, does not crash, opens no storm of incidents, and still sees a kill at once", async () => {
    const engine = await privateEngine();
    const container = await engine.client.createContainer({
      name: "medic-engine-restart",
      Image: TEST_IMAGE,
      Cmd: ["/bin/busybox", "sleep", "3600"],
      StopTimeout: 1,
      HostConfig: { NetworkMode: "none" },
    });
    await container.start();
    const dir = tempDir();
    const file = join(dir, "medic.yaml");
    writeFileSync(
      file,
      `stateDir: ./state
playbooks: []
defaults: { interval: 10s, timeout: 2s, failureThreshold: 3, successThreshold: 1 }
targets:
  - name: sleeper
    probe: { docker: { container: medic-engine-restart, socketPath: ${JSON.stringify(engine.socket)} } }
`,
    );
    const daemon = startMedic(["run", "--config", file]);
    await waitUntil(() => daemon.stdout().includes("medic started"), 10_000, "medic to start");
    await new Promise((r) => setTimeout(r, 1000));

    await engine.stop();
    await new Promise((r) => setTimeout(r, 1500));
    await engine.start();
    await container.start(); // the engine stop took it down; an operator starts it again
    await new Promise((r) => setTimeout(r, 3000)); // the stream's backoff is at most a few seconds here
    expect(daemon.child.exitCode).toBeNull();
    const state = join(dir, "state");
    // The engine stop may count as one outage of the container; never a storm.
    expect(journal(state).filter((r) => r.type === "opened").length).toBeLessThanOrEqual(1);
    const settled = () =>
      journal(state).filter((r) => r.type === "opened").length === journal(state).filter((r) => r.type === "resolved").length;
    await waitUntil(settled, 15_000, "any outage incident to resolve once the container runs");

    const killedAt = Date.now();
    await container.kill();
    const opened = await waitUntil(() => journal(state).find((r) => r.type === "opened" && r.at >= killedAt), 8_000, "the kill to be seen");
    expect(opened.at - killedAt).toBeLessThan(5_000); // the 10 s poll would be later: the reconnected stream saw it
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 120_000);
});
