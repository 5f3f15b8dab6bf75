import { describe, expect, it } from "vitest";
import type { Rule, Target } from "../config/types.js";
import type { Facts, HealthSummary, Observation } from "../probes/types.js";
import { classify } from "./classify.js";
import { parseCondition } from "./conditions.js";
import type { Severity } from "./types.js";

function makeTarget(over: Partial<Target> = {}): Target {
  return {
    name: "orders-api",
    labels: {},
    probe: { kind: "http", params: { url: "http://127.0.0.1:8000/health" } },
    intervalMs: 10_000,
    timeoutMs: 3_000,
    failureThreshold: 3,
    successThreshold: 2,
    thresholds: { latencyMs: 2000, poolUtilization: 0.9, memoryUtilization: 0.9, idleInTransactionMs: 300_000, queryMs: 300_000 },
    dependsOn: [],
    ...over,
  };
}

function makeRule(kind: string, severity: Severity, when: string[], targets: string[] = ["*"]): Rule {
  return {
    kind,
    severity,
    targets,
    when: when.map((text) => {
      const r = parseCondition(text);
      if (!r.ok) throw new Error(`${text}: ${r.message}`);
      return r.condition;
    }),
  };
}

function health(over: Partial<HealthSummary> = {}): HealthSummary {
  return { format: "plain", status: "pass", failing: [], ...over };
}

const ok = (facts: Facts, latencyMs = 40): Observation => ({ target: "orders-api", at: 0, ok: true, latencyMs, facts });
const bad = (facts: Facts, latencyMs = 40): Observation => ({ ...ok(facts, latencyMs), ok: false });
const failed = (code: string, message: string, latencyMs = 2): Observation => ({
  target: "orders-api",
  at: 0,
  ok: false,
  latencyMs,
  error: { code, message },
  facts: {},
});

const backlog = makeRule("queue_backlog", "P3", ["[BODY].queue.depth > 1000"]);
const target = makeTarget();

