import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { AlertRoute } from "../config/types.js";
import { MedicError } from "../lib/errors.js";
import type { WebhookAlert, WebhookPayload } from "./payload.js";
import { receiveAlerts, type ReceiverOptions } from "./receive.js";

const log = pino({ level: "silent" });
const routes: AlertRoute[] = [{ match: { alertname: "ApiDown" }, matchRe: {}, targetLabel: "service", kind: "server_down" }];
const alert = (fingerprint: string, service: string, status: "firing" | "resolved" = "firing"): WebhookAlert => ({
  status,
  labels: { alertname: "ApiDown", service },
  annotations: {},
  startsAt: "2024-05-01T12:00:00Z",
  fingerprint,
});
const payload = (...alerts: WebhookAlert[]): WebhookPayload => ({ version: "4", status: "firing", alerts });

/** A stand-in for the daemon's two calls: one incident per source, a watched set of targets, a failure to throw on demand. */
function fakeDaemon(opts: { watched?: string[]; fail?: Error; resolve?: { incident?: string; resolved: boolean; detail: string } } = {}) {
  const raised: Parameters<ReceiverOptions["daemon"]["raiseExternal"]>[0][] = [];
  const bySource = new Map<string, string>();
  const daemon: ReceiverOptions["daemon"] = {
    raiseExternal(a) {
      if (opts.fail) throw opts.fail;
      if (!(opts.watched ?? ["api"]).includes(a.target)) throw new MedicError("unknown_target", `no target named ${a.target}`);
      raised.push(a);
      const known = bySource.get(a.source);
      if (known) return { incident: known, created: false };
      bySource.set(a.source, `inc-${bySource.size + 1}`);
      return { incident: bySource.get(a.source)!, created: true };
    },
    resolveExternal: async () => opts.resolve ?? { resolved: false, detail: "no open incident came from it" },
  };
  return { daemon, raised };
}

describe("receiveAlerts", () => {
  it("opens one incident per alert source; the same payload again joins it (Alertmanager's retries are harmless)", async () => {
    const { daemon, raised } = fakeDaemon();
    const counted: string[] = [];
    const opts = {
      daemon,
      routes,
      severities: { server_down: "P1" } as const,
      log,
      count: (s: string, o: string) => void counted.push(`${s}:${o}`),
    };
    const first = await receiveAlerts(payload(alert("f1", "api")), opts);
    const again = await receiveAlerts(payload(alert("f1", "api")), opts);
    expect(first).toEqual({ ok: true, results: [{ fingerprint: "f1", status: "firing", outcome: "opened", incident: "inc-1" }] });
    expect(again.ok && again.results[0]).toMatchObject({ outcome: "joined", incident: "inc-1" });
    expect(raised[0]).toMatchObject({
      target: "api",
      kind: "server_down",
      severity: "P1",
      source: "alertmanager:f1",
      evidence: expect.stringMatching(/^alert "ApiDown" firing since/),
    });
    expect(counted).toEqual(["firing:opened", "firing:joined"]);
  });

  it("an alert it cannot route or whose target is not watched is reported and skipped, the rest handled", async () => {
    const { daemon } = fakeDaemon();
    const other: WebhookAlert = { ...alert("f0", "api"), labels: { alertname: "Other" } };
    const r = await receiveAlerts(payload(other, alert("f2", "billing"), alert("f3", "-rf"), alert("f4", "api")), {
      daemon,
      routes,
      severities: {},
      log,
    });
    expect(r.ok && r.results.map((x) => x.outcome)).toEqual(["no_route", "unknown_target", "bad_target", "opened"]);
  });

  it("a resolved alert asks the daemon to verify and close; what it answers becomes the outcome", async () => {
    const cases = [
      [{ resolved: false, detail: "no open incident came from it" }, "not_open"],
      [{ incident: "i1", resolved: true, detail: "verified healthy" }, "resolved"],
      [{ incident: "i1", resolved: false, detail: "the probe still sees server_down" }, "kept_open"],
    ] as const;
    for (const [answer, outcome] of cases) {
      const { daemon } = fakeDaemon({ resolve: answer });
      const r = await receiveAlerts(payload(alert("f1", "api", "resolved")), { daemon, routes, severities: {}, log });
      expect(r.ok && r.results[0]).toMatchObject({ status: "resolved", outcome, detail: answer.detail });
    }
  });

  it.each([
    ["a disk that is full (errno)", Object.assign(new Error("no space left on device"), { code: "ENOSPC" }), true],
    ["a MedicError that says retrying helps", new MedicError("busy", "busy", { retryable: true }), true],
    ["a bug", new TypeError("x is undefined"), false],
  ])("stops at %s and says whether it is transient", async (_what, fail, transient) => {
    const { daemon } = fakeDaemon({ fail });
    const r = await receiveAlerts(payload(alert("f1", "api")), { daemon, routes, severities: {}, log });
    expect(r).toMatchObject({ ok: false, transient, results: [] });
  });
});
