import http from "node:http";
import https from "node:https";
import { z } from "zod";
import { httpUrl } from "../../config/fields.js";
import { formatDuration } from "../../lib/duration.js";
import { describeError, errorCode } from "../../lib/errors.js";
import type { StepKind, StepResult } from "../types.js";

// node:http rather than fetch: fetch refuses some ports ("bad port") and hides socket errors.

const schema = z.strictObject({
  method: z.enum(["GET", "POST", "PUT", "PATCH", "DELETE"]).default("POST").meta({ description: "HTTP method" }),
  url: httpUrl().meta({ description: "http(s) URL; values from outside medic are percent-encoded and may only appear after the host" }),
  headers: z.record(z.string(), z.string()).default({}).meta({ description: "Request headers (values may use {{ }}); never logged" }),
  body: z.json().optional().meta({ description: "JSON body; {{ }} is filled in string values only" }),
  expectStatus: z
    .array(z.number().int().min(100).max(599))
    .min(1)
    .optional()
    .meta({ description: "Status codes that count as success (default: any 2xx)" }),
});

type Params = z.output<typeof schema>;

const MAX_REPLY_BYTES = 64 * 1024;

/** `http`: call a webhook or admin endpoint and check the status. */
export const httpStep: StepKind<typeof schema, Params> = {
  schema,
  defaultTimeoutMs: 30_000,
  idempotent: false,
  needsService: false,
  render: (p, r) => ({
    ...p,
    url: r.url(p.url),
    headers: Object.fromEntries(Object.entries(p.headers).map(([k, v]) => [k, r.text(v)])),
    ...(p.body === undefined ? {} : { body: r.json(p.body) as Params["body"] }),
  }),
  describe: (p) => `${p.method} ${publicUrl(p.url)}`,
  async run(p, ctx): Promise<StepResult> {
    const t0 = performance.now();
    const what = `${p.method} ${publicUrl(p.url)}`;
    const took = (): string => formatDuration(performance.now() - t0);
    try {
      const reply = await send(p, ctx.timeoutMs, ctx.signal);
      if ("failed" in reply) {
        const detail =
          reply.failed === "timeout"
            ? `${what} timed out after ${formatDuration(ctx.timeoutMs)}`
            : reply.failed === "aborted"
              ? `${what} aborted after ${took()}`
              : `${what} failed: ${reply.failed}`;
        return { ok: false, detail, durationMs: performance.now() - t0 };
      }
      const ok = p.expectStatus ? p.expectStatus.includes(reply.status) : reply.status >= 200 && reply.status < 300;
      const expected = ok ? "" : ` (expected ${p.expectStatus ? p.expectStatus.join(" or ") : "2xx"})`;
      return { ok, detail: `${what} -> ${reply.status} in ${took()}${expected}`, durationMs: performance.now() - t0 };
    } catch (err) {
      return { ok: false, detail: `${what} failed: ${describeError(err)}`, durationMs: performance.now() - t0 };
    }
  },
};

/** The URL without userinfo, query or fragment: those may hold tokens. */
export function publicUrl(raw: string): string {
  try {
    const u = new URL(raw);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "(invalid url)";
  }
}

type Reply = { status: number } | { failed: "timeout" | "aborted" | string };

/** One request; resolves with the status once the reply (up to the cap) is read, or why it failed. */
function send(p: Params, timeoutMs: number, signal: AbortSignal): Promise<Reply> {
  const url = new URL(p.url);
  const headers: Record<string, string> = { ...p.headers };
  let payload: Buffer | undefined;
  if (p.body !== undefined) {
    payload = Buffer.from(JSON.stringify(p.body));
    if (!Object.keys(headers).some((k) => k.toLowerCase() === "content-type")) headers["content-type"] = "application/json";
    headers["content-length"] = String(payload.length);
  }
  return new Promise<Reply>((resolve) => {
    if (signal.aborted) return resolve({ failed: "aborted" });
    let settled = false;
    const settle = (r: Reply): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      req.destroy();
      resolve(r);
    };
    const lib = url.protocol === "https:" ? https : http;
    // agent: false: a fresh connection each time, nothing kept open after the step.
    const req = lib.request(url, { method: p.method, headers, agent: false }, (res) => {
      let read = 0;
      res.on("data", (chunk: Buffer) => {
        read += chunk.length;
        if (read >= MAX_REPLY_BYTES) settle({ status: res.statusCode ?? 0 });
      });
      res.on("end", () => settle({ status: res.statusCode ?? 0 }));
      res.on("error", (err) => settle({ failed: errorCode(err, err.message) }));
    });
    const timer = setTimeout(() => settle({ failed: "timeout" }), timeoutMs);
    const onAbort = (): void => settle({ failed: "aborted" });
    signal.addEventListener("abort", onAbort, { once: true });
    // Error codes only: messages can quote the request (header names are fine, values are not).
    req.on("error", (err) => settle({ failed: errorCode(err, "request error") }));
    req.end(payload);
  });
}
