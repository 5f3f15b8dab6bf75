import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config/load.js";
import { cleanup, ROOT, tempDir } from "./harness.js";

afterEach(cleanup);

/** The README's config and playbook examples must load: the README stays true. */
describe("README examples", () => {
  it("the config and playbook examples validate", async () => {
    const blocks = [...readFileSync(join(ROOT, "README.md"), "utf8").matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    const dir = tempDir();
    mkdirSync(join(dir, "playbooks"));
    writeFileSync(join(dir, "medic.yaml"), blocks[0]!);
    writeFileSync(join(dir, "playbooks", "example.yaml"), blocks[1]!);
    const result = await loadConfig(join(dir, "medic.yaml"), { env: { ORDERS_DB_PASSWORD: "readme-example" } });
    expect(result.ok ? [] : result.issues).toEqual([]);
    if (!result.ok) return;
    expect(result.config.targets.map((t) => t.name)).toEqual(["orders-api", "orders-db-port", "worker", "orders-db", "cache"]);
    expect(result.config.playbooks.map((p) => p.name)).toEqual(["restart-orders-api"]);
  });
});
