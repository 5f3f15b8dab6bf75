import { describe, expect, it } from "vitest";
import { interpretHealthBody } from "./health-body.js";
import type { HealthSummary } from "./types.js";

type Case = [name: string, body: unknown, expected: Partial<HealthSummary> | undefined];

// Shapes taken from the IETF draft's example, Spring Boot's documented output and typical
// hand-written endpoints; `expected` lists the fields that must match (others may be present).
const healthJson: Case[] = [
  [
    "draft example: pass with a warning datastore, GiB memory ignored",
    {
      status: "pass",
      version: "1",
      releaseId: "1.2.2",
      serviceId: "f03e522f",
      description: "health of authz service",
      checks: {
        "cassandra:responseTime": [
          {
            componentId: "dfd6cf2b",
            componentType: "datastore",
            observedValue: 250,
            observedUnit: "ms",
            status: "pass",
            time: "2018-01-17T03:36:48Z",
          },
        ],
        "cassandra:connections": [
          { componentId: "dfd6cf2b", componentType: "datastore", observedValue: 75, status: "warn", time: "2018-01-17T03:36:48Z" },
        ],
        uptime: [{ componentType: "system", observedValue: 1209600.245, observedUnit: "s", status: "pass" }],
        "cpu:utilization": [{ componentType: "system", node: 1, observedValue: 85, observedUnit: "percent", status: "warn" }],
        "memory:utilization": [{ componentType: "system", node: 1, observedValue: 8.5, observedUnit: "GiB", status: "warn" }],
      },
    },
    { format: "health+json", status: "pass", rawStatus: "pass", database: "up", failing: [], memoryUtilization: undefined },
  ],
  [
    "failing postgres check and a pool near its limit",
    {
      status: "fail",
      checks: {
        "postgresql:connections": [{ componentType: "datastore", status: "fail", output: "connection refused" }],
        "db:pool": [{ componentType: "component", observedValue: 97, observedUnit: "percent", status: "warn" }],
        "memory:utilization": [{ componentType: "system", observedValue: 0.81, status: "warn" }],
      },
    },
    {
      format: "health+json",
      status: "fail",
      database: "down",
      poolUtilization: 0.97,
      memoryUtilization: 0.81,
      failing: ["postgresql:connections"],
    },
  ],
  [
    "componentType alone marks a database; status words ok/up/down are accepted",
    {
      status: "down",
      checks: { primary: [{ componentType: "database", status: "down" }], cache: [{ componentType: "redis", status: "up" }] },
    },
    { status: "fail", rawStatus: "down", database: "down", failing: ["primary"] },
  ],
  [
    "no top-level status: worst check wins; single objects accepted in place of arrays",
    { checks: { mysql: { status: "pass" }, disk: [{ status: "warn" }] } },
    { format: "health+json", status: "warn", database: "up", rawStatus: undefined },
  ],
  ["bare pass", { status: "pass" }, { format: "health+json", status: "pass", failing: [] }],
  [
    "camelCase pool and heap checks; a members count is not memory",
    {
      status: "warn",
      checks: {
        "dbPool:utilization": [{ observedValue: 0.9, status: "warn" }],
        "jvmHeap:used": [{ observedValue: 72, observedUnit: "%", status: "pass" }],
        "members:count": [{ observedValue: 50, status: "pass" }],
      },
    },
    { poolUtilization: 0.9, memoryUtilization: 0.72, database: undefined },
  ],
  [
    "a check named feedback is not a database",
    { status: "fail", checks: { "feedback:latency": [{ status: "fail" }] } },
    { status: "fail", database: undefined, failing: ["feedback:latency"] },
  ],
];

