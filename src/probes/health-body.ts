import type { HealthSummary } from "./types.js";

// Health bodies come from whatever answers on the port, so everything here reads a bounded
// number of own properties, never recurses into the body, and treats every value as unknown.

type Rec = Record<string, unknown>;
type Verdict = HealthSummary["status"];

const MAX_CHECKS = 64;
const MAX_ENTRIES_PER_CHECK = 16;
const MAX_FAILING = 16;
const MAX_NAME_CHARS = 64;
const MAX_WORD_CHARS = 40;

const PASS_WORDS = new Set(["pass", "ok", "up", "healthy", "green", "good", "running", "available", "online", "serving", "success"]);
const WARN_WORDS = new Set(["warn", "warning", "degraded", "yellow", "partial", "unknown"]);
const FAIL_WORDS = new Set([
  "fail",
  "failed",
  "failing",
  "error",
  "down",
  "unhealthy",
  "red",
  "critical",
  "out_of_service",
  "unavailable",
  "offline",
  "dead",
  "not_serving",
]);
const DB_UP_WORDS = new Set(["connected", "reachable"]);
const DB_DOWN_WORDS = new Set(["disconnected", "unreachable", "not_connected", "timeout", "refused"]);
const SPRING_WORDS = new Set(["UP", "DOWN", "OUT_OF_SERVICE", "UNKNOWN"]);
const DB_TOKEN =
  /^(?:db|[a-z]+db|dbs|database|databases|datastore|datasource|postgres|postgresql|pg|mysql|mariadb|sqlite|mssql|sql|r2dbc|jdbc|mongo|cassandra)$/;

/** What a health body says, normalised; undefined when it follows no convention we know. */
export function interpretHealthBody(body: unknown): HealthSummary | undefined {
  try {
    return isRec(body) ? interpret(body) : undefined;
  } catch {
    // Only a hostile non-JSON value (a throwing Proxy or getter) can get here.
    return undefined;
  }
}

function interpret(body: Rec): HealthSummary | undefined {
  const raw = str(own(body, "status"));
  const checks = own(body, "checks");
  const components = own(body, "components");
  let summary: HealthSummary | undefined;
  if (isRec(checks) || (raw !== undefined && /^(?:pass|warn|fail)$/.test(raw))) {
    summary = healthJson(raw, isRec(checks) ? checks : {});
  } else if ((raw !== undefined && SPRING_WORDS.has(raw)) || isRec(components)) {
    const details = own(body, "details");
    summary = spring(raw, isRec(components) ? components : isRec(details) ? details : body);
  }
  // Many apps mix conventions (a Spring status beside a plain pool object), so plain fields fill
  // in whatever the recognised format left unsaid.
  const extra = plainSignals(body);
  if (!summary) {
    const status = verdict(raw) ?? (extra.database === "down" ? "fail" : undefined);
    const any = extra.database !== undefined || extra.poolUtilization !== undefined || extra.memoryUtilization !== undefined;
    if (status === undefined && !any) return undefined;
    summary = { format: "plain", status: status ?? "pass", failing: extra.database === "down" ? ["database"] : [] };
    if (raw !== undefined && verdict(raw) !== undefined) summary.rawStatus = raw;
  }
  return { ...extra, ...definedOnly(summary) };
}

// IETF draft-inadarei-api-health-check: {status, checks: {"name": [{status, componentType, observedValue, observedUnit}]}}.
function healthJson(raw: string | undefined, checks: Rec): HealthSummary {
  const out: HealthSummary = { format: "health+json", status: verdict(raw) ?? "pass", failing: [] };
  if (raw !== undefined && verdict(raw)) out.rawStatus = raw;
  let worst: Verdict = "pass";
  let dbUp = false;
  let dbDown = false;
  for (const [name, value] of entries(checks, MAX_CHECKS)) {
    const list = Array.isArray(value) ? value.slice(0, MAX_ENTRIES_PER_CHECK) : [value];
    for (const entry of list) {
      if (!isRec(entry)) continue;
      const v = verdict(str(own(entry, "status")));
      const type = str(own(entry, "componentType")) ?? "";
      if (v === "fail") pushName(out.failing, name);
      if (v !== undefined) worst = worse(worst, v);
      const words = tokens(name);
      const ratio = fraction(own(entry, "observedValue"), str(own(entry, "observedUnit")));
      if (words.some((w) => w.includes("pool"))) {
        if (ratio !== undefined) out.poolUtilization = Math.max(out.poolUtilization ?? 0, ratio);
      } else if (words.some((w) => w === "memory" || w === "mem" || w === "heap" || w === "rss")) {
        if (ratio !== undefined) out.memoryUtilization = Math.max(out.memoryUtilization ?? 0, ratio);
      } else if (mentionsDatabase(name) || mentionsDatabase(type)) {
        if (v === "fail") dbDown = true;
        else if (v !== undefined) dbUp = true;
      }
    }
  }
  if (dbDown) out.database = "down";
  else if (dbUp) out.database = "up";
  // A body with checks but no top-level status is judged by its worst check.
  if (raw === undefined || verdict(raw) === undefined) out.status = worst;
  return out;
}

