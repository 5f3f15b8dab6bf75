import { describe, expect, it } from "vitest";
import type { Facts, Observation } from "../probes/types.js";
import { parseCondition, type Condition } from "./conditions.js";
import { conditionValues, evaluateCondition } from "./evaluate.js";

function parsed(text: string): Condition {
  const r = parseCondition(text);
  if (!r.ok) throw new Error(`${text}: ${r.offset}: ${r.message}`);
  return r.condition;
}

function obs(facts: Facts, extra: Partial<Observation> = {}): Observation {
  return { target: "t", at: 0, ok: true, latencyMs: 120, facts, ...extra };
}

describe("parseCondition accepts", () => {
  it.each([
    "[STATUS] == 200",
    "[STATUS]==200",
    "[RESPONSE_TIME] < 300",
    "[CONNECTED] == true",
    "[BODY].status == UP",
    "[BODY].queue.depth > 1000",
    "[BODY].checks[0].status == 'pass'",
    '[BODY]["odd key"].value >= -1.5',
    "[FACTS].rssBytes > 1e9",
    "len([BODY].items) <= 3",
    "[STATUS] >= 200 && [STATUS] < 300 || [CONNECTED] == false",
    "([STATUS] == 500 || [STATUS] == 503) && [BODY].retry != null",
  ])("%s", (text) => {
    const r = parseCondition(text);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.condition.source).toBe(text);
  });
});

describe("parseCondition rejects, pointing at the problem", () => {
  it.each([
    // text, offset, message fragment, hint fragment
    ["[BDOY].queue.depth > 1", 0, "unknown placeholder [BDOY]", "did you mean [BODY]?"],
    ["[STATUS] == 200 && [RESPONSE_TME] < 5", 19, "unknown placeholder [RESPONSE_TME]", "did you mean [RESPONSE_TIME]?"],
    ["[status] == 200", 0, "unknown placeholder", "did you mean [STATUS]?"],
    ["[IP] == 127.0.0.1", 0, "unknown placeholder [IP]", "[STATUS], [RESPONSE_TIME]"],
    ["[STATUS] ==", 11, "missing value after ==", "like [STATUS] == 200"],
    ["[STATUS] == && [CONNECTED] == true", 12, "missing value after ==", "compare with a value"],
    ["== 200", 0, "missing left-hand value", "start with a value"],
    ["[STATUS] == 200 &&", 18, "missing condition after &&", "remove the &&"],
    ["[STATUS] == 200 || ", 19, "missing condition after ||", ""],
    ['[BODY].status == "UP', 17, "unterminated string", 'close it with "'],
    ["[BODY].status == 'UP && [STATUS] == 200", 17, "unterminated string", "close it with '"],
    ["([STATUS] == 200 || [STATUS] == 204", 0, "unclosed (", "add the )"],
    ["[STATUS] == 200)", 15, "unexpected )", ""],
    ["len([BODY].items > 3", 3, "unclosed ( of len(", "add the )"],
    ["[STATUS] = 200", 9, "= is not an operator", "use =="],
    ["[STATUS] => 200", 9, "=> is not an operator", "write >="],
    ["[STATUS] == 200 & [CONNECTED] == true", 16, "& is not an operator", "use &&"],
    ["[STATUS] 200", 9, "expected an operator after [STATUS]", "=="],
    ["[CONNECTED]", 11, "missing comparison after [CONNECTED]", "[CONNECTED] == true"],
    ["[STATUS] == 200 == 300", 16, "comparisons cannot be chained", "&&"],
    ["[STATUS] == 200 [BODY].x == 1", 16, "expected && or ||", ""],
    ["STATUS == 200", 0, "compares two fixed values", "brackets"],
    ["[STATUS == 200", 0, "unclosed [", ""],
    ["[STATUS].code == 200", 8, "[STATUS] has no fields", ""],
    ["[BODY]. == 1", 6, "expected a field name after .", ""],
    ["[BODY][key] == 1", 6, "expected an index or a quoted key", '["odd key"]'],
    ["[BODY].__proto__.polluted == 1", 6, "field __proto__ is not allowed", ""],
    ["[BODY].a.constructor == 1", 8, "field constructor is not allowed", ""],
    ["has([BODY].x) == true", 0, "unknown function has()", "len(...)"],
    ["", 0, "empty condition", "[STATUS] == 200"],
  ] as const)("%s", (text, offset, message, hint) => {
    const r = parseCondition(text);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.message).toContain(message);
    expect(r.hint).toContain(hint);
    expect(r.offset).toBe(offset);
  });

  it("rejects a condition longer than 1000 characters", () => {
    const text = `[BODY].x == "${"a".repeat(1000)}"`;
    const r = parseCondition(text);
    expect(r).toMatchObject({ ok: false, offset: 1000 });
    if (!r.ok) expect(r.message).toContain("max 1000");
  });

  it("bounds nesting and path length instead of recursing without end", () => {
    const deep = parseCondition(`${"(".repeat(200)}[STATUS] == 1${")".repeat(200)}`);
    expect(deep).toMatchObject({ ok: false });
    if (!deep.ok) expect(deep.message).toContain("nested deeper");
    const long = parseCondition(`[BODY]${".a".repeat(40)} == 1`);
    expect(long).toMatchObject({ ok: false });
    if (!long.ok) expect(long.message).toContain("path longer");
  });
});

