import http from "node:http";
import https from "node:https";
import { z } from "zod";
import { bytes, httpUrl } from "../../config/fields.js";
import { formatDuration } from "../../lib/duration.js";
import { describeError, errorCode } from "../../lib/errors.js";
import { withDeadline } from "../../lib/signals.js";
import type { ArtifactRef } from "../../services/types.js";
import type { StepKind, StepResult } from "../types.js";
import { formatBytes } from "../../lib/size.js";
import { captureResult, keptDetail, noSink } from "./capture-kept.js";
import { publicUrl } from "./http.js";

// A diagnostics endpoint: Spring Boot's /actuator/heapdump or /actuator/threaddump
// (https://docs.spring.io/spring-boot/api/rest/actuator/index.html), Go's /debug/pprof/*
// (https://pkg.go.dev/net/http/pprof). node:http rather than fetch, as in the http step.

// As the artifact store accepts them: a stem starts with a letter; an extension has no dot.
const STEM = /^[a-z][a-z0-9-]{0,39}$/;

const schema = z.strictObject({
  url: httpUrl().meta({ description: "http(s) URL to GET; templated like the http step's (outside values only after the host)" }),
  headers: z
    .record(z.string(), z.string())
    .default({})
    .meta({ description: "Request headers, e.g. Authorization: Bearer ${TOKEN} (values may use {{ }}); never logged or described" }),
  artifact: z
    .string()
    .regex(STEM, "artifact must be 1-40 of a-z, 0-9 and -, starting with a letter (hint: like heapdump)")
    .optional()
    .meta({ description: "Name of the kept file before its number (default: the URL's last path segment, like heapdump)" }),
  maxBytes: bytes()
    .optional()
    .meta({ description: "Keep at most this much of the reply (default and ceiling: the artifact store's per-artifact cap)" }),
});

type Params = z.output<typeof schema>;

/** `capture.http`: GET a diagnostics URL (a heap or thread dump, a pprof profile) and keep the reply as an artifact. */
export const captureHttp: StepKind<typeof schema, Params> = {
  schema,
  defaultTimeoutMs: 60_000,
  // A GET of a diagnostics endpoint: asking again costs a second dump, and harms nothing.
  idempotent: true,
  needsService: false,
  capture: true,
  // A loopback URL reaches only the machine that asks: in a cluster, the target's own node.
  local: (p) => isLoopback(p.url),
  render: (p, r) => ({
    ...p,
    url: r.url(p.url),
    headers: Object.fromEntries(Object.entries(p.headers).map(([k, v]) => [k, r.text(v)])),
  }),
  describe: (p) => `capture GET ${publicUrl(p.url)}`,
  preview: (p) => Promise.resolve([`would capture GET ${publicUrl(p.url)} as ${stemOf(p)}-N (${limitOf(p)}); nothing captured now`]),
  async run(p, ctx): Promise<StepResult> {
    const t0 = performance.now();
    const what = `GET ${publicUrl(p.url)}`;
    const done = captureResult();
    const sink = ctx.artifacts;
    if (!sink) return done(false, `${noSink()} (would ${what})`);
    const capBytes = Math.min(p.maxBytes ?? Infinity, sink.maxBytes);
    let reply: Reply;
    try {
      reply = await withDeadline(ctx.signal, ctx.timeoutMs, (signal) => get(p, capBytes, signal));
    } catch (err) {
      // node:http refuses a bad header value before sending; its code names the problem, its message could quote the value.
      return done(false, `${what} failed: ${errorCode(err, "request error")}`);
    }
    const why = (end: Ended): string =>
      end === "timeout" ? `timed out after ${formatDuration(ctx.timeoutMs)}` : end === "aborted" ? `aborted after ${took(t0)}` : end;
    if ("failed" in reply)
      return done(false, `${what} ${reply.failed === "timeout" || reply.failed === "aborted" ? "" : "failed: "}${why(reply.failed)}`);
    if (reply.body === undefined) {
      if (reply.status < 300 || reply.status >= 400) return done(false, `${what} -> ${reply.status} in ${took(t0)}, nothing kept`);
      const to = reply.location && URL.canParse(reply.location, p.url) ? ` to ${publicUrl(new URL(reply.location, p.url).href)}` : "";
      return done(false, `${what} -> ${reply.status}: redirect${to} not followed, nothing kept (hint: capture the final URL)`);
    }
    if (reply.body.length === 0 && reply.ended !== "end")
      return done(false, `${what} -> ${reply.status}, then ${why(reply.ended)} before any data`);
    // A reply cut short by the clock or the network is still evidence: keep what came, marked truncated.
    const cut = reply.body.length > capBytes || reply.ended !== "end";
    const data = reply.body.subarray(0, capBytes);
    let ref: ArtifactRef;
    try {
      ref = reply.text
        ? await sink.save(stemOf(p), data.toString("utf8"), { ext: reply.ext })
        : await sink.save(stemOf(p), data, { ext: reply.ext, binary: true });
    } catch (err) {
      return done(false, `${what} -> ${reply.status}, but could not keep it: ${describeError(err)}`);
    }
    if (cut) ref = { ...ref, truncated: true };
    if (reply.ended !== "end") {
      const kept = `kept what arrived as ${ref.name} (${ref.bytes} bytes, incomplete, sha256 ${ref.sha256.slice(0, 12)}…)`;
      return done(false, `${what} -> ${reply.status}, then ${why(reply.ended)}; ${kept}`, [ref]);
    }
    return done(true, `${keptDetail(ref, `the reply to ${what} (${reply.status})`)} in ${took(t0)}`, [ref]);
  },
};

