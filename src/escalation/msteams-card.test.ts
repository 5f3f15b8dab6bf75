import { describe, expect, it } from "vitest";
import { sampleNotification } from "../../test/fixtures/notification.js";
import {
  buildTeamsAnnouncement,
  buildTeamsMessage,
  CARD_TRUNCATED,
  clipCard,
  escapeCardText,
  TEAMS_LIMITS,
  teamsMessageBytes,
  type AdaptiveCard,
  type CardElement,
} from "./msteams-card.js";
import type { Notification } from "./types.js";

const OPENED = Date.parse("2025-03-01T10:00:00.000Z");

const notification = (over: Partial<Notification> = {}): Notification =>
  sampleNotification({
    id: "n-1",
    channel: "msteams",
    incident: "inc-42",
    evidence: "GET http://127.0.0.1:8000/health: ECONNREFUSED",
    openedAt: OPENED,
    at: OPENED + 12 * 60_000,
    steps: [
      { name: "docker.restart", outcome: "ok", detail: "restarted orders-api in 2.1s" },
      { name: "verify", outcome: "failed", detail: "still refusing" },
    ],
    ...over,
  });

const card = (n: Notification): AdaptiveCard => buildTeamsMessage(n).attachments[0]!.content;
const texts = (c: AdaptiveCard) => c.body.flatMap((e: CardElement) => (e.type === "TextBlock" ? [e.text] : []));
const facts = (c: AdaptiveCard) =>
  Object.fromEntries(c.body.flatMap((e) => (e.type === "FactSet" ? e.facts.map((f) => [f.title, f.value]) : [])));

// What a CommonMark renderer would take as markup once escapes are honoured: an unescaped special character.
function unescaped(text: string): string[] {
  const found: string[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "\\") {
      i++;
      continue;
    }
    // An underscore between two letters or digits cannot start or end emphasis.
    const inWord = text[i] === "_" && /[\p{L}\p{N}]/u.test(text[i - 1] ?? "") && /[\p{L}\p{N}]/u.test(text[i + 1] ?? "");
    if ("`*_{}[]#|~<>".includes(text[i]!) && !inWord) found.push(text[i]!);
  }
  return found;
}

describe("escapeCardText", () => {
  it.each([
    ["a link", "[click](http://evil.example)", "\\[click\\](http://evil.example)"],
    ["an image", "![x](http://evil/p.png)", "!\\[x\\](http://evil/p.png)"],
    ["emphasis", "**bold** _it_ ~~s~~", "\\*\\*bold\\*\\* \\_it\\_ \\~\\~s\\~\\~"],
    ["an underscore inside a word is left alone, at its edges escaped", "db_disconnect __init__ x_", "db_disconnect \\_\\_init\\_\\_ x\\_"],
    ["a mention", "<at>everyone</at>", "\\<at\\>everyone\\</at\\>"],
    ["a heading", "# big", "\\# big"],
    ["a list marker", "- item", "\\- item"],
    ["a numbered list", "1. first", "1\\. first"],
    ["a DATE template", "{{DATE(2017-02-14T06:08:39Z, SHORT)}}", "\\{\\{DATE(2017-02-14T06:08:39Z, SHORT)\\}\\}"],
    ["a backslash", "C:\\path", "C:\\\\path"],
    ["line breaks and controls", "a\nb\r\n\u0000c\u202ed", "a b c d"],
    ["plain text", "orders-api 10.0.0.1 ok!", "orders-api 10.0.0.1 ok!"],
  ])("neutralises %s", (_what, input, want) => {
    expect(escapeCardText(input)).toBe(want);
    expect(unescaped(escapeCardText(input))).toEqual([]);
  });
});

describe("clipCard", () => {
  it("cuts to the limit with the marker, never leaving a dangling escape or half a surrogate pair", () => {
    expect(clipCard("short", 10)).toBe("short");
    const cut = clipCard(escapeCardText("*".repeat(100)), 31);
    expect(cut.length).toBeLessThanOrEqual(31);
    expect(cut.endsWith(CARD_TRUNCATED)).toBe(true);
    expect(unescaped(cut.slice(0, -CARD_TRUNCATED.length))).toEqual([]);
    expect(cut.slice(0, -CARD_TRUNCATED.length)).not.toMatch(/(?:^|[^\\])(?:\\\\)*\\$/);
    expect(clipCard(`ab${"\ud83d\ude00".repeat(20)}`, 16)).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
  });
});

