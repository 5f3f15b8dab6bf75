import { parseBytes } from "../../lib/size.js";
import { formatBytes } from "../../lib/size.js";

// Resource-control values as systemd.resource-control(5) writes them, and the pure decisions of
// systemd.set-property and systemd.set-env: the new value, bounded by a ceiling, and how to undo it.

/** How a property's values are written and read back. */
type Measure = "bytes" | "percent" | "count";

interface PropertySpec {
  measure: Measure;
  /** The property `systemctl show` reports it under (CPUQuota is shown per second of time). */
  show: string;
}

/** The properties systemd.set-property may change: limits where more is more. */
export const PROPERTIES: Record<string, PropertySpec> = {
  MemoryMax: { measure: "bytes", show: "MemoryMax" },
  MemoryHigh: { measure: "bytes", show: "MemoryHigh" },
  MemorySwapMax: { measure: "bytes", show: "MemorySwapMax" },
  CPUQuota: { measure: "percent", show: "CPUQuotaPerSecUSec" },
  CPUWeight: { measure: "count", show: "CPUWeight" },
  IOWeight: { measure: "count", show: "IOWeight" },
  TasksMax: { measure: "count", show: "TasksMax" },
};

/** A property's name, one of PROPERTIES. */
export type PropertyName = keyof typeof PROPERTIES;

