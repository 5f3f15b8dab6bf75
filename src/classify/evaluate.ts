import type { Observation } from "../probes/types.js";
import { RESERVED_KEYS, type Condition, type ConditionNode, type Operand } from "./conditions.js";

// Evaluating parsed conditions against an observation. Values come from untrusted bodies, so
// nothing here throws on odd data and path walks only ever see the body's own data.

/** True when the condition holds for the observation; a path that does not resolve is false. Never throws. */
export function evaluateCondition(c: Condition, obs: Observation): boolean {
  try {
    return evaluate(c.ast, obs);
  } catch {
    // Only a hostile facts object (a throwing getter or proxy) gets here: treat as "does not hold".
    return false;
  }
}

/** The placeholders a condition reads and what they held (undefined when missing), for evidence. */
export function conditionValues(c: Condition, obs: Observation): { text: string; value: unknown }[] {
  const out: { text: string; value: unknown }[] = [];
  const visit = (n: ConditionNode): void => {
    if (n.type !== "compare") return n.items.forEach(visit);
    for (const o of [n.left, n.right]) {
      if (o.type === "literal" || out.some((v) => v.text === o.text)) continue;
      let value: unknown;
      try {
        value = resolve(o, obs);
      } catch {
        value = MISSING;
      }
      out.push({ text: o.text, value: value === MISSING ? undefined : value });
    }
  };
  visit(c.ast);
  return out;
}

const MISSING = Symbol("missing");

function evaluate(n: ConditionNode, obs: Observation): boolean {
  if (n.type !== "compare") return n.type === "all" ? n.items.every((i) => evaluate(i, obs)) : n.items.some((i) => evaluate(i, obs));
  const a = resolve(n.left, obs);
  const b = resolve(n.right, obs);
  if (a === MISSING || b === MISSING) return false;
  const x = toNumber(a);
  const y = toNumber(b);
  if (x !== undefined && y !== undefined) {
    switch (n.op) {
      case "==":
        return x === y;
      case "!=":
        return x !== y;
      case "<":
        return x < y;
      case "<=":
        return x <= y;
      case ">":
        return x > y;
      case ">=":
        return x >= y;
    }
  }
  if (n.op === "==") return looseEqual(a, b);
  if (n.op === "!=") return !looseEqual(a, b);
  return false;
}

function resolve(o: Operand, obs: Observation): unknown {
  if (o.type === "literal") return o.value;
  if (o.type === "len") {
    const v = resolve(o.arg, obs);
    return typeof v === "string" || Array.isArray(v) ? v.length : MISSING;
  }
  switch (o.root) {
    case "STATUS":
      return obs.facts.status ?? MISSING;
    case "RESPONSE_TIME":
      return obs.latencyMs;
    case "CONNECTED":
      return obs.error === undefined;
    case "BODY":
      return walk(obs.facts, ["body", ...o.path]);
    case "FACTS":
      return walk(obs.facts, o.path);
  }
}

// Own data properties only: a hostile body's "__proto__" or "constructor" never leads anywhere.
function walk(root: unknown, path: (string | number)[]): unknown {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== "object") return MISSING;
    if (Array.isArray(value)) {
      const i = typeof key === "number" ? key : /^\d{1,9}$/.test(key) ? Number(key) : -1;
      if (i < 0 || i >= value.length || !Object.hasOwn(value, i)) return MISSING;
      value = value[i];
    } else {
      if (typeof key === "number" || RESERVED_KEYS.has(key) || !Object.hasOwn(value, key)) return MISSING;
      value = (value as Record<string, unknown>)[key];
    }
  }
  return value === undefined ? MISSING : value;
}

// Numbers, and strings that are plainly decimal numbers ("200", " 1.5 "); not "", "0x10" or "Infinity".
function toNumber(v: unknown): number | undefined {
  if (typeof v === "number") return Number.isFinite(v) ? v : undefined;
  if (typeof v === "string" && v.length <= 64 && /^\s*-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/.test(v)) {
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

// Same type: strict equality. A boolean and a string: "true" == true, as bodies often quote them.
function looseEqual(a: unknown, b: unknown): boolean {
  if (typeof a === typeof b) return a === b;
  if (typeof a === "boolean" && typeof b === "string") return String(a) === b;
  if (typeof b === "boolean" && typeof a === "string") return String(b) === a;
  return false;
}