const springActuator: Case[] = [
  [
    "Boot 2.2+ with the database down",
    {
      status: "DOWN",
      components: {
        db: {
          status: "DOWN",
          details: { error: "org.springframework.jdbc.CannotGetJdbcConnectionException: Failed to obtain JDBC Connection" },
        },
        diskSpace: { status: "UP", details: { total: 499963174912, free: 91300069376, threshold: 10485760, exists: true } },
        ping: { status: "UP" },
      },
    },
    { format: "spring-actuator", status: "fail", rawStatus: "DOWN", database: "down", failing: ["db"] },
  ],
  [
    "dataSource named otherwise, recognised by details.database",
    {
      status: "UP",
      components: {
        primaryStore: { status: "UP", details: { database: "PostgreSQL", validationQuery: "isValid()" } },
        ping: { status: "UP" },
      },
    },
    { format: "spring-actuator", status: "pass", database: "up", failing: [] },
  ],
  [
    "Boot 2.0 `details` map",
    { status: "UP", details: { dataSource: { status: "UP", details: { database: "MySQL", hello: 1 } }, diskSpace: { status: "UP" } } },
    { format: "spring-actuator", status: "pass", database: "up" },
  ],
  [
    "Boot 1.x components at the top level, r2dbc",
    { status: "DOWN", r2dbc: { status: "DOWN", error: "timeout" }, diskSpace: { status: "UP" } },
    { status: "fail", database: "down", failing: ["r2dbc"] },
  ],
  [
    "composite db with one failing member",
    { status: "DOWN", components: { db: { status: "DOWN", components: { primary: { status: "UP" }, reporting: { status: "DOWN" } } } } },
    { database: "down", failing: ["db"] },
  ],
  ["OUT_OF_SERVICE is a failure", { status: "OUT_OF_SERVICE" }, { format: "spring-actuator", status: "fail", rawStatus: "OUT_OF_SERVICE" }],
  ["UNKNOWN is a warning", { status: "UNKNOWN" }, { status: "warn" }],
  ["bare UP", { status: "UP" }, { format: "spring-actuator", status: "pass", failing: [], database: undefined }],
];

const plainStyle: Case[] = [
  [
    "healthy with pool counts and memory bytes",
    {
      status: "healthy",
      database_status: "connected",
      connection_pool: { active: 8, max: 20, waiting: 0 },
      memory: { used: 268435456, limit: 536870912 },
    },
    { format: "plain", status: "pass", rawStatus: "healthy", database: "up", poolUtilization: 0.4, poolWaiting: 0, memoryUtilization: 0.5 },
  ],
  [
    "error: database disconnected, pool exhausted with waiters",
    { status: "error", database_status: "disconnected", connection_pool: { in_use: 20, size: 20, waiting: 14 } },
    { format: "plain", status: "fail", database: "down", poolUtilization: 1, poolWaiting: 14, failing: ["database"] },
  ],
  [
    "degraded with a database object",
    { status: "degraded", database: { status: "down", error: "ECONNREFUSED" } },
    { status: "warn", database: "down" },
  ],
  ["an idle pool is 0, not absent", { status: "ok", connection_pool: { active: 0, max: 5 } }, { poolUtilization: 0 }],
  [
    "pool utilization as a ratio",
    { status: "ok", db: "up", connection_pool: { pool_utilization: 0.42 } },
    { status: "pass", database: "up", poolUtilization: 0.42 },
  ],
  ["pool utilization as a top-level percentage string", { status: "ok", pool_utilization: "42%" }, { poolUtilization: 0.42 }],
  ["memory percent 95", { status: "healthy", memory_usage_percent: 95 }, { memoryUtilization: 0.95 }],
  ["memory percent 0.95", { status: "healthy", memory_usage_percent: 0.95 }, { memoryUtilization: 0.95 }],
  ["memory utilization object", { status: "up", memory: { utilization: 0.7 } }, { status: "pass", memoryUtilization: 0.7 }],
  ["no status but the database is down", { database: "down" }, { format: "plain", status: "fail", rawStatus: undefined, database: "down" }],
  ["database as a boolean", { status: "ok", database: false }, { database: "down" }],
  ["unhealthy", { status: "Unhealthy" }, { status: "fail", rawStatus: "Unhealthy" }],
  [
    "Spring status word beside plain pool fields fills in the pool",
    { status: "UP", connection_pool: { active: 9, max: 10 } },
    { format: "spring-actuator", status: "pass", poolUtilization: 0.9 },
  ],
];

const notHealth: Case[] = [
  ["an array", [{ status: "fail" }], undefined],
  ["a string", "ok", undefined],
  ["null", null, undefined],
  ["a number", 503, undefined],
  ["unrelated JSON", { uptime: 123, version: "1.2.3" }, undefined],
  ["unknown status word", { status: "banana" }, undefined],
  ["numeric status", { status: 200 }, undefined],
];

