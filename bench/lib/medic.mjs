import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { waitFor } from "./proc.mjs";

export const MEDIC_MAIN = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));
export const PLAYBOOKS = fileURLToPath(new URL("../../playbooks", import.meta.url));

/** Guards opened wide: the benchmark breaks the same target again and again on purpose. */
export const OPEN_GUARDS = `safety:
  flapGuard: { maxRuns: 100000, backoff: { initial: 0s, max: 0s }, resetAfter: 1s }
  blastRadius: { concurrent: 20, maxRuns: 100000 }
`;

/**
 * Starts `medic run` on a config written to dir/medic.yaml, its state in dir/state; resolves once its API listens.
 * listenTimeoutMs: how long start-up may take (a first start migrating a long journal takes a while).
 */
export async function startMedic(dir, configText, { listenTimeoutMs = 120_000 } = {}) {
  const configFile = join(dir, "medic.yaml");
  writeFileSync(configFile, configText);
  const child = spawn(
    process.execPath,
    [MEDIC_MAIN, "run", "-c", configFile, "--api-listen", "127.0.0.1:0", "--state-dir", join(dir, "state")],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "",
    err = "",
    port;
  child.stdout.on("data", (d) => {
    out += d;
    if (port === undefined) {
      const m = /"port":(\d+)[^\n]*"msg":"api listening"/.exec(out) ?? /"msg":"api listening"[^\n]*"port":(\d+)/.exec(out);
      if (m) port = Number(m[1]);
    }
    if (out.length > 1_000_000) out = out.slice(-100_000); // the port is found early; keep memory flat
  });
  child.stderr.on("data", (d) => (err += d));
  await waitFor("medic's API to listen", () => port !== undefined || child.exitCode !== null, listenTimeoutMs, 20);
  if (port === undefined) throw new Error(`medic exited (${child.exitCode}): ${err.slice(-2000)} ${out.slice(-2000)}`);
  return { child, pid: child.pid, port, journal: join(dir, "state", "journal"), logs: () => out };
}

/**
 * Journal records so far, from the segments of a journal folder (<stateDir>/journal/NNNNNNNN.jsonl,
 * not the index files), oldest first; a last line still being written is left out. None before the first.
 */
export function readJournal(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => /^\d{8}\.jsonl$/.test(name))
    .sort()
    .flatMap((name) => {
      let text;
      try {
        text = readFileSync(join(dir, name), "utf8");
      } catch {
        return []; // pruned meanwhile
      }
      return text
        .split("\n")
        .slice(0, -1) // "" after the last newline, or a line not finished yet
        .flatMap((l) => {
          try {
            return [JSON.parse(l)];
          } catch {
            return [];
          }
        });
    });
}
