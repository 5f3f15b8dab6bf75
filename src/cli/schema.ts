import { fileURLToPath } from "node:url";
import { generateSchemas, writeSchemas } from "../config/json-schema.js";
import { EXIT, print } from "./output.js";

const SHIPPED_DIR = fileURLToPath(new URL("../../schema", import.meta.url));

/** `medic schema [--write [dir]]`: the JSON Schemas generated from the config schema. */
export async function schemaCommand(opts: { write?: string | boolean }): Promise<number> {
  if (opts.write) {
    const dir = typeof opts.write === "string" ? opts.write : SHIPPED_DIR;
    await writeSchemas(dir);
    print(`wrote ${Object.keys(generateSchemas()).join(", ")} to ${dir}\n`);
  } else {
    print(JSON.stringify(generateSchemas(), null, 2) + "\n");
  }
  return EXIT.ok;
}
