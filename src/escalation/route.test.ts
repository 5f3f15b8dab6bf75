import { describe, expect, it } from "vitest";
import type { Severity } from "../classify/types.js";
import { DEFAULT_POLICY } from "./policy.js";
import { routeIncident, type NotifyRoute, type RoutingConfig } from "./route.js";

const step = (afterMin: number, ...notify: string[]) => ({ afterMs: afterMin * 60_000, notify });
const route = (r: Partial<NotifyRoute> & { policy: string }, i: number): NotifyRoute => ({ name: `route ${i + 1}`, continue: false, ...r });

const config: RoutingConfig = {
  policy: DEFAULT_POLICY,
  policies: {
    payments: { P1: [step(0, "payments-pd", "payments-slack")], P2: [step(0, "payments-slack")], P3: [step(0, "payments-slack")] },
    dba: { P1: [step(0, "dba-pd")], P2: [step(0, "dba-slack")], P3: [step(0, "dba-slack")], P4: [step(0, "dba-slack")] },
    search: { P1: [step(0, "search-pd")], P2: [step(5, "search-pd")] },
  },
  routes: [
    { kinds: ["db_disconnect", "pool_exhaustion"], policy: "dba", continue: true },
    { targets: ["payments-*"], policy: "payments" },
    { labels: { team: "search" }, severities: ["P1", "P2"] as Severity[], policy: "search" },
  ].map(route),
};

const facts = (target: string, kind: string, severity: Severity, labels: Record<string, string> = {}) => ({
  target,
  kind,
  severity,
  labels,
});

describe("routeIncident: a routing table over targets, labels, kinds and severities", () => {
  const table: [string, ReturnType<typeof facts>, string[], string[]][] = [
    [
      "a payments service down goes to payments",
      facts("payments-api", "server_down", "P1"),
      ["payments"],
      ["payments-pd", "payments-slack"],
    ],
    [
      "a database kind goes to the DBAs and, continuing, to the owning team",
      facts("payments-db", "db_disconnect", "P1"),
      ["dba", "payments"],
      ["dba-pd", "payments-pd", "payments-slack"],
    ],
    ["a database kind on an unowned target: the DBAs only", facts("orders-db", "pool_exhaustion", "P2"), ["dba"], ["dba-slack"]],
    ["a label routes search's P1", facts("idx-7", "server_down", "P1", { team: "search" }), ["search"], ["search-pd"]],
    [
      "search's P3 is outside its route's severities: the default policy",
      facts("idx-7", "high_latency", "P3", { team: "search" }),
      ["default"],
      ["slack"],
    ],
    [
      "a label value that differs does not match",
      facts("idx-7", "server_down", "P1", { team: "searching" }),
      ["default"],
      ["pagerduty", "slack"],
    ],
    ["nothing matches: the default policy", facts("orders-api", "server_down", "P2"), ["default"], ["slack", "pagerduty"]],
    [
      "a route whose policy has no steps at the severity does not take it",
      facts("payments-api", "server_down", "P4"),
      ["default"],
      ["console"],
    ],
  ];
  it.each(table)("%s", (_, f, policies, channels) => {
    const routed = routeIncident(f, config);
    expect(routed.policies).toEqual(policies);
    expect(routed.steps.flatMap((s) => s.notify)).toEqual(channels);
  });

  it("first match wins: a later route that also matches is not followed", () => {
    const both = {
      ...config,
      routes: [route({ targets: ["*"], policy: "search" }, 0), route({ targets: ["payments-*"], policy: "payments" }, 1)],
    };
    expect(routeIncident(facts("payments-api", "server_down", "P1"), both)).toMatchObject({ routes: ["route 1"], policies: ["search"] });
  });

  it("continue merges the steps of every matched policy in time order", () => {
    const routed = routeIncident(facts("idx-1", "db_disconnect", "P2", { team: "search" }), {
      ...config,
      routes: [route({ kinds: ["db_disconnect"], policy: "search", continue: true }, 0), route({ targets: ["*"], policy: "dba" }, 1)],
    });
    expect(routed.steps).toEqual([step(0, "dba-slack"), step(5, "search-pd")]);
  });

  it("a policy whose steps at the severity are an empty list passes the incident on, as one without the severity does", () => {
    const empty = {
      ...config,
      policies: { ...config.policies, quiet: { P1: [] } },
      routes: [route({ targets: ["*"], policy: "quiet" }, 0)],
    };
    expect(routeIncident(facts("orders-api", "server_down", "P1"), empty).policies).toEqual(["default"]);
  });

  it("a raised severity routes again at the new severity", () => {
    expect(routeIncident(facts("idx-7", "high_latency", "P3", { team: "search" }), config).policies).toEqual(["default"]);
    expect(routeIncident(facts("idx-7", "high_latency", "P1", { team: "search" }), config).policies).toEqual(["search"]);
  });
});
