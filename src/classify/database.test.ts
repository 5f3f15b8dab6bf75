import { describe, expect, it } from "vitest";
import type { Target } from "../config/types.js";
import type { Observation, PostgresFacts } from "../probes/types.js";
import { classify } from "./classify.js";
import type { DependencyView } from "./database.js";

const db: Target = {
  name: "orders-db",
  labels: {},
  probe: { kind: "postgres", params: { url: "postgres://medic@127.0.0.1/postgres" } },
  intervalMs: 10_000,
  timeoutMs: 3_000,
  failureThreshold: 3,
  successThreshold: 2,
  dependsOn: [],
  thresholds: { latencyMs: 2000, poolUtilization: 0.9, memoryUtilization: 0.9, idleInTransactionMs: 60_000, queryMs: 300_000 },
};
const app: Target = {
  ...db,
  name: "orders-api",
  probe: { kind: "http", params: { url: "http://127.0.0.1:8000/health" } },
  dependsOn: ["orders-db"],
};

const failed = (code: string, message = ""): Observation => ({
  target: "orders-db",
  at: 0,
  ok: false,
  latencyMs: 12,
  error: { code, message },
  facts: {},
});
const pgFacts = (over: Partial<PostgresFacts> = {}): PostgresFacts => ({
  version: "15.18",
  inRecovery: false,
  connections: { used: 10, max: 100, reserved: 3 },
  waitingOnLock: 0,
  visibility: "full",
  selectLatencyMs: 1,
  ...over,
});
const healthy = (pg: PostgresFacts, poolUtilization = 0.1): Observation => ({
  target: "orders-db",
  at: 0,
  ok: true,
  latencyMs: 5,
  facts: { postgres: pg, poolUtilization },
});

describe("classify a postgres target", () => {
  it.each([
    ["ECONNREFUSED", "db_disconnect", "P1", "database unreachable: connection refused (ECONNREFUSED) after 12ms"],
    ["ESHUTDOWN", "db_disconnect", "P1", "the database system is shutting down or starting up (ESHUTDOWN) after 12ms"],
    ["ETIMEDOUT", "db_disconnect", "P1", "database did not answer in time (ETIMEDOUT) after 12ms"],
    ["EAUTH", "db_auth_failure", "P1", "authentication failed; restarting will not fix this (EAUTH) after 12ms"],
    ["ETOOMANY", "pool_exhaustion", "P2", "the server refuses new connections: too many clients (ETOOMANY) after 12ms"],
  ])("a probe failing with %s is %s", (code, kind, severity, evidence) => {
    expect(classify(failed(code), db, [], {})).toEqual({ target: "orders-db", kind, severity, evidence });
  });

  it("names an unknown SQLSTATE with the server's message, one line", () => {
    expect(classify(failed("XX000", "internal\nerror"), db, [], {})?.evidence).toBe("database error (XX000): internal error after 12ms");
  });

  it("is pool_exhaustion when connections in use reach the threshold", () => {
    expect(classify(healthy(pgFacts(), 0.93), db, [], {})).toMatchObject({
      kind: "pool_exhaustion",
      evidence: "pool 93% in use (threshold 90%)",
    });
    expect(classify(healthy(pgFacts(), 0.5), db, [], {})).toBeUndefined();
  });

  it("is long_transaction when a session idles in transaction or a query runs past its threshold", () => {
    const idle = classify(healthy(pgFacts({ oldestIdleInTransactionMs: 90_000, waitingOnLock: 2 })), db, [], {});
    expect(idle).toMatchObject({ kind: "long_transaction", severity: "P2" });
    expect(idle?.evidence).toBe("a session idle in transaction for 1m30s (threshold 1m), 2 waiting on locks");
    const query = classify(healthy(pgFacts({ longestQueryMs: 400_000 })), db, [], {});
    expect(query?.evidence).toBe("a query running for 6m40s (threshold 5m)");
    expect(classify(healthy(pgFacts({ oldestIdleInTransactionMs: 30_000, longestQueryMs: 1000 })), db, [], {})).toBeUndefined();
  });
});

describe("an application whose health body says its database is down", () => {
  const body: Observation = {
    target: "orders-api",
    at: 0,
    ok: false,
    latencyMs: 4,
    facts: {
      status: 503,
      body: { status: "unhealthy", database_status: "disconnected" },
      health: { format: "plain", status: "fail", database: "down", failing: [] },
    },
  };
  const dep = (finding: DependencyView["finding"]): DependencyView[] => [{ name: "orders-db", database: true, finding }];

  it("says the application lost its connection when the database answers", () => {
    const f = classify(body, app, [], {}, { dependencies: dep(null) });
    expect(f).toMatchObject({ kind: "db_disconnect", severity: "P1" });
    expect(f?.evidence).toBe(
      'HTTP 503, health body: database down (database_status="disconnected"), orders-db answers: the application lost its connection',
    );
  });

  it("says the database is down too when it is", () => {
    const down = { target: "orders-db", kind: "db_disconnect", severity: "P1" as const, evidence: "refused" };
    expect(classify(body, app, [], {}, { dependencies: dep(down) })?.evidence).toMatch(
      /the database is down too \(orders-db: db_disconnect\)$/,
    );
  });

  it("says nothing about the other side when it is unknown", () => {
    expect(classify(body, app, [], {}, { dependencies: dep(undefined) })?.evidence).toBe(
      'HTTP 503, health body: database down (database_status="disconnected")',
    );
  });
});
