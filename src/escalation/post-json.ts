import { performance } from "node:perf_hooks";
import { formatDuration } from "../lib/duration.js";
import type { SendResult } from "./types.js";

// One JSON POST to a receiver with global fetch, for every channel that speaks HTTP (Slack, the
// generic webhook, Teams, Opsgenie). Every outcome is a value: a timeout, an abort, a socket error,
// a status with the start of its body and its Retry-After. Nothing here quotes the URL: callers name
// the receiver by host (`where`) and redact their own secrets from what comes back.

/** A receiver's answer: its status, the start of its body on one line, and a Retry-After in ms. */
export interface Reply {
  status: number;
  /** At most EXCERPT_CHARS of the body, control characters flattened. */
  text: string;
  retryAfterMs?: number;
}

/** How one POST is made. */
export interface PostOptions {
  /** Names the receiver in every detail: "Slack (hooks.slack.com)". Never the URL. */
  where: string;
  timeoutMs: number;
  signal: AbortSignal;
  headers?: Record<string, string>;
  /** Credentials the channel knows of besides the URL and the credential headers (a webhook's own headers): never quoted back. */
  secrets?: readonly string[];
}

const BODY_BYTES = 2048;
const EXCERPT_CHARS = 200;

/** POSTs `body` (JSON text); the receiver's reply, or why there is none (always retryable but for a refused request). */
export async function postJson(url: URL, body: string, opts: PostOptions): Promise<Reply | (SendResult & { ok: false })> {
  const { where, timeoutMs, signal } = opts;
  if (signal.aborted) return { ok: false, retry: true, reason: "timeout", detail: `not sent to ${where}: aborted before the request` };
  // One controller for the caller's signal and the timeout, unhooked when done: AbortSignal.any
  // leaks when one input is long-lived, as the daemon's stop signal is (nodejs/node#55351).
  const controller = new AbortController();
  let timedOut = false;
  const onAbort = () => controller.abort();
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  signal.addEventListener("abort", onAbort, { once: true });
  const started = performance.now();
  const stopped = (): SendResult & { ok: false } => ({
    ok: false,
    retry: true,
    reason: "timeout",
    detail: timedOut
      ? `no answer from ${where} within ${formatDuration(timeoutMs)}`
      : `send to ${where} aborted after ${formatDuration(performance.now() - started)}`,
  });
  try {
    let res: Response;
    try {
      // redirect: manual, so a redirect is reported instead of followed with the message to elsewhere.
      res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json; charset=utf-8", "user-agent": "medic", ...opts.headers },
        body,
        redirect: "manual",
        signal: controller.signal,
      });
    } catch (err) {
      if (controller.signal.aborted) return stopped();
      return requestFailed(err, where);
    }
    try {
      const text = excerpt(await readExcerpt(res), requestSecrets(url, opts));
      const retryAfterMs = parseRetryAfter(res.headers.get("retry-after"));
      return { status: res.status, text, ...(retryAfterMs !== undefined && { retryAfterMs }) };
    } catch (err) {
      if (controller.signal.aborted) return stopped();
      return {
        ok: false,
        retry: true,
        reason: "network",
        detail: `${where} answered ${res.status} but the connection broke: ${causeOf(err)}`,
      };
    }
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
  }
}

/** Hints a channel gives for the statuses that mean its configuration is wrong. */
export interface StatusHints {
  badRequest?: string;
  unauthorized?: string;
  notFound?: string;
  gone?: string;
}

/**
 * What a non-2xx answer means, the same for every HTTP receiver: 429 (with its Retry-After), 5xx
 * and 408 are worth retrying; a redirect and other 4xx are configuration, which no retry fixes.
 */
export function judgeStatus(reply: Reply, where: string, hints: StatusHints = {}): SendResult & { ok: false } {
  const { status } = reply;
  const said = `${where} answered ${status}${reply.text ? ` ${JSON.stringify(reply.text)}` : ""}`;
  const hinted = (hint: string | undefined) => (hint ? `${said} (hint: ${hint})` : said);
  if (status === 429) {
    return {
      ok: false,
      retry: true,
      reason: "rate_limited",
      detail: said,
      ...(reply.retryAfterMs !== undefined && { retryAfterMs: reply.retryAfterMs }),
    };
  }
  if (status >= 500) return { ok: false, retry: true, reason: "server_error", detail: said };
  if (status === 408) return { ok: false, retry: true, reason: "timeout", detail: said };
  if (status >= 300 && status < 400)
    return { ok: false, retry: false, reason: "rejected", detail: `${said} (hint: webhook URLs do not redirect; check the URL)` };
  if (status === 400 || status === 413 || status === 422)
    return { ok: false, retry: false, reason: "bad_request", detail: hinted(hints.badRequest) };
  if (status === 401 || status === 403) return { ok: false, retry: false, reason: "unauthorized", detail: hinted(hints.unauthorized) };
  if (status === 404) return { ok: false, retry: false, reason: "not_found", detail: hinted(hints.notFound) };
  if (status === 410) return { ok: false, retry: false, reason: "rejected", detail: hinted(hints.gone) };
  if (status >= 400) return { ok: false, retry: false, reason: "rejected", detail: said };
  // 1xx or a 2xx the caller did not accept: not the receiver's protocol, maybe a proxy. Cheap to retry; attempts are capped.
  return { ok: false, retry: true, reason: "bad_reply", detail: said };
}

