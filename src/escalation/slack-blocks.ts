import { formatDuration } from "../lib/duration.js";
import { formatBytes } from "../lib/size.js";
import { headlineOf } from "./build.js";
import type { Notification, NotifiedStep } from "./types.js";

// Block Kit reference: https://api.slack.com/reference/block-kit/blocks
// Escaping in mrkdwn: https://api.slack.com/reference/surfaces/formatting#escaping

/** What ends a value cut short to fit one of Slack's limits. */
export const TRUNCATED = "…(truncated)";

/** Slack's limits for one message, in characters and counts. */
export const SLACK_LIMITS = {
  blocks: 50,
  headerChars: 150,
  sectionChars: 3000,
  fields: 10,
  fieldChars: 2000,
  // Slack takes far more, but the fallback is what a phone notification shows.
  textChars: 3000,
} as const;

// One step per line; long enough for an error message, short enough that a few fit a section.
const STEP_LINE_CHARS = 500;
// Kept free in each steps section for the line that says how many steps were left out.
const MARKER_ROOM = 64;
const SAFE_LINK = /^https?:\/\/[^\s<>|"]+$/i;
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]+/g;

/** A Block Kit text object. */
export interface SlackText {
  type: "plain_text" | "mrkdwn";
  text: string;
}

/** The Block Kit blocks medic uses. */
export type SlackBlock =
  | { type: "header"; text: { type: "plain_text"; text: string } }
  | { type: "section"; text?: SlackText; fields?: SlackText[] }
  | { type: "context"; elements: SlackText[] };

/** The JSON body posted to an incoming webhook. */
export interface SlackMessage {
  text: string;
  blocks: SlackBlock[];
  unfurl_links: false;
  unfurl_media: false;
}

/** Escapes what Slack's mrkdwn reads as markup (`&`, `<`, `>`), so no value can become a link or a mention. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Cuts text to at most `max` characters ending in the marker; never leaves half an entity or surrogate pair. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  // A cut "&am" would show as stray characters; a lone high surrogate as a replacement glyph.
  const cut = text
    .slice(0, Math.max(0, max - TRUNCATED.length))
    .replace(/&[a-z]{0,3}$/, "")
    .replace(/[\ud800-\udbff]$/, "");
  return cut + TRUNCATED;
}

/** Brings any blocks within Slack's limits: per-text lengths, fields per section, blocks per message. */
export function fitBlocks(blocks: readonly SlackBlock[]): SlackBlock[] {
  const fitted = blocks.map(fitBlock);
  if (fitted.length <= SLACK_LIMITS.blocks) return fitted;
  const kept = fitted.slice(0, SLACK_LIMITS.blocks - 1);
  const dropped = fitted.length - kept.length;
  return [...kept, { type: "context", elements: [mrkdwn(`${TRUNCATED} ${dropped} more blocks not shown`)] }];
}

/** The Slack message for one notification: a header, the facts as fields, evidence, steps, and a text fallback. */
export function buildSlackMessage(n: Notification): SlackMessage {
  const title = `${n.severity} ${n.kind} on ${n.target}`;
  const resolved = n.event === "resolve";
  // An escalation says first that medic gave up: the message before it may have said a playbook was on it.
  const headline = headlineOf(n, title);
  const reason = escapeMrkdwn(flat(n.reason, SLACK_LIMITS.fieldChars));
  const blocks: SlackBlock[] = [
    // plain_text is never parsed for links or mentions, so it is not escaped (it would show "&amp;").
    { type: "header", text: { type: "plain_text", text: flat(headline, SLACK_LIMITS.headerChars) } },
    { type: "section", text: mrkdwn(resolved ? `*resolved:* ${reason}` : `*Reason:* ${reason}`) },
    {
      type: "section",
      fields: [
        mrkdwn(`*State*\n${escapeMrkdwn(flat(n.state, SLACK_LIMITS.fieldChars))}`),
        mrkdwn(`*Opened at*\n${isoTime(n.openedAt)}`),
        mrkdwn(`*Open for*\n${formatDuration(Math.max(0, n.at - n.openedAt))}`),
        mrkdwn(`*Attempts*\n${n.attempts}`),
        mrkdwn(`*Incident*\n${incidentRef(n)}`),
      ],
    },
  ];
  const evidence = flat(n.evidence, SLACK_LIMITS.sectionChars);
  if (evidence) {
    const frame = "*Evidence*\n``````";
    blocks.push({
      type: "section",
      text: mrkdwn(`*Evidence*\n\`\`\`${clip(escapeMrkdwn(evidence), SLACK_LIMITS.sectionChars - frame.length)}\`\`\``),
    });
  }
  if (n.affected && n.affected.length > 0) {
    const list = n.affected.map((t) => escapeMrkdwn(oneLine(t))).join(", ");
    blocks.push({ type: "section", text: mrkdwn(clip(`*Also affected (suppressed, not paged)*\n${list}`, SLACK_LIMITS.sectionChars)) });
  }
  if (n.artifacts && n.artifacts.length > 0) blocks.push({ type: "section", text: mrkdwn(artifactList(n)) });
  if (n.approval) {
    // The plan in a code block: what would run is read exactly, never as markup.
    const head = `*Awaiting approval of ${escapeMrkdwn(oneLine(n.approval.step))}* until ${isoTime(n.approval.expiresAt)}${n.link ? ` (approve in ${incidentRef(n)})` : ""}\n`;
    const plan = clip(escapeMrkdwn(n.approval.plan.join("\n")), SLACK_LIMITS.sectionChars - head.length - 6);
    blocks.push({ type: "section", text: mrkdwn(`${head}\`\`\`${plan}\`\`\``) });
  }
  blocks.push(...stepSections(n.steps, SLACK_LIMITS.blocks - blocks.length));

  const facts = resolved
    ? `resolved: ${flat(n.reason, SLACK_LIMITS.textChars)} — ${title} (incident ${n.incident})`
    : `${headline}: ${flat(n.reason, SLACK_LIMITS.textChars)}${evidence ? ` — ${evidence}` : ""} (incident ${n.incident})`;
  return { text: clip(escapeMrkdwn(facts), SLACK_LIMITS.textChars), blocks: fitBlocks(blocks), unfurl_links: false, unfurl_media: false };
}