const SYSTEMD_UNITS: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** A value an operator wrote for a property (`512M`, `1GiB`, `150%`, `4096`); undefined when it is not a finite one. */
export function parseLimit(measure: Measure, value: string | number): number | undefined {
  if (measure === "bytes") {
    // systemd's own K, M, G, T are powers of 1024; medic's KiB/MB forms work too.
    const m = typeof value === "string" ? /^(\d+(?:\.\d+)?)\s*([KMGT])$/i.exec(value.trim()) : null;
    if (m) return Math.floor(Number(m[1]) * SYSTEMD_UNITS[m[2]!.toLowerCase()]!);
    return parseBytes(value);
  }
  const text = String(value).trim();
  const m = measure === "percent" ? /^(\d+(?:\.\d+)?)%?$/.exec(text) : /^(\d+)$/.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** A value as `systemctl show` prints it; Infinity for no limit, undefined when not set or unreadable. */
export function parseShown(measure: Measure, shown: string): number | undefined {
  if (shown === "infinity") return Infinity;
  if (measure === "percent") {
    const usec = parseTimespanUsec(shown);
    return usec === undefined ? undefined : usec / 10_000;
  }
  return /^\d+$/.test(shown) ? Number(shown) : undefined;
}

const USEC: Record<string, number> = { us: 1, ms: 1000, s: 1e6, min: 60e6, h: 3600e6 };

/** `1.500000s`, `500ms`, `1min 30s` (as systemd prints spans) in microseconds. */
export function parseTimespanUsec(text: string): number | undefined {
  const parts = text.trim().split(/\s+/);
  let total = 0;
  for (const part of parts) {
    const m = /^(\d+(?:\.\d+)?)(us|ms|s|min|h)$/.exec(part);
    if (!m) return undefined;
    total += Number(m[1]) * USEC[m[2]!]!;
  }
  return Math.round(total);
}

/** A value for a person: `256MiB`, `150%`, `4096`, `infinity`. */
export function formatLimit(measure: Measure, n: number | undefined): string {
  if (n === undefined) return "not set";
  if (n === Infinity) return "infinity";
  if (measure === "bytes") return formatBytes(n);
  return measure === "percent" ? `${Number(n.toFixed(2))}%` : String(n);
}

/** A value as systemctl set-property takes it: exact bytes, a percentage, a count; empty resets it. */
function assignment(measure: Measure, n: number | undefined): string {
  // An empty assignment resets a property; CPUQuota has no "infinity", only no quota.
  if (n === undefined || (n === Infinity && measure === "percent")) return "";
  if (n === Infinity) return "infinity";
  return measure === "percent" ? `${Number(n.toFixed(2))}%` : String(Math.round(n));
}

/** What the step asks for: an absolute value or a factor of the current one, never past the ceiling. */
export type Wanted = { value: number; ceiling: number } | { factor: number; ceiling: number };

/** The change to make and how to undo it, or why not to make any. */
export type ChangePlan = { set: number; from: number | undefined; same: boolean; detail: string; revert: string } | { refuse: string };

/** Decides a property's new value from the current one. Pure. */
export function planProperty(property: PropertyName, wanted: Wanted, shown: string | undefined): ChangePlan {
  const { measure } = PROPERTIES[property]!;
  const current = shown === undefined ? undefined : parseShown(measure, shown);
  const fmt = (n: number | undefined): string => formatLimit(measure, n);
  const plan = decide(wanted, current, fmt);
  if ("refuse" in plan) return { refuse: `${property}: ${plan.refuse}` };
  const revert = `${property}=${assignment(measure, current)}`;
  return {
    set: plan.set,
    from: current,
    same: plan.set === current,
    revert,
    detail: `${property} ${fmt(current)} -> ${fmt(plan.set)} (ceiling ${fmt(wanted.ceiling)})`,
  };
}

/** Decides an environment variable's new numeric value from the current one (undefined when unset). Pure. */
export function planVariable(variable: string, wanted: Wanted, current: string | undefined): ChangePlan {
  const n = current !== undefined && /^\d+$/.test(current) ? Number(current) : undefined;
  if ("factor" in wanted && current !== undefined && n === undefined) {
    return { refuse: `${variable}=${current} is not a whole number, so there is nothing to multiply` };
  }
  const plan = decide(wanted, n, (v) => (v === undefined ? "unset" : String(v)));
  if ("refuse" in plan) return { refuse: `${variable}: ${plan.refuse}` };
  return {
    set: plan.set,
    from: n,
    same: plan.set === n,
    revert: current === undefined ? `${variable} unset` : `${variable}=${current}`,
    detail: `${variable} ${current ?? "unset"} -> ${plan.set} (ceiling ${wanted.ceiling})`,
  };
}

function decide(wanted: Wanted, current: number | undefined, fmt: (n: number | undefined) => string): { set: number } | { refuse: string } {
  const { ceiling } = wanted;
  if ("value" in wanted) {
    // Past the ceiling the step fails, so the playbook escalates instead of granting more.
    if (wanted.value > ceiling) return { refuse: `${fmt(wanted.value)} is above the ceiling ${fmt(ceiling)}: not setting it` };
    return { set: wanted.value };
  }
  if (current === undefined || current === Infinity) {
    return { refuse: `it is ${fmt(current)} now, so there is nothing to multiply by ${wanted.factor} (hint: give a value instead)` };
  }
  if (current >= ceiling) return { refuse: `already ${fmt(current)}, at or past its ceiling ${fmt(ceiling)}: not raising it` };
  return { set: Math.min(Math.floor(current * wanted.factor), ceiling) };
}

/**
 * `A=1 "B=two words"` (systemctl show -p Environment) to a map. Pure.
 * systemd quotes an assignment with spaces or quotes and escapes inside it with C-style backslashes.
 */
export function parseEnvironment(shown: string): Record<string, string> {
  const env: Record<string, string> = {};
  let i = 0;
  while (i < shown.length) {
    if (shown[i] === " ") {
      i++;
      continue;
    }
    let word = "";
    const quote = shown[i] === '"' || shown[i] === "'" ? shown[i++] : undefined;
    while (i < shown.length && (quote ? shown[i] !== quote : shown[i] !== " ")) {
      if (shown[i] === "\\" && i + 1 < shown.length) i++;
      word += shown[i++];
    }
    if (quote) i++;
    const eq = word.indexOf("=");
    if (eq > 0) env[word.slice(0, eq)] = word.slice(eq + 1);
  }
  return env;
}
