import { readFileSync, writeFileSync } from "node:fs";
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from "node:net";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { httpProbe } from "../src/probes/http.js";
import type { Observation } from "../src/probes/types.js";
import { cases, within } from "./chaos-common.js";
import { apiUrl, cleanup, journal, startMedic, tempDir, waitUntil } from "./harness.js";

afterEach(cleanup);

// Each hostile endpoint is a raw TCP server, so it can break HTTP in ways node's server will not.
const sockets = new Set<Socket>();
const servers: (Server | TcpServer)[] = [];
afterAll(() => {
  for (const s of sockets) s.destroy();
  for (const s of servers) s.close();
});
const listen = (s: Server | TcpServer) => {
  servers.push(s);
  return new Promise<number>((ok) => s.listen(0, "127.0.0.1", () => ok((s.address() as { port: number }).port)));
};
const raw = (onSocket: (sock: Socket) => void) =>
  listen(
    createTcpServer((sock) => {
      sockets.add(sock);
      sock.on("close", () => sockets.delete(sock)).on("error", () => {});
      // Answer only once the request is in, as a real server would.
      sock.once("data", () => onSocket(sock));
    }),
  );
const head = (status: number, extra = "") => `HTTP/1.1 ${status} X\r\ncontent-type: application/json\r\nconnection: close\r\n${extra}\r\n`;

const GB = 1 << 30;
/** Streams `total` bytes of `fill` after a 200 header, respecting backpressure, until the peer goes. */
function stream(sock: Socket, status: number, total: number, fill: Buffer): void {
  sock.write(head(status, `content-length: ${total}\r\n`));
  let sent = 0;
  const pump = () => {
    while (sent < total && !sock.destroyed) {
      sent += fill.length;
      if (!sock.write(fill)) return void sock.once("drain", pump);
    }
    sock.end();
  };
  pump();
}

/** The hostile endpoints of issue 8 that test/e2e-hostile.test.ts does not already cover. */
async function hostileEndpoints(): Promise<Record<string, number>> {
  const deep = "[".repeat(100_000) + "]".repeat(100_000);
  return {
    // One byte a second: headers that never finish inside any timeout.
    slowloris: await raw((sock) => {
      const text = head(200);
      let i = 0;
      const t = setInterval(() => (sock.destroyed || i >= text.length ? clearInterval(t) : sock.write(text[i++]!)), 1000);
      sock.on("close", () => clearInterval(t));
    }),
    // A 1 GB body (503, so the verdict does not depend on the body).
    gigabyte: await raw((sock) => stream(sock, 503, GB, Buffer.alloc(1 << 16, "x"))),
    // Headers without end: header lines forever, never the blank line.
    endlessHeaders: await raw((sock) => {
      sock.write("HTTP/1.1 200 OK\r\n");
      let n = 0;
      const more = () => {
        while (!sock.destroyed && n < 1_000_000) {
          if (!sock.write(`x-h${n++}: ${"v".repeat(100)}\r\n`)) return void sock.once("drain", more);
        }
      };
      more();
    }),
    // Content-length says 1 MB; 10 kB arrive, then a TCP reset.
    resetMidBody: await raw((sock) => {
      sock.write(head(200, "content-length: 1000000\r\n") + '{"status":"pass","pad":"' + "p".repeat(10_000));
      setTimeout(() => sock.resetAndDestroy(), 50);
    }),
    invalidUtf8: await raw((sock) =>
      sock.end(
        Buffer.concat([
          Buffer.from(head(503)),
          Buffer.from('{"status":"'),
          Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80]),
          Buffer.from('"}'),
        ]),
      ),
    ),
    deepJson: await raw((sock) => sock.end(head(503) + deep)),
    hugeNumbers: await raw((sock) =>
      sock.end(
        head(503) + '{"status":"down","pool":{"active":1e400,"max":1e400,"utilization":1e400},"memory":{"used":-1e400,"limit":1e-400}}',
      ),
    ),
    redirectLoop: await listen(createServer((req, res) => res.writeHead(302, { location: req.url ?? "/" }).end())),
  };
}

const probe = (port: number, timeoutMs: number): Promise<Observation> => {
  const params = httpProbe.schema.parse({ url: `http://127.0.0.1:${port}/health` });
  return httpProbe.create(params, { target: "t", timeoutMs, baseDir: "/" }).run(AbortSignal.timeout(timeoutMs));
};

