import { describe, expect, it } from "vitest";
import type { Notification } from "../escalation/types.js";
import { foldRecords } from "./fold.js";
import { fenced, inline } from "./markdown.js";
import { incidentReport } from "./report.js";
import type { IncidentEvent, JournalRecord } from "./types.js";

const T0 = Date.UTC(2025, 2, 14, 9, 26, 53, 589);
const rec = (incident: string, atMs: number, e: IncidentEvent) => ({ ...e, at: T0 + atMs, incident }) as JournalRecord;

function note(incident: string, channel: string, event: Notification["event"], reason: string, n = 1): Notification {
  return {
    id: `${incident}-${channel}-${event}-${n}`,
    channel,
    event,
    incident,
    target: "api",
    kind: "server_down",
    severity: "P1",
    state: "open",
    reason,
    evidence: "",
    openedAt: T0,
    at: T0,
    attempts: 0,
    steps: [],
  };
}

const RESTART = [{ name: "restart", kind: "service.restart", description: "restart process [node web.js]" }];

/** A kill -9 fixed by the shipped restart playbook, as `medic run` journals it. */
const fixed = [
  rec("a1", 0, {
    type: "opened",
    target: "api",
    kind: "server_down",
    severity: "P1",
    evidence: "GET http://127.0.0.1:8000/health: connection refused (ECONNREFUSED)",
  }),
  rec("a1", 3, { type: "notification_queued", notification: note("a1", "slack", "trigger", "opened") }),
  rec("a1", 5, {
    type: "playbook_started",
    runId: "a1-1",
    playbook: "restart-on-server-down",
    steps: RESTART,
    guards: "flap guard: 0 of 3 runs in 1h",
  }),
  rec("a1", 6, { type: "step_started", runId: "a1-1", index: 0 }),
  rec("a1", 420, { type: "notification_sent", id: "a1-slack-trigger-1", channel: "slack" }),
  rec("a1", 1210, {
    type: "step_finished",
    runId: "a1-1",
    index: 0,
    outcome: "ok",
    detail: "stopped pid 4242 (SIGTERM)\nstarted pid 4301",
    durationMs: 1204,
  }),
  rec("a1", 1211, { type: "verifying", runId: "a1-1", withinMs: 30_000 }),
  rec("a1", 1650, { type: "resolved", reason: "verified: healthy for 2 rounds, 439ms after the steps" }),
  rec("a1", 1652, { type: "notification_queued", notification: note("a1", "slack", "resolve", "recovered") }),
  rec("a1", 1900, { type: "notification_sent", id: "a1-slack-resolve-1", channel: "slack" }),
];

/** A pool exhaustion whose fix did not hold: verification fails, the severity is raised, PagerDuty refuses the key. */
const failed = [
  rec("b2", 0, { type: "opened", target: "orders-db", kind: "pool_exhaustion", severity: "P2", evidence: "connections 97/100" }),
  rec("b2", 10, {
    type: "playbook_started",
    runId: "b2-1",
    playbook: "free-idle-connections",
    steps: [
      { name: "terminate idle", kind: "postgres.terminate", description: "terminate idle sessions older than 5m" },
      { name: "resize", kind: "http", description: "POST http://127.0.0.1:9000/admin/pool/resize" },
    ],
  }),
  rec("b2", 11, { type: "step_started", runId: "b2-1", index: 0 }),
  rec("b2", 300, { type: "step_finished", runId: "b2-1", index: 0, outcome: "ok", detail: "terminated 0 sessions", durationMs: 289 }),
  rec("b2", 301, { type: "step_started", runId: "b2-1", index: 1 }),
  rec("b2", 900, {
    type: "step_finished",
    runId: "b2-1",
    index: 1,
    outcome: "failed",
    detail: "HTTP 500 from POST http://127.0.0.1:9000/admin/pool/resize",
    durationMs: 599,
  }),
  rec("b2", 901, { type: "escalated", reason: "step 2 (resize) failed: HTTP 500", severity: "P1" }),
  rec("b2", 902, { type: "notification_queued", notification: note("b2", "pagerduty", "trigger", "step 2 (resize) failed") }),
  rec("b2", 1500, {
    type: "notification_failed",
    id: "b2-pagerduty-trigger-1",
    channel: "pagerduty",
    reason: "unauthorized",
    detail: "HTTP 401: invalid routing key",
  }),
  rec("b2", 2000, { type: "notification_queued", notification: note("b2", "slack", "trigger", "step 2 (resize) failed") }),
];

