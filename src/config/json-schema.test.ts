import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { probeKinds } from "../probes/registry.js";
import { stepKinds } from "../playbooks/steps/registry.js";
import { generateSchemas } from "./json-schema.js";

const SHIPPED = fileURLToPath(new URL("../../schema/", import.meta.url));

type Json = Record<string, any>;

describe("generated JSON Schemas", () => {
  it.each(Object.entries(generateSchemas()))("schema/%s matches the zod schema", async (name, schema) => {
    const shipped = await readFile(join(SHIPPED, name), "utf8").catch(() => "(missing)");
    expect(shipped, `schema/${name} is out of date: regenerate it with \`medic schema --write\` (npm run build && npm run schema)`).toBe(
      `${JSON.stringify(schema, null, 2)}\n`,
    );
  });

  it("renders kind selectors as oneOf over exactly the registered kinds", () => {
    const config = generateSchemas()["medic.schema.json"] as Json;
    const probe = config.properties.targets.items.properties.probe;
    expect(probe.oneOf.map((o: Json) => o.required)).toEqual([...probeKinds.keys()].map((k) => [k]));
    expect(probe.oneOf.every((o: Json) => o.additionalProperties === false)).toBe(true);
    const playbook = generateSchemas()["playbook.schema.json"] as Json;
    const step = playbook.properties.steps.items;
    expect(step.oneOf.map((o: Json) => Object.keys(o.properties))).toEqual(
      [...stepKinds.keys()].map((k) => [k, "name", "timeout", "approval", "onlyIf"]),
    );
  });

  it("describes input, with defaults as an operator writes them", () => {
    const config = generateSchemas()["medic.schema.json"] as Json;
    expect(config.properties.defaults.properties.interval).toMatchObject({ default: "10s", type: ["string", "number"] });
    // targets or discovery: which one is checked by medic validate, not by the editor schema.
    expect(config.required).toBeUndefined();
    expect(Object.keys(config.properties)).toEqual(expect.arrayContaining(["targets", "discovery"]));
    expect(config.additionalProperties).toBe(false);
  });
});
