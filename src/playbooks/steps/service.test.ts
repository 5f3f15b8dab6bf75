import { describe, expect, it } from "vitest";
import type { ServiceDriver } from "../../services/types.js";
import { serviceRestart, serviceStart, serviceStop } from "./service.js";
import { stepContext } from "../../../test/fixtures/steps-context.js";

/** A driver that records calls; `hang` waits for the abort signal like a stuck stop would. */
function recordingDriver(hang = false): ServiceDriver & { calls: string[] } {
  const calls: string[] = [];
  const act = (name: string) => async (signal: AbortSignal) => {
    calls.push(name);
    if (hang) await new Promise((r) => signal.addEventListener("abort", r, { once: true }));
    return hang ? { ok: false, detail: "aborted" } : { ok: true, detail: `${name} done` };
  };
  return { calls, describe: () => "fake", start: act("start"), stop: act("stop"), restart: act("restart") };
}

describe("service steps", () => {
  it.each([null, undefined, {}])("take no parameters (%j)", (params) => {
    expect(serviceRestart.schema.parse(params)).toEqual({});
  });
  it("reject parameters they do not know", () => {
    expect(serviceStop.schema.safeParse({ force: true }).success).toBe(false);
  });

  it.each([
    [serviceRestart, "restart", 60_000],
    [serviceStart, "start", 30_000],
    [serviceStop, "stop", 30_000],
  ] as const)("call the driver's %s", async (step, action, timeoutMs) => {
    const driver = recordingDriver();
    const result = await step.run({}, stepContext("/", 1000, { service: driver }));
    expect(driver.calls).toEqual([action]);
    expect(result).toMatchObject({ ok: true, detail: `${action} done` });
    expect(step.defaultTimeoutMs).toBe(timeoutMs);
    expect(step).toMatchObject({ needsService: true, idempotent: true });
  });

  it("end a driver call that overstays the step timeout", async () => {
    const result = await serviceStop.run({}, stepContext("/", 100, { service: recordingDriver(true) }));
    expect(result).toMatchObject({ ok: false, detail: "stop timed out after 100ms: aborted" });
  });

  it("say so when the target has no service", async () => {
    const result = await serviceStart.run({}, stepContext("/", 1000));
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/^target orders-api has no service to start/);
  });
});
