import { describe, expect, it } from "vitest";
import { z } from "zod";
import { buildTemplateVars, createRenderer, TemplateError } from "../template.js";
import type { Target } from "../../config/types.js";
import { testTarget } from "../../../test/fixtures/steps-context.js";
import { postgresCancel, postgresTerminate } from "./postgres.js";
import { resolveConnection } from "./postgres-connect.js";
import { actSql, formatSession, selectSql, sessionParams, type SessionFilter } from "./postgres-sessions.js";

const target: Target = testTarget("orders-api");
const renderer = (evidence: string) =>
  createRenderer(
    buildTemplateVars(target, {
      id: "inc-1",
      kind: "pool_exhaustion",
      severity: "P2",
      target: target.name,
      evidence,
    }),
  );
const filter: SessionFilter = { states: ["idle"], olderThan: 300_000, max: 50, allowSuperuser: false };

describe("postgres step params", () => {
  it("defaults to idle sessions over 5m, 50 at most, never superusers", () => {
    expect(postgresTerminate.schema.parse({})).toEqual({ state: ["idle"], olderThan: 300_000, max: 50, allowSuperuser: false });
    expect(postgresCancel.schema.parse({})).toEqual({ olderThan: 300_000, max: 50, allowSuperuser: false });
  });

  it("takes one state or a list, as written in the design's example", () => {
    expect(postgresTerminate.schema.parse({ state: "idle in transaction", olderThan: "90s" })).toMatchObject({
      state: ["idle in transaction"],
      olderThan: 90_000,
    });
    expect(postgresTerminate.schema.parse({ state: ["idle", "idle", "active"] }).state).toEqual(["idle", "active"]);
  });

  it.each([
    [{ state: "waiting" }, "state"],
    [{ state: [] }, "state"],
    [{ max: 0 }, "max"],
    [{ max: 1001 }, "max"],
    [{ users: [] }, "users"],
    [{ databases: [""] }, "databases"],
    [{ olderThan: "soon" }, "olderThan"],
    [{ user: "app" }, ""],
    [{ connection: { url: "mysql://x" } }, "connection"],
  ])("refuses %j", (params, path) => {
    const r = postgresTerminate.schema.safeParse(params);
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path.join(".")).toMatch(new RegExp(`^${path}`));
  });

  it("cancel has no state: it only ever means running queries", () => {
    expect(postgresCancel.schema.safeParse({ state: "idle" }).success).toBe(false);
    expect(postgresCancel.describe(postgresCancel.render(postgresCancel.schema.parse({ olderThan: "1m" }), renderer("x")))).toBe(
      "cancel up to 50 queries running over 1m (not superusers)",
    );
  });

  it("has a JSON Schema with defaults as an operator writes them", () => {
    const json = z.toJSONSchema(postgresTerminate.schema, { io: "input", unrepresentable: "any" }) as {
      properties: Record<string, { default?: unknown }>;
    };
    expect(json.properties.olderThan!.default).toBe("5m");
    expect(json.properties.state!.default).toEqual(["idle"]);
  });
});