describe("buildTeamsMessage", () => {
  it("is a Workflows message: one Adaptive Card 1.4 attachment with contentUrl null", () => {
    const msg = buildTeamsMessage(notification());
    expect(msg.type).toBe("message");
    expect(msg.attachments).toHaveLength(1);
    expect(msg.attachments[0]).toMatchObject({ contentType: "application/vnd.microsoft.card.adaptive", contentUrl: null });
    expect(msg.attachments[0]!.content).toMatchObject({
      $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
      type: "AdaptiveCard",
      version: "1.4",
    });
  });

  it("heads with severity, kind and target, then facts: state, reason, evidence, attempts", () => {
    const c = card(notification());
    expect(c.body[0]).toMatchObject({ type: "TextBlock", text: "P1 server_down on orders-api", weight: "Bolder", color: "Attention" });
    expect(facts(c)).toMatchObject({
      State: "open",
      Reason: "opened",
      Evidence: "GET http://127.0.0.1:8000/health: ECONNREFUSED",
      Attempts: "1",
      "Open for": "12m",
      Incident: "inc-42",
    });
    expect(texts(c)).toContain("docker.restart — ok: restarted orders-api in 2.1s");
  });

  it.each([
    [{ event: "resolve" as const, reason: "recovered" }, "Resolved: P1 server_down on orders-api", "Good"],
    [{ escalation: 1 }, "Medic's fix failed: P1 server_down on orders-api", "Attention"],
    [{ escalation: 1, attempts: 0, steps: [] }, "Medic cannot fix it: P1 server_down on orders-api", "Attention"],
    [{ severity: "P3" as const }, "P3 server_down on orders-api", "Warning"],
  ])("the title says what happened: %j", (over, title, color) => {
    expect(card(notification(over)).body[0]).toMatchObject({ text: title, color });
  });

  it("the approval question with its plan in monospace, and a button to the incident's page", () => {
    const c = card(
      notification({
        link: "https://medic.example.com/#/incidents/inc-42",
        approval: {
          step: "postgres.terminate",
          why: "terminates sessions",
          plan: ["1. postgres.terminate idle > 5m", "   max: 50"],
          expiresAt: OPENED + 600_000,
        },
      }),
    );
    expect(c.body[0]).toMatchObject({ text: "Approval needed: P1 server_down on orders-api" });
    expect(texts(c)).toContain("Awaiting approval of postgres.terminate until 2025-03-01T10:10:00.000Z");
    const plan = c.body.filter((e) => e.type === "TextBlock" && e.fontType === "Monospace").map((e) => (e as { text: string }).text);
    expect(plan).toEqual(["1\\. postgres.terminate idle \\> 5m", "max: 50"]);
    expect(c.actions).toEqual([
      { type: "Action.OpenUrl", title: "Approve or reject in medic", url: "https://medic.example.com/#/incidents/inc-42" },
    ]);
  });

  it("affected targets and the artifacts as a short list pointing at medic, never their content", () => {
    const c = card(
      notification({
        affected: ["orders-worker", "billing"],
        link: "https://medic.example.com/#/incidents/inc-42",
        artifacts: Array.from({ length: 12 }, (_, i) => ({
          name: `heap-${i}.heapsnapshot`,
          bytes: 3 * 1024 * 1024,
          step: "capture.signal",
        })),
      }),
    );
    const all = texts(c);
    expect(all).toContain("orders-worker, billing");
    expect(all).toContain("Evidence captured (12)");
    expect(all).toContain("heap-0.heapsnapshot (3.0 MiB, capture.signal)");
    expect(all.filter((t) => t.includes("heapsnapshot"))).toHaveLength(TEAMS_LIMITS.artifacts);
    expect(all).toContain(`${CARD_TRUNCATED} 2 more; read them in medic (Open in medic, below)`);
  });

  it("a link that is not a plain http(s) URL is no button", () => {
    expect(card(notification({ link: "javascript:alert(1)" })).actions).toBeUndefined();
    expect(card(notification({ link: "https://x.example/a b" })).actions).toBeUndefined();
  });

  it("hostile text in every field renders no markup: no link, mention, heading or template forms", () => {
    const evil = "[pwn](https://evil.example) <at>all</at> **x** {{DATE(2017-02-14T06:08:39Z)}} # h\n- li";
    const c = card(
      notification({
        target: evil,
        kind: evil,
        state: evil,
        reason: evil,
        evidence: evil,
        incident: evil,
        steps: [{ name: evil, outcome: evil, detail: evil }],
        affected: [evil],
        artifacts: [{ name: evil, bytes: 1, step: evil }],
        approval: { step: evil, why: evil, plan: [evil], expiresAt: OPENED },
      }),
    );
    const every = [...texts(c), ...Object.values(facts(c))];
    for (const t of every) expect([t, unescaped(t)]).toEqual([t, []]);
  });

  it("a worst case (megabytes of text, thousands of steps) fits the size limit, each TextBlock within its own", () => {
    const huge = "é*[".repeat(300_000);
    const n = notification({
      evidence: huge,
      reason: huge,
      target: huge,
      steps: Array.from({ length: 5000 }, (_, i) => ({ name: `s${i}`, outcome: "failed", detail: huge })),
      affected: Array.from({ length: 5000 }, () => huge.slice(0, 3000)),
      artifacts: Array.from({ length: 5000 }, () => ({ name: huge.slice(0, 3000), bytes: 1, step: "capture.logs" })),
      approval: { step: huge, why: huge, plan: Array.from({ length: 5000 }, () => huge.slice(0, 3000)), expiresAt: OPENED },
    });
    const msg = buildTeamsMessage(n);
    expect(teamsMessageBytes(msg)).toBeLessThanOrEqual(TEAMS_LIMITS.bodyBytes);
    for (const t of texts(msg.attachments[0]!.content)) expect(t.length).toBeLessThanOrEqual(TEAMS_LIMITS.textBlockChars);
    expect(texts(msg.attachments[0]!.content)).toContain(`${CARD_TRUNCATED} ${5000 - TEAMS_LIMITS.steps} more steps not shown`);
  });
});

describe("buildTeamsAnnouncement", () => {
  it("one escaped text block, cut to the limit", () => {
    const short = buildTeamsAnnouncement("pause p-1 on [orders-*](http://evil) ended").attachments[0]!.content;
    expect(short.body).toEqual([{ type: "TextBlock", text: "pause p-1 on \\[orders-\\*\\](http://evil) ended", wrap: true }]);
    const long = buildTeamsAnnouncement("x".repeat(100_000)).attachments[0]!.content.body[0] as { text: string };
    expect(long.text.length).toBeLessThanOrEqual(TEAMS_LIMITS.textBlockChars);
    expect(long.text.endsWith(CARD_TRUNCATED)).toBe(true);
  });
});
