import { describe, expect, it } from "vitest";
import { z } from "zod";
import { processProbe } from "./process.js";

const messages = (input: unknown) => processProbe.schema.safeParse(input).error?.issues.map((i) => i.message) ?? [];

describe("process probe params", () => {
  it("accepts a pid file or a pattern, with a memory limit", () => {
    expect(processProbe.schema.parse({ pidFile: "run/app.pid", memoryLimit: "512MiB" })).toEqual({
      pidFile: "run/app.pid",
      memoryLimit: 512 * 1024 ** 2,
    });
    expect(processProbe.schema.parse({ match: "^/usr/bin/app " })).toEqual({ match: "^/usr/bin/app " });
  });

  it.each([
    ["neither", {}],
    ["both", { pidFile: "/run/x.pid", match: "x" }],
  ])("rejects %s of pidFile/match with a hint", (_, input) => {
    expect(messages(input)).toEqual([expect.stringMatching(/exactly one of pidFile or match \(hint: /)]);
  });

  it.each([
    ["a regex that does not compile", { match: "app(" }, /not a valid regular expression/],
    ["a zero memory limit", { pidFile: "/x", memoryLimit: 0 }, /more than 0/],
    ["an unknown field", { pidFile: "/x", user: "root" }, /Unrecognized key/i],
  ])("rejects %s", (_, input, pattern) => {
    expect(messages(input).join("; ")).toMatch(pattern);
  });

  it("describes what it looks for", () => {
    expect(processProbe.describe({ pidFile: "/run/x.pid" })).toBe("process pid file /run/x.pid");
    expect(processProbe.describe({ match: "^nginx: master" })).toBe("process matching /^nginx: master/");
  });

  it("is representable as JSON Schema", () => {
    const schema = z.toJSONSchema(processProbe.schema, { io: "input" }) as { properties: Record<string, { description?: string }> };
    expect(Object.keys(schema.properties).sort()).toEqual(["match", "memoryLimit", "pidFile"]);
    expect(schema.properties.match?.description).toMatch(/command line/);
  });
});