describe("render and describe", () => {
  it("fills templates in names and describes the filter in one line", () => {
    const params = postgresTerminate.schema.parse({
      users: ["app", "{{ target.labels.team }}"],
      databases: ["orders"],
      excludeApplications: ["psql"],
      max: 5,
      olderThan: "10m",
      connection: { url: "postgres://medic:pw@db:5433/orders" },
    });
    const rendered = postgresTerminate.render(params, renderer("x"));
    expect(rendered.users).toEqual(["app", "payments"]);
    expect(rendered.connection).toEqual(params.connection);
    expect(postgresTerminate.describe(rendered)).toBe(
      "terminate up to 5 sessions idle over 10m (databases: orders; users: app, payments; not applications: psql; not superusers) on medic@db:5433/orders",
    );
  });

  it("olderThan may follow the target's thresholds: a template becomes that duration when the step is planned", () => {
    const strict: Target = { ...target, thresholds: { ...target.thresholds, idleInTransactionMs: 3_000, queryMs: 90_500 } };
    const on = createRenderer(buildTemplateVars(strict));
    const idle = postgresTerminate.schema.parse({ state: "idle in transaction", olderThan: "{{ target.thresholds.idleInTransaction }}" });
    expect(idle.olderThan).toBe("{{ target.thresholds.idleInTransaction }}");
    const rendered = postgresTerminate.render(idle, on);
    expect(rendered.olderThan).toBe(3_000);
    expect(postgresTerminate.describe(rendered)).toBe("terminate up to 50 sessions idle in transaction over 3s (not superusers)");
    expect(postgresCancel.render(postgresCancel.schema.parse({ olderThan: "{{ target.thresholds.queryDuration }}" }), on).olderThan).toBe(
      90_500,
    );
  });

  it("refuses an olderThan template that does not render to a duration, saying which do", () => {
    const params = postgresTerminate.schema.parse({ olderThan: "{{ target.labels.team }}" });
    expect(() => postgresTerminate.render(params, renderer("x"))).toThrow(
      /olderThan \{\{ target\.labels\.team \}\} is "payments", not a duration/,
    );
  });

  it("refuses an outside value with a line break in a name", () => {
    const params = postgresTerminate.schema.parse({ users: ["{{ incident.evidence }}"] });
    expect(() => postgresTerminate.render(params, renderer("app\n' OR 1=1"))).toThrow(TemplateError);
  });
});

describe("the SQL", () => {
  it("is fixed text per action, every value a bind parameter", () => {
    const hostile = { ...filter, users: ["x'; DROP TABLE t; --"], applications: ["$1"], databases: ["\\"] };
    for (const action of ["terminate", "cancel"] as const) {
      const text = actSql(action);
      expect(text).not.toMatch(/DROP|\\\\/);
      expect(text).toContain(selectSql(action));
      const placeholders = new Set([...text.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
      expect([...placeholders].sort((a, b) => a - b)).toEqual(sessionParams(hostile).map((_, i) => i + 1));
    }
    expect(actSql("terminate")).toMatch(/pg_terminate_backend\(s\.pid\)/);
    expect(actSql("cancel")).toMatch(/pg_cancel_backend\(s\.pid\)/);
    expect(selectSql("terminate")).toMatch(/a\.state_change </);
    expect(selectSql("cancel")).toMatch(/a\.query_start </);
    expect(selectSql("terminate")).not.toMatch(/pg_(terminate|cancel)_backend/);
  });

  it("never lets an operator touch medic's sessions or other backends", () => {
    const text = selectSql("terminate");
    expect(text).toContain("a.backend_type = 'client backend'");
    expect(text).toContain("a.pid <> pg_backend_pid()");
    expect(sessionParams(filter)[0]!.value).toEqual(["medic", "medic-probe"]);
  });
});

describe("formatSession", () => {
  it("cleans and caps names that clients chose", () => {
    const line = formatSession({
      pid: 7,
      usename: "app",
      datname: "orders",
      application_name: `evil\u001b[2J"${"x".repeat(100)}`,
      state: "idle",
      age_ms: 372_000,
    });
    expect(line).toMatch(/^pid 7 app@orders "evil \[2J\\"x+…" \(idle 6m12s\)$/);
    expect(line).not.toContain("\u001b");
  });
});

describe("resolveConnection", () => {
  const db = (name: string): Target => ({ ...target, name, probe: { kind: "postgres", params: { url: `postgres://u@h/${name}` } } });
  const ctx = (t: Target, all: Target[]) => ({
    target: t,
    targets: new Map(all.map((x) => [x.name, x])),
    signal: AbortSignal.abort(),
    timeoutMs: 1,
    baseDir: "/",
  });

  it("prefers the step's connection, then the target's probe, then its first postgres dependency", () => {
    expect(resolveConnection({ url: "postgres://a@b/c" }, ctx(db("x"), []))).toMatchObject({ via: "the step's connection" });
    expect(resolveConnection(undefined, ctx(db("orders-db"), []))).toMatchObject({ conn: { url: "postgres://u@h/orders-db" } });
    const api = { ...target, dependsOn: ["cache", "db1", "db2"] };
    expect(resolveConnection(undefined, ctx(api, [api, { ...target, name: "cache" }, db("db1"), db("db2")]))).toEqual({
      conn: { url: "postgres://u@h/db1" },
      via: "db1's postgres probe (dependsOn)",
    });
  });
});
