import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { playbookSchema } from "../playbooks/schema.js";
import { configSchema, kindSelectors } from "./schema.js";

type Json = Record<string, unknown>;

/** The JSON Schemas editors use for medic.yaml and playbooks, generated from the same zod schemas that validate them. */
export function generateSchemas(): { "medic.schema.json": Json; "playbook.schema.json": Json } {
  return {
    "medic.schema.json": toJson(configSchema(), "medic config", "medic.yaml: targets to watch, rules, and where the playbooks are"),
    "playbook.schema.json": toJson(playbookSchema(), "medic playbook", "What medic does for an incident kind on matching targets"),
  };
}

/** Writes the generated schemas into `dir` (the repo's schema/ folder), one file each. */
export async function writeSchemas(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, schema] of Object.entries(generateSchemas())) {
    await writeFile(join(dir, name), `${JSON.stringify(schema, null, 2)}\n`);
  }
}

function toJson(schema: z.ZodType, title: string, description: string): Json {
  const json = z.toJSONSchema(schema, {
    io: "input",
    unrepresentable: "any",
    override: ({ zodSchema, jsonSchema }) => {
      const selector = kindSelectors.get(zodSchema);
      if (!selector) return;
      // Validation says "exactly one kind key" in code; editors need it spelled as oneOf.
      const properties = jsonSchema.properties ?? {};
      const common = Object.fromEntries(selector.common.map((k) => [k, properties[k] ?? {}]));
      jsonSchema.oneOf = selector.kinds.map((kind) => ({
        type: "object",
        properties: { [kind]: properties[kind] ?? {}, ...common },
        required: [kind],
        additionalProperties: false,
      }));
      delete jsonSchema.properties;
      delete jsonSchema.additionalProperties;
    },
  }) as Json;
  const { $schema, ...rest } = json;
  return { $schema, title, description, ...rest };
}
