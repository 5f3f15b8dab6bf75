import { describe, expect, it } from "vitest";
import type { Target } from "../config/types.js";
import type { TargetStatus } from "../daemon/ports.js";
import type { Incident, JournalRecord } from "../incidents/types.js";
import { Metrics, type MetricsSource } from "./metrics.js";

/** A stand-in for the daemon's read side: gauges read whatever it holds at scrape time. */
function source(
  targets: TargetStatus[],
  incidents: Partial<Incident>[],
  outbox: Record<string, { queued: number; breaker: "closed" | "open" | "half-open"; failures: number }>,
) {
  return {
    targetsStatus: () => targets,
    liveIncidents: () => new Map(incidents.map((i) => [i.id!, i as Incident])),
    channels: () => outbox,
  } as unknown as MetricsSource;
}
const status = (name: string, up: boolean | null): TargetStatus => ({
  name,
  labels: {},
  probe: "http",
  up,
  open: [],
  ...(up !== null && { latencyMs: 40 }),
});
const lines = (text: string, name: string) => text.split("\n").filter((l) => l.startsWith(name + "{") || l.startsWith(name + " "));

describe("Metrics", () => {
  it("gauges read the daemon at scrape time: a target that went away leaves no stale series", async () => {
    const targets = [status("api", true), status("db", false), status("new", null)];
    const m = new Metrics({ renderReuseMs: 0 });
    m.bind(
      source(
        targets,
        [
          { id: "a", kind: "server_down", severity: "P1", state: "remediating" },
          { id: "b", kind: "server_down", severity: "P1", state: "remediating" },
          { id: "c", kind: "high_latency", severity: "P2", state: "resolved" },
        ],
        { slack: { queued: 3, breaker: "open", failures: 5 }, console: { queued: 0, breaker: "closed", failures: 0 } },
      ),
    );
    let text = await m.text();
    expect(lines(text, "medic_target_up")).toEqual(['medic_target_up{target="api"} 1', 'medic_target_up{target="db"} 0']);
    expect(lines(text, "medic_probe_last_duration_seconds")).toEqual([
      'medic_probe_last_duration_seconds{target="api"} 0.04',
      'medic_probe_last_duration_seconds{target="db"} 0.04',
    ]);
    expect(lines(text, "medic_incidents_open")).toEqual(['medic_incidents_open{kind="server_down",severity="P1",state="remediating"} 2']);
    expect(lines(text, "medic_outbox_depth")).toEqual(['medic_outbox_depth{channel="slack"} 3', 'medic_outbox_depth{channel="console"} 0']);
    expect(lines(text, "medic_notify_breaker_open")).toContain('medic_notify_breaker_open{channel="slack"} 1');
    targets.splice(1, 1);
    text = await m.text();
    expect(lines(text, "medic_target_up")).toEqual(['medic_target_up{target="api"} 1']);
  });

  it("counts rounds by result, observes probe durations and how late rounds started, in seconds", async () => {
    const m = new Metrics();
    const target = { name: "api" } as Target;
    const obs = (latencyMs: number) => ({ target: "api", at: Date.now(), ok: true, latencyMs, facts: {} });
    m.onRoundStart(target, 3);
    m.onRoundStart(target, 400);
    m.onRound(target, obs(20), undefined);
    m.onRound(target, obs(3000), { target: "api", kind: "high_latency", severity: "P2", evidence: "slow" });
    const text = await m.text();
    expect(lines(text, "medic_probe_rounds_total").sort()).toEqual([
      'medic_probe_rounds_total{target="api",result="healthy"} 1',
      'medic_probe_rounds_total{target="api",result="high_latency"} 1',
    ]);
    expect(lines(text, "medic_probe_duration_seconds_sum")).toEqual(["medic_probe_duration_seconds_sum 3.02"]);
    expect(lines(text, "medic_probe_duration_seconds_bucket")).toContain('medic_probe_duration_seconds_bucket{le="0.025"} 1');
    expect(lines(text, "medic_probe_schedule_delay_seconds_bucket")).toEqual(
      expect.arrayContaining([
        'medic_probe_schedule_delay_seconds_bucket{le="0.001"} 0',
        'medic_probe_schedule_delay_seconds_bucket{le="0.005"} 1',
        'medic_probe_schedule_delay_seconds_bucket{le="0.25"} 1',
        'medic_probe_schedule_delay_seconds_bucket{le="0.5"} 2',
      ]),
    );
  });

  it("counts journal records, and a record it cannot make sense of never throws into the daemon", async () => {
    const m = new Metrics();
    m.onRecord({ type: "opened", target: "api", kind: "server_down", severity: "P1", evidence: "x", at: 1, incident: "i" }, undefined);
    // A malformed record (as an older journal might hold) must not break the daemon's append.
    expect(() =>
      m.onRecord({ type: "step_finished", at: 2, incident: "i" } as unknown as JournalRecord, { runs: null } as unknown as Incident),
    ).not.toThrow();
    m.alert("firing", "opened");
    m.request("/api/targets", 200);
    const text = await m.text();
    expect(lines(text, "medic_incidents_opened_total")).toEqual(['medic_incidents_opened_total{kind="server_down",severity="P1"} 1']);
    expect(lines(text, "medic_alertmanager_alerts_total")).toEqual(['medic_alertmanager_alerts_total{status="firing",outcome="opened"} 1']);
    expect(lines(text, "medic_api_requests_total")).toEqual(['medic_api_requests_total{route="/api/targets",code="200"} 1']);
    // Its own registry: nothing lands in prom-client's global one.
    const { register } = await import("prom-client");
    expect(register.getSingleMetric("medic_incidents_opened_total")).toBeUndefined();
  });

  it("reports how late the event loop ran since the previous scrape, and starts again from zero after it", async () => {
    const m = new Metrics({ renderReuseMs: 0 });
    await m.text(); // the first scrape starts the sampling
    try {
      await new Promise((r) => setTimeout(r, 100));
      const blockedUntil = Date.now() + 150;
      while (Date.now() < blockedUntil); // hold the loop: a timer due every 20 ms runs ~150 ms late
      await new Promise((r) => setTimeout(r, 60));
      const value = (text: string, stat: string) =>
        Number(
          lines(text, "medic_event_loop_delay_seconds")
            .find((l) => l.includes(`stat="${stat}"`))
            ?.split(" ")[1],
        );
      const first = await m.text();
      expect(value(first, "max")).toBeGreaterThanOrEqual(0.1);
      expect(value(first, "p50")).toBeLessThan(value(first, "max"));
      await new Promise((r) => setTimeout(r, 100));
      expect(value(await m.text(), "max")).toBeLessThan(value(first, "max"));
    } finally {
      m.stop();
    }
  });

  it("scrapes within a second share one render; a later scrape sees new counts", async () => {
    const m = new Metrics();
    const target = { name: "api" } as Target;
    const obs = { target: "api", at: Date.now(), ok: true, latencyMs: 5, facts: {} };
    m.onRound(target, obs, undefined);
    const [a, b] = await Promise.all([m.text(), m.text()]);
    expect(a).toBe(b);
    m.onRound(target, obs, undefined);
    expect(lines(await m.text(), "medic_probe_rounds_total")).toEqual(['medic_probe_rounds_total{target="api",result="healthy"} 1']);
    await new Promise((r) => setTimeout(r, 1050));
    expect(lines(await m.text(), "medic_probe_rounds_total")).toEqual(['medic_probe_rounds_total{target="api",result="healthy"} 2']);
  });
});
