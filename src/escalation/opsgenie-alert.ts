import { createHash } from "node:crypto";
import type { Severity } from "../classify/types.js";
import { formatDuration } from "../lib/duration.js";
import { headlineOf } from "./build.js";
import type { Notification } from "./types.js";

// Opsgenie Alert API v2, pure: the request medic makes for a notification, within Opsgenie's limits.
// https://docs.opsgenie.com/docs/alert-api (create, acknowledge, close; "JSON Body Fields" and their limits)
// https://docs.opsgenie.com/docs/alerts-and-alert-fields (tags: 20 of 50 characters)

/** Opsgenie's limits on an alert's fields, in characters and counts. */
export const OPSGENIE_LIMITS = {
  messageChars: 130,
  aliasChars: 512,
  descriptionChars: 15_000,
  noteChars: 25_000,
  tags: 20,
  tagChars: 50,
  /** All keys and values of `details` together. */
  detailsChars: 8000,
  entityChars: 512,
  sourceChars: 100,
  userChars: 100,
  responders: 50,
} as const;

/** medic severity -> Opsgenie priority (P5, "informational", is not used). */
export const OPSGENIE_PRIORITY: Readonly<Record<Severity, "P1" | "P2" | "P3" | "P4">> = { P1: "P1", P2: "P2", P3: "P3", P4: "P4" };

/** Who an alert is routed to, as the Alert API names them. */
export type OpsgenieResponder = { type: "team" | "escalation" | "schedule"; name: string } | { type: "user"; username: string };

/** The body of a create-alert request. */
export interface OpsgenieCreate {
  message: string;
  alias: string;
  description: string;
  responders?: OpsgenieResponder[];
  tags: string[];
  details: Record<string, string>;
  entity: string;
  source: string;
  priority: "P1" | "P2" | "P3" | "P4";
  user: string;
  note: string;
}

/** The body of an acknowledge or close request. */
export interface OpsgenieAction {
  user: string;
  source: string;
  note: string;
}

/** One Alert API request: its path (under the API's base URL) and JSON body. */
export interface OpsgenieRequest {
  path: string;
  body: OpsgenieCreate | OpsgenieAction;
}

/** What the channel adds to every alert from its config. */
export interface OpsgenieOptions {
  source: string;
  responders?: readonly OpsgenieResponder[];
  tags?: readonly string[];
}