describe("evaluateCondition", () => {
  const body = {
    status: "UP",
    code: "200",
    enabled: "true",
    queue: { depth: 1532 },
    checks: [{ status: "pass" }, { status: "fail" }],
    "odd key": { value: 7 },
    items: [1, 2, 3],
    name: "orders",
    nothing: null,
  };
  const base = obs({ status: 200, body, rssBytes: 5e8 });

  it.each([
    ["[STATUS] == 200", base, true],
    ["[STATUS] != 200", base, false],
    ["[STATUS] == '200'", base, true],
    ["[BODY].code == 200", base, true],
    ["[BODY].code >= 199.5", base, true],
    ["[RESPONSE_TIME] < 300", base, true],
    ["[RESPONSE_TIME] > 300", base, false],
    ["[CONNECTED] == true", base, true],
    ["[CONNECTED] == true", obs({}, { ok: false, error: { code: "ECONNREFUSED", message: "refused" } }), false],
    ["[BODY].status == UP", base, true],
    ["[BODY].status == up", base, false],
    ["[BODY].status != DOWN", base, true],
    ["[BODY].enabled == true", base, true],
    ["[BODY].queue.depth > 1000", base, true],
    ["[BODY].queue.depth > 2000", base, false],
    ["[BODY].checks[1].status == fail", base, true],
    ["[BODY].checks.1.status == fail", base, true],
    ['[BODY]["odd key"].value == 7', base, true],
    ["[BODY].nothing == null", base, true],
    ["[BODY].name != null", base, true],
    ["[BODY].queue != null", base, true],
    ["len([BODY].items) == 3", base, true],
    ["len([BODY].name) == 6", base, true],
    ["len([BODY].queue) == 1", base, false],
    ["[FACTS].rssBytes > 1e8", base, true],
    ["[FACTS].status == 200", base, true],
    ["[BODY].name > 3", base, false],
    ["[BODY].name < zzz", base, false],
    ["[STATUS] == 200 && [BODY].status == DOWN || [BODY].queue.depth > 1", base, true],
    ["[STATUS] == 200 && ([BODY].status == DOWN || [BODY].queue.depth < 1)", base, false],
  ] as const)("%s", (text, o, expected) => {
    expect(evaluateCondition(parsed(text), o)).toBe(expected);
  });

  it.each([
    "[BODY].missing == 1",
    "[BODY].missing != 1",
    "[BODY].missing == null",
    "[BODY].checks[9].status == fail",
    "[BODY].queue.depth.more == 1",
    "[BODY].items.x == 1",
    "len([BODY].missing) == 0",
    "[FACTS].nope != 1",
  ])("a path that does not resolve makes %s false", (text) => {
    expect(evaluateCondition(parsed(text), base)).toBe(false);
  });

  it("treats missing facts (no status, no body) as not holding", () => {
    const empty = obs({});
    expect(evaluateCondition(parsed("[STATUS] != 200"), empty)).toBe(false);
    expect(evaluateCondition(parsed("[BODY] == null"), empty)).toBe(false);
  });

  it("never follows prototypes on hostile JSON", () => {
    const hostile = JSON.parse('{"__proto__": {"polluted": "yes"}, "a": {}, "list": []}') as unknown;
    const o = obs({ body: hostile });
    // Inherited members of plain objects and arrays must not resolve.
    for (const text of [
      "[BODY].a.toString != null",
      "[BODY].a.hasOwnProperty != null",
      "len([BODY].list.map) >= 0",
      "[BODY].polluted == yes",
      "[BODY].a.polluted == yes",
      "[BODY].list.length == 0",
    ]) {
      expect(evaluateCondition(parsed(text), o), text).toBe(false);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("does not throw on a body whose getters throw", () => {
    const body = Object.defineProperty({}, "boom", {
      enumerable: true,
      get: () => {
        throw new Error("boom");
      },
    });
    const c = parsed("[BODY].boom == 1");
    expect(evaluateCondition(c, obs({ body }))).toBe(false);
    expect(conditionValues(c, obs({ body }))).toEqual([{ text: "[BODY].boom", value: undefined }]);
  });

  it("walks a deeply nested body only as far as the path goes", () => {
    let deep: unknown = { leaf: 1 };
    for (let i = 0; i < 100_000; i++) deep = { a: deep };
    expect(evaluateCondition(parsed("[BODY].a.a.a == 1"), obs({ body: deep }))).toBe(false);
    expect(evaluateCondition(parsed("[BODY].a.a != null"), obs({ body: deep }))).toBe(true);
  });
});

describe("conditionValues", () => {
  it("lists what each placeholder held, once, for evidence", () => {
    const c = parsed("[BODY].queue.depth > 1000 && [BODY].queue.depth < 5000 && [BODY].gone == 1");
    expect(conditionValues(c, obs({ body: { queue: { depth: 1532 } } }))).toEqual([
      { text: "[BODY].queue.depth", value: 1532 },
      { text: "[BODY].gone", value: undefined },
    ]);
  });
});
