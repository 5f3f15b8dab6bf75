import { createHash } from "node:crypto";
import { formatDuration } from "../lib/duration.js";
import { gaveUp, headlineOf } from "./build.js";
import type { Notification } from "./types.js";

// One e-mail per notification, pure. Header values are flattened to one line here, so hostile text
// (a health body, a label) can never end a header and start another (RFC 5322 header injection);
// nodemailer then encodes them (RFC 2047). Threading: RFC 5322 section 3.6.4.

/** Sizes that keep a message readable on a phone and far below any server's size limit. */
export const EMAIL_LIMITS = { subjectChars: 200, headerChars: 200, evidenceChars: 16_000, lineChars: 1000, listItems: 100 } as const;

/** What nodemailer needs besides the envelope. */
export interface EmailMessage {
  subject: string;
  text: string;
  messageId: string;
  inReplyTo?: string;
  references?: string;
  headers: Record<string, string>;
}

const SPACES = /[\s\u0000-\u001f\u007f-\u009f\u2028\u2029\u0085]+/g;
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/g;

/** The message for a notification; `domain` (the sender's) makes its Message-ID globally unique. */
export function buildEmailMessage(n: Notification, domain: string): EmailMessage {
  const messageId = messageIdOf(n.id, domain);
  const root = threadRootId(n, domain);
  return {
    subject: subjectOf(n),
    text: bodyOf(n),
    messageId,
    // Every later message answers the incident's first, so a mail client shows the incident as one thread.
    ...(messageId !== root && { inReplyTo: root, references: root }),
    headers: {
      // RFC 3834: no vacation auto-reply to a robot.
      "Auto-Submitted": "auto-generated",
      "X-Medic-Incident": header(n.incident),
      "X-Medic-Event": n.event,
      "X-Medic-Severity": header(n.severity),
      "X-Medic-Target": header(n.target),
    },
  };
}

/** A stable Message-ID for a notification: a resent notification keeps it, so a mail client shows it once. */
export function messageIdOf(notificationId: string, domain: string): string {
  return `<medic.${createHash("sha256").update(notificationId).digest("hex").slice(0, 32)}@${domain}>`;
}

/**
 * The Message-ID of the incident's first message on this channel: its first trigger, which
 * build.ts names `<incident>-<channel>-trigger-1` (a test holds the two together).
 */
export function threadRootId(n: Pick<Notification, "incident" | "channel">, domain: string): string {
  return messageIdOf(`${n.incident}-${n.channel}-trigger-1`, domain);
}

/** The domain of an address like `medic@example.com` or `Medic <medic@example.com>`, for Message-IDs. */
export function domainOf(address: string): string {
  const domain = /@([A-Za-z0-9.-]+)>?\s*$/.exec(address)?.[1];
  return domain && /^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(domain) ? domain.toLowerCase() : "medic.invalid";
}

function subjectOf(n: Notification): string {
  const what = `${n.kind} on ${n.target}`;
  const lead =
    n.event === "resolve"
      ? `Resolved: ${what}`
      : n.event === "acknowledge"
        ? `Acknowledged: ${what}`
        : n.approval
          ? `Approval needed: ${what}: ${n.evidence}`
          : n.escalation
            ? `${upperFirst(gaveUp(n))}: ${what}: ${n.evidence}`
            : `${what}: ${n.evidence}`;
  return cut(flat(`[${n.severity}] ${lead}`), EMAIL_LIMITS.subjectChars);
}

function bodyOf(n: Notification): string {
  const lines: string[] = [];
  const title = `${n.severity} ${n.kind} on ${n.target}`;
  const open = formatDuration(Math.max(0, n.at - n.openedAt));
  if (n.event === "resolve") lines.push(`Resolved: ${title}`, `Why: ${line(n.reason)}`, `Was open for ${open}.`);
  else if (n.event === "acknowledge") lines.push(`Acknowledged: ${title}`, line(n.reason));
  else {
    lines.push(headlineOf(n, title), `Reason: ${line(n.reason)}`);
  }
  lines.push(
    `State: ${line(n.state)}; opened ${isoTime(n.openedAt)} (${open} ago); playbook runs: ${n.attempts}`,
    `Incident: ${line(n.incident)}${n.link ? `  ${line(n.link)}` : ""}`,
  );
  if (n.event !== "trigger") return finish(lines);

  lines.push("", "Evidence:", indent(block(n.evidence, EMAIL_LIMITS.evidenceChars)));
  if (n.steps.length > 0) {
    // The latest steps: what was tried last is what the reader needs.
    const shown = n.steps.slice(-EMAIL_LIMITS.listItems);
    lines.push("", `Steps (${n.steps.length}):`);
    if (shown.length < n.steps.length) lines.push(`  ... ${n.steps.length - shown.length} earlier steps not shown`);
    for (const s of shown) lines.push(`  - ${line(s.name)}: ${line(s.outcome)}${s.detail ? `: ${line(s.detail)}` : ""}`);
  }
  if (n.affected && n.affected.length > 0) lines.push("", "Also affected (suppressed, not paged):", ...list(n.affected.map(line)));
  if (n.artifacts && n.artifacts.length > 0) {
    lines.push("", `Evidence captured before the fix (${n.artifacts.length})${n.link ? `, read it at ${line(n.link)}` : ""}:`);
    lines.push(...list(n.artifacts.map((a) => `${line(a.name)} (${a.bytes} bytes, ${line(a.step)})`)));
  }
  if (n.approval) {
    lines.push("", `Awaiting approval of ${line(n.approval.step)} until ${isoTime(n.approval.expiresAt)}: ${line(n.approval.why)}`);
    lines.push("Plan:", ...n.approval.plan.slice(0, EMAIL_LIMITS.listItems).map((l) => `  ${line(l)}`));
    if (n.link) lines.push(`Approve or reject at ${line(n.link)}`);
  }
  return finish(lines);
}

function finish(lines: string[]): string {
  return `${lines.join("\n")}\n\n-- \nSent by medic. Replies are not read.\n`;
}

function list(items: string[]): string[] {
  const shown = items.slice(0, EMAIL_LIMITS.listItems).map((i) => `  - ${i}`);
  return items.length > shown.length ? [...shown, `  - and ${items.length - shown.length} more`] : shown;
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((l) => `  ${l}`)
    .join("\n");
}

// Multi-line text kept as lines (evidence is often a body excerpt), with control characters made visible as spaces.
function block(text: string, max: number): string {
  return cut(text.replace(/\r\n?/g, "\n").replace(CONTROLS, " ").trimEnd(), max);
}

function line(text: string): string {
  return cut(flat(text.length > EMAIL_LIMITS.lineChars * 4 ? text.slice(0, EMAIL_LIMITS.lineChars * 4) : text), EMAIL_LIMITS.lineChars);
}

function header(text: string): string {
  return cut(flat(text.slice(0, EMAIL_LIMITS.headerChars * 4)), EMAIL_LIMITS.headerChars);
}

function flat(text: string): string {
  return text.replace(SPACES, " ").trim();
}

function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}

function upperFirst(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function isoTime(ms: number): string {
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : "unknown";
}
