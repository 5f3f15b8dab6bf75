import { describe, expect, it } from "vitest";
import { execStep } from "./exec.js";

describe("exec step params", () => {
  // Found by the chaos fuzzer: zod runs the argv[0] refine even when the list is empty.
  it("an empty argv is an issue with a hint, not a TypeError", () => {
    const res = execStep.schema.safeParse({ argv: [] });
    expect(res.success).toBe(false);
    expect(res.error?.issues.map((i) => i.message)).toEqual([expect.stringContaining("argv needs at least the program to run")]);
  });

  it("a templated program is refused, templated arguments are not", () => {
    expect(execStep.schema.safeParse({ argv: ["{{ target.labels.bin }}"] }).success).toBe(false);
    expect(execStep.schema.safeParse({ argv: ["/bin/echo", "{{ target.name }}"] }).success).toBe(true);
  });
});
