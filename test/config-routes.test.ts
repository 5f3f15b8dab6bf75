import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config/load.js";
import { positionIn, removeTrees, writeTree } from "./fixtures/config-tmp.js";

afterAll(removeTrees);

const TARGETS = `stateDir: ./state
targets:
  - { name: payments-api, labels: { team: payments }, probe: { tcp: { port: 1 } } }
  - { name: orders-api, probe: { tcp: { port: 2 } } }
`;
const KEY = "k".repeat(32);

async function load(yaml: string) {
  const dir = await writeTree({ "medic.yaml": yaml });
  return loadConfig(join(dir, "medic.yaml"), { env: {} });
}

describe("named channels, policies and routes in medic.yaml", () => {
  it("loads named channels beside the kind-named ones, and the routes in order", async () => {
    const result = await load(`${TARGETS}notify:
  slack: { webhookUrl: "http://127.0.0.1:9/services/T/B/general" }
  channels:
    payments-slack: { slack: { webhookUrl: "http://127.0.0.1:9/services/T/B/payments" } }
    dba-pagerduty: { pagerduty: { routingKey: "${KEY}" } }
escalation:
  policies:
    payments: { P1: [{ notify: [payments-slack] }, { after: 15m, notify: [dba-pagerduty] }] }
  routes:
    - { name: payments, labels: { team: payments }, policy: payments }
    - { kinds: [db_disconnect], severities: [P1], policy: payments, continue: true }
`);
    if (!result.ok) throw new Error(JSON.stringify(result.issues));
    const { notify, escalation } = result.config;
    expect(notify.channels.map((c) => `${c.name}:${c.kind}`)).toEqual([
      "slack:slack",
      "payments-slack:slack",
      "dba-pagerduty:pagerduty",
      "console:console",
    ]);
    expect(escalation.policies.payments!.P1).toEqual([
      { afterMs: 0, notify: ["payments-slack"] },
      { afterMs: 15 * 60_000, notify: ["dba-pagerduty"] },
    ]);
    expect(escalation.routes).toEqual([
      { name: "payments", labels: { team: "payments" }, policy: "payments", continue: false },
      { name: "route 2", kinds: ["db_disconnect"], severities: ["P1"], policy: "payments", continue: true },
    ]);
  });

  it("reports every mistake at once, each at its file:line:col with a hint", async () => {
    const yaml = `${TARGETS}notify:
  slack: { webhookUrl: "http://127.0.0.1:9/services/T/B/general" }
  channels:
    slack: { slack: { webhookUrl: "http://127.0.0.1:9/services/T/B/other" } }
    Payments: { slack: { webhookUrl: "http://127.0.0.1:9/services/T/B/p" } }
    dba-page: { pagerdutty: { routingKey: "${KEY}" } }
escalation:
  P2: [{ notify: [slakc] }]
  policies:
    payments: { P1: [{ notify: [payments-slak] }] }
  routes:
    - { labels: { team: payments }, policy: paymnets }
    - { kinds: [db_disconect], policy: payments }
    - { severities: [P3, P4], policy: payments }
    - { targets: ["*"], policy: payments }
    - { targets: [orders-api], policy: payments }
    - { targets: ["billing-*"], policy: payments }
`;
    const result = await load(yaml);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const got = result.issues.map((i) => ({ line: i.line, col: i.col, path: i.path, message: i.message, hint: i.hint, level: i.level }));
    const routes = yaml.indexOf("routes:");
    const routeLine = (n: number) => positionIn(yaml.slice(routes), "- {", n).line + positionIn(yaml, "routes:").line - 1;
    expect(got).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ ...positionIn(yaml, "Payments"), path: "notify.channels.Payments", level: "error" }),
        expect.objectContaining({
          ...positionIn(yaml, "pagerdutty"),
          path: "notify.channels.dba-page.pagerdutty",
          message: 'unknown channel kind "pagerdutty"',
        }),
        expect.objectContaining({
          line: positionIn(yaml, "    slack: { slack").line,
          path: "notify.channels.slack",
          message: 'a channel named "slack" already exists',
        }),
        expect.objectContaining({
          ...positionIn(yaml, "slakc"),
          path: "escalation.P2[0].notify[0]",
          message: 'no channel named "slakc" is configured',
          hint: 'did you mean "slack"?',
        }),
        expect.objectContaining({
          ...positionIn(yaml, "payments-slak"),
          path: "escalation.policies.payments.P1[0].notify[0]",
          message: 'no channel named "payments-slak" is configured',
        }),
        expect.objectContaining({
          ...positionIn(yaml, "paymnets"),
          path: "escalation.routes[0].policy",
          message: 'no policy named "paymnets"',
          hint: 'did you mean "payments"?',
        }),
        expect.objectContaining({
          ...positionIn(yaml, "db_disconect"),
          path: "escalation.routes[1].kinds[0]",
          message: 'route 2 can never match: no incident is of kind "db_disconect"',
          hint: expect.stringContaining('did you mean "db_disconnect"?'),
        }),
        expect.objectContaining({
          ...positionIn(yaml, "[P3, P4]"),
          path: "escalation.routes[2].severities",
          message: "route 3 can never match",
          hint: expect.stringContaining("policy payments has steps for P1 only"),
        }),
        expect.objectContaining({
          line: routeLine(4),
          path: "escalation.routes[4]",
          message: "route 5 can never match: route 4 above takes every incident it would and does not continue",
        }),
      ]),
    );
    // A shadowed route is reported once, as shadowed, not also as matching no target.
    expect(got.filter((i) => i.path === "escalation.routes[4].targets")).toEqual([]);
    expect(got.filter((i) => i.path.startsWith("escalation.routes[5]"))).toEqual([
      expect.objectContaining({ path: "escalation.routes[5]", message: expect.stringContaining("can never match") }),
    ]);
    expect(routeLine(0)).toBe(positionIn(yaml, "- { labels").line);
  });

  it("a route after one that covers it only at other severities is not reported: it does match", async () => {
    const result = await load(`${TARGETS}escalation:
  policies:
    pay-high: { P1: [{ notify: [console] }] }
    pay-low: { P3: [{ notify: [console] }] }
    dba: { P1: [{ notify: [console] }] }
    everyone: { P1: [{ notify: [console] }], P2: [{ notify: [console] }] }
  routes:
    - { labels: { team: payments }, policy: pay-high }
    - { labels: { team: payments }, policy: pay-low }
    - { kinds: [db_disconnect, pool_exhaustion], policy: dba }
    - { kinds: [pool_exhaustion], policy: everyone }
`);
    if (!result.ok) throw new Error(JSON.stringify(result.issues));
    expect(result.warnings.filter((w) => w.path.startsWith("escalation"))).toEqual([]);
  });

  it("never echoes a credential written literally in an error", async () => {
    const result = await load(`${TARGETS}notify:
  channels:
    mail: { email: { host: smtp.example.com, password: "Sup3rS3cretPw", from: "medic@example.com", to: [ops@example.com] } }
    hook: { webhook: { url: "ftp://hooks.example.com/T0KEN0123456789abcdef" } }
    og: { opsgenie: { apiKey: 12345 } }
`);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const said = JSON.stringify(result.issues);
    expect(result.issues.map((i) => i.path)).toEqual(
      expect.arrayContaining(["notify.channels.mail.email.password", "notify.channels.hook.webhook.url"]),
    );
    for (const secret of ["Sup3rS3cretPw", "T0KEN0123456789abcdef", "12345"]) expect(said).not.toContain(secret);
  });

  it("warns about a route that matches no target, and accepts one a later target may match when discovery is on", async () => {
    const route = `escalation:
  policies: { billing: { P1: [{ notify: [console] }] } }
  routes: [{ targets: ["billing-*"], policy: billing }]
`;
    const result = await load(`${TARGETS}${route}`);
    if (!result.ok) throw new Error(JSON.stringify(result.issues));
    expect(result.warnings.map((w) => w.message)).toContain("route 1 matches no target");
    const discovering = await load(`${TARGETS}discovery: { docker: {} }\n${route}`);
    if (!discovering.ok) throw new Error(JSON.stringify(discovering.issues));
    expect(discovering.warnings.map((w) => w.message)).not.toContain("route 1 matches no target");
  });
});
