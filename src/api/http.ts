import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import { redactor } from "../lib/redact.js";

/** Largest request body read; Alertmanager's biggest groups fit well within it. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** A request the API refuses: the status, and `{ error, hint }` for the body. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly hint: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** A reply a handler returns: JSON, text (metrics, a postmortem), fixed bytes (the console's files) or a stream (live events). */
export type Reply =
  | { status: number; json: unknown; headers?: Record<string, string> }
  | { status: number; text: string; contentType: string; headers?: Record<string, string> }
  /** Shipped bytes, maybe compressed: sent as they are (they hold no secret), with the headers given. */
  | { status: number; bytes: Buffer; headers: Record<string, string> }
  /** The route writes the response itself, for as long as it lasts. */
  | { status: number; stream: (res: ServerResponse) => void };

/** Writes a reply, with no secret in it; JSON is pretty enough for curl and ends with a newline. */
export function send(res: ServerResponse, reply: Reply): void {
  if (res.headersSent || res.destroyed) return;
  if ("stream" in reply) return reply.stream(res);
  if ("bytes" in reply) {
    // A 304 says nothing of the length: the body the client has keeps its own.
    const length = reply.status === 304 ? {} : { "content-length": reply.bytes.length };
    res.writeHead(reply.status, { ...length, "x-content-type-options": "nosniff", ...reply.headers });
    res.end(reply.bytes);
    return;
  }
  const body = redactor.text("json" in reply ? JSON.stringify(reply.json, null, 2) + "\n" : reply.text);
  res.writeHead(reply.status, {
    "content-type": "json" in reply ? "application/json; charset=utf-8" : reply.contentType,
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    ...reply.headers,
  });
  res.end(body);
}

/** The `{ error, hint }` reply for an ApiError. */
export function errorReply(err: ApiError): Reply {
  return { status: err.status, json: { error: err.message, hint: err.hint }, headers: err.headers };
}

/** The request's body as sent (a signature is over these bytes), refused when not JSON by type or too large. */
export async function readBytes(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const type = req.headers["content-type"];
  if (type !== undefined && !/^application\/(?:[\w.+-]+\+)?json\b/i.test(type)) {
    throw new ApiError(
      415,
      `the body must be JSON (got content-type ${JSON.stringify(type.slice(0, 100))})`,
      "send it with content-type: application/json",
    );
  }
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** A body's JSON ({} when empty), or a 400 that says why not. */
export function parseJson(bytes: Buffer): unknown {
  const text = bytes.toString("utf8");
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ApiError(
      400,
      `the body is not valid JSON: ${(err as Error).message.slice(0, 200)}`,
      'send a JSON object, like {"note": "on it"}',
    );
  }
}

function tooLarge(limit: number): ApiError {
  // The rest of the body is never read: the connection cannot carry another request.
  return new ApiError(
    413,
    `the body is larger than ${limit} bytes`,
    "send less; for Alertmanager, set max_alerts on the webhook receiver",
    { connection: "close" },
  );
}

/** The body of a POST, checked against its schema; the first problem is refused as a 400 with an example. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown, example: string): z.output<T> {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const where = issue.path.length > 0 ? `${issue.path.map(String).join(".")}: ` : "";
  const message =
    issue.code === "unrecognized_keys"
      ? `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => JSON.stringify(k.slice(0, 40))).join(", ")}`
      : issue.message;
  throw new ApiError(400, `${where}${message}`, `send a JSON object like ${example}`);
}

/** A line of text from a caller: no control characters, bounded. */
export const oneLine = (max: number) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .regex(/^[^\u0000-\u001f\u007f]*$/, "must be one line");