describe("incidentReport", () => {
  it("tells a fixed incident: summary, impact, a UTC timeline with offsets, the step's output, verification and resolution", () => {
    const report = incidentReport(foldRecords(fixed).get("a1")!, [], T0 + 60_000);
    expect(report).toMatch(/^# Incident a1: `server_down` on api\n/);
    expect(section(report, "Summary")).toContain(
      "medic ran 1 playbook run (last: `restart-on-server-down`); its steps succeeded and recovery was verified.",
    );
    expect(section(report, "Summary")).toContain(
      "What medic saw first: GET http://127.0.0.1:8000/health: connection refused (ECONNREFUSED). medic ran",
    );
    expect(section(report, "Summary")).toContain(
      "It was resolved 1.65s after it opened, by playbook `restart-on-server-down`, recovery verified by probing",
    );
    expect(section(report, "Impact")).toContain(
      "**Duration**: 1.65s, from detection (2025-03-14 09:26:53.589 UTC) to resolution (2025-03-14 09:26:55.239 UTC)",
    );
    expect(section(report, "Impact")).toContain("**People told**: `slack` (trigger), `slack` (resolve).");

    const timeline = section(report, "Timeline");
    expect(timeline).toContain("All times UTC, on 2025-03-14");
    const rows = tableRows(timeline);
    expect(rows).toHaveLength(fixed.length);
    expect(rows[0]).toEqual([
      "09:26:53.589",
      "+0ms",
      "Detection",
      expect.stringContaining("`server_down` P1 opened. Evidence: GET http://127.0.0.1:8000/health"),
    ]);
    expect(rows[5]).toEqual([
      "09:26:54.799",
      "+1.21s",
      "Remediation",
      "step 1 restart (`service.restart`) **ok** in 1.2s: stopped pid 4242 (SIGTERM)… (full output under Remediation)",
    ]);
    expect(rows[7]![2]).toBe("Resolution");

    const remediation = section(report, "Remediation");
    expect(remediation).toContain(
      "### Run 1: playbook `restart-on-server-down`, started at +5ms\n\nSafety guards: flap guard: 0 of 3 runs in 1h",
    );
    expect(remediation).toContain(
      "#### Step 1: restart (`service.restart`): ok in 1.2s\n\nrestart process \\[node web.js\\]\n\n```text\nstopped pid 4242 (SIGTERM)\nstarted pid 4301\n```",
    );
    expect(remediation).toContain(
      "Verification (healthy within 30s, from +1.21s): passed at +1.65s: healthy for 2 rounds, 439ms after the steps",
    );
    expect(tableRows(section(report, "Notifications"))).toEqual([
      ["`slack`", "trigger", "+3ms", "delivered at +420ms", "opened"],
      ["`slack`", "resolve", "+1.65s", "delivered at +1.9s", "recovered"],
    ]);
    expect(section(report, "Resolution")).toBe(
      "Resolved at 2025-03-14 09:26:55.239 UTC (+1.65s), by playbook `restart-on-server-down`, recovery verified by probing (healthy for 2 rounds, 439ms after the steps).",
    );
    const questions = section(report, "Open questions");
    expect(questions.split("\n")).toEqual([
      "- What was the root cause? medic saw the symptom (`server_down`: GET http://127.0.0.1:8000/health: connection refused (ECONNREFUSED)), not why it happened.",
      "- What would have prevented it, or caught it earlier?",
    ]);
    expect(report).not.toContain("## Related incidents");
  });

  it("asks about what went wrong: the failed step, the raised severity, the undelivered page, the missing acknowledgement", () => {
    const incident = foldRecords(failed).get("b2")!;
    const report = incidentReport(incident, [], T0 + 3_600_000);
    expect(facts(report)).toMatchObject({
      Status: "**escalated**, not resolved at the time of writing",
      Severity: "P1 (opened as P2)",
      Resolved: "not yet (open for 1h)",
    });
    expect(section(report, "Summary")).toContain("orders-db had a `pool_exhaustion` incident (P2, raised to P1)");
    expect(section(report, "Summary")).toContain("medic ran 1 playbook run (last: `free-idle-connections`); step 2 (resize) failed.");
    expect(section(report, "Impact")).toContain("**People told**: nobody; NOT delivered: `pagerduty` (trigger).");
    expect(tableRows(section(report, "Notifications"))[0]![3]).toBe("**NOT delivered**: unauthorized: HTTP 401: invalid routing key");
    expect(tableRows(section(report, "Notifications"))[1]![3]).toBe("not confirmed at the time of writing");
    expect(section(report, "Resolution")).toContain(
      "Not resolved at the time of writing (2025-03-14 10:26:53.589 UTC): the incident is escalated, escalated at +901ms: step 2 (resize) failed: HTTP 500.",
    );
    const questions = section(report, "Open questions");
    expect(questions).toContain(
      "The playbook failed at step 2 (resize, `http`) of playbook `free-idle-connections`: is the playbook right for this failure",
    );
    expect(questions).toContain("The severity was raised from P2 to P1 when remediation failed: was P2 right to start with?");
    expect(questions).toContain("The trigger notification to `pagerduty` was not delivered (unauthorized: HTTP 401: invalid routing key)");
    expect(questions).toContain("1 notification (`slack`) had no confirmed delivery");
    expect(questions).toContain("Nobody acknowledged it through medic");
    expect(questions).toContain("It is still escalated 1h after it opened: who owns it now?");

    const acked = foldRecords([...failed, rec("b2", 120_000, { type: "acknowledged", by: "alice", note: "looking at pgbouncer" })]).get(
      "b2",
    )!;
    const ackReport = incidentReport(acked, [], T0 + 3_600_000);
    expect(facts(ackReport).Acknowledged).toBe("by alice at +2m");
    expect(tableRows(section(ackReport, "Timeline")).at(-1)).toEqual([
      "09:28:53.589",
      "+2m",
      "Acknowledged",
      "by alice: looking at pgbouncer",
    ]);
    expect(section(ackReport, "Open questions")).not.toContain("Nobody acknowledged");
  });

  it("asks why the flap guard tripped, and whether the alert was noisy when it recovered by itself", () => {
    const tripped = foldRecords([
      rec("c3", 0, { type: "opened", target: "api", kind: "server_down", severity: "P1", evidence: "refused" }),
      rec("c3", 5, { type: "escalated", reason: "flap guard: 3 server_down playbook runs on api in 41m did not hold", by: "flap_guard" }),
    ]).get("c3")!;
    const report = incidentReport(tripped, [], T0 + 10_000);
    expect(section(report, "Remediation")).toBe("No playbook ran: flap guard: 3 server\\_down playbook runs on api in 41m did not hold.");
    expect(tableRows(section(report, "Timeline"))[1]).toEqual([
      "09:26:53.594",
      "+5ms",
      "Escalation",
      "escalated by the flap guard: flap guard: 3 server\\_down playbook runs on api in 41m did not hold",
    ]);
    expect(section(report, "Open questions")).toContain(
      "Why did the flap guard trip (flap guard: 3 server\\_down playbook runs on api in 41m did not hold)? The fix did not hold: what keeps breaking api?",
    );

    const blip = foldRecords([
      rec("d4", 0, { type: "opened", target: "api", kind: "high_latency", severity: "P2", evidence: "latency 2.4s over 2s" }),
      rec("d4", 1, { type: "held", by: "backoff", reason: "the previous run was 4s ago", until: T0 + 10_000 }),
      rec("d4", 2500, { type: "resolved", reason: "healthy for 2 rounds" }),
    ]).get("d4")!;
    const blipReport = incidentReport(blip, [], T0 + 10_000);
    expect(tableRows(section(blipReport, "Timeline"))[1]![3]).toBe("held by backoff until +10s: the previous run was 4s ago");
    expect(section(blipReport, "Resolution")).toBe(
      "Resolved at 2025-03-14 09:26:56.089 UTC (+2.5s), without a playbook (healthy for 2 rounds).",
    );
    expect(section(blipReport, "Open questions")).toContain(
      "api recovered by itself 2.5s after the incident opened, without a playbook: was the alert noisy",
    );
  });

  it("lists the dependents suppressed under a root, and names the root from a dependent", () => {
    const records = [
      rec("db01", 0, {
        type: "opened",
        target: "orders-db",
        kind: "db_disconnect",
        severity: "P1",
        evidence: "connect ECONNREFUSED 127.0.0.1:5432",
      }),
      rec("ap02", 800, {
        type: "opened",
        target: "orders-api",
        kind: "db_disconnect",
        severity: "P1",
        evidence: "database_status: disconnected",
        root: "db01",
      }),
      rec("db01", 801, { type: "note", message: "orders-api is affected too: incident ap02 (db_disconnect) is suppressed under this one" }),
      rec("db01", 9000, { type: "resolved", reason: "verified: healthy for 2 rounds, 2s after the steps" }),
      rec("ap02", 9100, { type: "resolved", reason: "healthy once incident db01 on orders-db was resolved" }),
    ];
    const incidents = foldRecords(records);
    const root = incidents.get("db01")!;
    const dependents = [...incidents.values()].filter((i) => i.root === root.id);
    const report = incidentReport(root, dependents, T0 + 20_000);
    expect(facts(report)["Dependents affected"]).toBe("orders-api");
    expect(section(report, "Impact")).toContain("**Targets**: orders-db, and its dependents orders-api (`db_disconnect`, resolved).");
    expect(tableRows(section(report, "Related incidents"))).toEqual([
      ["ap02", "orders-api", "`db_disconnect`", "+800ms", "resolved", "healthy once incident db01 on orders-db was resolved"],
    ]);
    expect(section(report, "Open questions")).toContain("1 target that depend on orders-db broke with it (orders-api)");

    const dependent = incidentReport(incidents.get("ap02")!, [], T0 + 20_000);
    expect(facts(dependent)["Suppressed under"]).toBe("incident db01 (on a dependency)");
    expect(section(dependent, "Remediation")).toBe("No playbook ran: it was suppressed under its dependency's incident.");
    expect(section(dependent, "Open questions")).toContain("It was suppressed under incident db01 on a dependency");
    expect(section(dependent, "Open questions")).not.toContain("recovered by itself");
  });

  it("asks about a cut-off step, a maintenance hold, an outside source and a dry run", () => {
    const held = foldRecords([
      rec("f6", 0, {
        type: "opened",
        target: "api",
        kind: "server_down",
        severity: "P1",
        evidence: "HTTP 503",
        source: "alertmanager:0f3a",
      }),
      rec("f6", 1, { type: "held", by: "maintenance", reason: "nightly-backup until 02:30 UTC" }),
      rec("f6", 2, { type: "playbook_started", runId: "f6-1", playbook: "restart-on-server-down", steps: RESTART }),
      rec("f6", 3, { type: "step_started", runId: "f6-1", index: 0 }),
      rec("f6", 4, {
        type: "step_finished",
        runId: "f6-1",
        index: 0,
        outcome: "abandoned",
        detail: "medic stopped while it ran",
        durationMs: 1,
      }),
      rec("f6", 5, { type: "escalated", reason: "step 1 (restart) was abandoned" }),
    ]).get("f6")!;
    const questions = section(incidentReport(held, [], T0 + 60_000), "Open questions");
    expect(questions).toContain(
      "Step 1 (restart, `service.restart`) of playbook `restart-on-server-down` was cut off mid-way (medic stopped or crashed): did it act? Check api by hand.",
    );
    expect(questions).toContain("It broke during maintenance (nightly-backup until 02:30 UTC): did the maintenance cause it");
    expect(questions).toContain("It was raised from outside (alertmanager:0f3a): did medic's own probes see it too");
    expect(questions).not.toContain("dry run");

    const dry = foldRecords([
      rec("g7", 0, { type: "opened", target: "api", kind: "server_down", severity: "P1", evidence: "refused", dryRun: true }),
      rec("g7", 1, {
        type: "would_run",
        plan: ["playbook restart-on-server-down", "1. service.restart"],
        guards: "flap guard: run 1 of 3 in 1h",
      }),
    ]).get("g7")!;
    const report = incidentReport(dry, [], T0 + 60_000);
    expect(facts(report)["Dry run"]).toBe("yes: medic acted on nothing");
    expect(tableRows(section(report, "Timeline"))[1]).toEqual([
      "09:26:53.590",
      "+1ms",
      "Dry run",
      "would run: playbook restart-on-server-down; 1. service.restart (flap guard: run 1 of 3 in 1h)",
    ]);
    expect(section(report, "Open questions")).toContain("This was a dry run: would the playbook medic planned have been the right one?");
  });

  it("keeps hostile journal text literal: no table is broken, no block, link, tag or code span is opened, output is shown exactly", () => {
    const evil =
      "# pwned\n- item | cell | `code` <script>alert(1)</script> [click](javascript:alert(1)) ![img](http://x/y.png) **bold** _it_ $x$ \\| &amp; \x1b[31mred\x1b[0m\r\n1. ordered";
    const output = "line one\n```\nnot a fence end\n````\n~~~\n| a | b |\n<img src=x onerror=alert(1)>\n\x00\x07done";
    const incident = foldRecords([
      rec("e5", 0, { type: "opened", target: "api", kind: "server_down", severity: "P1", evidence: evil }),
      rec("e5", 1, { type: "observed", evidence: `${evil}\n`, occurrences: 4 }),
      rec("e5", 2, {
        type: "playbook_started",
        runId: "e5-1",
        playbook: "restart",
        steps: [{ name: "run `it` | now", kind: "exec", description: "exec [sh -c <x>]" }],
        guards: evil,
      }),
      rec("e5", 3, { type: "step_started", runId: "e5-1", index: 0 }),
      rec("e5", 4, { type: "step_finished", runId: "e5-1", index: 0, outcome: "failed", detail: output, durationMs: 5 }),
      rec("e5", 5, { type: "escalated", reason: `step 1 failed: ${evil}` }),
      rec("e5", 6, { type: "acknowledged", by: "<b>mallory</b> | x", note: evil }),
      rec("e5", 7, { type: "note", message: evil }),
    ]).get("e5")!;
    const report = incidentReport(incident, [], T0 + 1000);

    const { prose, blocks } = splitFences(report);
    expect(blocks).toEqual([output.replace("\x00", "\\x00").replace("\x07", "\\x07")]);
    expect(report).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
    // Outside code blocks: the only HTML is our own <br>, every [ is escaped, every heading is ours.
    expect(prose.replace(/<br>/g, "")).not.toMatch(/</);
    expect(prose).not.toMatch(/(?<!\\)\[/);
    expect(prose.replace(/`[a-z_.-]+`/g, "")).not.toMatch(/(?<!\\)`/);
    for (const line of prose.split("\n").filter((l) => /^\s*#/.test(l)))
      expect(line).toMatch(
        /^#{1,4} (Incident|Summary|Impact|Timeline|Remediation|Notifications|Resolution|Open questions|Action items|Run \d|Step \d)/,
      );
    for (const line of prose.split("\n")) expect(line).not.toMatch(/^\s*(\d+[.)]|[-+*]) (item|ordered|pwned)/);
    // Every table row has as many cell separators as its header.
    for (const table of tables(prose)) for (const row of table) expect(cells(row)).toHaveLength(cells(table[0]!).length);
    expect(tableRows(section(report, "Timeline"))[0]![3]).toContain(
      "Evidence: \\# pwned<br>- item \\| cell \\| \\`code\\` &lt;script&gt;alert(1)&lt;/script&gt; \\[click\\](javascript:alert(1))",
    );
    expect(facts(report).Acknowledged).toBe("by &lt;b&gt;mallory&lt;/b&gt; \\| x at +6ms");
  });
});

describe("markdown helpers", () => {
  it("fences with more backticks than the longest run inside", () => {
    expect(fenced("a ``` b")).toBe("````text\na ``` b\n````");
    expect(fenced("plain\n\n")).toBe("```text\nplain\n```");
  });

  it("escapes a run so it cannot start a block where it begins a line", () => {
    expect(inline("- a")).toBe("\\- a");
    expect(inline("12. a")).toBe("12\\. a");
    expect(inline("+ a")).toBe("\\+ a");
    expect(inline("a  \nb\n")).toBe("a<br>b");
  });
});

/** The body of a `## title` section. */
function section(report: string, title: string): string {
  const start = report.indexOf(`\n## ${title}\n\n`);
  if (start < 0) throw new Error(`no section ${title}`);
  const body = report.slice(start + title.length + 6);
  const end = body.search(/\n## /);
  return (end < 0 ? body : body.slice(0, end)).trim();
}

/** The header table's rows as a record. */
function facts(report: string): Record<string, string> {
  const first = report.split("\n\n").find((b) => b.startsWith("| "))!;
  return Object.fromEntries(tableRows(first).map(([k, v]) => [k!.replace(/\*/g, ""), v!]));
}

/** The data rows of the first table in a text, split into cells. */
function tableRows(text: string): string[][] {
  const table = tables(text)[0] ?? [];
  return table.slice(2).map(cells);
}

function tables(text: string): string[][] {
  const out: string[][] = [];
  let current: string[] | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith("|")) (current ??= []).push(line);
    else if (current) {
      out.push(current);
      current = undefined;
    }
  }
  if (current) out.push(current);
  return out;
}

// GFM splits cells at every | not escaped with a backslash.
function cells(row: string): string[] {
  return row
    .slice(2, -2)
    .split(/(?<!\\) \| /)
    .map((c) => c.trim());
}

/** The report outside fenced code blocks, and the contents of each block. */
function splitFences(text: string): { prose: string; blocks: string[] } {
  const lines = text.split("\n");
  const prose: string[] = [];
  const blocks: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,})[a-z]*$/.exec(lines[i]!);
    if (!open) {
      prose.push(lines[i]!);
      continue;
    }
    const body: string[] = [];
    // CommonMark: the block ends at a line of at least as many backticks and nothing else.
    for (i++; i < lines.length && !new RegExp(`^\`{${open[1]!.length},}\\s*$`).test(lines[i]!); i++) body.push(lines[i]!);
    blocks.push(body.join("\n"));
  }
  return { prose: prose.join("\n"), blocks };
}

describe("evidence", () => {
  const SHA = "a".repeat(64);
  const steps = [
    { name: "heap dump", kind: "capture.signal", description: "send SIGUSR2 ...", capture: true as const },
    { name: "log tail", kind: "capture.logs", description: "capture the last 200 lines", capture: true as const },
    RESTART[0]!,
  ];
  const records = [
    rec("c3", 0, { type: "opened", target: "api", kind: "memory_pressure", severity: "P2", evidence: "rss 95% of limit" }),
    rec("c3", 5, { type: "playbook_started", runId: "c3-1", playbook: "memory", steps }),
    rec("c3", 6, { type: "step_started", runId: "c3-1", index: 0 }),
    rec("c3", 900, {
      type: "step_finished",
      runId: "c3-1",
      index: 0,
      outcome: "failed",
      detail: "capture failed: no new dump in 5s; going on",
      durationMs: 894,
    }),
    rec("c3", 901, { type: "step_started", runId: "c3-1", index: 1 }),
    rec("c3", 950, {
      type: "step_finished",
      runId: "c3-1",
      index: 1,
      outcome: "ok",
      detail: "kept the last 2 lines",
      durationMs: 49,
      artifacts: [
        {
          name: "logs-1.txt",
          path: "artifacts/c3/logs-1.txt",
          bytes: 3000,
          sha256: SHA,
          truncated: true,
          excerpt: "GC overhead\nOOM soon",
        },
      ],
    }),
    rec("c3", 951, { type: "step_started", runId: "c3-1", index: 2 }),
    rec("c3", 1500, { type: "step_finished", runId: "c3-1", index: 2, outcome: "ok", detail: "restarted", durationMs: 549 }),
    rec("c3", 1501, { type: "verifying", runId: "c3-1", withinMs: 30_000 }),
    rec("c3", 2000, { type: "resolved", reason: "verified: healthy for 2 rounds" }),
  ];

  it("the fold lists the artifacts with the step that kept them; the draft gives size, hash, path and a quoted excerpt", () => {
    const incident = foldRecords(records).get("c3")!;
    expect(incident.artifacts).toEqual([expect.objectContaining({ name: "logs-1.txt", step: "log tail", sha256: SHA, at: T0 + 950 })]);
    const report = incidentReport(incident, [], T0 + 60_000);
    expect(report).toContain("## Evidence");
    expect(report).toMatch(
      new RegExp(`\\| \`logs-1.txt\` \\| log tail \\| 2.9KiB \\(cut at the cap\\) \\| \`${SHA}\` \\| \`artifacts/c3/logs-1.txt\` \\|`),
    );
    expect(report).toContain(`Excerpt of \`logs-1.txt\`:\n\n${fenced("GC overhead\nOOM soon")}`);
  });

  it("a failed capture is not what the run is said to have ended on: the run went on and was verified", () => {
    const report = incidentReport(foldRecords(records).get("c3")!, [], T0 + 60_000);
    expect(report).toContain("capture failed: no new dump in 5s; going on");
    expect(report).not.toMatch(/step 1 \(heap dump\) failed/);
  });

  it("a draft without captures has no evidence section", () => {
    expect(incidentReport(foldRecords(fixed).get("a1")!, [], T0 + 60_000)).not.toContain("## Evidence");
  });
});
