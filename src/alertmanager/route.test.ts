import { describe, expect, it } from "vitest";
import type { AlertRoute } from "../config/types.js";
import { alertEvidence, mapAlert, matchRoute } from "./route.js";
import type { WebhookAlert } from "./payload.js";

/** A route as config loading builds it: regular expressions anchored. */
function route(r: {
  match?: Record<string, string>;
  matchRe?: Record<string, string>;
  target?: string;
  targetLabel?: string;
  kind?: string;
  severity?: "P1" | "P2" | "P3" | "P4";
}): AlertRoute {
  return {
    match: r.match ?? {},
    matchRe: Object.fromEntries(Object.entries(r.matchRe ?? {}).map(([k, re]) => [k, new RegExp(`^(?:${re})$`)])),
    ...(r.target && { target: r.target }),
    ...(r.targetLabel && { targetLabel: r.targetLabel }),
    kind: r.kind ?? "server_down",
    ...(r.severity && { severity: r.severity }),
  };
}
const alert = (labels: Record<string, string>, annotations: Record<string, string> = {}): WebhookAlert => ({
  status: "firing",
  labels,
  annotations,
  startsAt: "2024-05-01T12:00:00Z",
  fingerprint: "abc123",
});

describe("matchRoute", () => {
  const routes = [
    route({ match: { alertname: "ApiDown", env: "" }, target: "api" }),
    route({ matchRe: { alertname: "Db.*" }, targetLabel: "instance", kind: "db_disconnect" }),
    route({ matchRe: { alertname: ".*" }, target: "catch-all" }),
  ];
  it.each([
    ["an exact match, where a matcher on the empty value means the label is absent", { alertname: "ApiDown" }, 0],
    ["that label present with a value, so the next route that holds", { alertname: "ApiDown", env: "prod" }, 2],
    ["an anchored regular expression", { alertname: "DbDown" }, 1],
    ["not a prefix match", { alertname: "xDbDown" }, 2],
  ])("%s", (_what, labels, index) => {
    expect(matchRoute(labels, routes)).toBe(index);
  });
  it("none when no route holds", () => {
    expect(matchRoute({ alertname: "Other" }, routes.slice(0, 2))).toBeUndefined();
  });
  it("a label named like an Object prototype key is just absent", () => {
    expect(matchRoute({ alertname: "x" }, [route({ match: { constructor: "" }, target: "t" })])).toBe(0);
  });
});

describe("mapAlert", () => {
  const severities = { server_down: "P1", db_disconnect: "P1", high_latency: "P2" } as const;
  it("takes the target from the route or a label, the severity from the route or the kind", () => {
    expect(mapAlert(alert({ alertname: "A" }), [route({ target: "api", kind: "high_latency" })], severities)).toEqual({
      target: "api",
      kind: "high_latency",
      severity: "P2",
      route: 0,
    });
    expect(
      mapAlert(alert({ alertname: "A", service: "orders-api" }), [route({ targetLabel: "service", severity: "P3" })], severities),
    ).toEqual({ target: "orders-api", kind: "server_down", severity: "P3", route: 0 });
  });
  it.each([
    ["missing", {}, "label service must name a target (it is missing)"],
    ["an option-like value", { service: "--help" }, 'label service must name a target (got "--help")'],
    ["a path", { service: "../../etc/passwd" }, 'got "../../etc/passwd"'],
    ["a line break", { service: "api\nrm -rf /" }, 'got "api rm -rf /"'],
  ])("refuses a target label value that is %s", (_what, labels, detail) => {
    const mapped = mapAlert(alert({ alertname: "A", ...labels }), [route({ targetLabel: "service" })], severities);
    expect(mapped).toMatchObject({ outcome: "bad_target" });
    expect("detail" in mapped && mapped.detail).toContain(detail);
  });
  it("says when no route matches", () => {
    expect(mapAlert(alert({ alertname: "A" }), [route({ match: { alertname: "B" }, target: "x" })], severities)).toMatchObject({
      outcome: "no_route",
    });
  });
});

describe("alertEvidence", () => {
  it("one line: the alert name, when it started, its summary and labels", () => {
    expect(
      alertEvidence(
        alert({ alertname: "ApiDown", service: "api", severity: "critical" }, { summary: "api answers 503", description: "long text" }),
      ),
    ).toBe('alert "ApiDown" firing since 2024-05-01T12:00:00.000Z, api answers 503, labels service="api" severity="critical"');
  });
  it("a hostile label cannot break the line, hide text or start with an option", () => {
    const evil = 'x\n{"level":60,"msg":"forged"}\r\u001b[2J\u202e\u0000';
    const evidence = alertEvidence(alert({ alertname: `-${evil}`, [`k${evil}`]: evil.repeat(50) }, { summary: evil }));
    expect(evidence).not.toMatch(/[\u0000-\u001f\u007f\u202e]/);
    expect(evidence.startsWith("alert ")).toBe(true);
    expect(evidence.length).toBeLessThanOrEqual(300);
    expect(evidence).toContain('alert "-x {\\"level\\":60');
  });
});
