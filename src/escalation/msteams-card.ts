import { formatDuration } from "../lib/duration.js";
import { headlineOf } from "./build.js";
import type { Notification } from "./types.js";

// The Teams Workflows webhook ("Post to a channel when a webhook request is received") posts an
// Adaptive Card: https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using
// Card schema 1.4: https://adaptivecards.io/explorer/ ; TextBlock Markdown: https://learn.microsoft.com/en-us/adaptive-cards/authoring-cards/text-features
// A message may be about 28 KB (https://learn.microsoft.com/en-us/connectors/teams/#known-issues-and-limitations);
// medic keeps the whole request under TEAMS_LIMITS.bodyBytes.

/** What ends a text cut short to fit the card's limits. */
export const CARD_TRUNCATED = "…(truncated)";

/** medic's limits for one Teams message: the request's size, and how many of each list a card shows. */
export const TEAMS_LIMITS = { bodyBytes: 27 * 1024, textBlockChars: 4000, steps: 20, affected: 50, artifacts: 10, planLines: 40 } as const;

/** An Adaptive Card element medic uses. */
export type CardElement =
  | {
      type: "TextBlock";
      text: string;
      wrap: true;
      weight?: "Bolder";
      size?: "Medium" | "Small";
      color?: "Attention" | "Warning" | "Good";
      fontType?: "Monospace";
      isSubtle?: true;
    }
  | { type: "FactSet"; facts: { title: string; value: string }[] };

/** An Adaptive Card 1.4. */
export interface AdaptiveCard {
  $schema: "http://adaptivecards.io/schemas/adaptive-card.json";
  type: "AdaptiveCard";
  version: "1.4";
  body: CardElement[];
  actions?: { type: "Action.OpenUrl"; title: string; url: string }[];
  msteams: { width: "Full" };
}

/** The JSON body a Workflows webhook takes: a message with the card as its one attachment. */
export interface TeamsMessage {
  type: "message";
  attachments: { contentType: "application/vnd.microsoft.card.adaptive"; contentUrl: null; content: AdaptiveCard }[];
}