describe("classify: one row per branch", () => {
  it.each<[string, Observation, string | undefined, string | undefined]>([
    // a. no answer at all
    [
      "refused",
      failed("ECONNREFUSED", "GET http://127.0.0.1:8000/health: connect ECONNREFUSED"),
      "server_down",
      "connection refused (ECONNREFUSED) after 2ms",
    ],
    ["timeout", failed("ETIMEDOUT", "no answer within 3000 ms", 3001.4), "server_down", "timed out (ETIMEDOUT) after 3001ms"],
    ["reset", failed("ECONNRESET", "socket hang up", 12), "server_down", "connection reset (ECONNRESET) after 12ms"],
    [
      "not HTTP",
      failed("HPE_INVALID_CONSTANT", "Parse Error: Expected HTTP/"),
      "server_down",
      "not an HTTP answer (HPE_INVALID_CONSTANT) after 2ms",
    ],
    ["process gone", failed("ESRCH", "process 4242 exited (zombie)", 3), "server_down", "process 4242 exited (zombie) (ESRCH)"],
    ["process gone, no message", failed("ESRCH", "", 0), "server_down", "process gone (ESRCH)"],
    [
      "other code keeps the message",
      failed("EPROBE", "probe failed (a bug): boom", 7),
      "server_down",
      "probe failed (a bug): boom (EPROBE) after 7ms",
    ],
    // b. database down per the health body
    [
      "db down, plain body",
      bad({
        status: 503,
        body: { status: "error", database_status: "disconnected" },
        health: health({ status: "fail", database: "down" }),
      }),
      "db_disconnect",
      'HTTP 503, health body: database down (database_status="disconnected")',
    ],
    [
      "db down, spring",
      bad({
        status: 503,
        body: { status: "DOWN", components: { diskSpace: { status: "UP" }, db: { status: "DOWN", details: { database: "PostgreSQL" } } } },
        health: health({ format: "spring-actuator", status: "fail", rawStatus: "DOWN", database: "down", failing: ["db"] }),
      }),
      "db_disconnect",
      'HTTP 503, health body: database down (components.db.status="DOWN")',
    ],
    [
      "db down, health+json",
      bad({
        status: 503,
        body: { status: "fail", checks: { "postgres:connections": [{ status: "fail" }] } },
        health: health({ format: "health+json", status: "fail", database: "down", failing: ["postgres:connections"] }),
      }),
      "db_disconnect",
      'HTTP 503, health body: database down (checks["postgres:connections"][0].status="fail")',
    ],
    [
      "db down, no field found",
      ok({ status: 200, health: health({ status: "warn", database: "down", failing: ["primary"] }) }),
      "db_disconnect",
      'HTTP 200, health body: database down (failing: "primary")',
    ],
    // c. operator rule
    ["rule", ok({ status: 200, body: { queue: { depth: 1532 } } }), "queue_backlog", "[BODY].queue.depth > 1000 ([BODY].queue.depth=1532)"],
    // d. pool
    [
      "pool over threshold with waiters",
      ok({ status: 200, health: health({ poolUtilization: 0.95, poolWaiting: 4 }) }),
      "pool_exhaustion",
      "pool 95% in use (threshold 90%), 4 clients waiting",
    ],
    [
      "pool at threshold",
      ok({ status: 200, health: health({ poolUtilization: 0.9 }) }),
      "pool_exhaustion",
      "pool 90% in use (threshold 90%)",
    ],
    [
      "waiters only",
      ok({ status: 200, health: health({ poolWaiting: 1 }) }),
      "pool_exhaustion",
      "1 client waiting for a pooled connection",
    ],
    // e. memory
    [
      "memory from facts",
      ok({ memoryUtilization: 0.934, rssBytes: 512 * 1024 ** 2 }),
      "memory_pressure",
      "memory 93.4% of limit (threshold 90%), rss 512MiB",
    ],
    [
      "memory from health",
      ok({ status: 200, health: health({ memoryUtilization: 0.97 }) }),
      "memory_pressure",
      "memory 97% of limit (threshold 90%)",
    ],
    // f. answered, but not ok
    ["bad status", bad({ status: 500, bodyExcerpt: "Internal Server Error" }), "server_down", 'HTTP 500, body "Internal Server Error"'],
    [
      "health fail",
      bad({
        status: 200,
        health: health({ format: "spring-actuator", status: "fail", rawStatus: "DOWN", failing: ["diskSpace", "redis"] }),
      }),
      "server_down",
      'HTTP 200, health status fail ("DOWN"), failing: "diskSpace", "redis"',
    ],
    ["process not alive", bad({ pid: 4242, alive: false }), "server_down", "process 4242 not alive"],
    ["nothing to say", bad({}), "server_down", "probe reported not ok"],
    // g. latency
    ["slow", ok({ status: 200 }, 2300), "high_latency", "latency 2300ms over 2000ms"],
    // healthy
    [
      "healthy",
      ok({ status: 200, health: health({ database: "up", poolUtilization: 0.5, poolWaiting: 0, memoryUtilization: 0.5 }) }),
      undefined,
      undefined,
    ],
    ["latency at the threshold", ok({ status: 200 }, 2000), undefined, undefined],
    ["pool just under", ok({ status: 200, health: health({ poolUtilization: 0.899 }) }), undefined, undefined],
  ])("%s", (_name, obs, kind, evidence) => {
    const finding = classify(obs, target, [backlog], {});
    expect(finding?.kind).toBe(kind);
    expect(finding?.evidence).toBe(evidence);
    if (finding) expect(finding.target).toBe("orders-api");
  });
});

