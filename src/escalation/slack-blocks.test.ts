import { describe, expect, it } from "vitest";
import {
  SLACK_LIMITS,
  TRUNCATED,
  buildSlackMessage,
  clip,
  escapeMrkdwn,
  fitBlocks,
  type SlackBlock,
  type SlackMessage,
} from "./slack-blocks.js";
import type { Notification } from "./types.js";

const OPENED = Date.parse("2025-03-01T10:00:00.000Z");

function notification(over: Partial<Notification> = {}): Notification {
  return {
    id: "n-1",
    channel: "slack",
    event: "trigger",
    incident: "inc-42",
    target: "orders-api",
    kind: "server_down",
    severity: "P1",
    state: "escalated",
    reason: "not fixed after 30m",
    evidence: "GET http://127.0.0.1:8000/health: ECONNREFUSED",
    openedAt: OPENED,
    at: OPENED + 12 * 60_000 + 30_000,
    attempts: 2,
    steps: [
      { name: "docker.restart", outcome: "ok", detail: "restarted orders-api in 2.1s" },
      { name: "verify", outcome: "failed", detail: "still refusing connections after 30s" },
    ],
    ...over,
  };
}

// Every text Slack will render, block by block, plus the fallback.
function texts(msg: SlackMessage): string[] {
  const out = [msg.text];
  for (const b of msg.blocks) {
    if (b.type === "header") out.push(b.text.text);
    if (b.type === "section") out.push(...(b.text ? [b.text.text] : []), ...(b.fields ?? []).map((f) => f.text));
    if (b.type === "context") out.push(...b.elements.map((e) => e.text));
  }
  return out;
}
const sections = (msg: SlackMessage) => msg.blocks.filter((b): b is Extract<SlackBlock, { type: "section" }> => b.type === "section");
const sectionText = (msg: SlackMessage, starts: string) => sections(msg).find((s) => s.text?.text.startsWith(starts))?.text?.text;
const fieldTexts = (msg: SlackMessage) => sections(msg).flatMap((s) => (s.fields ?? []).map((f) => f.text));