// Markdown a TextBlock renders (emphasis, links, images, headings, code), <at> mentions, and the
// braces of {{DATE()}} templates. Text is one line, so list markers matter only at its start, and
// parentheses only after "]", which is escaped. Underscores only at a word's edge.
const MARKDOWN = /[\\`*{}[\]#|~<>]/g;
// An underscore inside a word (db_disconnect) cannot open or close emphasis in CommonMark; escaped, some Teams clients show the backslash.
const EDGE_UNDERSCORE = /(?<![\p{L}\p{N}])_|_(?![\p{L}\p{N}])/gu;
const LIST_START = /^(?:[-+]|\d+[.)])/;
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]+/g;
const SAFE_LINK = /^https?:\/\/[^\s<>"]+$/i;

/**
 * Untrusted text made inert for a TextBlock or a fact: each Markdown character backslash-escaped
 * (CommonMark), a list marker at its start too, so no link, mention, heading or {{DATE()}} template
 * forms; control characters and line breaks flattened to one space.
 */
export function escapeCardText(text: string): string {
  return oneLine(text)
    .replace(MARKDOWN, "\\$&")
    .replace(EDGE_UNDERSCORE, "\\_")
    .replace(LIST_START, (m) => `${m.slice(0, -1)}\\${m.slice(-1)}`);
}

/** Cuts text to at most `max` characters with the marker; never half an escape or a surrogate pair. */
export function clipCard(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = text.slice(0, Math.max(0, max - CARD_TRUNCATED.length)).replace(/[\ud800-\udbff]$/, "");
  // An odd run of trailing backslashes would escape the marker's first character.
  if (/(?:^|[^\\])(?:\\\\)*\\$/.test(cut)) cut = cut.slice(0, -1);
  return cut + CARD_TRUNCATED;
}

/** The Teams message for a notification, within TEAMS_LIMITS. */
export function buildTeamsMessage(n: Notification): TeamsMessage {
  for (let scale = 1; ; scale *= 2) {
    const message = wrap(buildCard(n, scale));
    if (teamsMessageBytes(message) <= TEAMS_LIMITS.bodyBytes || scale >= 256) return message;
  }
}

/** A card about medic itself rather than one incident (a pause that ended): one text block. */
export function buildTeamsAnnouncement(text: string): TeamsMessage {
  const head = text.length > TEAMS_LIMITS.textBlockChars * 2 ? `${text.slice(0, TEAMS_LIMITS.textBlockChars * 2)}${CARD_TRUNCATED}` : text;
  return wrap({
    $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
    type: "AdaptiveCard",
    version: "1.4",
    body: [{ type: "TextBlock", text: clipCard(escapeCardText(head), TEAMS_LIMITS.textBlockChars) || "medic", wrap: true }],
    msteams: { width: "Full" },
  });
}

/** The size in bytes of a message as it is sent. */
export function teamsMessageBytes(message: TeamsMessage): number {
  return Buffer.byteLength(JSON.stringify(message), "utf8");
}

function wrap(card: AdaptiveCard): TeamsMessage {
  return { type: "message", attachments: [{ contentType: "application/vnd.microsoft.card.adaptive", contentUrl: null, content: card }] };
}

function buildCard(n: Notification, scale: number): AdaptiveCard {
  const chars = (max: number) => Math.max(80, Math.floor(max / scale));
  // Escaped, then cut: what is shown never ends in half an escape.
  const text = (value: unknown, max: number) => {
    const raw = typeof value === "string" ? value : String(value ?? "");
    // Cut long input before the regexes see it (a text this long is cut anyway), keeping the marker.
    const head = raw.length > chars(max) * 2 ? `${raw.slice(0, chars(max) * 2)}${CARD_TRUNCATED}` : raw;
    return clipCard(escapeCardText(head), chars(max));
  };
  const resolved = n.event === "resolve";
  const title = `${n.severity} ${n.kind} on ${n.target}`;
  const headline = headlineOf(n, title);
  const body: CardElement[] = [
    {
      type: "TextBlock",
      text: text(headline, 300),
      wrap: true,
      weight: "Bolder",
      size: "Medium",
      color: resolved ? "Good" : n.severity === "P1" || n.escalation ? "Attention" : "Warning",
    },
    {
      type: "FactSet",
      facts: [
        { title: "State", value: text(n.state, 200) },
        { title: resolved ? "Resolved" : "Reason", value: text(n.reason, 1000) },
        ...(n.evidence ? [{ title: "Evidence", value: text(n.evidence, 2000) }] : []),
        { title: "Attempts", value: String(n.attempts) },
        { title: "Open for", value: formatDuration(Math.max(0, n.at - n.openedAt)) },
        { title: "Incident", value: text(n.incident, 200) },
      ],
    },
  ];
  const section = (heading: string) => body.push({ type: "TextBlock", text: heading, wrap: true, weight: "Bolder" });
  const steps = n.steps ?? [];
  if (steps.length > 0) {
    section(`Steps (${steps.length})`);
    for (const s of steps.slice(0, TEAMS_LIMITS.steps)) {
      // Parts cut first: a line over a megabyte of step output would be flattened only to be cut.
      const line =
        [s.name, s.outcome].map((p) => String(p).slice(0, 600)).join(" — ") + (s.detail ? `: ${String(s.detail).slice(0, 2000)}` : "");
      body.push({ type: "TextBlock", text: text(line, 500), wrap: true, ...(s.outcome !== "ok" && { color: "Warning" as const }) });
    }
    if (steps.length > TEAMS_LIMITS.steps) more(body, `${steps.length - TEAMS_LIMITS.steps} more steps not shown`);
  }
  if (n.affected && n.affected.length > 0) {
    section("Also affected (suppressed, not paged)");
    const shown = n.affected.slice(0, TEAMS_LIMITS.affected).map((t) => text(t, 200));
    const rest = n.affected.length - shown.length;
    body.push({ type: "TextBlock", text: clipCard(`${shown.join(", ")}${rest > 0 ? ` and ${rest} more` : ""}`, chars(2000)), wrap: true });
  }
  if (n.artifacts && n.artifacts.length > 0) {
    section(`Evidence captured (${n.artifacts.length})`);
    for (const a of n.artifacts.slice(0, TEAMS_LIMITS.artifacts)) {
      body.push({ type: "TextBlock", text: text(`${a.name} (${formatBytes(a.bytes)}, ${a.step})`, 300), wrap: true, size: "Small" });
    }
    const rest = n.artifacts.length - TEAMS_LIMITS.artifacts;
    more(body, `${rest > 0 ? `${rest} more; ` : ""}read them in medic${safeLink(n.link) ? " (Open in medic, below)" : ""}`);
  }
  if (n.approval) {
    const until = isoTime(n.approval.expiresAt);
    section(`Awaiting approval of ${text(n.approval.step, 200)} until ${until}`);
    if (n.approval.why) body.push({ type: "TextBlock", text: text(n.approval.why, 1000), wrap: true });
    // The plan in monospace, one line per block: it is read exactly, never as Markdown.
    const plan = n.approval.plan ?? [];
    for (const line of plan.slice(0, TEAMS_LIMITS.planLines)) {
      body.push({ type: "TextBlock", text: text(line, 500) || " ", wrap: true, fontType: "Monospace" });
    }
    if (plan.length > TEAMS_LIMITS.planLines) more(body, `${plan.length - TEAMS_LIMITS.planLines} more plan lines not shown`);
  }
  const link = safeLink(n.link);
  return {
    $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
    type: "AdaptiveCard",
    version: "1.4",
    body: body.map((e) => (e.type === "TextBlock" ? { ...e, text: clipCard(e.text, TEAMS_LIMITS.textBlockChars) } : e)),
    ...(link && {
      actions: [{ type: "Action.OpenUrl" as const, title: n.approval ? "Approve or reject in medic" : "Open in medic", url: link }],
    }),
    msteams: { width: "Full" },
  };
}

function more(body: CardElement[], what: string): void {
  body.push({ type: "TextBlock", text: `${CARD_TRUNCATED} ${what}`, wrap: true, isSubtle: true });
}

function safeLink(link: string | undefined): string | undefined {
  return link && link.length <= 2048 && SAFE_LINK.test(link) && URL.canParse(link) ? link : undefined;
}

function oneLine(text: string): string {
  // Cut before the regexes: a megabyte of evidence is never shown whole.
  const head = text.length > 20_000 ? text.slice(0, 20_000) : text;
  return head.replace(CONTROLS, " ").replace(/\s+/g, " ").trim();
}

function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "? B";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function isoTime(ms: number): string {
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : "unknown";
}
