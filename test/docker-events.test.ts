import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { dirname, join } from "node:path";
import ts from "typescript";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { dockerProbe } from "../src/probes/docker.js";
import { streamStatus, subscribeContainerEvents, type ContainerEvent } from "../src/probes/docker-events.js";
import type { WatchEvent } from "../src/probes/types.js";
import { containerName, docker, engineUp, runHttpContainer } from "./docker-harness.js";
import { cleanup, onCleanup, ROOT, tempDir, waitUntil } from "./harness.js";

const ENGINE = { socketPath: "/var/run/docker.sock" };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function subscribe(conn: { socketPath?: string }, onEvent: (e: ContainerEvent) => void): () => void {
  const off = subscribeContainerEvents(conn, onEvent);
  onCleanup(off);
  return off;
}

afterEach(cleanup);

describe("container events from the real engine", () => {
  beforeAll(async () => {
    expect(await engineUp(), "the Docker engine answers (run bash scripts/setup.sh)").toBe(true);
  });

  it("delivers a die event with exit code 137 and the container's labels soon after a kill", async () => {
    const name = containerName("medic-ev");
    const seen: ContainerEvent[] = [];
    subscribe(ENGINE, (e) => seen.push(e));
    await waitUntil(() => streamStatus(ENGINE).connected, 5000, "the stream to connect");
    const c = await runHttpContainer({ name, labels: { "medic.watch": "yes", "com.example.note": "$(touch /tmp/pwned) ; rm -rf /" } });
    await waitUntil(() => seen.some((e) => e.id === c.id && e.action === "start"), 5000, "the start event");
    const killedAt = Date.now();
    // Not awaited first: the engine answers the kill call only after its cleanup, seconds under load.
    const killed = docker.getContainer(c.id).kill();
    const die = await waitUntil(() => seen.find((e) => e.id === c.id && e.action === "die"), 10_000, "the die event");
    expect(Date.now() - killedAt).toBeLessThan(3000);
    await killed;
    expect(die).toMatchObject({ name, exitCode: 137 });
    // Labels are data, verbatim; the engine's own attributes are not labels.
    expect(die.labels).toEqual({ "medic.watch": "yes", "com.example.note": "$(touch /tmp/pwned) ; rm -rf /" });
    expect(Math.abs(die.at - killedAt)).toBeLessThan(10_000);
    expect(seen.find((e) => e.id === c.id && e.action === "kill")?.signal).toBe(9);
  });

  it("watch() reports its own container's events only: die confirms a failure, start does not, a kill (a signal sent) is left to its die", async () => {
    const name = containerName("medic-watch");
    const events: WatchEvent[] = [];
    const off = dockerProbe.create(dockerProbe.schema.parse({ container: name, ...ENGINE }), {
      target: "app",
      timeoutMs: 3000,
      baseDir: "/",
    }).watch!((e) => events.push(e));
    onCleanup(off);
    await waitUntil(() => streamStatus(ENGINE).connected, 5000, "the stream to connect");
    const other = await runHttpContainer();
    const c = await runHttpContainer({ name });
    await waitUntil(() => events.some((e) => e.what === "start"), 5000, "the start event");
    await docker.getContainer(other.id).kill();
    await docker.getContainer(c.id).kill();
    await waitUntil(() => events.some((e) => e.what.startsWith("die")), 5000, "the die event");
    await sleep(300);
    expect(events.find((e) => e.what === "start")?.confirmsFailure).toBe(false);
    expect(events.filter((e) => e.what.startsWith("die"))).toEqual([{ what: "die (exit 137)", confirmsFailure: true }]);
    expect(events.filter((e) => e.what.startsWith("kill"))).toEqual([]);
  });

  it("a round called by the die of a docker kill answers from the event without an inspect; a kill from the host (no engine signal: maybe an OOM kill) is inspected", async () => {
    const name = containerName("medic-die");
    const probe = dockerProbe.create(dockerProbe.schema.parse({ container: name, ...ENGINE }), {
      target: "app",
      timeoutMs: 3000,
      baseDir: "/",
    });
    const events: WatchEvent[] = [];
    onCleanup(probe.watch!((e) => events.push(e)));
    await waitUntil(() => streamStatus(ENGINE).connected, 5000, "the stream to connect");
    const run = () => probe.run(new AbortController().signal);

    const c = await runHttpContainer({ name });
    await waitUntil(() => events.some((e) => e.what === "start"), 5000, "the start event");
    expect((await run()).facts.container).toMatchObject({ state: "running", restartCount: 0 });
    // The round runs as the die arrives, as the daemon's would, not once the kill call returns:
    // under a loaded suite that took up to 1.9 s, past the event's 1 s freshness.
    const killed = docker.getContainer(c.id).kill();
    await waitUntil(() => events.some((e) => e.what === "die (exit 137)"), 5000, "the die event");
    const fromEvent = await run();
    await killed;
    expect(fromEvent).toMatchObject({
      ok: false,
      facts: { alive: false, container: { id: c.id, name, state: "exited", exitCode: 137, oomKilled: false } },
    });
    expect(fromEvent.facts.container!.restartCount).toBeUndefined(); // only inspect knows it
    // The event answers one round; the next asks the engine.
    expect((await run()).facts.container).toMatchObject({ state: "exited", exitCode: 137, restartCount: 0 });

    await docker.getContainer(c.id).start();
    await waitUntil(() => events.filter((e) => e.what === "start").length === 2, 5000, "the second start event");
    const pid = (await docker.getContainer(c.id).inspect()).State.Pid;
    process.kill(pid, "SIGKILL");
    await waitUntil(() => events.filter((e) => e.what === "die (exit 137)").length === 2, 5000, "the second die event");
    expect((await run()).facts.container).toMatchObject({ state: "exited", exitCode: 137, oomKilled: false, restartCount: 0 });
  });

  it("watch() says health_status: unhealthy confirms a failure and healthy does not", async () => {
    const name = containerName("medic-watch-health");
    const events: WatchEvent[] = [];
    onCleanup(
      dockerProbe.create(dockerProbe.schema.parse({ container: name }), { target: "app", timeoutMs: 3000, baseDir: "/" }).watch!((e) =>
        events.push(e),
      ),
    );
    await waitUntil(() => streamStatus({}).connected, 5000, "the stream to connect");
    const c = await runHttpContainer({ name, healthcheck: true });
    await waitUntil(() => events.some((e) => e.what === "health_status: healthy"), 10_000, "healthy");
    c.setHealthy(false);
    await waitUntil(() => events.some((e) => e.what === "health_status: unhealthy"), 10_000, "unhealthy");
    expect(events.find((e) => e.what === "health_status: healthy")?.confirmsFailure).toBe(false);
    expect(events.find((e) => e.what === "health_status: unhealthy")?.confirmsFailure).toBe(true);
  });

  it("shares one stream among subscribers and closes it when the last one leaves", async () => {
    const a: ContainerEvent[] = [];
    const b: ContainerEvent[] = [];
    const offA = subscribe(ENGINE, (e) => a.push(e));
    const offB = subscribe(ENGINE, (e) => b.push(e));
    // A throwing listener costs nobody else their events.
    const offBad = subscribe(ENGINE, () => {
      throw new Error("listener bug");
    });
    await waitUntil(() => streamStatus(ENGINE).connected, 5000, "the stream to connect");
    expect(streamStatus(ENGINE)).toMatchObject({ connects: 1, reconnects: 0, subscribers: 3 });
    const c = await runHttpContainer();
    await waitUntil(() => a.some((e) => e.id === c.id) && b.some((e) => e.id === c.id), 5000, "both to see the container");
    expect(streamStatus(ENGINE).connects).toBe(1);
    offBad();
    offA();
    offA();
    expect(streamStatus(ENGINE)).toMatchObject({ connected: true, subscribers: 1 });
    offB();
    expect(streamStatus(ENGINE)).toEqual({ connected: false, reconnects: 0, connects: 0, subscribers: 0 });
    const before = [a.length, b.length];
    await docker.getContainer(c.id).kill();
    await sleep(500);
    expect([a.length, b.length]).toEqual(before);
  });
});

