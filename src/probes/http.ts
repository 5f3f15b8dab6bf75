import http from "node:http";
import https from "node:https";
import net from "node:net";
import { performance } from "node:perf_hooks";
import { z } from "zod";
import { bytes, httpUrl } from "../config/fields.js";
import { errorCode } from "../lib/errors.js";
import { interpretHealthBody } from "./health-body.js";
import type { Facts, Observation, Probe, ProbeKind } from "./types.js";

// node:http rather than fetch: fetch refuses "bad ports" (6000, 10080, ...) and costs more per
// request at thousands of targets. https://nodejs.org/api/http.html#httprequesturl-options-callback

// A fresh connection for every request (no keep-alive), so a dead listener cannot hide behind an
// open socket. Plain HTTP connects without an agent (an agent's bookkeeping is a good part of a
// check's CPU, and with no pool there is nothing for it to keep); TLS shares one agent, which
// knows the servername and session details (`agent: false` would build a whole Agent per request).
const HTTPS_AGENT = new https.Agent({ keepAlive: false });
// The request's own options carry host, port and family; net reads what it needs of them.
// No Nagle, as http.Agent's sockets: a request head goes out at once.
const connectPlain = (opts: http.ClientRequestArgs): net.Socket => net.createConnection({ ...(opts as net.NetConnectOpts), noDelay: true });
const EXCERPT_CHARS = 512;
// Kubernetes probes and Go's client follow redirects too; 5 hops is plenty for a health endpoint.
const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const HINT_REDIRECT = "point the probe at the final URL";
const HINT_BODY = "keep health answers small, or raise maxBodyBytes";
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// What node accepts in a header value; anything else throws at request time.
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

const schema = z.strictObject({
  url: httpUrl()
    .refine((s) => !s.includes("{{") && (!/^https?:\/\//i.test(s) || URL.canParse(s)), {
      message: "must be a plain http(s) URL: probe URLs are not templates (hint: write it like http://127.0.0.1:8000/health)",
    })
    .refine((s) => !URL.canParse(s) || decodes(new URL(s)), {
      message: "the user or password in the URL has a % that is not followed by two hex digits (hint: write % as %25)",
    })
    .meta({ description: "URL to request, like http://127.0.0.1:8000/health" }),
  method: z.enum(["GET", "HEAD", "POST"]).default("GET").meta({ description: "HTTP method (POST sends an empty body)" }),
  headers: z
    .record(z.string(), z.string().regex(HEADER_VALUE, "header values may not contain line breaks or control characters"))
    .superRefine((headers, ctx) => {
      // Checked here rather than on the key schema so the message names the header.
      for (const name of Object.keys(headers).filter((n) => !HEADER_NAME.test(n))) {
        ctx.addIssue({
          code: "custom",
          path: [name],
          message: `header name ${JSON.stringify(name)} is not an HTTP token (letters, digits and !#$%&'*+.^_\`|~-)`,
        });
      }
    })
    .default({})
    .meta({ description: "Extra request headers" }),
  expectStatus: z.array(z.number().int().min(100).max(599)).min(1).optional().meta({
    description:
      "Status codes that count as healthy (default: any 200-399). Same-origin redirects are followed unless their code is listed here",
  }),
  maxBodyBytes: bytes()
    .default(1024 * 1024)
    .meta({ description: "Largest health body accepted; a longer one fails the probe (default 1MiB)" }),
});

type HttpParams = z.output<typeof schema>;

/** The `http` probe: a request on a fresh connection (and per same-origin redirect), judged by status and health body. */
export const httpProbe: ProbeKind<typeof schema> = {
  schema,
  create(params, ctx): Probe {
    const url = new URL(params.url);
    const headers = {
      "user-agent": "medic-probe",
      accept: "application/health+json, application/json;q=0.9, */*;q=0.5",
      ...params.headers,
    };
    // Worked out once per target, not per round: the first hop's request options.
    const first = requestOptions(url, params.method, headers);
    return { run: (signal) => probeHttp(params, url, first, ctx.target, signal) };
  },
  describe(params) {
    return `${params.method} ${URL.canParse(params.url) ? showUrl(new URL(params.url)) : "(invalid URL)"}`;
  },
};

