import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compareIssues, describeValue, formatIssue, redactIssues, splitHint, suggest, type ConfigIssue } from "./issues.js";

const issue = (over: Partial<ConfigIssue>): ConfigIssue => ({
  file: join(process.cwd(), "medic.yaml"),
  line: 14,
  col: 9,
  path: "targets[2].probe.http.url",
  message: 'must be an http(s) URL (got "localhost:8000")',
  hint: "add http://",
  level: "error",
  ...over,
});

describe("formatIssue", () => {
  it("prints file:line:col path: message, folding the hint into the (got ...) parenthesis", () => {
    expect(formatIssue(issue({}))).toBe(
      'medic.yaml:14:9 targets[2].probe.http.url: must be an http(s) URL (got "localhost:8000"; hint: add http://)',
    );
  });

  it("appends a hint in its own parenthesis when there is no got", () => {
    expect(formatIssue(issue({ message: 'unknown key "intervl"', hint: 'did you mean "interval"?', path: "defaults.intervl" }))).toBe(
      'medic.yaml:14:9 defaults.intervl: unknown key "intervl" (hint: did you mean "interval"?)',
    );
  });

  it("omits an empty path and hint, marks warnings, and keeps files outside the cwd absolute", () => {
    expect(formatIssue(issue({ path: "", hint: undefined, message: "file not found" }))).toBe("medic.yaml:14:9 file not found");
    expect(formatIssue(issue({ level: "warning", hint: undefined, message: "x" }))).toBe(
      "medic.yaml:14:9 warning: targets[2].probe.http.url: x",
    );
    expect(formatIssue(issue({ file: "/elsewhere/medic.yaml", path: "", hint: undefined, message: "x" }))).toBe(
      "/elsewhere/medic.yaml:14:9 x",
    );
  });
});

describe("splitHint", () => {
  it("splits a trailing hint, keeping got in the message", () => {
    expect(splitHint('not a duration (got "ten"; hint: write it like 10s)')).toEqual({
      message: 'not a duration (got "ten")',
      hint: "write it like 10s",
    });
    expect(splitHint("must be an http(s) URL (hint: add http://, like http://x)")).toEqual({
      message: "must be an http(s) URL",
      hint: "add http://, like http://x",
    });
    expect(splitHint("plain message")).toEqual({ message: "plain message" });
  });
});

describe("suggest", () => {
  it("finds likely typos, including swapped letters, and nothing for unrelated or tiny words", () => {
    expect(suggest("intervl", ["interval", "timeout"])).toBe("interval");
    expect(suggest("intreval", ["interval", "timeout"])).toBe("interval");
    expect(suggest("Timeout", ["interval", "timeout"])).toBe("timeout");
    expect(suggest("colour", ["interval", "timeout"])).toBeUndefined();
    expect(suggest("P5", ["P1", "P2"])).toBeUndefined();
  });
});

describe("describeValue", () => {
  it("names values the way YAML shows them", () => {
    expect(describeValue("ten")).toBe('"ten"');
    expect(describeValue(5)).toBe("5");
    expect(describeValue(null)).toBe("nothing");
    expect(describeValue([1])).toBe("a list");
    expect(describeValue({ a: 1 })).toBe("a mapping");
    expect(describeValue("x".repeat(100))).toHaveLength(62);
  });
});

describe("redactIssues / compareIssues", () => {
  it("replaces secrets in messages and hints", () => {
    const [out] = redactIssues([issue({ message: "got hunter22 here", hint: "hunter22 again" })], ["hunter22", ""]);
    expect(out!.message).toBe("got [secret] here");
    expect(out!.hint).toBe("[secret] again");
  });

  it("orders by file, then line, then column", () => {
    const sorted = [issue({ file: "/b", line: 1 }), issue({ file: "/a", line: 9, col: 2 }), issue({ file: "/a", line: 9, col: 1 })].sort(
      compareIssues,
    );
    expect(sorted.map((i) => `${i.file}:${i.line}:${i.col}`)).toEqual(["/a:9:1", "/a:9:2", "/b:1:9"]);
  });
});