// A stand-in engine on a unix socket: the one place a fake is fine, because it tests our reconnect
// logic (stream ends, refusals, backoff), not Docker.
interface FakeEngine {
  requests: number;
  open: number;
  stop(): Promise<void>;
}

function startFakeEngine(path: string, serve: (n: number, req: IncomingMessage, res: ServerResponse) => void): Promise<FakeEngine> {
  const engine: FakeEngine = { requests: 0, open: 0, stop: async () => {} };
  const server: Server = createServer((req, res) => {
    if (!req.url?.startsWith("/events")) return void res.writeHead(404).end();
    engine.requests += 1;
    serve(engine.requests, req, res);
  });
  server.on("connection", (socket) => {
    engine.open += 1;
    socket.on("close", () => (engine.open -= 1));
  });
  engine.stop = () =>
    new Promise<void>((ok) => {
      server.closeAllConnections();
      server.close(() => ok());
    });
  onCleanup(() => engine.stop());
  return new Promise((ok) => server.listen(path, () => ok(engine)));
}

let serial = 0;
const base = 1_795_000_000_000_000_000;
function eventLine(action: string, id: string, attributes: Record<string, string> = {}): string {
  serial += 1;
  return `${JSON.stringify({
    status: action,
    id,
    from: "app:1",
    Type: "container",
    Action: action,
    Actor: { ID: id, Attributes: { image: "app:1", name: `c-${id}`, ...attributes } },
    scope: "local",
    time: Math.floor((base + serial * 1e6) / 1e9),
    timeNano: base + serial * 1e6,
  })}\n`;
}