/** A URL as it may appear in logs and errors: no userinfo, no query string, no fragment. */
export function showUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** Whether the URL's user and password percent-decode (the schema refuses one that does not). */
function decodes(url: URL): boolean {
  try {
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
    return true;
  } catch {
    return false;
  }
}

/** What http(s).request needs for one hop: what urlToHttpOptions would give, and how to connect. */
export function requestOptions(url: URL, method: string, headers: Record<string, string>): http.RequestOptions {
  // Throws on userinfo that does not decode: the schema refuses it in the probe's URL, and a hop's throw fails the round.
  const userinfo = url.username !== "" || url.password !== "";
  return {
    protocol: url.protocol,
    hostname: url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname,
    port: url.port === "" ? undefined : Number(url.port),
    path: `${url.pathname}${url.search}`,
    auth: userinfo ? `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}` : undefined,
    method,
    headers,
    // defaultPort: without an agent, Host would name port 80 even when the URL does not.
    ...(url.protocol === "https:" ? { agent: HTTPS_AGENT } : { createConnection: connectPlain, defaultPort: 80 }),
  };
}

function probeHttp(params: HttpParams, url: URL, first: http.RequestOptions, target: string, signal: AbortSignal): Promise<Observation> {
  const at = Date.now();
  const start = performance.now();
  const shown = `${params.method} ${showUrl(url)}`;
  const facts: Facts = {};
  const max = params.maxBodyBytes;

  return new Promise<Observation>((resolve) => {
    let settled = false;
    let req: http.ClientRequest | undefined;
    // Every URL requested so far, the probe's own first; each hop is a fresh request.
    const chain: URL[] = [url];

    function settle(ok: boolean, error?: { code: string; message: string }): void {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      req?.destroy();
      if (chain.length > 1) facts.redirects = chain.length - 1;
      const obs: Observation = { target, at, ok, latencyMs: performance.now() - start, facts };
      if (error) obs.error = error;
      resolve(obs);
    }
    function fail(err: unknown, fallback: string, what = ""): void {
      const current = chain[chain.length - 1]!;
      const via = chain.length > 1 ? ` (redirected to ${short(current.pathname)})` : "";
      settle(false, { code: errorCode(err, fallback), message: `${shown}${via}: ${what}${scrub(messageOf(err), current)}` });
    }
    function refuse(code: string, what: string, hint: string): void {
      settle(false, { code, message: `${shown}: ${what} (hint: ${hint})` });
    }
    function onAbort(): void {
      const elapsedMs = Math.round(performance.now() - start);
      settle(false, { code: "ETIMEDOUT", message: `${shown}: no answer after ${elapsedMs} ms` });
    }

    function send(current: URL, method: string): void {
      try {
        const mod = current.protocol === "https:" ? https : http;
        const options =
          current === url && method === params.method ? first : requestOptions(current, method, first.headers as Record<string, string>);
        const mine = mod.request(options, (res) => onResponse(res, current, method));
        req = mine;
        // A hop's request is destroyed when the next one starts; its late errors are not the probe's.
        mine.on("error", (err) => {
          if (req === mine) fail(err, "EHTTP");
        });
        mine.end();
      } catch (err) {
        // Bad header values and the like throw synchronously; the schema should have caught them.
        fail(err, "EHTTP");
      }
    }

    function onResponse(res: http.IncomingMessage, current: URL, method: string): void {
      const status = res.statusCode ?? 0;
      facts.status = status;
      const next = redirectTarget(status, res.headers.location, current, params.expectStatus);
      if (next) {
        res.destroy();
        return follow(next, status, method);
      }
      const declared = Number(res.headers["content-length"]);
      // HEAD, 204 and 304 answers have no body whatever their Content-Length says.
      if (method !== "HEAD" && status !== 204 && status !== 304 && declared > max) {
        // Refused before reading a byte: the peer said how big it is.
        facts.bodyTruncated = true;
        return refuse(
          "BODY_TOO_LARGE",
          `health body of ${sizeText(declared)} is larger than ${sizeText(max)} (maxBodyBytes); not read`,
          HINT_BODY,
        );
      }
      readBody(res, max, (body, truncated, err) => {
        if (truncated) facts.bodyTruncated = true;
        // A body cut short by the peer is as unparseable as one we cut: neither is parsed.
        judgeBody(facts, body, !truncated && err === undefined, res.headers["content-type"]);
        if (truncated) return refuse("BODY_TOO_LARGE", `health body larger than ${sizeText(max)} (maxBodyBytes); cut off`, HINT_BODY);
        if (err) return fail(err, "ECONNRESET", "connection lost while reading the body: ");
        const accepted = params.expectStatus ? params.expectStatus.includes(status) : status >= 200 && status < 400;
        settle(accepted && facts.health?.status !== "fail");
      });
    }

    function follow(next: URL, status: number, method: string): void {
      if (next.origin !== url.origin) {
        // Never steered to another host: the health endpoint's answer is not trusted that far.
        const where = next.origin === "null" ? next.protocol : next.origin;
        return refuse("REDIRECT_ELSEWHERE", `redirects to another origin (${short(where)}); not followed`, HINT_REDIRECT);
      }
      // The same origin keeps the probe's credentials, as a relative Location would.
      if (next.username === "" && next.password === "") [next.username, next.password] = [url.username, url.password];
      const seen = chain.some((u) => u.href === next.href);
      chain.push(next);
      if (seen) return refuse("REDIRECT_LOOP", `redirect loop ${chainText(chain)}`, HINT_REDIRECT);
      if (chain.length - 1 > MAX_REDIRECTS) {
        return refuse("TOO_MANY_REDIRECTS", `more than ${MAX_REDIRECTS} redirects ${chainText(chain)}`, HINT_REDIRECT);
      }
      // As browsers and Go's client do: 303 always, and 301/302 after a POST, continue as GET.
      const nextMethod = method !== "HEAD" && (status === 303 || (method === "POST" && status <= 302)) ? "GET" : method;
      const previous = req;
      req = undefined;
      previous?.destroy();
      send(next, nextMethod);
    }

    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    send(url, params.method);
  });
}

