import { describe, expect, it } from "vitest";
import type { Target } from "../../config/target.js";
import { stepKinds } from "./registry.js";

// Which steps act on the host they run on: in a cluster those run only on the target's node.
const target = (service?: Target["service"]): Target => ({
  name: "api",
  labels: {},
  probe: { kind: "tcp", params: { port: 1 } },
  ...(service && { service }),
  intervalMs: 1000,
  timeoutMs: 500,
  failureThreshold: 2,
  successThreshold: 2,
  thresholds: { latencyMs: 1, poolUtilization: 1, memoryUtilization: 1, idleInTransactionMs: 1, queryMs: 1 },
  dependsOn: [],
});
const processService = target({ kind: "process", params: { start: ["/bin/true"] } });
const socketContainer = target({ kind: "docker", params: { container: "web" } });
const tcpContainer = target({ kind: "docker", params: { container: "web", host: "tcp://10.0.0.5:2375" } });
const local = (kind: string, rendered: unknown, t: Target) => stepKinds.get(kind)!.local?.(rendered, t) ?? false;

describe("steps that act on a host", () => {
  it.each([
    ["exec", {}, processService, true],
    ["systemd.restart", {}, processService, true],
    ["systemd.set-property", {}, processService, true],
    ["systemd.set-env", {}, processService, true],
    ["service.restart", {}, processService, true],
    ["service.restart", {}, socketContainer, true],
    ["service.restart", {}, tcpContainer, false],
    ["docker.restart", {}, socketContainer, true],
    ["docker.restart", {}, tcpContainer, false],
    ["docker.kill", { container: "other", host: "tcp://10.0.0.6:2375" }, socketContainer, false],
    ["docker.update", { container: "other" }, processService, true],
    ["http", {}, processService, false],
    ["postgres.terminate", {}, processService, false],
    ["wait", {}, processService, false],
    ["capture.http", { url: "http://127.0.0.1:8080/actuator/heapdump" }, processService, true],
    ["capture.http", { url: "http://[::1]:6060/debug/pprof/heap" }, processService, true],
    ["capture.http", { url: "http://localhost:8080/actuator/threaddump" }, processService, true],
    ["capture.http", { url: "http://10.0.0.5:8080/actuator/heapdump" }, processService, false],
    ["capture.http", { url: "http://orders-api.internal/debug/pprof/heap" }, processService, false],
    ["postgres.snapshot", {}, processService, false],
    ["docker.inspect", {}, socketContainer, true],
    ["docker.inspect", {}, tcpContainer, false],
  ])("%s with %j on %s's service: %s", (kind, rendered, t, expected) => {
    expect(local(kind, rendered, t)).toBe(expected);
  });
});
