import { afterEach, describe, expect, it, vi } from "vitest";
import { notifyArgs, parseWatchdog, reloadingState } from "./sd-notify.js";

describe("notifyArgs", () => {
  it("makes one systemd-notify argument per assignment", () => {
    expect(notifyArgs("READY=1")).toEqual(["READY=1"]);
    expect(notifyArgs("RELOADING=1\nMONOTONIC_USEC=5\n")).toEqual(["RELOADING=1", "MONOTONIC_USEC=5"]);
    expect(notifyArgs("STATUS=watching 3 targets, -all fine")).toEqual(["STATUS=watching 3 targets, -all fine"]);
  });

  it.each(["", "ready", "--ready", "-READY=1", "ready=1", "READY=1\n--pid=1"])("refuses %j, which is not KEY=value", (state) => {
    expect(notifyArgs(state)).toBeUndefined();
  });
});

describe("parseWatchdog", () => {
  it("is the interval in ms when it is meant for this process", () => {
    expect(parseWatchdog({ WATCHDOG_USEC: "30000000", WATCHDOG_PID: "42" }, 42)).toBe(30_000);
    expect(parseWatchdog({ WATCHDOG_USEC: "3000000" }, 42)).toBe(3_000);
  });

  it("is undefined when systemd watches someone else or no one", () => {
    expect(parseWatchdog({ WATCHDOG_USEC: "30000000", WATCHDOG_PID: "41" }, 42)).toBeUndefined();
    expect(parseWatchdog({}, 42)).toBeUndefined();
    expect(parseWatchdog({ WATCHDOG_USEC: "0" }, 42)).toBeUndefined();
    expect(parseWatchdog({ WATCHDOG_USEC: "soon" }, 42)).toBeUndefined();
  });
});

describe("reloadingState", () => {
  it("carries the monotonic clock in microseconds", () => {
    const before = process.hrtime.bigint() / 1000n;
    const [reloading, usec] = reloadingState().split("\n");
    expect(reloading).toBe("RELOADING=1");
    const n = BigInt(usec!.replace("MONOTONIC_USEC=", ""));
    expect(n >= before && n <= process.hrtime.bigint() / 1000n).toBe(true);
  });
});

describe("sdNotify", () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
    vi.resetModules();
  });

  it("does nothing outside a unit that listens", async () => {
    delete process.env.NOTIFY_SOCKET;
    vi.resetModules();
    const { sdNotify, watchdogIntervalMs } = await import("./sd-notify.js");
    const failures: string[] = [];
    await sdNotify("READY=1", (d) => failures.push(d));
    expect(failures).toEqual([]);
    expect(watchdogIntervalMs()).toBeUndefined();
  });

  it("takes systemd's variables out of the environment children inherit, and reports a failed send instead of throwing", async () => {
    process.env.NOTIFY_SOCKET = "/nonexistent/medic-test/notify";
    process.env.WATCHDOG_USEC = "4000000";
    process.env.WATCHDOG_PID = String(process.pid);
    vi.resetModules();
    const { sdNotify, watchdogIntervalMs } = await import("./sd-notify.js");
    expect([process.env.NOTIFY_SOCKET, process.env.WATCHDOG_USEC, process.env.WATCHDOG_PID]).toEqual([undefined, undefined, undefined]);
    expect(watchdogIntervalMs()).toBe(4_000);

    const failures: string[] = [];
    await expect(sdNotify("READY=1", (d) => failures.push(d))).resolves.toBeUndefined();
    // systemd-notify ran (or is missing here) and could not reach the socket: said, not thrown.
    expect(failures).toEqual([expect.stringMatching(/^systemd-notify READY=1: /)]);
    await sdNotify("not a notification", (d) => failures.push(d));
    expect(failures[1]).toBe('not a notification: "not a notification"');
  });
});