describe("classify: order of precedence", () => {
  const anyDown = makeRule("custom_down", "P3", ["[CONNECTED] == false"]);
  const on503 = makeRule("maintenance", "P4", ["[STATUS] == 503"]);
  const always = makeRule("always", "P4", ["[RESPONSE_TIME] >= 0"]);
  const pool = health({ poolUtilization: 1, poolWaiting: 9, memoryUtilization: 1 });

  it.each<[string, Observation, Rule[], string]>([
    ["error beats a matching rule", failed("ECONNREFUSED", "refused"), [anyDown, always], "server_down"],
    ["db down beats a matching rule", bad({ status: 503, health: health({ status: "fail", database: "down" }) }), [on503], "db_disconnect"],
    ["db down beats pool", bad({ status: 503, health: health({ ...pool, status: "fail", database: "down" }) }), [], "db_disconnect"],
    ["rule beats pool", ok({ status: 200, health: pool }), [always], "always"],
    ["rule beats a bad status", bad({ status: 503 }), [on503], "maintenance"],
    ["pool beats memory", ok({ status: 200, health: pool }), [], "pool_exhaustion"],
    ["memory beats a bad status", bad({ status: 500, memoryUtilization: 0.99 }), [], "memory_pressure"],
    ["bad status beats latency", bad({ status: 500 }, 9000), [], "server_down"],
    ["first matching rule wins", ok({ status: 200 }), [makeRule("never", "P1", ["[STATUS] == 500"]), always, on503], "always"],
    [
      "every condition of a rule must hold",
      ok({ status: 200, body: { queue: { depth: 5000 } } }),
      [makeRule("both", "P1", ["[BODY].queue.depth > 1000", "[STATUS] == 500"]), backlog],
      "queue_backlog",
    ],
    [
      "a rule with no conditions never fires",
      ok({ status: 200 }, 9000),
      [{ kind: "empty", severity: "P1", when: [], targets: [] }],
      "high_latency",
    ],
  ])("%s", (_name, obs, rules, kind) => {
    expect(classify(obs, target, rules, {})?.kind).toBe(kind);
  });
});

describe("classify: severity", () => {
  it("uses the built-in default, a config override, or the rule's own", () => {
    const down = failed("ECONNREFUSED", "refused");
    expect(classify(down, target, [], {})?.severity).toBe("P1");
    expect(classify(down, target, [], { server_down: "P3" })?.severity).toBe("P3");
    expect(classify(ok({}, 5000), target, [], { server_down: "P3" })?.severity).toBe("P2");
    expect(classify(ok({}, 5000), target, [], { high_latency: "P4" })?.severity).toBe("P4");
    const slow = makeRule("slow", "P3", ["[RESPONSE_TIME] > 100"]);
    expect(classify(ok({}, 5000), target, [slow], { slow: "P1", high_latency: "P1" })).toMatchObject({ kind: "slow", severity: "P3" });
  });
});

describe("classify: rules scoped by target globs", () => {
  const scoped = makeRule("orders_slow", "P3", ["[RESPONSE_TIME] > 100"], ["orders-*", "payments-api"]);
  const everywhere = makeRule("anything_slow", "P4", ["[RESPONSE_TIME] > 100"], []);
  const slow = ok({}, 500);

  it.each([
    ["orders-api", "orders_slow"],
    ["orders-worker", "orders_slow"],
    ["payments-api", "orders_slow"],
    ["billing-api", "anything_slow"],
    ["payments-api-2", "anything_slow"],
  ])("%s -> %s", (name, kind) => {
    // The same rule objects across targets: a cached matcher must not remember the last target.
    expect(classify(slow, makeTarget({ name }), [scoped, everywhere], {})?.kind).toBe(kind);
  });

  it("uses the target's own thresholds", () => {
    const strict = makeTarget({
      thresholds: { latencyMs: 100, poolUtilization: 0.5, memoryUtilization: 0.5, idleInTransactionMs: 1000, queryMs: 1000 },
    });
    expect(classify(ok({}, 150), strict, [], {})?.evidence).toBe("latency 150ms over 100ms");
    expect(classify(ok({ health: health({ poolUtilization: 0.6 }) }), strict, [], {})?.evidence).toBe("pool 60% in use (threshold 50%)");
  });
});

