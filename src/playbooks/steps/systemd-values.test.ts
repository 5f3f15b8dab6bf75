import { describe, expect, it } from "vitest";
import { formatLimit, parseEnvironment, parseLimit, parseShown, parseTimespanUsec, planProperty, planVariable } from "./systemd-values.js";

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

describe("resource-control values", () => {
  it.each([
    ["bytes", "512M", 512 * MiB],
    ["bytes", "1G", GiB],
    ["bytes", "1.5g", 1.5 * GiB],
    ["bytes", "64K", 65536],
    ["bytes", "1GiB", GiB],
    ["bytes", "50MB", 50e6],
    ["bytes", 4096, 4096],
    ["bytes", "infinity", undefined],
    ["bytes", "50%", undefined],
    ["percent", "150%", 150],
    ["percent", "50", 50],
    ["percent", 200, 200],
    ["percent", "lots", undefined],
    ["count", "4096", 4096],
    ["count", 100, 100],
    ["count", "1.5", undefined],
    ["count", "-1", undefined],
  ] as const)("%s %j is %j", (measure, value, n) => {
    expect(parseLimit(measure, value)).toBe(n);
  });

  it("reads what systemctl show prints", () => {
    expect(parseShown("bytes", "268435456")).toBe(256 * MiB);
    expect(parseShown("bytes", "infinity")).toBe(Infinity);
    expect(parseShown("count", "[not set]")).toBeUndefined();
    expect(parseShown("percent", "1.500000s")).toBe(150);
    expect(parseShown("percent", "500ms")).toBe(50);
    expect(parseShown("percent", "infinity")).toBe(Infinity);
    expect(parseTimespanUsec("1min 30s")).toBe(90e6);
    expect(parseTimespanUsec("soon")).toBeUndefined();
  });

  it("prints values for people", () => {
    expect(formatLimit("bytes", 512 * MiB)).toBe("512MiB");
    expect(formatLimit("percent", 150)).toBe("150%");
    expect(formatLimit("count", Infinity)).toBe("infinity");
    expect(formatLimit("count", undefined)).toBe("not set");
  });
});

describe("planProperty", () => {
  it("sets an absolute value up to the ceiling, and records how to put the old one back", () => {
    expect(planProperty("MemoryMax", { value: 512 * MiB, ceiling: GiB }, "268435456")).toEqual({
      set: 512 * MiB,
      from: 256 * MiB,
      same: false,
      revert: "MemoryMax=268435456",
      detail: "MemoryMax 256MiB -> 512MiB (ceiling 1GiB)",
    });
    expect(planProperty("MemoryMax", { value: 512 * MiB, ceiling: GiB }, "infinity")).toMatchObject({
      revert: "MemoryMax=infinity",
      detail: "MemoryMax infinity -> 512MiB (ceiling 1GiB)",
    });
    expect(planProperty("MemoryMax", { value: 512 * MiB, ceiling: GiB }, "536870912")).toMatchObject({ same: true });
  });

  it("refuses a value past the ceiling", () => {
    expect(planProperty("MemoryMax", { value: 2 * GiB, ceiling: GiB }, "268435456")).toEqual({
      refuse: "MemoryMax: 2GiB is above the ceiling 1GiB: not setting it",
    });
  });

  it("multiplies the current value, stops at the ceiling, and refuses once there", () => {
    expect(planProperty("MemoryMax", { factor: 2, ceiling: GiB }, String(768 * MiB))).toMatchObject({
      set: GiB,
      detail: "MemoryMax 768MiB -> 1GiB (ceiling 1GiB)",
    });
    expect(planProperty("MemoryMax", { factor: 2, ceiling: GiB }, String(GiB))).toEqual({
      refuse: "MemoryMax: already 1GiB, at or past its ceiling 1GiB: not raising it",
    });
    expect(planProperty("MemoryMax", { factor: 2, ceiling: GiB }, "infinity")).toEqual({
      refuse: "MemoryMax: it is infinity now, so there is nothing to multiply by 2 (hint: give a value instead)",
    });
    expect(planProperty("CPUWeight", { factor: 2, ceiling: 1000 }, "[not set]")).toEqual({
      refuse: "CPUWeight: it is not set now, so there is nothing to multiply by 2 (hint: give a value instead)",
    });
  });

  it("reverts CPUQuota and unset properties with an empty assignment", () => {
    expect(planProperty("CPUQuota", { value: 150, ceiling: 200 }, "infinity")).toMatchObject({
      revert: "CPUQuota=",
      detail: "CPUQuota infinity -> 150% (ceiling 200%)",
    });
    expect(planProperty("CPUQuota", { factor: 2, ceiling: 200 }, "500ms")).toMatchObject({ set: 100, revert: "CPUQuota=50%" });
    expect(planProperty("CPUWeight", { value: 500, ceiling: 1000 }, "[not set]")).toMatchObject({ revert: "CPUWeight=" });
    expect(planProperty("TasksMax", { value: 512, ceiling: 1024 }, "infinity")).toMatchObject({ revert: "TasksMax=infinity" });
  });
});

describe("planVariable", () => {
  it("grows a whole number up to its ceiling, remembering what it was", () => {
    expect(planVariable("POOL_MAX_SIZE", { factor: 2, ceiling: 80 }, "20")).toEqual({
      set: 40,
      from: 20,
      same: false,
      revert: "POOL_MAX_SIZE=20",
      detail: "POOL_MAX_SIZE 20 -> 40 (ceiling 80)",
    });
    expect(planVariable("POOL_MAX_SIZE", { factor: 3, ceiling: 80 }, "40")).toMatchObject({ set: 80 });
    expect(planVariable("POOL_MAX_SIZE", { factor: 2, ceiling: 80 }, "80")).toEqual({
      refuse: "POOL_MAX_SIZE: already 80, at or past its ceiling 80: not raising it",
    });
  });

  it("sets a value on an unset variable, but will not multiply one", () => {
    expect(planVariable("POOL_MAX_SIZE", { value: 30, ceiling: 80 }, undefined)).toMatchObject({
      set: 30,
      revert: "POOL_MAX_SIZE unset",
      detail: "POOL_MAX_SIZE unset -> 30 (ceiling 80)",
    });
    expect(planVariable("POOL_MAX_SIZE", { factor: 2, ceiling: 80 }, undefined)).toMatchObject({
      refuse: expect.stringMatching(/unset now, so there is nothing to multiply/),
    });
    expect(planVariable("POOL_MAX_SIZE", { value: 90, ceiling: 80 }, "20")).toEqual({
      refuse: "POOL_MAX_SIZE: 90 is above the ceiling 80: not setting it",
    });
    expect(planVariable("POOL", { factor: 2, ceiling: 80 }, "big")).toEqual({
      refuse: "POOL=big is not a whole number, so there is nothing to multiply",
    });
  });
});

describe("parseEnvironment", () => {
  it("reads systemctl show -p Environment, quoted and escaped", () => {
    expect(parseEnvironment('A=1 "B=two words" C= D=x=y "E=say \\"hi\\""')).toEqual({
      A: "1",
      B: "two words",
      C: "",
      D: "x=y",
      E: 'say "hi"',
    });
    expect(parseEnvironment("")).toEqual({});
  });
});
