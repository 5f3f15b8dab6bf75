import net from "node:net";
import { performance } from "node:perf_hooks";
import { z } from "zod";
import { errorCode } from "../lib/errors.js";
import type { Observation, Probe, ProbeKind } from "./types.js";

const schema = z.strictObject({
  host: z.string().min(1).max(253).default("127.0.0.1").meta({ description: "Host name or IP address (default 127.0.0.1)" }),
  port: z.number().int().min(1).max(65535).meta({ description: "TCP port, 1-65535" }),
});

/** The `tcp` probe: healthy when a TCP connection opens; the connection is closed at once. */
export const tcpProbe: ProbeKind<typeof schema> = {
  schema,
  create(params, ctx): Probe {
    return { run: (signal) => probeTcp(params.host, params.port, ctx.target, signal) };
  },
  describe(params) {
    return `tcp ${hostPort(params.host, params.port)}`;
  },
};

function probeTcp(host: string, port: number, target: string, signal: AbortSignal): Promise<Observation> {
  const at = Date.now();
  const start = performance.now();
  const shown = `tcp ${hostPort(host, port)}`;

  return new Promise<Observation>((resolve) => {
    let settled = false;
    let socket: net.Socket | undefined;

    function settle(error?: { code: string; message: string }): void {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      socket?.destroy();
      const obs: Observation = { target, at, ok: error === undefined, latencyMs: performance.now() - start, facts: {} };
      if (error) obs.error = error;
      resolve(obs);
    }
    function onAbort(): void {
      settle({ code: "ETIMEDOUT", message: `${shown}: no connection after ${Math.round(performance.now() - start)} ms` });
    }

    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      socket = net.connect({ host, port });
      socket.once("connect", () => settle());
      // Stays attached: a late error after destroy must not become an unhandled 'error' event.
      socket.on("error", (err) => settle({ code: errorCode(err, "ECONNECT"), message: `${shown}: ${oneLine(err.message)}` }));
    } catch (err) {
      settle({ code: errorCode(err, "ECONNECT"), message: `${shown}: ${oneLine(err instanceof Error ? err.message : String(err))}` });
    }
  });
}

function hostPort(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim().slice(0, 300);
}