describe("buildSlackMessage: medic gave up", () => {
  it("says first that the fix failed, and why, in the header and in the fallback a phone shows", () => {
    const msg = buildSlackMessage(notification({ escalation: 1, reason: "escalated: verification: not recovered within 2s" }));
    expect(msg.blocks[0]).toEqual({
      type: "header",
      text: { type: "plain_text", text: "Medic's fix failed: P1 server_down on orders-api" },
    });
    expect(sectionText(msg, "*Reason:*")).toBe("*Reason:* escalated: verification: not recovered within 2s");
    expect(msg.text).toMatch(/^Medic's fix failed: P1 server_down on orders-api: escalated: verification: not recovered within 2s/);
  });

  it("says medic cannot fix it when nothing was tried (no playbook, a guard)", () => {
    const msg = buildSlackMessage(
      notification({ escalation: 1, attempts: 0, steps: [], reason: "escalated: no playbook matches server_down" }),
    );
    expect(msg.blocks[0]).toMatchObject({ text: { text: "Medic cannot fix it: P1 server_down on orders-api" } });
  });
});

describe("buildSlackMessage: a trigger", () => {
  const msg = buildSlackMessage(notification());

  it("heads with severity, kind and target", () => {
    expect(msg.blocks[0]).toEqual({ type: "header", text: { type: "plain_text", text: "P1 server_down on orders-api" } });
  });

  it.each([
    ["state", "*State*\nescalated"],
    ["opened at, ISO", "*Opened at*\n2025-03-01T10:00:00.000Z"],
    ["time since opened", "*Open for*\n12m30s"],
    ["attempts", "*Attempts*\n2"],
    ["incident id", "*Incident*\n`inc-42`"],
  ])("has a field for the %s", (_what, field) => {
    expect(fieldTexts(msg)).toContain(field);
  });

  it("says why, shows the evidence, and one line per step with its outcome", () => {
    expect(sectionText(msg, "*Reason:*")).toBe("*Reason:* not fixed after 30m");
    expect(sectionText(msg, "*Evidence*")).toBe("*Evidence*\n```GET http://127.0.0.1:8000/health: ECONNREFUSED```");
    expect(sectionText(msg, "*Steps")?.split("\n")).toEqual([
      "*Steps (2)*",
      "• docker.restart — ok: restarted orders-api in 2.1s",
      "• verify — failed: still refusing connections after 30s",
    ]);
  });

  it("has a one-line text fallback with the same facts", () => {
    expect(msg.text).toBe(
      "P1 server_down on orders-api: not fixed after 30m — GET http://127.0.0.1:8000/health: ECONNREFUSED (incident inc-42)",
    );
  });

  it("asks Slack not to unfurl links from the evidence", () => {
    expect(msg).toMatchObject({ unfurl_links: false, unfurl_media: false });
  });

  it("leaves out the evidence and steps blocks when there are none", () => {
    const bare = buildSlackMessage(notification({ evidence: "", steps: [] }));
    expect(bare.blocks.map((b) => b.type)).toEqual(["header", "section", "section"]);
    expect(bare.text).toBe("P1 server_down on orders-api: not fixed after 30m (incident inc-42)");
  });
});

describe("buildSlackMessage: a resolve", () => {
  const msg = buildSlackMessage(notification({ event: "resolve", state: "resolved", reason: "recovered" }));

  it("says resolved with the reason and references the incident", () => {
    expect(msg.blocks[0]).toMatchObject({ text: { text: "Resolved: P1 server_down on orders-api" } });
    expect(sectionText(msg, "*resolved:*")).toBe("*resolved:* recovered");
    expect(fieldTexts(msg)).toContain("*Incident*\n`inc-42`");
    expect(msg.text).toBe("resolved: recovered — P1 server_down on orders-api (incident inc-42)");
  });
});

describe("buildSlackMessage: the incident link", () => {
  it.each([
    [
      "a plain URL becomes a link",
      "https://medic.example/api/incidents/inc-42",
      "*Incident*\n<https://medic.example/api/incidents/inc-42|`inc-42`>",
    ],
    [
      "& in a URL is escaped inside the link",
      "http://m:8080/api/incidents?id=inc-42&v=1",
      "*Incident*\n<http://m:8080/api/incidents?id=inc-42&amp;v=1|`inc-42`>",
    ],
    ["a URL with | is shown, not linked", "http://x/|<!channel>", "*Incident*\n`inc-42` http://x/|&lt;!channel&gt;"],
  ])("%s", (_what, link, field) => {
    expect(fieldTexts(buildSlackMessage(notification({ link })))).toContain(field);
  });
});

describe("buildSlackMessage: hostile text", () => {
  const DECODE: Record<string, string> = { "&amp;": "&", "&lt;": "<", "&gt;": ">" };
  const hostile = ["<!channel>", "<!here|here>", "<http://evil.example|click me>", "<@U024BE7LH>", "&lt;!channel&gt;", "a\n*b*\u202e"];

  it.each(
    hostile.flatMap((value) =>
      (["evidence", "reason", "state", "stepName", "stepDetail", "stepOutcome"] as const).map((where) => [where, value] as const),
    ),
  )("%s = %j cannot become markup", (where, value) => {
    const step = { name: "exec", outcome: "failed", detail: "x" };
    if (where === "stepName") step.name = value;
    if (where === "stepDetail") step.detail = value;
    if (where === "stepOutcome") step.outcome = value;
    const over: Partial<Notification> = { steps: [step] };
    if (where === "evidence" || where === "reason" || where === "state") over[where] = value;
    const rendered = texts(buildSlackMessage(notification(over)));
    for (const text of rendered) {
      expect(text).not.toMatch(/[<>]/);
      expect(text).not.toMatch(/[\u202e]/);
    }
    // Slack decodes the entities once and shows the value as it came, "&lt;" included.
    const shown = value.replace(/[\n\u202e]/g, " ").trim();
    expect(rendered.some((t) => t.replace(/&(amp|lt|gt);/g, (e) => DECODE[e]!).includes(shown))).toBe(true);
  });

  it("shows a pre-escaped mention as the literal text, not a mention", () => {
    const msg = buildSlackMessage(notification({ evidence: "&lt;!channel&gt;" }));
    expect(sectionText(msg, "*Evidence*")).toBe("*Evidence*\n```&amp;lt;!channel&amp;gt;```");
  });

  it("keeps each step on one line whatever its detail holds", () => {
    const msg = buildSlackMessage(notification({ steps: [{ name: "exec", outcome: "failed", detail: "line1\nline2\r\n\tline3" }] }));
    expect(sectionText(msg, "*Steps")).toBe("*Steps (1)*\n• exec — failed: line1 line2 line3");
  });
});

describe("buildSlackMessage: Slack's limits", () => {
  it("cuts a long evidence inside its code block, with the marker", () => {
    const msg = buildSlackMessage(notification({ evidence: "<x>".repeat(5000) }));
    const text = sectionText(msg, "*Evidence*")!;
    expect(text.length).toBeLessThanOrEqual(SLACK_LIMITS.sectionChars);
    expect(text.endsWith(`${TRUNCATED}\`\`\``)).toBe(true);
    expect(text).not.toMatch(/&[a-z]*…/);
  });

  it("cuts a long header to 150 characters", () => {
    const header = buildSlackMessage(notification({ target: "t".repeat(300) })).blocks[0] as Extract<SlackBlock, { type: "header" }>;
    expect(header.text.text).toHaveLength(SLACK_LIMITS.headerChars);
    expect(header.text.text.endsWith(TRUNCATED)).toBe(true);
  });

  it("fits thousands of long steps in 50 blocks, every section within 3000 and every step line within 500", () => {
    const steps = Array.from({ length: 2000 }, (_, i) => ({ name: `step-${i}`, outcome: "failed", detail: "<&>".repeat(400) }));
    const msg = buildSlackMessage(notification({ steps }));
    expect(msg.blocks).toHaveLength(SLACK_LIMITS.blocks);
    for (const s of sections(msg)) expect(s.text?.text.length ?? 0).toBeLessThanOrEqual(SLACK_LIMITS.sectionChars);
    const lines = sections(msg)
      .flatMap((s) => s.text?.text.split("\n") ?? [])
      .filter((l) => l.startsWith("• "));
    expect(lines.length).toBeGreaterThan(50);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(500);
    // The last block says how many steps were left out, and the count adds up.
    const last = (msg.blocks.at(-1) as Extract<SlackBlock, { type: "section" }>).text!.text;
    const notShown = Number(/…\(truncated\) (\d+) more steps not shown$/.exec(last)?.[1]);
    expect(lines.length + notShown).toBe(2000);
    // What was cut is the tail of the steps: the facts come first and survive.
    expect(fieldTexts(msg)).toContain("*Incident*\n`inc-42`");
  });

  it("bounds the text fallback", () => {
    const msg = buildSlackMessage(notification({ evidence: "e".repeat(10_000) }));
    expect(msg.text.length).toBeLessThanOrEqual(SLACK_LIMITS.textChars);
    expect(msg.text.endsWith(TRUNCATED)).toBe(true);
  });
});

describe("fitBlocks", () => {
  const field = (text: string) => ({ type: "mrkdwn" as const, text });
  const cases: [string, SlackBlock[], (out: SlackBlock[]) => void][] = [
    [
      "12 fields become 10, the last a marker",
      [{ type: "section", fields: Array.from({ length: 12 }, (_, i) => field(`f${i}`)) }],
      (out) => {
        const fields = (out[0] as Extract<SlackBlock, { type: "section" }>).fields!;
        expect(fields).toHaveLength(10);
        expect(fields[8]!.text).toBe("f8");
        expect(fields[9]!.text).toBe(`${TRUNCATED} 3 more`);
      },
    ],
    [
      "a 2500-character field is cut to 2000",
      [{ type: "section", fields: [field("f".repeat(2500))] }],
      (out) => {
        expect((out[0] as Extract<SlackBlock, { type: "section" }>).fields![0]!.text).toHaveLength(2000);
      },
    ],
    [
      "a 4000-character section text is cut to 3000",
      [{ type: "section", text: field("s".repeat(4000)) }],
      (out) => {
        expect((out[0] as Extract<SlackBlock, { type: "section" }>).text!.text).toHaveLength(3000);
      },
    ],
    [
      "60 blocks become 50, the last a marker",
      Array.from({ length: 60 }, (_, i) => ({ type: "section", text: field(`b${i}`) })),
      (out) => {
        expect(out).toHaveLength(50);
        expect(out[48]).toEqual({ type: "section", text: field("b48") });
        expect(out[49]).toEqual({ type: "context", elements: [field(`${TRUNCATED} 11 more blocks not shown`)] });
      },
    ],
    [
      "blocks within every limit pass unchanged",
      [{ type: "section", text: field("hi"), fields: [field("a")] }],
      (out) => {
        expect(out).toEqual([{ type: "section", text: field("hi"), fields: [field("a")] }]);
      },
    ],
  ];
  it.each(cases)("%s", (_what, input, check) => check(fitBlocks(input)));
});

describe("clip and escapeMrkdwn", () => {
  it.each([
    ["short text is unchanged", "abc", 10, "abc"],
    ["long text ends in the marker at exactly max", "a".repeat(30), 20, `${"a".repeat(8)}${TRUNCATED}`],
    ["an entity is never cut in half", `${"a".repeat(6)}&amp;bbbbbbbbbbbbbbbbbbbb`, 20, `${"a".repeat(6)}${TRUNCATED}`],
    ["a surrogate pair is never cut in half", `${"a".repeat(7)}😀${"b".repeat(20)}`, 20, `${"a".repeat(7)}${TRUNCATED}`],
  ])("clip: %s", (_what, text, max, want) => {
    expect(clip(text, max)).toBe(want);
  });

  it("escapes & before < and >", () => {
    expect(escapeMrkdwn("<!channel> & &lt;")).toBe("&lt;!channel&gt; &amp; &amp;lt;");
  });

  it("a question for an approver says so first and shows the plan verbatim in a code block, markup escaped, with the link", () => {
    const plan = ["playbook careful (/etc/medic/p.yaml)", "  1. exec: run [kill <@U123> & <!channel>]", "       needs approval (w)"];
    const msg = buildSlackMessage(
      notification({
        state: "awaiting_approval",
        escalation: 1,
        link: "https://medic.example.com/#/incidents/inc-42",
        approval: { step: "kill", why: "w", plan, expiresAt: OPENED + 15 * 60_000 },
      }),
    );
    const header = msg.blocks[0] as { text: { text: string } };
    expect(header.text.text).toBe("Approval needed: P1 server_down on orders-api");
    const section = texts(msg).find((t) => t.includes("Awaiting approval"))!;
    expect(section).toContain("*Awaiting approval of kill* until 2025-03-01T10:15:00.000Z");
    expect(section).toContain("(approve in <https://medic.example.com/#/incidents/inc-42|`inc-42`>)");
    expect(section).toContain("```playbook careful (/etc/medic/p.yaml)\n  1. exec: run [kill &lt;@U123&gt; &amp; &lt;!channel&gt;]");
    expect(texts(msg).join("\n")).not.toContain("<@U123>");
  });
});

describe("artifacts", () => {
  const artifacts = [
    { name: "logs-1.txt", bytes: 2048, step: "capture.logs" },
    { name: "heap-2.heapsnapshot", bytes: 12 * 1024 ** 2, step: "heap <dump>" },
  ];

  it("names each kept artifact with its size and step, and links to the incident's page to download it", () => {
    const msg = buildSlackMessage(notification({ artifacts, link: "https://medic.example/#/incidents/inc-42" }));
    const section = texts(msg).find((t) => t.startsWith("*Evidence kept (2)*"))!;
    expect(section).toContain("download from <https://medic.example/#/incidents/inc-42|`inc-42`>");
    expect(section).toContain("• logs-1.txt (2KiB, capture.logs)");
    expect(section).toContain("• heap-2.heapsnapshot (12MiB, heap &lt;dump&gt;)");
  });

  it("says where they are without a link, and adds no section when nothing was kept", () => {
    expect(texts(buildSlackMessage(notification({ artifacts }))).join("\n")).toContain("kept in medic's state dir");
    expect(texts(buildSlackMessage(notification())).some((t) => t.startsWith("*Evidence kept"))).toBe(false);
  });
});
