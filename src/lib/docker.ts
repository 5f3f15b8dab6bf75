import { createRequire } from "node:module";
import type Docker from "dockerode";
import { z } from "zod";

// Loaded on first use: dockerode (with ssh2) is about 20 MB of RSS that a medic watching no container never needs.
const require = createRequire(import.meta.url);
let dockerode: typeof Docker | undefined;
const DockerClient = (): typeof Docker => (dockerode ??= require("dockerode") as typeof Docker);

// dockerode over the engine API: https://docs.docker.com/engine/api/v1.41/

/** A container name or id as the engine accepts it; never starts with "-" and holds nothing a path could abuse. */
export const CONTAINER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** A container reference in config: validated before it reaches the engine API. */
export const containerName = () =>
  z.string().regex(CONTAINER_NAME, {
    message: "container must be a name or id: letters, digits and _.- , not starting with - (hint: like orders-api)",
  });

/** How to reach the engine: a unix socket (default /var/run/docker.sock) or a tcp:// host. */
export const dockerConnectionShape = {
  socketPath: z.string().min(1).optional().meta({ description: "Engine socket (default: DOCKER_HOST, else /var/run/docker.sock)" }),
  host: z
    .string()
    .regex(/^tcp:\/\/[^\s/]+:\d+$/, "must be like tcp://127.0.0.1:2375")
    .optional()
    .meta({ description: "Engine address, tcp://host:port, instead of a socket" }),
};

/** Validated engine connection params. */
export interface DockerConnection {
  socketPath?: string;
  host?: string;
}

/**
 * A client for the engine. An explicit socket wins over DOCKER_HOST: docker-modem merges
 * DOCKER_HOST into its defaults and a `host` there silently beats `socketPath`, so it is unset here.
 * `timeoutMs` bounds each request; the events client passes none (a long-lived stream must not idle out).
 */
export function dockerClient(conn: DockerConnection = {}, timeoutMs?: number): Docker {
  const timeout = timeoutMs === undefined ? {} : { timeout: timeoutMs };
  if (conn.socketPath) return new (DockerClient())({ socketPath: conn.socketPath, host: undefined, ...timeout } as Docker.DockerOptions);
  if (conn.host) {
    const url = new URL(conn.host.replace(/^tcp:/, "http:"));
    return new (DockerClient())({ host: url.hostname, port: Number(url.port), protocol: "http", ...timeout });
  }
  return new (DockerClient())(timeout);
}

/** A stable key per engine, to share one event stream among targets on the same engine. */
export function engineKey(conn: DockerConnection = {}): string {
  return conn.socketPath ?? conn.host ?? process.env.DOCKER_HOST ?? "/var/run/docker.sock";
}

/** A stable error code from a failed engine call: the HTTP status as E<status>, else errno. */
export function dockerErrorCode(err: unknown): string {
  const e = err as { statusCode?: unknown; code?: unknown } | null;
  if (typeof e?.statusCode === "number") return e.statusCode === 404 ? "ENOCONTAINER" : `EDOCKER${e.statusCode}`;
  return typeof e?.code === "string" ? e.code : "EDOCKER";
}
