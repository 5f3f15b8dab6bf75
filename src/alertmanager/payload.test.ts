import { describe, expect, it } from "vitest";
import { firing, webhook } from "../../test/fixtures/alertmanager-payload.js";
import { parseWebhook } from "./payload.js";

describe("parseWebhook", () => {
  it("takes a real payload, dropping the fields medic does not use", () => {
    const parsed = parseWebhook(webhook([firing]));
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.payload.alerts[0]).toEqual({
      status: "firing",
      labels: firing.labels,
      annotations: firing.annotations,
      startsAt: firing.startsAt,
      endsAt: firing.endsAt,
      fingerprint: firing.fingerprint,
    });
    expect(parsed.payload).not.toHaveProperty("externalURL");
  });

  it("defaults missing annotations and endsAt", () => {
    const { annotations: _a, endsAt: _e, ...bare } = firing;
    const parsed = parseWebhook(webhook([bare]));
    expect(parsed.ok && parsed.payload.alerts[0]!.annotations).toEqual({});
  });

  it.each([
    ["another version", { ...webhook([firing]), version: "3" }, 'version: must be "4"'],
    ["no alerts list", { ...webhook([]), alerts: undefined }, "alerts:"],
    ["an unknown status", webhook([{ ...firing, status: "pending" }]), "alerts[0].status:"],
    [
      "a fingerprint that is not one",
      webhook([{ ...firing, fingerprint: "../../etc" }]),
      "alerts[0].fingerprint: must be Alertmanager's hex fingerprint",
    ],
    ["a time that is not RFC 3339", webhook([{ ...firing, startsAt: "yesterday" }]), "alerts[0].startsAt: must be an RFC 3339 time"],
    ["a label value that is not a string", webhook([{ ...firing, labels: { alertname: 1 } }]), "alerts[0].labels.alertname:"],
    ["not an object at all", "hello", "(body):"],
  ])("refuses %s, naming where", (_what, body, problem) => {
    const parsed = parseWebhook(body);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.problems.join("; ")).toContain(problem);
  });

  it("shows a hostile label name back stripped of control characters", () => {
    const parsed = parseWebhook(webhook([{ ...firing, labels: { "evil\n\u001b[31mname": 5 } }]));
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.problems[0]).toMatch(/^alerts\[0\]\.labels\.evil name:/);
  });
});