// Spring Boot Actuator: {status: "UP", components: {db: {status, details: {database}}}}; Boot 2.0-2.1
// used `details`, Boot 1.x put components at the top level.
function spring(raw: string | undefined, components: Rec): HealthSummary {
  const out: HealthSummary = { format: "spring-actuator", status: verdict(raw) ?? "warn", failing: [] };
  if (raw !== undefined) out.rawStatus = raw;
  let dbUp = false;
  let dbDown = false;
  for (const [name, value] of entries(components, MAX_CHECKS)) {
    if (!isRec(value)) continue;
    const v = springVerdict(value);
    if (v === undefined) continue;
    if (v === "fail") pushName(out.failing, name);
    const details = own(value, "details");
    const isDb = mentionsDatabase(name) || (isRec(details) && own(details, "database") !== undefined);
    if (isDb && v === "fail") dbDown = true;
    else if (isDb && v === "pass") dbUp = true;
  }
  if (dbDown) out.database = "down";
  else if (dbUp) out.database = "up";
  return out;
}

// A component's own status, or the worst of its nested components (composite contributors).
function springVerdict(component: Rec): Verdict | undefined {
  const own1 = verdict(str(own(component, "status")));
  const nested = own(component, "components");
  if (!isRec(nested)) return own1;
  let worst = own1;
  for (const [, child] of entries(nested, MAX_ENTRIES_PER_CHECK)) {
    const v = isRec(child) ? verdict(str(own(child, "status"))) : undefined;
    if (v !== undefined) worst = worst === undefined ? v : worse(worst, v);
  }
  return worst;
}

type Signals = Pick<HealthSummary, "database" | "poolUtilization" | "poolWaiting" | "memoryUtilization">;

// The common hand-written style: database_status, connection_pool {...}, memory {...}.
function plainSignals(body: Rec): Signals {
  const out: Signals = {};
  const dbValue = pick(body, ["database_status", "databaseStatus", "db_status", "dbStatus", "database", "db", "datastore"]);
  const database = databaseState(dbValue);
  if (database) out.database = database;
  const pool =
    pick(body, ["connection_pool", "connectionPool", "pool", "db_pool", "dbPool", "database_pool"]) ??
    (isRec(dbValue) ? pick(dbValue, ["pool", "connection_pool", "connectionPool"]) : undefined);
  const poolUse = isRec(pool) ? poolUtilization(pool) : undefined;
  const topPool = fraction(pick(body, ["pool_utilization", "poolUtilization"]));
  const poolFraction = poolUse ?? topPool;
  if (poolFraction !== undefined) out.poolUtilization = poolFraction;
  const waiting = isRec(pool)
    ? count(pick(pool, ["waiting", "pending", "waiting_clients", "waitingCount", "waiting_count", "queued"]))
    : undefined;
  if (waiting !== undefined) out.poolWaiting = waiting;
  const memory = pick(body, ["memory", "mem"]);
  const memUse =
    (isRec(memory) ? memoryUtilization(memory) : undefined) ??
    fraction(pick(body, ["memory_usage_percent", "memory_utilization", "memoryUsagePercent", "memoryUtilization", "memory_percent"]));
  if (memUse !== undefined) out.memoryUtilization = memUse;
  return out;
}

function databaseState(value: unknown): "up" | "down" | undefined {
  if (typeof value === "boolean") return value ? "up" : "down";
  const word = str(isRec(value) ? pick(value, ["status", "state"]) : value);
  if (word === undefined) return undefined;
  const w = word.toLowerCase().replace(/[\s-]+/g, "_");
  if (DB_DOWN_WORDS.has(w)) return "down";
  if (DB_UP_WORDS.has(w)) return "up";
  const v = verdict(word);
  return v === "fail" ? "down" : v === "pass" ? "up" : undefined;
}