// Where a redirect points, when it is one to follow: a redirect status the operator did not list
// in expectStatus, with a Location that parses. Anything else is judged by its status as it is.
function redirectTarget(status: number, location: string | undefined, current: URL, expectStatus: number[] | undefined): URL | undefined {
  if (!REDIRECT_STATUSES.has(status) || expectStatus?.includes(status)) return undefined;
  if (!location || !URL.canParse(location, current.href)) return undefined;
  const next = new URL(location, current);
  next.hash = "";
  return next;
}

// Same origin throughout, so paths name the hops; bounded, since Location is the peer's text.
function chainText(chain: URL[]): string {
  return chain
    .map((u) => short(u.pathname))
    .join(" -> ")
    .slice(0, 240);
}

function short(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function sizeText(n: number): string {
  for (const [unit, size] of [
    ["GiB", 1024 ** 3],
    ["MiB", 1024 ** 2],
    ["KiB", 1024],
  ] as const) {
    if (n >= size) return `${Number.isInteger(n / size) ? n / size : (n / size).toFixed(1)}${unit}`;
  }
  return `${n} bytes`;
}

// Streams the body up to `max` bytes; past that it stops reading and destroys the response.
function readBody(res: http.IncomingMessage, max: number, done: (body: Buffer, truncated: boolean, err?: Error) => void): void {
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
  res.on("close", () =>
    finish(false, res.complete ? undefined : Object.assign(new Error("response closed early"), { code: "ECONNRESET" })),
  );
}

function judgeBody(facts: Facts, body: Buffer, whole: boolean, contentType: string | undefined): void {
  if (body.length === 0) return;
  const head = body.subarray(0, EXCERPT_CHARS * 4).toString("utf8");
  facts.bodyExcerpt = head
    .replace(/[\t\n\r]+/g, " ")
    .replace(CONTROLS, "")
    .slice(0, EXCERPT_CHARS);
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
