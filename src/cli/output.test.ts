import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

describe("CLI output", () => {
  // Redaction is in print/printError: a command that wrote to the streams itself would bypass it.
  it("every command writes through print or printError", () => {
    const dir = import.meta.dirname;
    const direct = readdirSync(dir)
      .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts") && f !== "output.ts")
      .filter((f) => /process\.(?:stdout|stderr)\.write|console\.(?:log|error|warn|info)/.test(readFileSync(join(dir, f), "utf8")));
    expect(direct).toEqual([]);
  });
});