describe("chaos: hostile health endpoints", () => {
  it("each hostile answer is a failed probe with a one-line reason, within the timeout", async () => {
    const ports = await hostileEndpoints();
    const expected: Record<string, RegExp> = {
      slowloris: /ETIMEDOUT/,
      gigabyte: /BODY_TOO_LARGE/, // refused on its Content-Length, before a byte of it is read
      endlessHeaders: /HPE_HEADER_OVERFLOW|ETIMEDOUT|EHTTP/,
      resetMidBody: /ECONNRESET/,
      invalidUtf8: /^$/,
      deepJson: /^$/,
      hugeNumbers: /^$/,
      redirectLoop: /REDIRECT_LOOP/,
    };
    for (const [name, code] of Object.entries(expected)) {
      const t0 = Date.now();
      const obs = await within(probe(ports[name]!, 2000), 10_000, name);
      const took = Date.now() - t0;
      expect(obs.ok, name).toBe(false);
      expect(obs.error?.code ?? "", name).toMatch(code);
      if (obs.error) expect(obs.error.message, name).not.toMatch(/[\r\n]/);
      if (obs.error) expect(obs.error.message.length, name).toBeLessThanOrEqual(400);
      expect(took, name).toBeLessThan(6000);
      expect((obs.facts.bodyExcerpt ?? "").length, name).toBeLessThanOrEqual(512);
      expect(obs.facts.bodyExcerpt ?? "", name).not.toMatch(/[\r\n\x00-\x08\x1b]/);
      // Nothing impossible leaks into the facts classification reads.
      for (const v of [
        obs.facts.health?.poolUtilization,
        obs.facts.health?.memoryUtilization,
        obs.facts.memoryUtilization,
        obs.facts.poolUtilization,
      ]) {
        if (v !== undefined) expect(Number.isFinite(v), `${name}: ${v}`).toBe(true);
      }
    }
    expect((await probe(ports.gigabyte!, 2000)).facts.bodyTruncated).toBe(true);
  }, 60_000);

  it(
    "a medic watching all of them at once keeps running, answers its API and stays within bounded memory",
    async () => {
      const ports = await hostileEndpoints();
      const dir = tempDir();
      const config = join(dir, "medic.yaml");
      writeFileSync(
        config,
        `stateDir: ./state
playbooks: []
defaults: { interval: 300ms, timeout: 1500ms, failureThreshold: 1, successThreshold: 1 }
targets:
${Object.entries(ports)
  .map(([name, port]) => `  - { name: ${name}, probe: { http: { url: "http://127.0.0.1:${port}/health" } } }`)
  .join("\n")}
`,
      );
      const daemon = startMedic(["run", "--config", config]);
      const url = await apiUrl(daemon);
      const stateDir = join(dir, "state");
      const failing = Object.keys(ports);
      await waitUntil(
        () => failing.every((n) => journal(stateDir).some((r) => r.type === "opened" && r.target === n)),
        20_000,
        "an incident for each hostile target",
      );
      // Keep it under fire for a while: every round opens a 1 GB stream and a 100,000-deep body.
      let peakKb = 0;
      const until = Date.now() + cases(5_000, 60_000);
      while (Date.now() < until) {
        expect(daemon.child.exitCode, daemon.stderr()).toBeNull();
        const status = readFileSync(`/proc/${daemon.child.pid}/status`, "utf8");
        peakKb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
        expect((await fetch(`${url}/metrics`)).status).toBe(200);
        await new Promise((r) => setTimeout(r, 250));
      }
      // A 1 GB body read whole would be >1 GB; medic refuses it on its Content-Length.
      expect(peakKb).toBeLessThan(400 * 1024);
      for (const r of journal(stateDir)) {
        if (r.type !== "opened") continue;
        expect(r.evidence, r.target).not.toMatch(/[\r\n\x00-\x1f]/);
        expect(r.evidence.length, r.target).toBeLessThanOrEqual(300);
      }
      const opened = journal(stateDir).filter((r) => r.type === "opened");
      expect(opened.find((r) => r.type === "opened" && r.target === "slowloris")).toMatchObject({
        evidence: expect.stringMatching(/ETIMEDOUT|no answer/),
      });
      expect(opened.find((r) => r.type === "opened" && r.target === "resetMidBody")).toMatchObject({
        evidence: expect.stringMatching(/ECONNRESET|connection lost/),
      });
      daemon.child.kill("SIGTERM");
      expect(await within(daemon.exited, 15_000, "medic to stop")).toBe(0);
    },
    cases(60_000, 180_000),
  );

  it("a redirect loop and a 200 with a 1 GB body are failed probes, each with a clear reason", async () => {
    const loop = await listen(createServer((req, res) => res.writeHead(302, { location: req.url ?? "/" }).end()));
    const huge = await raw((sock) => stream(sock, 200, GB, Buffer.alloc(1 << 16, "x")));
    // No Content-Length (chunked): only reading tells the size, so the probe must stop at the limit.
    let chunkedSent = 0;
    const chunked = await listen(
      createServer((_, res) => {
        res.writeHead(200, { "content-type": "application/json" });
        const fill = Buffer.alloc(1 << 16, "x");
        const pump = () => {
          while (chunkedSent < GB && !res.destroyed) {
            chunkedSent += fill.length;
            if (!res.write(fill)) return void res.once("drain", pump);
          }
          res.end();
        };
        pump();
      }),
    );
    const results = {
      redirectLoop: await probe(loop, 2000),
      gigabyte200: await probe(huge, 2000),
      gigabyteChunked200: await probe(chunked, 5000),
    };
    expect(
      Object.fromEntries(
        Object.entries(results).map(([k, o]) => [
          k,
          { ok: o.ok, status: o.facts.status, truncated: o.facts.bodyTruncated, code: o.error?.code },
        ]),
      ),
    ).toMatchObject({
      redirectLoop: { ok: false, status: 302, code: "REDIRECT_LOOP" },
      gigabyte200: { ok: false, status: 200, truncated: true, code: "BODY_TOO_LARGE" },
      gigabyteChunked200: { ok: false, status: 200, truncated: true, code: "BODY_TOO_LARGE" },
    });
    expect(results.redirectLoop.error?.message).toMatch(/redirect loop \/health -> \/health \(hint: point the probe at the final URL\)$/);
    expect(results.gigabyte200.error?.message).toMatch(
      /health body of 1GiB is larger than 1MiB \(maxBodyBytes\); not read \(hint: keep health answers small/,
    );
    expect(results.gigabyteChunked200.error?.message).toMatch(
      /health body larger than 1MiB \(maxBodyBytes\); cut off \(hint: keep health answers small/,
    );
    // The probe hung up at the limit: the server never got far into its gigabyte.
    expect(chunkedSent).toBeLessThan(64 * 1024 * 1024);
  }, 30_000);
});