/** True for a URL whose host is this machine (localhost, 127.0.0.0/8, ::1); false when there is no URL to look at. */
export function isLoopback(url: string | undefined): boolean {
  if (url === undefined || !URL.canParse(url)) return false;
  const host = new URL(url).hostname.toLowerCase();
  return host === "localhost" || host.endsWith(".localhost") || /^127(\.\d{1,3}){3}$/.test(host) || host === "[::1]";
}

const took = (t0: number): string => formatDuration(performance.now() - t0);

/** The artifact's stem: the step's, else the URL's last path segment made safe ("heapdump", "http-2"), else "http". */
export function stemOf(p: Pick<Params, "artifact" | "url">): string {
  if (p.artifact) return p.artifact;
  let last = "";
  try {
    last = new URL(p.url).pathname.split("/").filter(Boolean).pop() ?? "";
  } catch {
    // unparsable: the fallback below
  }
  const safe = decodeSafely(last)
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40)
    .replace(/-+$/, "");
  if (!safe) return "http";
  return /^[a-z]/.test(safe) ? safe : `http-${safe}`.slice(0, 40).replace(/-+$/, "");
}

function decodeSafely(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

const limitOf = (p: Params): string => (p.maxBytes === undefined ? "up to the per-artifact cap" : `up to ${formatBytes(p.maxBytes)}`);

type Ended = "end" | "timeout" | "aborted" | string;
type Reply =
  | { failed: Ended }
  | { status: number; location?: string; body: Buffer; text: boolean; ext: string; ended: Ended }
  | { status: number; location?: string; body?: undefined };

/** One GET; reads at most capBytes + 1 bytes (the one more says "there was more"), then lets go. Never rejects. */
function get(p: Params, capBytes: number, signal: AbortSignal): Promise<Reply> {
  const url = new URL(p.url);
  return new Promise<Reply>((resolve) => {
    if (signal.aborted) return resolve({ failed: reasonOf(signal) });
    let settled = false;
    let partial: ((ended: Ended) => Reply) | undefined;
    const settle = (r: Reply): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      req.destroy();
      resolve(r);
    };
    // An abort after the headers keeps what has arrived; before them, there is nothing.
    const stop = (ended: Ended): void => settle(partial ? partial(ended) : { failed: ended });
    const onAbort = (): void => stop(reasonOf(signal));
    const lib = url.protocol === "https:" ? https : http;
    // agent: false: a fresh connection, closed after; redirects are never followed (node:http does not).
    const req = lib.request(url, { method: "GET", headers: p.headers, agent: false }, (res) => {
      const status = res.statusCode ?? 0;
      const location = typeof res.headers.location === "string" ? res.headers.location : undefined;
      if (status < 200 || status >= 300) return settle({ status, ...(location && { location }) });
      const chunks: Buffer[] = [];
      let read = 0;
      const kind = kindOf(res.headers["content-type"], res.headers["content-disposition"]);
      partial = (ended) => {
        const body = Buffer.concat(chunks);
        // No content type: text unless it holds a NUL, so that unlabelled text is still redacted.
        const text = kind.text ?? !body.subarray(0, 65_536).includes(0);
        return { status, body, text, ext: kind.ext ?? (text ? "txt" : sniffExt(body)), ended };
      };
      res.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        read += chunk.length;
        if (read > capBytes) settle(partial!("end"));
      });
      res.on("end", () => settle(partial!("end")));
      // Error codes only: a message could quote the request.
      res.on("error", (err) => stop(`connection lost (${errorCode(err, "ECONNRESET")})`));
      res.on("close", () => {
        if (!res.complete) stop("connection lost (ECONNRESET)");
      });
    });
    signal.addEventListener("abort", onAbort, { once: true });
    req.on("error", (err) => stop(errorCode(err, "request error")));
    req.end();
  });
}

const reasonOf = (signal: AbortSignal): Ended =>
  (signal.reason as { name?: unknown } | undefined)?.name === "TimeoutError" ? "timeout" : "aborted";

/** Text (redacted by the sink) or binary, by content type; the extension from the type or the offered file name. */
export function kindOf(contentType: string | undefined, disposition: string | undefined): { text?: boolean; ext?: string } {
  if (!contentType) return {};
  const type = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  const json = type === "application/json" || type.endsWith("+json");
  const xml = type === "application/xml" || type.endsWith("+xml");
  const ndjson = type === "application/x-ndjson";
  if (json || ndjson) return { text: true, ext: ndjson ? "ndjson" : "json" };
  if (xml) return { text: true, ext: "xml" };
  if (type.startsWith("text/")) return { text: true, ext: type === "text/html" ? "html" : "txt" };
  // Binary: a heap dump names itself (heapdump2024.hprof, heap.pb.gz: its last extension); else the bytes say.
  const offered = /filename="?([^";]+)"?/i.exec(disposition ?? "")?.[1];
  const ext = offered && /\.([a-z0-9]{1,16})$/i.exec(offered)?.[1]?.toLowerCase();
  return ext ? { text: false, ext } : { text: false };
}

/** gzip (a pprof profile, a compressed hprof) by its magic bytes, else plain binary. */
function sniffExt(body: Buffer): string {
  return body[0] === 0x1f && body[1] === 0x8b ? "gz" : "bin";
}