function poolUtilization(pool: Rec): number | undefined {
  const direct = fraction(pick(pool, ["pool_utilization", "utilization", "poolUtilization", "usage"]));
  if (direct !== undefined) return direct;
  const used = count(pick(pool, ["active", "in_use", "inUse", "used", "busy", "checked_out", "activeConnections"]));
  const size = count(pick(pool, ["max", "size", "max_size", "maxSize", "limit", "total", "maxConnections"]));
  return used !== undefined && size ? Math.min(1, used / size) : undefined;
}

function memoryUtilization(memory: Rec): number | undefined {
  const direct = fraction(pick(memory, ["utilization", "usage_percent", "used_percent", "percent", "usage"]));
  if (direct !== undefined) return direct;
  const used = count(pick(memory, ["used", "rss", "heap_used", "heapUsed", "used_bytes"]));
  const limit = count(pick(memory, ["limit", "max", "total", "heap_max", "heapMax", "limit_bytes"]));
  return used !== undefined && limit ? Math.min(1, used / limit) : undefined;
}

/** A status word as pass/warn/fail, or undefined when it is not one we know. */
function verdict(word: string | undefined): Verdict | undefined {
  if (word === undefined) return undefined;
  const w = word.toLowerCase().replace(/[\s-]+/g, "_");
  if (PASS_WORDS.has(w)) return "pass";
  if (WARN_WORDS.has(w)) return "warn";
  if (FAIL_WORDS.has(w)) return "fail";
  return undefined;
}

function worse(a: Verdict, b: Verdict): Verdict {
  const rank = { pass: 0, warn: 1, fail: 2 } as const;
  return rank[a] >= rank[b] ? a : b;
}

// 0..1 from a ratio (0.42) or a percentage (42, "42%", unit "percent"); undefined otherwise.
function fraction(value: unknown, unit?: string): number | undefined {
  let n: number;
  const u = unit?.trim().toLowerCase() ?? "";
  let percent = u === "%" || u === "percent" || u === "pct";
  // A value in GiB or ms is not a utilisation, whatever its size.
  if (!percent && u !== "" && u !== "ratio" && u !== "fraction") return undefined;
  if (typeof value === "number") n = value;
  else if (typeof value === "string" && value.length <= 24 && /^\s*\d+(?:\.\d+)?\s*%?\s*$/.test(value)) {
    percent ||= value.includes("%");
    n = Number.parseFloat(value);
  } else return undefined;
  if (!Number.isFinite(n) || n < 0 || n > 100) return undefined;
  // Unmarked numbers: 0.95 and 95 both mean 95% (apps disagree); a marked percentage is always /100.
  return percent || n > 1 ? n / 100 : n;
}

function count(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : undefined;
}

function mentionsDatabase(name: string): boolean {
  if (/datasource|database|datastore/i.test(name.slice(0, MAX_NAME_CHARS * 2))) return true;
  return tokens(name).some((t) => DB_TOKEN.test(t));
}

// "dbPool:utilization" -> ["db", "pool", "utilization"]; a bounded prefix of the name only.
function tokens(name: string): string[] {
  return name
    .slice(0, MAX_NAME_CHARS * 2)
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/);
}

function pushName(list: string[], name: string): void {
  const clean = name.replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069]/g, "").slice(0, MAX_NAME_CHARS);
  if (list.length < MAX_FAILING && !list.includes(clean)) list.push(clean);
}

function isRec(value: unknown): value is Rec {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// Own properties only: "constructor" or "__proto__" must never resolve to something inherited.
function own(obj: Rec, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
}

function pick(obj: Rec, keys: readonly string[]): unknown {
  for (const key of keys) {
    const value = own(obj, key);
    if (value !== undefined && value !== null) return value;
  }
  return undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === "string" && value.length > 0 && value.length <= MAX_WORD_CHARS ? value.trim() : undefined;
}

// At most `max` own enumerable entries, without building the full key list of a huge object.
function* entries(obj: Rec, max: number): Generator<[string, unknown]> {
  let seen = 0;
  for (const key in obj) {
    if (!Object.prototype.hasOwnProperty.call(obj, key)) continue;
    if (++seen > max) return;
    yield [key, obj[key]];
  }
}

function definedOnly<T extends object>(obj: T): T {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as T;
}
