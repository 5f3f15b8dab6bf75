import { execFileSync } from "node:child_process";
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cleanup, freePort, medic, startMedic, tempDir, waitUntil } from "./harness.js";

afterEach(cleanup);

const config = (dir: string, port: number, extra = "") => `stateDir: ${JSON.stringify(join(dir, "state"))}
playbooks: []
defaults: { interval: 200ms }
${extra}targets:
  - name: a
    probe: { tcp: { port: ${port} } }
`;

function fifoIn(dir: string, name: string): string {
  const path = join(dir, name);
  execFileSync("mkfifo", [path]);
  return path;
}

describe("config files that are not regular files", () => {
  it.each([
    ["a FIFO", (dir: string) => fifoIn(dir, "medic.yaml"), "is a named pipe (FIFO), not a regular file"],
    ["/dev/zero", () => "/dev/zero", "is a character device, not a regular file"],
  ])("--config naming %s is refused at once with exit 2", async (_what, make, reason) => {
    const dir = tempDir();
    const started = Date.now();
    const r = await medic(["validate", "--config", make(dir)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(reason);
    expect(r.stderr).toMatch(/:1:1 /);
    expect(Date.now() - started).toBeLessThan(10_000); // a blocked open or an endless read would hit the test's timeout
  });

  it("${file:…} naming a FIFO or a device is an issue at its line:col, and the rest of the config is still checked", async () => {
    const dir = tempDir();
    const fifo = fifoIn(dir, "secret");
    const file = join(dir, "medic.yaml");
    writeFileSync(
      file,
      config(dir, 1, `notify:\n  slack: { webhookUrl: "\${file:${fifo}}" }\n  pagerduty: { routingKey: "\${file:/dev/zero}" }\n`),
    );
    const r = await medic(["validate", "--config", file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      new RegExp(`medic\\.yaml:5:\\d+ notify\\.slack\\.webhookUrl: cannot read secret file ${fifo}: is a named pipe`),
    );
    expect(r.stderr).toMatch(/medic\.yaml:6:\d+ notify\.pagerduty\.routingKey: cannot read secret file \/dev\/zero: is a character device/);
  });

  it("a SIGHUP while the config is a FIFO is refused and logged; the next SIGHUP with a real file applies", async () => {
    const dir = tempDir();
    const file = join(dir, "medic.yaml");
    const port = await freePort();
    writeFileSync(file, config(dir, port));
    const daemon = startMedic(["run", "--config", file]);
    await waitUntil(() => daemon.stdout().includes("medic started"), 10_000, "medic to start");

    renameSync(file, join(dir, "saved.yaml"));
    fifoIn(dir, "medic.yaml");
    daemon.child.kill("SIGHUP");
    await waitUntil(() => daemon.stdout().includes("the previous config keeps running"), 10_000, "the refused reload");
    expect(daemon.stdout()).toContain("is a named pipe (FIFO), not a regular file");

    // And then: the reloader is not stuck; a real file reloads.
    renameSync(join(dir, "saved.yaml"), file);
    writeFileSync(file, config(dir, port, "").replace("interval: 200ms", "interval: 300ms"));
    daemon.child.kill("SIGHUP");
    await waitUntil(() => /"msg":"config reloaded"/.test(daemon.stdout()), 10_000, "the reload after the FIFO");
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  });
});
