import http from "node:http";
import https from "node:https";
import { performance } from "node:perf_hooks";
import { z } from "zod";
import { bytes, httpUrl } from "../config/fields.js";
import { errorCode } from "../lib/errors.js";
import { interpretHealthBody } from "./health-body.js";
import type { Facts, Observation, Probe, ProbeKind } from "./types.js";

// node:http rather than fetch: fetch refuses "bad ports" (6000, 10080, ...) and costs more per
// request at thousands of targets. https://nodejs.org/api/http.html#httprequesturl-options-callback

const EXCERPT_CHARS = 512;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// What node accepts in a header value; anything else throws at request time.
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

const schema = z.strictObject({
  url: httpUrl()
    .refine((s) => !s.includes("{{") && (!/^https?:\/\//i.test(s) || URL.canParse(s)), {
      message: "must be a plain http(s) URL: probe URLs are not templates (hint: write it like http://127.0.0.1:8000/health)",
    })
    .meta({ description: "URL to request, like http://127.0.0.1:8000/health" }),
  method: z.enum(["GET", "HEAD", "POST"]).default("GET").meta({ description: "HTTP method (POST sends an empty body)" }),
  headers: z
    .record(z.string(), z.string().regex(HEADER_VALUE, "header values may not contain line breaks or control characters"))
    .superRefine((headers, ctx) => {
      // Checked here rather than on the key schema so the message names the header.
      for (const name of Object.keys(headers).filter((n) => !HEADER_NAME.test(n))) {
        ctx.addIssue({ code: "custom", path: [name], message: `header name ${JSON.stringify(name)} is not an HTTP token (letters, digits and !#$%&'*+.^_\`|~-)` });
      }
    })
    .default({})
    .meta({ description: "Extra request headers" }),
  expectStatus: z
    .array(z.number().int().min(100).max(599))
    .min(1)
    .optional()
    .meta({ description: "Status codes that count as healthy (default: any 200-399)" }),
  maxBodyBytes: bytes().default(1024 * 1024).meta({ description: "Read at most this much of the body (default 1MiB)" }),
});

type HttpParams = z.output<typeof schema>;

/** The `http` probe: one request on a fresh connection, judged by status and health body. */
export const httpProbe: ProbeKind<typeof schema> = {
  schema,
  create(params, ctx): Probe {
    const url = new URL(params.url);
    return { run: (signal) => probeHttp(params, url, ctx.target, signal) };
  },
  describe(params) {
    return `${params.method} ${URL.canParse(params.url) ? showUrl(new URL(params.url)) : "(invalid URL)"}`;
  },
};

/** A URL as it may appear in logs and errors: no userinfo, no query string, no fragment. */
export function showUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

function probeHttp(params: HttpParams, url: URL, target: string, signal: AbortSignal): Promise<Observation> {
  const at = Date.now();
  const start = performance.now();
  const shown = `${params.method} ${showUrl(url)}`;
  const facts: Facts = {};

  return new Promise<Observation>((resolve) => {
    let settled = false;
    let req: http.ClientRequest | undefined;

    function settle(ok: boolean, error?: { code: string; message: string }): void {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      req?.destroy();
      const obs: Observation = { target, at, ok, latencyMs: performance.now() - start, facts };
      if (error) obs.error = error;
      resolve(obs);
    }
    function fail(err: unknown, fallback: string, what = ""): void {
      settle(false, { code: errorCode(err, fallback), message: `${shown}: ${what}${scrub(messageOf(err), url)}` });
    }
    function onAbort(): void {
      const elapsedMs = Math.round(performance.now() - start);
      settle(false, { code: "ETIMEDOUT", message: `${shown}: no answer after ${elapsedMs} ms` });
    }

    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });

    const headers = {
      "user-agent": "medic-probe",
      accept: "application/health+json, application/json;q=0.9, */*;q=0.5",
      ...params.headers,
    };
    try {
      const mod = url.protocol === "https:" ? https : http;
      // agent: false gives a fresh connection each time, so a dead listener cannot hide behind keep-alive.
      req = mod.request(url, { method: params.method, headers, agent: false }, (res) => {
        readBody(res, params.maxBodyBytes, (body, truncated, err) => {
          const status = res.statusCode ?? 0;
          facts.status = status;
          if (truncated) facts.bodyTruncated = true;
          // A body cut short by the peer is as unparseable as one we cut: neither is parsed.
          judgeBody(facts, body, !truncated && err === undefined, res.headers["content-type"]);
          if (err) return fail(err, "ECONNRESET", "connection lost while reading the body: ");
          const accepted = params.expectStatus ? params.expectStatus.includes(status) : status >= 200 && status < 400;
          settle(accepted && facts.health?.status !== "fail");
        });
      });
      req.on("error", (err) => fail(err, "EHTTP"));
      req.end();
    } catch (err) {
      // Bad header values and the like throw synchronously; the schema should have caught them.
      fail(err, "EHTTP");
    }
  });
}

// Streams the body up to `max` bytes; past that it stops reading and destroys the response.
function readBody(
  res: http.IncomingMessage,
  max: number,
  done: (body: Buffer, truncated: boolean, err?: Error) => void,
): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let finished = false;
  const finish = (truncated: boolean, err?: Error): void => {
    if (finished) return;
    finished = true;
    done(Buffer.concat(chunks, size), truncated, err);
  };
  res.on("data", (chunk: Buffer) => {
    if (finished) return;
    const room = max - size;
    if (chunk.length > room) {
      chunks.push(chunk.subarray(0, room));
      size += room;
      finish(true);
      res.destroy();
      return;
    }
    chunks.push(chunk);
    size += chunk.length;
  });
  res.on("end", () => finish(false));
  res.on("error", (err) => finish(false, err));
  // A response cut short by the peer may only close, without an error or an end.
  res.on("close", () => finish(false, res.complete ? undefined : Object.assign(new Error("response closed early"), { code: "ECONNRESET" })));
}

function judgeBody(facts: Facts, body: Buffer, whole: boolean, contentType: string | undefined): void {
  if (body.length === 0) return;
  const head = body.subarray(0, EXCERPT_CHARS * 4).toString("utf8");
  facts.bodyExcerpt = head.replace(/[\t\n\r]+/g, " ").replace(CONTROLS, "").slice(0, EXCERPT_CHARS);
  const looksJson = /json/i.test(contentType ?? "") || /^\s*[[{]/.test(head);
  if (!whole || !looksJson) return;
  try {
    facts.body = JSON.parse(body.toString("utf8")) as unknown;
  } catch {
    return;
  }
  const health = interpretHealthBody(facts.body);
  if (health) facts.health = health;
}

// One line, bounded: OpenSSL messages end in a newline and name source files.
function messageOf(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s+/g, " ").trim().slice(0, 300);
}

// Node's messages name host and port, never userinfo or query; this is a second line of defence.
function scrub(message: string, url: URL): string {
  let out = message.replaceAll(url.href, showUrl(url));
  for (const secret of [url.password, url.username, url.search.slice(1)]) {
    if (secret.length >= 3) out = out.replaceAll(secret, "[redacted]");
  }
  return out;
}
