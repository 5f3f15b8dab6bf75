import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runProbe } from "../src/probes/run.js";
import { tcpProbe } from "../src/probes/tcp.js";
import { refusedPort, startTcpServer, type TestServer } from "./fixtures/probes-servers.js";

const ctx = { target: "db", timeoutMs: 3000, baseDir: "/" };
let open: TestServer;
let hung: TestServer;
let refused: number;
let accepted = 0;

beforeAll(async () => {
  open = await startTcpServer((socket) => {
    accepted += 1;
    socket.end("hello\n");
  });
  hung = await startTcpServer(); // accepts and says nothing, like a wedged server
  refused = await refusedPort();
});

afterAll(async () => {
  await Promise.all([open?.close(), hung?.close()]);
});

const probe = (port: number, host = "127.0.0.1") =>
  runProbe(tcpProbe.create(tcpProbe.schema.parse({ host, port }), ctx), { target: "db", timeoutMs: ctx.timeoutMs });

describe("tcp probe against real listeners", () => {
  it("open port: ok, and the server saw the connection", async () => {
    const before = accepted;
    const obs = await probe(open.port);
    expect(obs.ok).toBe(true);
    expect(obs.error).toBeUndefined();
    expect(obs.latencyMs).toBeGreaterThanOrEqual(0);
    await new Promise((r) => setTimeout(r, 50));
    expect(accepted).toBe(before + 1);
  });

  it("refused port: ECONNREFUSED naming host:port", async () => {
    const obs = await probe(refused);
    expect(obs.ok).toBe(false);
    expect(obs.error?.code).toBe("ECONNREFUSED");
    expect(obs.error?.message).toContain(`tcp 127.0.0.1:${refused}`);
  });

  it("a server that accepts but never speaks is still ok (the connection opened)", async () => {
    const obs = await probe(hung.port);
    expect(obs.ok).toBe(true);
  });

  it("an already-aborted signal answers ETIMEDOUT without connecting", async () => {
    const before = accepted;
    const obs = await tcpProbe.create({ host: "127.0.0.1", port: open.port }, ctx).run(AbortSignal.abort());
    expect(obs.error?.code).toBe("ETIMEDOUT");
    await new Promise((r) => setTimeout(r, 50));
    expect(accepted).toBe(before);
  });
});