describe("classify: hostile bodies", () => {
  const SAFE_LINE = /^[^\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]*$/;
  const ansi = "\u001b[31mDOWN\u001b[0m\r\nX-Injected: yes\u2028\u202Eevil";
  const huge = "x".repeat(10_000);
  let deep: Record<string, unknown> = { status: "down" };
  for (let i = 0; i < 50_000; i++) deep = { nested: deep };

  it.each<[string, Observation, Rule[]]>([
    [
      "ANSI and newlines in the raw status and failing names",
      bad({ status: 500, health: health({ status: "fail", rawStatus: ansi, failing: [ansi, huge, "db"] }) }),
      [],
    ],
    [
      "10k-character database status",
      bad({ status: 503, body: { database_status: huge }, health: health({ status: "fail", database: "down" }) }),
      [],
    ],
    [
      "ANSI in a database field and key",
      bad({ status: 503, body: { [`db\n${ansi}`]: { status: ansi } }, health: health({ status: "fail", database: "down" }) }),
      [],
    ],
    [
      "__proto__ keys",
      bad({
        status: 503,
        body: JSON.parse('{"__proto__": {"database_status": "down"}, "constructor": {"status": "x"}}') as unknown,
        health: health({ status: "fail", database: "down", failing: ["__proto__"] }),
      }),
      [],
    ],
    ["deeply nested body", bad({ status: 503, body: deep, health: health({ status: "fail", database: "down" }) }), []],
    ["deeply nested body under a rule", ok({ status: 200, body: deep }), [makeRule("deep", "P3", ["[BODY].nested.nested != null"])]],
    [
      "rule values with ANSI and a 10k string",
      ok({ status: 200, body: { a: ansi, b: huge, c: { d: [1] } } }),
      [makeRule("weird", "P3", ["[BODY].a != null", "[BODY].b != null", "[BODY].c != null"])],
    ],
    ["error message with newlines", failed("EWHATEVER", `line one\nline two\u001b[2J${huge}`, 5), []],
    ["error code that is not a code", failed(`E\nX${huge}`, "m", 5), []],
    ["body excerpt with terminal escapes", bad({ status: 500, bodyExcerpt: `${ansi}${huge}` }), []],
    [
      "emoji cut mid-string",
      bad({ status: 500, health: health({ status: "fail", rawStatus: "\u{1F525}".repeat(5000), failing: ["\u{1F525}".repeat(500)] }) }),
      [],
    ],
  ])("%s: no throw, one sanitised line", (_name, obs, rules) => {
    const finding = classify(obs, target, rules, {});
    expect(finding).toBeDefined();
    const evidence = finding!.evidence;
    expect(evidence).toMatch(SAFE_LINE);
    expect(evidence.length).toBeLessThanOrEqual(300);
    expect(evidence).not.toContain("\u001b");
    expect(evidence).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
    // Body values are capped at 80 characters, a probe's error message at 160.
    expect(evidence).not.toContain("x".repeat(160));
  });

  it("cuts long values with a marker and keeps them quoted", () => {
    const f = classify(
      bad({ status: 503, body: { database_status: huge }, health: health({ status: "fail", database: "down" }) }),
      target,
      [],
      {},
    );
    expect(f?.evidence).toMatch(/^HTTP 503, health body: database down \(database_status="x{70,80}…"\)$/);
  });

  it("caps each rule value and marks the cut", () => {
    const f = classify(ok({ body: { b: huge } }), target, [makeRule("big", "P3", ["len([BODY].b) > 10", "[BODY].b != null"])], {});
    expect(f?.evidence).toMatch(/^len\(\[BODY\]\.b\) > 10 && \[BODY\]\.b != null \(len\(\[BODY\]\.b\)=10000, \[BODY\]\.b="x{70,78}…"\)$/);
  });

  it("caps the whole line at 300 characters with a marker", () => {
    const when = ["a", "b", "c", "d", "e"].map((k) => `[BODY].${k}${"_".repeat(40)} != null`);
    const body = Object.fromEntries(["a", "b", "c", "d", "e"].map((k) => [`${k}${"_".repeat(40)}`, huge]));
    const f = classify(ok({ body }), target, [makeRule("wide", "P3", when)], {});
    expect(f?.evidence).toHaveLength(300);
    expect(f?.evidence.endsWith("…")).toBe(true);
  });

  it("strips escapes but keeps the readable text", () => {
    const f = classify(bad({ status: 500, health: health({ status: "fail", rawStatus: "\u001b[31mDOWN\u001b[0m\nnow" }) }), target, [], {});
    expect(f?.evidence).toBe('HTTP 500, health status fail ("DOWN now")');
  });

  it("quotes keys that are not plain identifiers", () => {
    const f = classify(
      bad({ status: 503, body: { 'db"x': "down" }, health: health({ status: "fail", database: "down" }) }),
      target,
      [],
      {},
    );
    expect(f?.evidence).toBe('HTTP 503, health body: database down (["db\\"x"]="down")');
  });

  it("does not mistake an inherited property for a database field", () => {
    const body = Object.create({ database_status: "disconnected" }) as object;
    const f = classify(bad({ status: 503, body, health: health({ status: "fail", database: "down" }) }), target, [], {});
    expect(f?.evidence).toBe("HTTP 503, health body: database down");
  });
});