/** Whether a value is a reply rather than a failure to get one. */
export function isReply(value: Reply | SendResult): value is Reply {
  return "status" in value;
}

/** Replaces each secret (longest first) with [secret] in a result's detail. */
export function redactDetail(result: SendResult, secrets: readonly string[]): SendResult {
  return result.detail === undefined ? result : { ...result, detail: redactText(result.detail, secrets) };
}

function redactText(text: string, secrets: readonly string[]): string {
  return [...secrets]
    .filter((s) => s.length >= 4)
    .sort((a, b) => b.length - a.length)
    .reduce((out, secret) => out.split(secret).join("[secret]"), text);
}

/** Headers whose values are credentials. */
const CREDENTIAL_HEADER = /authorization|token|secret|key|signature|cookie|password/i;

// What a request carries that may be a credential: the URL and its token-like parts, credential headers and their words, and what the channel names.
function requestSecrets(url: URL, opts: PostOptions): string[] {
  const path = url.pathname.length >= 16 ? [url.pathname] : [];
  const parts = [
    url.href,
    `${url.host}${url.pathname}`,
    ...path,
    url.search,
    ...[...url.searchParams.values()].filter((v) => v.length >= 8),
  ];
  const segments = url.pathname.split("/").filter((s) => s.length >= 16);
  const values = Object.entries(opts.headers ?? {})
    .filter(([name]) => CREDENTIAL_HEADER.test(name))
    .flatMap(([, v]) => [v, ...v.split(/\s+/).filter((w) => w.length >= 8)]);
  return [...parts, ...segments, ...values, ...(opts.secrets ?? [])];
}

// The start of a receiver's answer on one line, every secret hidden before anything is cut; a window that ends
// inside a secret (the body went on past it) loses that fragment too.
function excerpt(raw: { text: string; cut: boolean }, secrets: readonly string[]): string {
  let text = redactText(raw.text, secrets);
  if (raw.cut) {
    const long = secrets.filter((s) => s.length >= 4);
    for (let n = Math.min(text.length, Math.max(0, ...long.map((s) => s.length - 1))); n >= 4; n--) {
      const tail = text.slice(-n);
      if (long.some((s) => s.startsWith(tail))) {
        text = `${text.slice(0, -n)}[secret]`;
        break;
      }
    }
  }
  return oneLine(text).slice(0, EXCERPT_CHARS);
}

/** A Retry-After header (seconds or an HTTP date) in ms; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null): number | undefined {
  if (value === null) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** An error's message on one line, at most 300 characters. */
export function messageOf(err: unknown): string {
  return oneLine(err instanceof Error ? err.message : String(err)).slice(0, 300);
}

/** Control characters and runs of space flattened to one space. */
export function oneLine(text: string): string {
  return text
    .replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ")
    .replace(/\s+/g, " ")
    .trim();
}

// fetch rejects with "fetch failed" and the socket error as its cause; without a cause, the request
// could not even be built (a URL fetch refuses), which no retry fixes.
function requestFailed(err: unknown, where: string): SendResult & { ok: false } {
  const cause = (err as { cause?: unknown } | null)?.cause;
  if (cause === undefined) return { ok: false, retry: false, reason: "rejected", detail: `cannot send to ${where}: ${messageOf(err)}` };
  if (causeOf(err) === "bad port") {
    return {
      ok: false,
      retry: false,
      reason: "rejected",
      detail: `cannot send to ${where}: fetch refuses this port (hint: use another port for the receiver)`,
    };
  }
  return { ok: false, retry: true, reason: "network", detail: `cannot reach ${where}: ${causeOf(err)}` };
}

async function readExcerpt(res: Response): Promise<{ text: string; cut: boolean }> {
  if (!res.body) return { text: "", cut: false };
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < BODY_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    // Past the excerpt the body is not needed; cancelling frees the connection.
    await reader.cancel().catch(() => {});
  }
  const all = Buffer.concat(chunks);
  return { text: all.subarray(0, BODY_BYTES).toString("utf8"), cut: size >= BODY_BYTES };
}

function causeOf(err: unknown): string {
  const cause = (err as { cause?: unknown } | null)?.cause ?? err;
  const code = (cause as { code?: unknown } | null)?.code;
  const message = messageOf(cause);
  return typeof code === "string" && !message.includes(code) ? `${code}: ${message}` : message;
}