/** A message that is about medic rather than one incident: a pause that ended, say. */
export function buildSlackAnnouncement(text: string): SlackMessage {
  const body = clip(escapeMrkdwn(flat(text, SLACK_LIMITS.sectionChars)), SLACK_LIMITS.sectionChars);
  return {
    text: clip(escapeMrkdwn(flat(text, SLACK_LIMITS.textChars)), SLACK_LIMITS.textChars),
    blocks: [{ type: "section", text: mrkdwn(body) }],
    unfurl_links: false,
    unfurl_media: false,
  };
}

// One line per step, packed into as few sections as their size allows, in the blocks left; what
// does not fit ends in a count of the steps not shown.
function stepSections(steps: readonly NotifiedStep[], room: number): SlackBlock[] {
  if (steps.length === 0 || room < 1) return [];
  const sections: SlackBlock[] = [];
  let text = `*Steps (${steps.length})*`;
  for (const [i, step] of steps.entries()) {
    const detail = flat(step.detail, STEP_LINE_CHARS);
    const line = clip(
      `• ${escapeMrkdwn(`${flat(step.name, STEP_LINE_CHARS)} — ${flat(step.outcome, STEP_LINE_CHARS)}${detail ? `: ${detail}` : ""}`)}`,
      STEP_LINE_CHARS,
    );
    if (text.length + 1 + line.length <= SLACK_LIMITS.sectionChars - MARKER_ROOM) {
      text = `${text}\n${line}`;
      continue;
    }
    if (sections.length + 1 >= room) {
      text = `${text}\n${TRUNCATED} ${steps.length - i} more steps not shown`;
      break;
    }
    sections.push({ type: "section", text: mrkdwn(text) });
    text = line;
  }
  sections.push({ type: "section", text: mrkdwn(text) });
  return sections;
}

// Names and sizes only: the content stays in medic's state dir, downloaded from the incident's page.
function artifactList(n: Notification): string {
  const list = n.artifacts!;
  const where = n.link ? `download from ${incidentRef(n)}` : "kept in medic's state dir";
  const head = `*Evidence kept (${list.length})* — ${where}`;
  const lines = list.map((a) => `• ${escapeMrkdwn(`${oneLine(a.name)} (${formatBytes(a.bytes)}, ${flat(a.step, STEP_LINE_CHARS)})`)}`);
  return clip([head, ...lines].join("\n"), SLACK_LIMITS.sectionChars);
}

function incidentRef(n: Notification): string {
  const id = `\`${escapeMrkdwn(oneLine(n.incident))}\``;
  if (!n.link) return id;
  // Only a plain URL goes inside <...|...>: a "|" or ">" in it would end the link early.
  if (SAFE_LINK.test(n.link)) return `<${n.link.replace(/&/g, "&amp;")}|${id}>`;
  return `${id} ${escapeMrkdwn(oneLine(n.link))}`;
}

function fitBlock(block: SlackBlock): SlackBlock {
  switch (block.type) {
    case "header":
      return { ...block, text: { ...block.text, text: clip(block.text.text, SLACK_LIMITS.headerChars) } };
    case "context":
      return { ...block, elements: block.elements.map((e) => ({ ...e, text: clip(e.text, SLACK_LIMITS.sectionChars) })) };
    case "section": {
      const out: SlackBlock = { type: "section" };
      if (block.text) out.text = { ...block.text, text: clip(block.text.text, SLACK_LIMITS.sectionChars) };
      if (block.fields) {
        const fields =
          block.fields.length <= SLACK_LIMITS.fields
            ? block.fields
            : [
                ...block.fields.slice(0, SLACK_LIMITS.fields - 1),
                mrkdwn(`${TRUNCATED} ${block.fields.length - SLACK_LIMITS.fields + 1} more`),
              ];
        out.fields = fields.map((f) => ({ ...f, text: clip(f.text, SLACK_LIMITS.fieldChars) }));
      }
      return out;
    }
  }
}

function mrkdwn(text: string): SlackText {
  return { type: "mrkdwn", text };
}

function oneLine(text: string): string {
  return text.replace(CONTROLS, " ").replace(/\s+/g, " ").trim();
}

// One line of at most about `max` characters: long input is cut before the regexes see it (escaping
// only lengthens, so 4x is plenty), keeping a marker for when whitespace collapsed the rest away.
function flat(text: string, max: number): string {
  return oneLine(text.length > max * 4 ? `${text.slice(0, max * 4)}${TRUNCATED}` : text);
}

function isoTime(ms: number): string {
  // toISOString throws outside ±8.64e15 ms; a journal entry from a bug must not break the message.
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : "unknown";
}