function deepNest(depth: number): unknown {
  let node: unknown = { status: "fail" };
  for (let i = 0; i < depth; i++) node = { checks: { inner: [node] }, status: "fail" };
  return node;
}

const manyChecks = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`check${i}`, [{ status: "fail" }]]));

const hostile: Case[] = [
  ["100k-deep nesting", deepNest(100_000), { status: "fail" }],
  [
    "a million-entry check",
    { status: "pass", checks: { big: new Array(1_000_000).fill({ status: "fail", componentType: "db" }) } },
    { status: "pass", database: "down", failing: ["big"] },
  ],
  ["100k checks: failing list stays short", { status: "fail", checks: manyChecks }, { status: "fail" }],
  [
    "__proto__ key from JSON",
    JSON.parse('{"status":"ok","__proto__":{"status":"fail"},"database":{"__proto__":{"status":"down"}}}'),
    { status: "pass", database: undefined },
  ],
  [
    "constructor keys",
    JSON.parse('{"status":"UP","constructor":{"status":"DOWN"},"toString":{"status":"UP"}}'),
    { status: "pass", failing: ["constructor"] },
  ],
  ["inherited status is not read", Object.create({ status: "fail" }), undefined],
  ["null-prototype body", Object.assign(Object.create(null), { status: "ok" }), { status: "pass" }],
  [
    "non-string statuses",
    { status: ["fail"], database_status: 0, checks: { db: [{ status: { fail: true } }] } },
    { format: "health+json", status: "pass", database: undefined },
  ],
  [
    "NaN and strings for numbers",
    { status: "ok", connection_pool: { active: "lots", max: 0, waiting: "NaN" }, memory_usage_percent: Number.NaN },
    { poolUtilization: undefined, poolWaiting: undefined, memoryUtilization: undefined },
  ],
  [
    "out-of-range utilisations",
    { status: "ok", pool_utilization: 150, memory_usage_percent: -3 },
    { poolUtilization: undefined, memoryUtilization: undefined },
  ],
  ["Infinity pool size", { status: "ok", connection_pool: { active: 3, max: Number.POSITIVE_INFINITY } }, { poolUtilization: undefined }],
  ["a 10 MB status word", { status: "x".repeat(10_000_000) }, undefined],
  [
    "control characters in a failing name",
    { status: "fail", checks: { "db\u001b[31m\nevil": [{ status: "fail" }] } },
    { failing: ["db[31mevil"] },
  ],
];

function check([, body, expected]: Case): void {
  const got = interpretHealthBody(body);
  if (expected === undefined) {
    expect(got).toBeUndefined();
    return;
  }
  expect(got).toBeDefined();
  for (const [key, value] of Object.entries(expected)) {
    const actual = got![key as keyof HealthSummary];
    if (typeof value === "number") expect(actual, key).toBeCloseTo(value, 6);
    else expect(actual, key).toEqual(value);
  }
}

describe("interpretHealthBody", () => {
  it.each(healthJson)("health+json: %s", (...c) => check(c));
  it.each(springActuator)("spring actuator: %s", (...c) => check(c));
  it.each(plainStyle)("plain: %s", (...c) => check(c));
  it.each(notHealth)("not a health body: %s", (...c) => check(c));

  it.each(hostile)("hostile: %s (no throw, quick)", (...c) => {
    const startMs = performance.now();
    check(c);
    expect(performance.now() - startMs).toBeLessThan(1000);
  });

  it("caps the failing list and never pollutes Object.prototype", () => {
    const got = interpretHealthBody({ status: "fail", checks: manyChecks });
    expect(got?.failing.length).toBeGreaterThan(0);
    expect(got?.failing.length).toBeLessThanOrEqual(16);
    expect(({} as Record<string, unknown>).status).toBeUndefined();
  });

  it("returns undefined for a body whose property access throws", () => {
    const trap = new Proxy(
      {},
      {
        get: () => {
          throw new Error("boom");
        },
        getOwnPropertyDescriptor: () => {
          throw new Error("boom");
        },
      },
    );
    expect(interpretHealthBody(trap)).toBeUndefined();
    const getter = Object.defineProperty({}, "status", {
      enumerable: true,
      get: () => {
        throw new Error("boom");
      },
    });
    expect(interpretHealthBody(getter)).toBeUndefined();
  });
});