function streamHead(res: ServerResponse): void {
  res.writeHead(200, { "Content-Type": "application/json" });
  res.flushHeaders();
}

describe("the event stream against a stand-in engine", () => {
  it("parses chunks split mid-line and mid-character, and reconnects when the engine drops the stream", async () => {
    const socketPath = join(tempDir("medic-fake-engine-"), "docker.sock");
    const first = Buffer.from(eventLine("die", "aaa", { exitCode: "137", team: "zürich-ü" }));
    const cut = first.indexOf("ü") + 1; // inside the two bytes of ü
    const second = eventLine("oom", "bbb");
    let sinceAsked: string | null = null;
    await startFakeEngine(socketPath, (n, req, res) => {
      streamHead(res);
      if (n === 1) {
        res.write(first.subarray(0, cut));
        setTimeout(() => {
          // The rest of the first event, junk and a non-container event (both skipped), half of the next.
          res.write(Buffer.concat([first.subarray(cut), Buffer.from('not json at all\n{"Type":"network","Action":"connect"}\n')]));
          res.write(second.slice(0, 40));
        }, 30);
        setTimeout(() => {
          res.write(second.slice(40));
          setTimeout(() => res.socket?.destroy(), 50);
        }, 60);
      } else {
        // A reconnect asks to replay from the last event's second; the replayed event is not delivered twice.
        sinceAsked = new URL(req.url ?? "/", "http://engine").searchParams.get("since");
        res.write(second + eventLine("health_status: unhealthy", "ccc"));
      }
    });
    const seen: ContainerEvent[] = [];
    const conn = { socketPath };
    subscribe(conn, (e) => seen.push(e));
    await waitUntil(() => seen.some((e) => e.id === "ccc"), 10_000, "an event over the second connection");
    expect(seen.map((e) => e.id)).toEqual(["aaa", "bbb", "ccc"]);
    expect(seen[0]).toMatchObject({ action: "die", exitCode: 137, name: "c-aaa", labels: { team: "zürich-ü" } });
    expect(seen[1]).toMatchObject({ action: "oom", labels: {} });
    expect(seen[2]).toMatchObject({ action: "health_status", healthStatus: "unhealthy" });
    expect(streamStatus(conn)).toMatchObject({ connected: true, connects: 2, reconnects: 1, subscribers: 1 });
    expect(sinceAsked).toBe(String((JSON.parse(second) as { time: number }).time));
  });

  it("backs off while the engine refuses or is gone, then reconnects and streams again", async () => {
    const dir = tempDir("medic-fake-engine-");
    const socketPath = join(dir, "docker.sock");
    const engine1 = await startFakeEngine(socketPath, (n, _req, res) => {
      // Three refusals (HTTP 500) first: retried with a growing pause, not hammered.
      if (n <= 3) return void res.writeHead(500, { "Content-Type": "application/json" }).end('{"message":"starting"}');
      streamHead(res);
      res.write(eventLine("start", "first"));
    });
    const seen: ContainerEvent[] = [];
    const conn = { socketPath };
    const subscribed = Date.now();
    subscribe(conn, (e) => seen.push(e));
    await waitUntil(() => seen.some((e) => e.id === "first"), 10_000, "the first engine's event");
    // 250 + 500 + 1000 ms of backoff before the fourth request.
    expect(Date.now() - subscribed).toBeGreaterThanOrEqual(1500);
    expect(engine1.requests).toBe(4);
    expect(streamStatus(conn)).toMatchObject({ connected: true, connects: 1 });

    await engine1.stop();
    rmSync(socketPath, { force: true });
    await waitUntil(() => !streamStatus(conn).connected, 5000, "the stream to notice the engine is gone");
    await sleep(800); // ENOENT for a while: the engine is restarting
    await startFakeEngine(socketPath, (_n, _req, res) => {
      streamHead(res);
      res.write(eventLine("restart", "second"));
    });
    await waitUntil(() => seen.some((e) => e.id === "second"), 10_000, "the second engine's event");
    expect(streamStatus(conn)).toMatchObject({ connected: true, connects: 2, reconnects: 1 });
  });

  it("closes the connection and stops retrying when the last subscriber leaves", async () => {
    const socketPath = join(tempDir("medic-fake-engine-"), "docker.sock");
    const engine = await startFakeEngine(socketPath, (_n, _req, res) => streamHead(res));
    const conn = { socketPath };
    const off = subscribe(conn, () => {});
    await waitUntil(() => streamStatus(conn).connected && engine.open === 1, 5000, "the stream to connect");
    off();
    await waitUntil(() => engine.open === 0, 5000, "the connection to close");
    await sleep(700);
    expect(engine.requests).toBe(1);

    // Leaving during a backoff: no attempt after that either.
    await engine.stop();
    rmSync(socketPath, { force: true });
    const offAgain = subscribe(conn, () => {});
    await sleep(300);
    offAgain();
    const engine2 = await startFakeEngine(socketPath, (_n, _req, res) => streamHead(res));
    await sleep(1500);
    expect(engine2.requests).toBe(0);
  });

  it("leaves nothing that keeps a process alive once the last subscriber leaves", async () => {
    const dir = tempDir("medic-events-child-");
    const socketPath = join(dir, "docker.sock");
    await startFakeEngine(socketPath, (_n, _req, res) => {
      streamHead(res);
      res.write(eventLine("start", "child"));
    });
    const script = join(dir, "child.mjs");
    writeFileSync(
      script,
      `
      const { subscribeContainerEvents, streamStatus } = await import(${JSON.stringify(compileEventsModule(dir))});
      const conn = { socketPath: ${JSON.stringify(socketPath)} };
      const off = subscribeContainerEvents(conn, (e) => {
        off();
        console.log(JSON.stringify({ id: e.id, status: streamStatus(conn) }));
      });
    `,
    );
    const child = spawn(process.execPath, [script], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const exited = new Promise<number | null>((ok) => child.once("exit", (code) => ok(code)));
    onCleanup(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    });
    // The fake engine keeps the stream open: only our unsubscribe lets the child exit on its own.
    const code = await Promise.race([exited, sleep(8000).then(() => "still running")]);
    expect(err).toBe("");
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({ id: "child", status: { connected: false, reconnects: 0, connects: 0, subscribers: 0 } });
  });
});

// The events module and its one import, transpiled into `dir` so a plain node child can load it.
function compileEventsModule(dir: string): string {
  for (const rel of ["src/probes/docker-events.ts", "src/lib/docker.ts"]) {
    const source = readFileSync(join(ROOT, rel), "utf8");
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
    });
    const out = join(dir, rel.replace(/\.ts$/, ".js"));
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, outputText);
  }
  writeFileSync(join(dir, "package.json"), '{"type":"module"}');
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
  return join(dir, "src/probes/docker-events.js");
}