const USER = "medic";
const EVIDENCE_CHARS = 4000;
const LINE_CHARS = 500;
const DETAIL_VALUE_CHARS = 1024;
const PLAN_LINES = 40;
const LIST_ITEMS = 50;
const SPACES = /[\s\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g;
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/g;

/** The Alert API request for a notification: create for a trigger, acknowledge or close by alias for the others. */
export function buildOpsgenieRequest(n: Notification, opts: OpsgenieOptions): OpsgenieRequest {
  const alias = aliasOf(n.key ?? n.incident);
  const source = flatCut(opts.source, OPSGENIE_LIMITS.sourceChars);
  const note = escapeCut(n.reason.replace(CONTROLS, " "), OPSGENIE_LIMITS.noteChars);
  if (n.event !== "trigger") {
    const action = n.event === "acknowledge" ? "acknowledge" : "close";
    return { path: `/v2/alerts/${encodeURIComponent(alias)}/${action}?identifierType=alias`, body: { user: USER, source, note } };
  }
  const title = `${n.severity} ${n.kind} on ${n.target}`;
  const headline = headlineOf(n, title);
  const body: OpsgenieCreate = {
    message: escapeCut(oneLine(`${headline}: ${n.evidence}`), OPSGENIE_LIMITS.messageChars),
    alias,
    // Escaped and cut part by part in describe().
    description: describe(n).slice(0, OPSGENIE_LIMITS.descriptionChars),
    ...(opts.responders && opts.responders.length > 0 && { responders: opts.responders.slice(0, OPSGENIE_LIMITS.responders) }),
    tags: tagsOf(n, opts.tags ?? []),
    details: fitDetails([
      ["incident", n.incident],
      ["target", n.target],
      ["kind", n.kind],
      ["severity", n.severity],
      ["state", n.state],
      ["attempts", String(n.attempts)],
      ["opened", isoTime(n.openedAt)],
      ...(n.link ? [["link", n.link] as [string, string]] : []),
    ]),
    entity: flatCut(n.target, OPSGENIE_LIMITS.entityChars),
    source,
    priority: OPSGENIE_PRIORITY[n.severity] ?? "P1",
    user: USER,
    note,
  };
  return { path: "/v2/alerts", body };
}

/** The alert's key as an alias: itself when short enough, else a prefix plus a hash, so distinct keys stay distinct. */
export function aliasOf(key: string): string {
  if (key.length <= OPSGENIE_LIMITS.aliasChars) return key;
  const hash = createHash("sha256").update(key).digest("hex").slice(0, 16);
  return `${key.slice(0, OPSGENIE_LIMITS.aliasChars - 17)}-${hash}`;
}

/** Escapes what Opsgenie's UI would read as HTML (its message field takes HTML), so no value becomes markup or a link. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Escapes, then cuts to `max` characters with a trailing `…`, never splitting an entity or a surrogate pair. */
export function escapeCut(text: string, max: number): string {
  // Escaping at most quintuples a character; cutting first keeps the regexes off megabytes.
  const escaped = escapeHtml(text.length > max * 5 ? text.slice(0, max * 5) : text);
  if (escaped.length <= max) return escaped;
  const cut = escaped
    .slice(0, max - 1)
    .replace(/&[a-z]{0,3}$/, "")
    .replace(/[\ud800-\udbff]$/, "");
  return `${cut}…`;
}

// The description is what a responder reads on the alert: why now, the evidence, what medic tried
// (the latest steps when they do not all fit), who else broke, the captured evidence, the plan awaiting
// approval. Each part is escaped and cut within what the parts before it (by importance) left over.
function describe(n: Notification): string {
  let budget = OPSGENIE_LIMITS.descriptionChars - 16;
  const part = (lines: string[], max: number): string => {
    if (lines.length === 0) return "";
    const text = escapeCut(lines.join("\n"), Math.max(1, Math.min(max, budget)));
    budget -= text.length + 2;
    return text;
  };
  const head = part(
    [
      `${n.severity} ${n.kind} on ${n.target}`,
      `Reason: ${cutLine(n.reason)}`,
      `State: ${cutLine(n.state)}; open for ${formatDuration(Math.max(0, n.at - n.openedAt))}; playbook runs: ${n.attempts}`,
      `Incident: ${cutLine(n.incident)}${n.link ? ` ${flatCut(n.link, 2048)}` : ""}`,
      "",
      "Evidence:",
      block(n.evidence, EVIDENCE_CHARS),
    ],
    8000,
  );
  const approval = n.approval
    ? part(
        [
          `Awaiting approval of ${cutLine(n.approval.step)} until ${isoTime(n.approval.expiresAt)}: ${cutLine(n.approval.why)}`,
          ...n.approval.plan.slice(0, PLAN_LINES).map((l) => `  ${cutLine(l)}`),
          ...(n.approval.plan.length > PLAN_LINES ? [`  … ${n.approval.plan.length - PLAN_LINES} more lines`] : []),
        ],
        4000,
      )
    : "";
  const steps = fitSteps(n.steps, Math.min(budget - 1500, 6000));
  budget -= steps.length + 2;
  const artifacts = n.artifacts?.length
    ? part(
        [
          `Evidence captured before the fix (${n.artifacts.length})${n.link ? `, read it at ${flatCut(n.link, 2048)}` : ""}:`,
          ...n.artifacts.slice(0, LIST_ITEMS).map((a) => `- ${flatCut(a.name, 200)} (${a.bytes} bytes, ${flatCut(a.step, 100)})`),
          ...(n.artifacts.length > LIST_ITEMS ? [`- and ${n.artifacts.length - LIST_ITEMS} more`] : []),
        ],
        1000,
      )
    : "";
  const affected = n.affected?.length
    ? part([`Also affected (suppressed, not paged): ${n.affected.slice(0, LIST_ITEMS).map(cutLine).join(", ")}`], 500)
    : "";
  return [head, steps, affected, artifacts, approval].filter(Boolean).join("\n\n");
}

// The latest steps that fit in `max` escaped characters: what was tried last is what the responder needs.
function fitSteps(steps: Notification["steps"], max: number): string {
  if (steps.length === 0 || max <= 0) return "";
  const lines = steps.map((s) => escapeHtml(`- ${cutLine(s.name)}: ${cutLine(s.outcome)}${s.detail ? `: ${cutLine(s.detail)}` : ""}`));
  const header = `Steps (${steps.length}):`;
  let room = max - header.length - 64;
  const kept: string[] = [];
  for (let i = lines.length - 1; i >= 0; i--) {
    if (lines[i]!.length + 1 > room) break;
    room -= lines[i]!.length + 1;
    kept.unshift(lines[i]!);
  }
  const omitted = kept.length < lines.length ? [`- … ${lines.length - kept.length} earlier steps not shown`] : [];
  return [header, ...omitted, ...kept].join("\n");
}

// Configured tags first (an SRE's routing rules match on them), then medic's own; Opsgenie keeps 20 of 50 characters.
function tagsOf(n: Notification, configured: readonly string[]): string[] {
  const all = [...configured, "medic", n.kind, n.severity].map((t) => flatCut(t, OPSGENIE_LIMITS.tagChars)).filter(Boolean);
  return [...new Set(all)].slice(0, OPSGENIE_LIMITS.tags);
}

// Every value flattened and cut so that keys and values together stay within Opsgenie's total.
function fitDetails(entries: [string, string][]): Record<string, string> {
  let budget = OPSGENIE_LIMITS.detailsChars - entries.reduce((sum, [k]) => sum + k.length, 0);
  const details: Record<string, string> = {};
  for (const [key, value] of entries) {
    const fitted = flatCut(value, Math.max(0, Math.min(DETAIL_VALUE_CHARS, budget)));
    budget -= fitted.length;
    details[key] = fitted;
  }
  return details;
}

function block(text: string, max: number): string {
  const clean = text.replace(CONTROLS, " ").trimEnd();
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

function cutLine(text: string): string {
  return flatCut(text, LINE_CHARS);
}

function flatCut(text: string, max: number): string {
  const flat = oneLine(text.length > max * 4 ? text.slice(0, max * 4) : text);
  if (flat.length <= max) return flat;
  if (max < 1) return "";
  let end = max - 1;
  if (/[\ud800-\udbff]/.test(flat.charAt(end - 1))) end--;
  return `${flat.slice(0, end)}…`;
}

function oneLine(text: string): string {
  return text.replace(SPACES, " ").trim();
}

function isoTime(ms: number): string {
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : "unknown";
}
