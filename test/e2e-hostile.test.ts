import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { isAlive, readPidFile } from "../src/lib/proc.js";
import { startHttpServer, startTcpServer } from "./fixtures/probes-servers.js";
import { cleanup, freePort, journal, serviceConfig, startMedic, startService, tempDir, waitUntil } from "./harness.js";

afterEach(cleanup);

describe("medic run against broken and hostile targets", () => {
  it("restarts a hung service (accepts, never answers) and verifies it", async () => {
    const dir = tempDir();
    const port = await freePort();
    const config = join(dir, "medic.yaml");
    writeFileSync(config, serviceConfig(dir, port).replace("timeout: 1s", "timeout: 300ms"));
    const pid = await startService(dir, port, join(dir, "api.pid"));
    const daemon = startMedic(["run", "--config", config]);
    await waitUntil(() => daemon.stdout().includes("medic started"), 10_000, "medic to start");

    writeFileSync(join(dir, "hang"), "");
    const stateDir = join(dir, "state");
    const opened = await waitUntil(() => journal(stateDir).find((r) => r.type === "opened"), 15_000, "the incident");
    expect(opened).toMatchObject({ kind: "server_down", evidence: expect.stringMatching(/ETIMEDOUT|timed out/) });
    const { rmSync } = await import("node:fs");
    rmSync(join(dir, "hang")); // the stuck process stays stuck; a fresh one is fine
    await waitUntil(() => journal(stateDir).find((r) => r.type === "resolved"), 30_000, "the incident to resolve");
    expect(await isAlive(pid)).toBe(false);
    expect(await readPidFile(join(dir, "api.pid"))).not.toBe(pid);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 60_000);

  it("a partition: 30 targets that accept and never answer time out together, and stderr stays empty (no Node warnings)", async () => {
    const dir = tempDir();
    let connections = 0;
    const sink = await startTcpServer(() => void connections++); // accepts, never answers
    const targets = Array.from(
      { length: 30 },
      (_, i) => `  - name: t${i}
    probe: { http: { url: "http://127.0.0.1:${sink.port}/health/${i}" } }`,
    ).join("\n");
    const config = join(dir, "medic.yaml");
    writeFileSync(
      config,
      `stateDir: ${JSON.stringify(join(dir, "state"))}
defaults: { interval: 500ms, timeout: 2s, failureThreshold: 1 }
targets:
${targets}
`,
    );
    const daemon = startMedic(["run", "--config", config]);
    try {
      // All 30 probes hang at once (one abort listener each on the daemon's stop signal).
      await waitUntil(() => connections >= 30, 10_000, "all 30 probes to connect");
      await waitUntil(() => journal(join(dir, "state")).filter((r) => r.type === "opened").length === 30, 20_000, "30 incidents");
      expect(journal(join(dir, "state")).find((r) => r.type === "opened")).toMatchObject({
        kind: "server_down",
        evidence: expect.stringMatching(/^timed out \(ETIMEDOUT\)/),
      });
      daemon.child.kill("SIGTERM");
      expect(await daemon.exited).toBe(0);
      expect(daemon.stderr()).toBe("");
    } finally {
      await sink.close();
    }
  }, 60_000);

  it("fails a 50 MB body (over maxBodyBytes), survives non-HTTP garbage and a hostile health body, and records them as one-line evidence", async () => {
    const chunk = Buffer.alloc(1 << 20, "x");
    const huge = await startHttpServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      let sent = 0;
      const pump = () => {
        while (sent < 50 && res.write(chunk)) sent++;
        if (sent >= 50) res.end();
        else res.once("drain", () => (sent++, pump()));
      };
      pump();
    });
    // medic drops the connection on reading this, which can reach the server as a reset:
    // startTcpServer keeps that from becoming an uncaught error in the test process.
    const garbage = await startTcpServer((sock) => sock.end("\x00\x01garbage\r\n\r\nnot http at all\x1b[31m"));
    // Written by hand: the body must carry a literal "__proto__" key and 10,000 levels of nesting.
    const deep = '{"a":'.repeat(10_000) + '{"status":"down"}' + "}".repeat(10_000);
    const hostileBody =
      `{"status":${JSON.stringify("fail\n\x1b[2J$(reboot)")},` +
      `"database_status":${JSON.stringify("disconnected\r\nX-Injected: 1 `rm -rf /` --help")},` +
      `"__proto__":{"polluted":true},"deep":${deep}}`;
    const hostile = await startHttpServer((_req, res) => res.writeHead(503, { "content-type": "application/json" }).end(hostileBody));
    const ports = [huge.port, garbage.port, hostile.port];
    try {
      const dir = tempDir();
      const config = join(dir, "medic.yaml");
      writeFileSync(
        config,
        `stateDir: ./state
playbooks: []
defaults: { interval: 200ms, timeout: 2s, failureThreshold: 1, successThreshold: 1 }
targets:
  - { name: huge, probe: { http: { url: "http://127.0.0.1:${ports[0]}/" } } }
  - { name: garbage, probe: { http: { url: "http://127.0.0.1:${ports[1]}/" } } }
  - { name: hostile, probe: { http: { url: "http://127.0.0.1:${ports[2]}/" } } }
`,
      );
      const daemon = startMedic(["run", "--config", config]);
      const stateDir = join(dir, "state");
      await waitUntil(() => journal(stateDir).filter((r) => r.type === "escalated").length >= 3, 15_000, "three escalations");
      await new Promise((r) => setTimeout(r, 1500));
      const opened = journal(stateDir).filter((r) => r.type === "opened");
      expect(opened.map((r) => r.type === "opened" && r.target).sort()).toEqual(["garbage", "hostile", "huge"]);
      for (const r of opened) {
        if (r.type !== "opened") continue;
        expect(r.evidence).not.toMatch(/[\r\n\x00-\x1f\x1b]/);
        expect(r.evidence.length).toBeLessThanOrEqual(300);
      }
      const hostileIncident = opened.find((r) => r.type === "opened" && r.target === "hostile");
      // Status words that long are not believed: the 503 alone makes it server_down.
      expect(hostileIncident).toMatchObject({ kind: "server_down", evidence: expect.stringMatching(/^HTTP 503/) });
      // A health body over maxBodyBytes (1 MiB) is a failed probe; medic stops reading at the limit.
      expect(opened.find((r) => r.type === "opened" && r.target === "huge")).toMatchObject({
        kind: "server_down",
        evidence: expect.stringContaining("larger than 1MiB (maxBodyBytes)"),
      });
      expect(journal(stateDir).find((r) => r.type === "escalated")).toMatchObject({
        reason: expect.stringMatching(/^no playbook handles/),
      });
      expect(daemon.child.exitCode).toBeNull();
      daemon.child.kill("SIGTERM");
      expect(await daemon.exited).toBe(0);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    } finally {
      await Promise.all([huge.close(), garbage.close(), hostile.close()]);
    }
  }, 60_000);
});
