#!/usr/bin/env node
// `npm run chaos`: the chaos tests of test/chaos-*.test.ts at full counts (MEDIC_CHAOS_FULL=1):
// 20,000 mutated configs, 300 `medic validate` runs, 50 kill -9 runs, a minute under hostile endpoints.
// Replay a failure with MEDIC_CHAOS_SEED=<seed it printed>. Extra arguments go to vitest
// (e.g. `npm run chaos -- test/chaos-kill.test.ts`). Run `npm run build` first: the tests start dist/.
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const args = process.argv.slice(2);
const files = args.some((a) => !a.startsWith("-")) ? [] : ["test/chaos-"];
const res = spawnSync(process.execPath, [resolve(root, "node_modules/vitest/vitest.mjs"), "run", ...files, ...args], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, MEDIC_CHAOS_FULL: "1" },
});
process.exit(res.status ?? 1);
