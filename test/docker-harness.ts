import { chmodSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect, type Socket } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import Docker from "dockerode";
import { freePort, onCleanup, tempDir } from "./harness.js";

/** The busybox image scripts/setup.sh imports (no registry is reachable). */
export const TEST_IMAGE = "medic-test/busybox:latest";

/** The engine the tests use: the default socket. */
export const docker = new Docker({ socketPath: "/var/run/docker.sock" });

/** A test container serving HTTP with busybox httpd; the test flips its health file on the host. */
export interface TestContainer {
  name: string;
  id: string;
  /** Host port of its httpd (127.0.0.1). */
  port: number;
  /** Host dir mounted at /www: `health` inside it is served at /health. */
  www: string;
  setHealthy(healthy: boolean): void;
  inspect(): Promise<Docker.ContainerInspectInfo>;
}

let serial = 0;

/** A unique container name for this test run. */
export function containerName(prefix = "medic-test"): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${serial++}`;
}

/**
 * Runs an httpd container (removed at cleanup). `healthcheck` adds a Docker HEALTHCHECK that
 * passes while /www/healthy exists; `memory` sets a hard limit (swap equal to it, so no swap).
 */
export async function runHttpContainer(
  opts: {
    name?: string;
    memory?: number;
    healthcheck?: boolean;
    labels?: Record<string, string>;
    cmd?: string[];
    env?: string[];
  } = {},
): Promise<TestContainer> {
  const name = opts.name ?? containerName();
  const www = tempDir("medic-www-");
  mkdirSync(www, { recursive: true });
  chmodSync(www, 0o755);
  writeFileSync(join(www, "health"), '{"status":"healthy"}');
  writeFileSync(join(www, "healthy"), "");
  const port = await freePort();
  const container = await docker.createContainer({
    name,
    Image: TEST_IMAGE,
    Cmd: opts.cmd ?? ["/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/www"],
    Labels: opts.labels ?? {},
    ...(opts.env && { Env: opts.env }),
    HostConfig: {
      Binds: [`${www}:/www`],
      PortBindings: { "80/tcp": [{ HostIp: "127.0.0.1", HostPort: String(port) }] },
      ...(opts.memory && { Memory: opts.memory, MemorySwap: opts.memory }),
    },
    ExposedPorts: { "80/tcp": {} },
    ...(opts.healthcheck && {
      Healthcheck: {
        Test: ["CMD", "/bin/busybox", "test", "-f", "/www/healthy"],
        Interval: 300e6,
        Timeout: 1e9,
        Retries: 1,
        StartPeriod: 0,
      },
    }),
  });
  onCleanup(() => container.remove({ force: true }).catch(() => {}));
  await container.start();
  return {
    name,
    id: container.id,
    port,
    www,
    setHealthy(healthy) {
      if (healthy) writeFileSync(join(www, "healthy"), "");
      else rmSync(join(www, "healthy"), { force: true });
    },
    inspect: () => container.inspect(),
  };
}

/** True when the engine answers (scripts/setup.sh starts one). */
export async function engineUp(): Promise<boolean> {
  return docker.ping().then(
    () => true,
    () => false,
  );
}

/** A socket in front of the engine that can hold a container's inspect requests: an engine slow to answer about a dying container, on cue. */
export interface SlowEngine {
  socketPath: string;
  /** While on, each inspect of the container waits `holdMs` before it reaches the engine. */
  hold(on: boolean): void;
  /** Inspect requests held so far. */
  held(): number;
}

/** Starts a SlowEngine for `container` (closed at cleanup); every other request, the event stream included, passes at once. */
export async function slowEngine(container: string, holdMs: number): Promise<SlowEngine> {
  const socketPath = join(tempDir("medic-engine-"), "docker.sock");
  const inspect = new RegExp(`^GET /(v[0-9.]+/)?containers/${container}/json[ ?]`);
  let holding = false;
  let held = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const engine = connect("/var/run/docker.sock");
    sockets.add(client).add(engine);
    // In order per connection: a held request holds what follows it on the same connection. A request
    // is judged by the start of the chunk it begins: Node's agent writes a GET's head in one write and
    // never pipelines, which is all the probe sends.
    let queue = Promise.resolve();
    client.on("data", (chunk: Buffer) => {
      const wait = holding && inspect.test(chunk.toString("latin1", 0, 256)) ? holdMs : 0;
      if (wait) held++;
      queue = queue.then(() => (wait ? sleep(wait) : undefined)).then(() => void (engine.destroyed || engine.write(chunk)));
    });
    engine.pipe(client);
    const close = () => {
      for (const s of [client, engine]) {
        s.destroy();
        sockets.delete(s);
      }
    };
    for (const s of [client, engine]) s.on("close", close).on("error", close);
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  onCleanup(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { socketPath, hold: (on) => void (holding = on), held: () => held };
}
