import { describe, expect, it } from "vitest";
import type { CommandResult } from "./exec.js";
import { checkUnitName, describeFailure, parseShow, RESOURCE_TYPES, systemctlArgv, unitName } from "./systemctl.js";

const result = (over: Partial<CommandResult>): CommandResult => ({
  exitCode: 0,
  signal: null,
  stdout: "",
  stderr: "",
  stdoutTruncated: false,
  stderrTruncated: false,
  timedOut: false,
  aborted: false,
  durationMs: 12,
  ...over,
});

describe("unit names", () => {
  it.each([
    "orders-api.service",
    "postgresql@15-main.service",
    "docker.socket",
    "backup.timer",
    "home-x\\x2dy.mount",
    "a:b_c.d.target",
    "x".repeat(247) + ".service",
  ])("accepts %s", (name) => {
    expect(checkUnitName(name)).toBeUndefined();
  });

  it.each([
    ["", /1-255 characters/],
    ["x".repeat(248) + ".service", /1-255 characters/],
    ["-rf.service", /not a unit name/],
    ["orders-api", /not a unit name/],
    ["orders api.service", /not a unit name/],
    ["a;b.service", /not a unit name/],
    ["../etc.service", /not a unit name/],
    ["a/b.service", /not a unit name/],
    ["a@b@c.service", /not a unit name/],
    ["orders.Service", /not a unit name/],
    ["orders.bogus", /is a \.bogus unit; this takes \.service, \.socket/],
    ["postgresql@.service", /is a template \(hint: give an instance, like postgresql@main\.service\)/],
  ])("refuses %j", (name, why) => {
    expect(checkUnitName(name)).toMatch(why);
  });

  it("limits the unit types a caller may take", () => {
    expect(checkUnitName("system.slice", RESOURCE_TYPES)).toBeUndefined();
    expect(checkUnitName("system.slice")).toMatch(/is a \.slice unit/);
    expect(checkUnitName("orders.timer", RESOURCE_TYPES)).toMatch(
      /is a \.timer unit; this takes \.service, \.socket, \.mount, \.swap, \.slice, \.scope/,
    );
  });

  it("checks a literal name when the config loads, and a template when it renders", () => {
    expect(unitName().safeParse("orders-api.service").success).toBe(true);
    expect(unitName().safeParse("{{ target.labels.unit }}").success).toBe(true);
    expect(unitName().safeParse("-x.service").error?.issues[0]?.message).toMatch(/not a unit name/);
  });
});

describe("systemctl argv", () => {
  it("never asks for a password and puts -- before the unit", () => {
    expect(systemctlArgv("restart", "orders-api.service")).toEqual([
      "systemctl",
      "--no-ask-password",
      "restart",
      "--",
      "orders-api.service",
    ]);
    expect(systemctlArgv("set-property", "a.service", ["--runtime"], ["MemoryMax=1024"])).toEqual([
      "systemctl",
      "--no-ask-password",
      "set-property",
      "--runtime",
      "--",
      "a.service",
      "MemoryMax=1024",
    ]);
  });
});

describe("systemctl show", () => {
  it("parses Key=Value lines, keeping = inside values", () => {
    expect(parseShow("ActiveState=active\nEnvironment=A=1 B=2\nMainPID=42\n\nnoise\n")).toEqual({
      ActiveState: "active",
      Environment: "A=1 B=2",
      MainPID: "42",
    });
  });
});

describe("systemctl failures", () => {
  it("is silent on success", () => {
    expect(describeFailure(result({}), "systemctl restart a.service", 1000)).toBeUndefined();
  });

  it.each([
    [
      {
        exitCode: 1,
        stderr:
          "Failed to restart a.service: Interactive authentication required.\nSee system logs and 'systemctl status a.service' for details.\n",
      },
      "systemctl restart a.service failed: Failed to restart a.service: Interactive authentication required. (hint: medic's user is not allowed this: list the unit in the polkit rule, see systemd/medic.rules)",
    ],
    [
      { exitCode: 5, stderr: "Failed to restart nope.service: Unit nope.service not found.\n" },
      "systemctl restart a.service failed: Failed to restart nope.service: Unit nope.service not found. (hint: check the unit name with systemctl list-units --all)",
    ],
    [
      {
        exitCode: 1,
        stderr: "System has not been booted with systemd as init system (PID 1). Can't operate.\nFailed to connect to bus: Host is down\n",
      },
      "systemctl restart a.service failed: Failed to connect to bus: Host is down (hint: systemd does not run this host, or its bus is out of reach)",
    ],
    [
      { exitCode: null, error: { code: "ENOENT", message: "program not found: systemctl" } },
      "cannot run systemctl: program not found: systemctl (hint: medic needs systemctl on its PATH: is this a systemd host?)",
    ],
    [
      { exitCode: null, signal: "SIGTERM", timedOut: true },
      "systemctl restart a.service timed out after 1s (the job may still finish: see systemctl list-jobs)",
    ],
    [{ exitCode: null, signal: "SIGKILL" }, "systemctl restart a.service failed: killed by SIGKILL"],
    [{ exitCode: 1, stderr: "bad \u001b[31mred\u001b[0m\n" }, "systemctl restart a.service failed: bad  [31mred [0m"],
  ])("says why: %j", (over, said) => {
    expect(describeFailure(result(over as Partial<CommandResult>), "systemctl restart a.service", 1000)).toBe(said);
  });
});
