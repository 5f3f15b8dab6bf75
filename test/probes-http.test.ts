import type http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpProbe } from "../src/probes/http.js";
import { PROBE_GRACE_MS, runProbe } from "../src/probes/run.js";
import type { Observation, Probe } from "../src/probes/types.js";
import { refusedPort, startHttpServer, startTcpServer, type TestServer } from "./fixtures/probes-servers.js";

const ctx = { target: "web", timeoutMs: 3000, baseDir: "/" };
const DB_DOWN = JSON.stringify({ status: "unhealthy", database_status: "disconnected", connection_pool: { active: 0, max: 20 } });
const BIG_BYTES = 50 * 1024 * 1024;

let app: TestServer;
let hung: TestServer;
let garbage: TestServer;
let refused: number;
let bigBytesWritten = 0;
const seen: { method?: string; headers?: http.IncomingHttpHeaders } = {};

function json(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "content-type": "application/json" }).end(body);
}

// Writes 50 MB in 64 KiB chunks, respecting backpressure, and stops when the client goes away.
function streamBig(res: http.ServerResponse, contentType: string, prefix: string): void {
  res.writeHead(200, { "content-type": contentType, "content-length": String(BIG_BYTES) });
  const chunk = Buffer.alloc(64 * 1024, "a");
  let sent = 0;
  const pump = (): void => {
    if (sent === 0) {
      res.write(prefix);
      sent += prefix.length;
    }
    while (sent < BIG_BYTES && !res.destroyed) {
      const piece = chunk.subarray(0, Math.min(chunk.length, BIG_BYTES - sent));
      sent += piece.length;
      bigBytesWritten = sent;
      if (!res.write(piece)) return void res.once("drain", pump);
    }
    if (sent >= BIG_BYTES) res.end();
  };
  pump();
}

const routes: Record<string, (req: http.IncomingMessage, res: http.ServerResponse) => void> = {
  "/health": (_, res) =>
    json(res, 200, JSON.stringify({ status: "ok", database_status: "connected", connection_pool: { active: 3, max: 10 } })),
  "/slow": (_, res) => void setTimeout(() => json(res, 200, '{"status":"ok"}'), 300),
  "/boom": (_, res) => json(res, 500, '{"error":"internal"}'),
  "/text": (_, res) => res.writeHead(200, { "content-type": "text/plain" }).end("all good\u0007\u001b[31m here\n"),
  "/big": (_, res) => streamBig(res, "text/plain", ""),
  "/big-json": (_, res) => streamBig(res, "application/json", '{"status":"fail","pad":"'),
  "/db-down-503": (_, res) => json(res, 503, DB_DOWN),
  "/db-down-200": (_, res) => json(res, 200, DB_DOWN),
  "/teapot": (_, res) => json(res, 418, "{}"),
  "/echo": (req, res) => {
    seen.method = req.method;
    seen.headers = req.headers;
    res.writeHead(204).end();
  },
  "/cut": (_, res) => {
    res.writeHead(200, { "content-type": "text/plain", "content-length": "1000" });
    res.write("only part of it");
    setTimeout(() => res.socket?.destroy(), 50);
  },
};

beforeAll(async () => {
  app = await startHttpServer((req, res) => {
    const route = routes[new URL(req.url ?? "/", "http://x").pathname];
    if (route) route(req, res);
    else res.writeHead(404).end();
  });
  hung = await startTcpServer(); // accepts, never answers
  garbage = await startTcpServer((socket) => socket.write("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n\u0000\u00ff\u00fe garbage"));
  refused = await refusedPort();
});

afterAll(async () => {
  await Promise.all([app?.close(), hung?.close(), garbage?.close()]);
});

const url = (path: string, port = app.port) => `http://127.0.0.1:${port}${path}`;
const probeOf = (params: Record<string, unknown>, timeoutMs = ctx.timeoutMs): Probe =>
  httpProbe.create(httpProbe.schema.parse(params), { ...ctx, timeoutMs });
