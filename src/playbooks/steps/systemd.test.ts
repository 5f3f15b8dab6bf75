import { describe, expect, it } from "vitest";
import { incidentRenderer, stepContext, testTarget } from "../../../test/fixtures/steps-context.js";
import { serviceKinds } from "../../services/registry.js";
import { describeUnit, systemdService } from "../../services/systemd.js";
import { buildTemplateVars, createRenderer } from "../template.js";
import { stepKinds } from "./registry.js";
import { resolveUnit, systemdRestart, systemdStart, systemdStop } from "./systemd.js";
import { dropInPath, dropInText, systemdSetEnv } from "./systemd-env.js";
import { systemdSetProperty } from "./systemd-property.js";

// The pure parts of the systemd service and steps: params, rendering, plans. test/systemd.test.ts
// runs them against a real systemd.

const withUnit = (unit = "orders-api.service") => ({ ...testTarget(), service: { kind: "systemd", params: { unit } } });
const labelled = (labels: Record<string, string>) => createRenderer(buildTemplateVars({ ...testTarget(), labels }));
const GiB = 1024 ** 3;

describe("systemd service", () => {
  it("is registered as systemd, with a validated unit", () => {
    expect(serviceKinds.get("systemd")).toBe(systemdService);
    const params = systemdService.schema.parse({ unit: "orders-api.service" });
    expect(systemdService.describe(params)).toBe("systemd unit orders-api.service");
    expect(systemdService.create(params, { target: "orders-api", baseDir: "/" }).describe()).toBe("systemd unit orders-api.service");
    expect(systemdService.schema.safeParse({ unit: "-H.service" }).success).toBe(false);
    expect(systemdService.schema.safeParse({ unit: "orders-api" }).success).toBe(false);
    expect(systemdService.schema.safeParse({ unit: "orders-api.service", extra: 1 }).success).toBe(false);
  });

  it("describes a unit's state in a few words", () => {
    expect(describeUnit({ ActiveState: "active", SubState: "running", MainPID: "42", NRestarts: "0" })).toBe(
      "active (running), main pid 42",
    );
    expect(describeUnit({ ActiveState: "failed", SubState: "failed", Result: "signal", MainPID: "0", NRestarts: "2" })).toBe(
      "failed (signal), 2 automatic restarts",
    );
  });
});

describe("systemd.restart / start / stop", () => {
  it.each([
    ["systemd.restart", systemdRestart, "restart", 90_000],
    ["systemd.start", systemdStart, "start", 60_000],
    ["systemd.stop", systemdStop, "stop", 60_000],
  ] as const)("%s is registered, idempotent, and acts on the target's unit by default", (key, step, verb, timeoutMs) => {
    expect(stepKinds.get(key)).toBe(step);
    expect(step).toMatchObject({ idempotent: true, needsService: false, defaultTimeoutMs: timeoutMs });
    const params = step.schema.parse(null);
    expect(step.describe(step.render(params, incidentRenderer("x")), "systemd unit orders-api.service")).toBe(
      `${verb} systemd unit orders-api.service`,
    );
    expect(step.describe(params, "docker container cache")).toBe(`${verb} the target's systemd unit`);
    expect(step.describe(step.schema.parse({ unit: "b.service" }))).toBe(`${verb} unit b.service`);
  });

  it("fills a unit from labels, and refuses what is not a unit name once rendered", () => {
    const params = systemdRestart.schema.parse({ unit: "{{ target.labels.unit }}" });
    expect(systemdRestart.render(params, labelled({ unit: "worker@2.service" }))).toEqual({ unit: "worker@2.service" });
    expect(() => systemdRestart.render(params, labelled({ unit: "--force" }))).toThrow(
      /renders to an unusable name: "--force" is not a unit name/,
    );
    expect(() => systemdRestart.render(params, labelled({ unit: "x.slice" }))).toThrow(/is a \.slice unit/);
  });

  it("resolves the step's unit, else the target's systemd service, else says what to add", () => {
    expect(resolveUnit({}, withUnit())).toEqual({ unit: "orders-api.service", via: "orders-api's systemd service" });
    expect(resolveUnit({ unit: "b.service" }, withUnit())).toEqual({ unit: "b.service", via: "the step" });
    expect(resolveUnit({}, testTarget())).toEqual({
      error: "no unit to act on: orders-api has no systemd service (hint: add unit: NAME.service to the step)",
    });
    expect(resolveUnit({}, withUnit("a;b.service"))).toMatchObject({ error: expect.stringMatching(/^refusing unit: /) });
  });

  it("fails without running anything when there is no unit", async () => {
    const result = await systemdStop.run({}, stepContext("/", 1000));
    expect(result).toMatchObject({ ok: false, detail: expect.stringMatching(/^no unit to act on/) });
  });
});

