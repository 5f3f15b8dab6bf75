import { resolve } from "node:path";
import { z } from "zod";
import { duration } from "../config/fields.js";
import { formatDuration } from "../lib/duration.js";
import { readCa, type CaUse } from "./ca.js";
import type { ChannelKind } from "./channel.js";
import { buildEmailMessage, domainOf, type EmailMessage } from "./email-message.js";
import { messageOf, redactDetail } from "./post-json.js";
import type { Notification, NotificationEvent, SendResult } from "./types.js";

// SMTP through nodemailer: https://nodemailer.com/smtp/ ; reply codes: RFC 5321 section 4.2.
// One transport per send, closed when the send ends: nothing is pooled, so nothing outlives a stop.
// nodemailer takes the AbortSignal (it closes the connection); our own timer bounds the whole send,
// since its socket timeout only bounds idleness and a server can drip bytes forever.

const EVENTS: ReadonlySet<NotificationEvent> = new Set<NotificationEvent>(["trigger", "acknowledge", "resolve"]);
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[?[0-9A-Fa-f:.]+\]?)$/;
// An address, or `Name <address>`; no line break can pass (the from and to go into headers).
const ADDRESS = /^(?:[^\r\n<>"]{0,100} <[^\s<>@",;]{1,64}@[A-Za-z0-9.-]{1,253}>|[^\s<>@",;]{1,64}@[A-Za-z0-9.-]{1,253})$/;
const address = (what: string) =>
  z.string().regex(ADDRESS, `${what} must be an e-mail address like medic@example.com or "Medic <medic@example.com>"`);

/** A relay on this host: nothing on the path to strip STARTTLS from. */
const LOOPBACK = /^(?:localhost|127(?:\.\d{1,3}){3}|::1|\[::1\])$/i;

const schema = z
  .strictObject({
    host: z
      .string()
      .regex(HOST, "must be a host name or IP address, like smtp.example.com (hint: no smtp://, no port: use port)")
      .meta({ description: "SMTP server (a relay or the provider's submission host)" }),
    port: z.number().int().min(1).max(65535).optional().meta({ description: "SMTP port (default 587, or 465 with secure: true)" }),
    secure: z.boolean().default(false).meta({ description: "Implicit TLS from the first byte (port 465); otherwise STARTTLS" }),
    starttls: z.enum(["require", "opportunistic"]).default("require").meta({
      description: "require: fail unless the server upgrades to TLS (default); opportunistic: upgrade when offered, else send in clear",
    }),
    user: z.string().min(1).max(256).optional().meta({ description: "SMTP AUTH user name" }),
    password: z
      .string()
      .min(1)
      .optional()
      .meta({ description: "SMTP AUTH password; a secret: write ${SMTP_PASSWORD} or ${file:/path}", writeOnly: true }),
    from: address("from").meta({ description: 'The sender, like "medic <medic@example.com>"' }),
    to: z.array(address("each of to")).min(1).max(50).meta({ description: "Recipients (at most 50)" }),
    ca: z
      .string()
      .min(1)
      .optional()
      .meta({ description: "PEM file of the CA that signed the server's certificate, relative to this file (private relays only)" }),
    timeout: duration()
      .refine((ms) => ms > 0 && ms <= 300_000, "must be longer than 0 and at most 5m (hint: like 30s)")
      .prefault("30s")
      .meta({ description: "How long one send may take, connection to the server's last answer, before it is retried (default 30s)" }),
  })
  .refine((p) => (p.user === undefined) === (p.password === undefined), {
    message: "user and password go together (hint: set both for SMTP AUTH, or neither for a relay that trusts this host)",
    path: ["password"],
  })
  // Opportunistic STARTTLS can be stripped by anyone on the path, and the login would then go in clear.
  .refine((p) => p.password === undefined || p.secure || p.starttls === "require" || LOOPBACK.test(p.host), {
    message: "a password is sent only over TLS (hint: keep starttls: require, or secure: true; opportunistic is for a relay without AUTH)",
    path: ["starttls"],
  });

/** Validated `notify.email` params. */
export type EmailParams = z.output<typeof schema>;

// What a bad `ca` file is called in its error.
const CA: CaUse = { code: "EMAIL_CA", key: "notify.email.ca", signed: "the SMTP server's certificate" };

/** `email`: one message per trigger, acknowledge and resolve, threaded per incident, through an SMTP server. */
export const emailChannel: ChannelKind<typeof schema> = {
  schema,
  create(params, ctx) {
    // Found now, loaded at the first e-mail: a missing package stops medic at start, not at 3 a.m.
    import.meta.resolve("nodemailer");
    const ca = params.ca === undefined ? undefined : readCa(resolve(ctx.baseDir, params.ca), CA);
    const domain = domainOf(params.from);
    const secrets = params.password === undefined ? [] : passwordForms(params.user ?? "", params.password);
    return {
      name: ctx.name,
      accepts: EVENTS,
      send: async (n, signal) => redactDetail(await sendEmail(n, signal, params, ca, domain), secrets),
    };
  },
  // The password as written, and as AUTH PLAIN and LOGIN send it (base64), in case a server echoes it.
  secrets: (params) => (params.password === undefined ? [] : passwordForms(params.user ?? "", params.password)),
};

function passwordForms(user: string, password: string): string[] {
  return [password, Buffer.from(password).toString("base64"), Buffer.from(`\u0000${user}\u0000${password}`).toString("base64")];
}

async function sendEmail(n: Notification, outer: AbortSignal, p: EmailParams, ca: Buffer | undefined, domain: string): Promise<SendResult> {
  const port = p.port ?? (p.secure ? 465 : 587);
  const where = `SMTP server ${p.host}:${port}`;
  if (outer.aborted) return { ok: false, retry: true, reason: "timeout", detail: `not sent to ${where}: medic is stopping` };
  let message: EmailMessage;
  try {
    message = buildEmailMessage(n, domain);
  } catch (err) {
    return { ok: false, retry: false, reason: "bad_request", detail: `could not build the e-mail: ${messageOf(err)}` };
  }
  // Loaded at the first e-mail, not at start: nodemailer is a good share of an idle medic's memory.
  const { default: nodemailer } = await import("nodemailer");
  if (outer.aborted) return { ok: false, retry: true, reason: "timeout", detail: `not sent to ${where}: medic is stopping` };
  const controller = new AbortController();
  let why: "timeout" | "stopping" | undefined;
  const stop = (reason: "timeout" | "stopping") => {
    why ??= reason;
    controller.abort();
  };
  const onAbort = () => stop("stopping");
  const timer = setTimeout(() => stop("timeout"), p.timeout);
  outer.addEventListener("abort", onAbort, { once: true });
  const transport = nodemailer.createTransport({
    host: p.host,
    port,
    secure: p.secure,
    requireTLS: !p.secure && p.starttls === "require",
    ...(p.user !== undefined && { auth: { user: p.user, pass: p.password! } }),
    tls: { minVersion: "TLSv1.2", rejectUnauthorized: true, ...(ca && { ca }) },
    connectionTimeout: p.timeout,
    greetingTimeout: p.timeout,
    socketTimeout: p.timeout,
    dnsTimeout: p.timeout,
    disableFileAccess: true,
    disableUrlAccess: true,
    logger: false,
    debug: false,
  });
  try {
    const info = await transport.sendMail({
      from: p.from,
      to: p.to,
      subject: message.subject,
      text: message.text,
      messageId: message.messageId,
      ...(message.inReplyTo && { inReplyTo: message.inReplyTo, references: message.references }),
      headers: message.headers,
      signal: controller.signal,
    });
    const response = typeof info.response === "string" ? `: ${excerpt(info.response)}` : "";
    return { ok: true, detail: `${where} accepted the ${n.event}${response}` };
  } catch (err) {
    if (why === "timeout")
      return { ok: false, retry: true, reason: "timeout", detail: `no answer from ${where} within ${formatDuration(p.timeout)}` };
    if (why === "stopping") return { ok: false, retry: true, reason: "timeout", detail: `send to ${where} aborted: medic is stopping` };
    return judgeSmtpError(err, where);
  } finally {
    clearTimeout(timer);
    outer.removeEventListener("abort", onAbort);
    transport.close();
  }
}

/** What an SMTP failure means for delivery: 4xx and broken connections are retried; 5xx is configuration. */
export function judgeSmtpError(err: unknown, where: string): SendResult & { ok: false } {
  const e = err as { code?: string; responseCode?: number; response?: string; originalCode?: string; command?: string };
  const code = typeof e.responseCode === "number" ? e.responseCode : undefined;
  const said = e.response ? excerpt(e.response) : messageOf(err);
  const fail = (retry: boolean, reason: Exclude<SendResult, { ok: true }>["reason"], text: string, hint?: string) => ({
    ok: false as const,
    retry,
    reason,
    detail: `${text}${hint ? ` (hint: ${hint})` : ""}`,
  });
  // Before the reply codes: a server that answers STARTTLS with 5xx has a TLS problem, not a mail problem.
  const original = e.originalCode ?? "";
  if (e.code === "ETLS" || e.command === "STARTTLS" || /CERT|SELF_SIGNED|ALTNAME|UNABLE_TO|TLS|SSL/i.test(original)) {
    return fail(
      true,
      "network",
      `TLS with ${where} failed: ${original ? `${original}: ` : ""}${messageOf(err)}`,
      tlsHint(original, messageOf(err), e.command === "STARTTLS" && code !== undefined),
    );
  }
  if (e.code === "EAUTH" || e.code === "ENOAUTH" || code === 535 || code === 534 || code === 530) {
    if (code !== undefined && code < 500) return fail(true, "server_error", `${where} could not check the login now: ${said}`);
    return fail(false, "unauthorized", `${where} refused the login: ${said}`, "check notify.email.user and password");
  }
  if (code !== undefined && code >= 400 && code < 500)
    return fail(true, "server_error", `${where} deferred the message (${code}): ${said}`);
  if (code === 503) return fail(true, "server_error", `${where} answered ${said}`);
  if (code === 552 || (code === 554 && /size|too (?:big|large)/i.test(said)))
    return fail(false, "bad_request", `${where} refused the message (${code}): ${said}`, "the message is larger than the server allows");
  if (code !== undefined && code >= 500) {
    const hint =
      e.command === "MAIL FROM" || /sender/i.test(said)
        ? "the server refuses this sender; check notify.email.from and that user may send as it"
        : "the server refuses a recipient or relaying; check notify.email.to, and user/password if the server only relays for logged-in users";
    return fail(false, "rejected", `${where} rejected the message (${code}): ${said}`, hint);
  }
  if (e.code === "ETIMEDOUT") return fail(true, "timeout", `${where} timed out: ${messageOf(err)}`);
  if (e.code === "EENVELOPE" || e.code === "EMESSAGE") return fail(false, "bad_request", `${where}: ${messageOf(err)}`);
  if (e.code === "EPROTOCOL")
    return fail(true, "bad_reply", `${where} does not speak SMTP as expected: ${messageOf(err)}`, "check host and port");
  return fail(true, "network", `cannot reach ${where}: ${original ? `${original}: ` : ""}${messageOf(err)}`);
}

function tlsHint(original: string, message: string, refused: boolean): string {
  if (refused) return "the server offers no STARTTLS; use secure: true on port 465, or starttls: opportunistic on a trusted network";
  if (/wrong version|packet length|EPROTO/i.test(`${original} ${message}`))
    return "secure: true speaks TLS at once (port 465); port 587 wants secure: false";
  return "if the server uses a private CA, set notify.email.ca to its PEM file; check that host matches the certificate";
}

function excerpt(text: string): string {
  return messageOf(text).slice(0, 200);
}