const probe = (params: Record<string, unknown>, timeoutMs = ctx.timeoutMs): Promise<Observation> =>
  runProbe(probeOf(params, timeoutMs), { target: "web", timeoutMs });

describe("http probe against real listeners", () => {
  it("healthy JSON: ok, status, parsed body and health summary", async () => {
    const before = Date.now();
    const obs = await probe({ url: url("/health") });
    expect(obs.ok).toBe(true);
    expect(obs.error).toBeUndefined();
    expect(obs.at).toBeGreaterThanOrEqual(before);
    expect(obs.facts.status).toBe(200);
    expect(obs.facts.body).toMatchObject({ status: "ok" });
    expect(obs.facts.health).toMatchObject({ format: "plain", status: "pass", database: "up", poolUtilization: 0.3 });
  });

  it("killed server (listener closed): ECONNREFUSED, message without userinfo or query", async () => {
    const obs = await probe({ url: `http://admin:hunter22@127.0.0.1:${refused}/health?token=sekrit` });
    expect(obs.ok).toBe(false);
    expect(obs.error?.code).toBe("ECONNREFUSED");
    expect(obs.error?.message).toContain(`http://127.0.0.1:${refused}/health`);
    expect(obs.error?.message).not.toMatch(/hunter22|sekrit|admin/);
  });

  it("hung server (accepts, never answers): ETIMEDOUT within the timeout plus a generous bound", async () => {
    const startMs = performance.now();
    const obs = await probe({ url: url("/health", hung.port) }, 1000);
    const elapsedMs = performance.now() - startMs;
    expect(obs.ok).toBe(false);
    expect(obs.error?.code).toBe("ETIMEDOUT");
    expect(elapsedMs).toBeGreaterThanOrEqual(950);
    expect(elapsedMs).toBeLessThan(1000 + 1500);
  });

  it("slow answer under the timeout: ok, latency at least the delay", async () => {
    const obs = await probe({ url: url("/slow") });
    expect(obs.ok).toBe(true);
    expect(obs.latencyMs).toBeGreaterThanOrEqual(295);
  });

  it("500: not ok, status kept, no error (the server answered)", async () => {
    const obs = await probe({ url: url("/boom") });
    expect(obs.ok).toBe(false);
    expect(obs.facts.status).toBe(500);
    expect(obs.error).toBeUndefined();
  });

  it("garbage that is not HTTP: not ok, node's error code, no throw", async () => {
    const obs = await probe({ url: url("/", garbage.port) });
    expect(obs.ok).toBe(false);
    expect(obs.error?.code).toMatch(/^(HPE_|EPROTO)/);
    expect(obs.error?.message).toContain(`127.0.0.1:${garbage.port}`);
  });

  it("https against a plain listener: not ok, EPROTO, a one-line message", async () => {
    const obs = await probe({ url: `https://127.0.0.1:${app.port}/health` });
    expect(obs.ok).toBe(false);
    expect(obs.error?.code).toBe("EPROTO");
    expect(obs.error?.message).not.toContain("\n");
  });

  it("plain text 200: ok, excerpt without control characters, no parsed body", async () => {
    const obs = await probe({ url: url("/text") });
    expect(obs.ok).toBe(true);
    expect(obs.facts.body).toBeUndefined();
    expect(obs.facts.health).toBeUndefined();
    expect(obs.facts.bodyExcerpt).toMatch(/^all good\[31m here ?$/);
  });

  it("50 MB body over the cap: a failed probe (BODY_TOO_LARGE), status kept, the body not read", async () => {
    bigBytesWritten = 0;
    const obs = await probe({ url: url("/big"), maxBodyBytes: "1MiB" });
    expect(obs.ok).toBe(false);
    expect(obs.error?.code).toBe("BODY_TOO_LARGE");
    expect(obs.error?.message).toContain("health body of 50MiB is larger than 1MiB (maxBodyBytes)");
    expect(obs.facts.status).toBe(200);
    expect(obs.facts.bodyTruncated).toBe(true);
    expect(obs.facts.bodyExcerpt).toBeUndefined();
    // The client hung up, so the server never got to push the whole body out.
    await new Promise((r) => setTimeout(r, 200));
    expect(bigBytesWritten).toBeLessThan(BIG_BYTES);
  });

  it("a JSON body over the cap is not parsed: a failed probe for its size, not for what it says", async () => {
    const obs = await probe({ url: url("/big-json"), maxBodyBytes: "64KiB" });
    expect(obs.facts.bodyTruncated).toBe(true);
    expect(obs.facts.body).toBeUndefined();
    expect(obs.facts.health).toBeUndefined();
    expect(obs.ok).toBe(false);
    expect(obs.error?.code).toBe("BODY_TOO_LARGE");
  });

  it.each([
    ["/db-down-503", 503],
    ["/db-down-200", 200],
  ])("database down in a plain health body (%s) reaches facts.health and fails the probe", async (path, status) => {
    const obs = await probe({ url: url(path) });
    expect(obs.ok).toBe(false);
    expect(obs.facts.status).toBe(status);
    expect(obs.facts.health).toMatchObject({ status: "fail", database: "down", poolUtilization: 0 });
  });

  it("expectStatus overrides the 200-399 default", async () => {
    expect((await probe({ url: url("/teapot"), expectStatus: [418] })).ok).toBe(true);
    expect((await probe({ url: url("/health"), expectStatus: [204] })).ok).toBe(false);
  });

  it("sends the method and headers, with a user agent", async () => {
    const obs = await probe({ url: url("/echo"), method: "POST", headers: { "X-Probe-Key": "k1" } });
    expect(obs.ok).toBe(true);
    expect(seen.method).toBe("POST");
    expect(seen.headers?.["x-probe-key"]).toBe("k1");
    expect(seen.headers?.["user-agent"]).toBe("medic-probe");
    expect(seen.headers?.connection).toBe("close");
  });

  it("a connection cut mid-body: not ok, ECONNRESET, status kept", async () => {
    const obs = await probe({ url: url("/cut") });
    expect(obs.ok).toBe(false);
    expect(obs.error?.code).toBe("ECONNRESET");
    expect(obs.facts.status).toBe(200);
  });

  it("a hung target does not hold up a healthy one probed at the same time", async () => {
    const finished: string[] = [];
    const track = (name: string, p: Promise<Observation>) => p.then((obs) => (finished.push(name), obs));
    const [slow, fast] = await Promise.all([
      track("hung", probe({ url: url("/", hung.port) }, 1500)),
      track("healthy", probe({ url: url("/health") }, 1500)),
    ]);
    expect(finished).toEqual(["healthy", "hung"]);
    expect(fast.ok).toBe(true);
    expect(slow.error?.code).toBe("ETIMEDOUT");
    expect(fast.latencyMs).toBeLessThan(slow.latencyMs);
  });

  it("the guard answers for a probe that ignores its signal", async () => {
    const real = probeOf({ url: url("/", hung.port) });
    // Misbehaving wrapper: hands the real probe a signal that never aborts.
    const deaf: Probe = { run: () => real.run(new AbortController().signal) };
    const startMs = performance.now();
    const obs = await runProbe(deaf, { target: "web", timeoutMs: 500 });
    expect(obs.error?.code).toBe("ETIMEDOUT");
    expect(performance.now() - startMs).toBeLessThan(500 + PROBE_GRACE_MS + 1500);
  });

  it("the guard turns a probe that throws into EPROBE", async () => {
    const real = probeOf({ url: url("/health") });
    const buggy: Probe = {
      run: async (signal) => {
        await real.run(signal);
        throw new Error("bug after the request");
      },
    };
    const obs = await runProbe(buggy, { target: "web", timeoutMs: 2000 });
    expect(obs.ok).toBe(false);
    expect(obs.error?.code).toBe("EPROBE");
    expect(obs.error?.message).toContain("bug after the request");
  });

  it("an already-aborted signal answers ETIMEDOUT without connecting", async () => {
    const obs = await probeOf({ url: url("/health") }).run(AbortSignal.abort());
    expect(obs.error?.code).toBe("ETIMEDOUT");
  });
});