describe("systemd.set-property", () => {
  it("is registered and needs a ceiling, and exactly one of value or factor", () => {
    expect(stepKinds.get("systemd.set-property")).toBe(systemdSetProperty);
    expect(systemdSetProperty.idempotent).toBe(false);
    const issues = (params: unknown) =>
      systemdSetProperty.schema.safeParse(params).error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    expect(issues({ property: "MemoryMax", value: "512M" })).toEqual([expect.stringMatching(/^ceiling: /)]);
    expect(issues({ property: "MemoryMax", ceiling: "1G" })).toEqual([
      ": give exactly one of value or factor (hint: value: 512M, or factor: 2)",
    ]);
    expect(issues({ property: "MemoryMax", value: "2G", ceiling: "1G" })).toEqual(["value: value is above the ceiling (2GiB > 1GiB)"]);
    expect(issues({ property: "MemoryMax", value: "lots", ceiling: "1G" })).toEqual([
      "value: not a bytes limit for MemoryMax (hint: a size like 512M or 1GiB)",
    ]);
    expect(issues({ property: "CPUQuota", value: "150%", ceiling: "1G" })).toEqual([
      "ceiling: not a percent limit for CPUQuota (hint: a percentage like 150%)",
    ]);
    expect(issues({ property: "ExecStart", value: "/bin/sh", ceiling: 1 })?.[0]).toMatch(/^property: /);
    expect(issues({ property: "MemoryMax", factor: 1, ceiling: "1G" })).toEqual([
      "factor: factor must be above 1 (hint: 2 doubles the value)",
    ]);
    expect(issues({ unit: "backup.timer", property: "MemoryMax", factor: 2, ceiling: "1G" })?.[0]).toMatch(/^unit: .*is a \.timer unit/);
  });

  it("renders sizes, templates included, and describes the change", () => {
    const step = systemdSetProperty;
    const fixed = step.render(step.schema.parse({ property: "MemoryMax", value: "512M", ceiling: "1G" }), incidentRenderer("x"));
    expect(fixed).toEqual({ property: "MemoryMax", wanted: { value: 512 * 1024 ** 2, ceiling: GiB }, runtime: false });
    expect(step.describe(fixed, "systemd unit orders-api.service")).toBe(
      "set MemoryMax of systemd unit orders-api.service to 512MiB (ceiling 1GiB)",
    );
    const grow = step.render(
      step.schema.parse({ unit: "b.service", property: "CPUQuota", factor: 2, ceiling: "200%", runtime: true }),
      incidentRenderer("x"),
    );
    expect(step.describe(grow)).toBe("raise CPUQuota of unit b.service x2 (ceiling 200%, until reboot)");

    const templated = step.schema.parse({ property: "MemoryMax", value: "{{ target.labels.memory }}", ceiling: "1G" });
    expect(step.render(templated, labelled({ memory: "768M" })).wanted).toEqual({ value: 768 * 1024 ** 2, ceiling: GiB });
    expect(() => step.render(templated, labelled({ memory: "1G\nCPUQuota=1%" }))).toThrow(/which is not a size like 512M/);
    // Past the ceiling is refused when the step runs (planProperty), so the playbook escalates.
    expect(step.render(templated, labelled({ memory: "2G" })).wanted).toEqual({ value: 2 * GiB, ceiling: GiB });
  });
});

describe("systemd.set-env", () => {
  it("is registered and takes a variable name, a whole number and a ceiling", () => {
    expect(stepKinds.get("systemd.set-env")).toBe(systemdSetEnv);
    const issues = (params: unknown) =>
      systemdSetEnv.schema.safeParse(params).error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    expect(systemdSetEnv.schema.parse({ variable: "POOL_MAX_SIZE", factor: 2, ceiling: 80 })).toEqual({
      variable: "POOL_MAX_SIZE",
      factor: 2,
      ceiling: 80,
      runtime: false,
      restart: true,
    });
    expect(issues({ variable: "POOL MAX", value: 1, ceiling: 2 })?.[0]).toMatch(/^variable: variable must be letters, digits and _/);
    expect(issues({ variable: "P", value: "1.5", ceiling: 2 })).toEqual(["value: must be a whole number, like 40"]);
    expect(issues({ variable: "P", value: 90, ceiling: 80 })).toEqual(["value: value is above the ceiling (90 > 80)"]);
    expect(issues({ variable: "P", value: "90", ceiling: 80 })).toEqual(["value: value is above the ceiling (90 > 80)"]);
    expect(issues({ unit: "x.socket", variable: "P", value: 1, ceiling: 2 })?.[0]).toMatch(
      /^unit: .*is a \.socket unit; this takes \.service/,
    );
  });

  it("renders a whole number from a label, and nothing else", () => {
    const params = systemdSetEnv.schema.parse({ variable: "POOL_MAX_SIZE", value: "{{ target.labels.pool }}", ceiling: 80 });
    expect(systemdSetEnv.render(params, labelled({ pool: "40" })).wanted).toEqual({ value: 40, ceiling: 80 });
    expect(() => systemdSetEnv.render(params, labelled({ pool: "40\nExecStart=/bin/sh" }))).toThrow(/which is not a whole number/);
    expect(systemdSetEnv.describe(systemdSetEnv.render(params, labelled({ pool: "40" })), "systemd unit orders-api.service")).toBe(
      "set POOL_MAX_SIZE=40 for systemd unit orders-api.service (ceiling 80) in a drop-in, daemon-reload, restart",
    );
  });

  it("writes a drop-in that says what it replaced and how to undo it", () => {
    expect(dropInPath("orders-api.service", "POOL_MAX_SIZE", false)).toBe(
      "/etc/systemd/system/orders-api.service.d/50-medic-POOL_MAX_SIZE.conf",
    );
    expect(dropInPath("orders-api.service", "POOL_MAX_SIZE", true)).toBe(
      "/run/systemd/system/orders-api.service.d/50-medic-POOL_MAX_SIZE.conf",
    );
    expect(dropInText("POOL_MAX_SIZE", 40, "POOL_MAX_SIZE=20", "orders-api.service", new Date(0))).toBe(
      [
        "# Written by medic at 1970-01-01T00:00:00.000Z. Before: POOL_MAX_SIZE=20.",
        "# To undo: delete this file (or write the value before), then systemctl daemon-reload and systemctl restart orders-api.service.",
        "[Service]",
        "Environment=POOL_MAX_SIZE=40",
        "",
      ].join("\n"),
    );
  });
});
