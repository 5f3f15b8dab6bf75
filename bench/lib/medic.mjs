import { spawn } from "node:child_process";
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readFileSync, readSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { now, waitFor } from "./proc.mjs";

export const MEDIC_MAIN = fileURLToPath(new URL("../../dist/cli/main.js", import.meta.url));
export const PLAYBOOKS = fileURLToPath(new URL("../../playbooks", import.meta.url));

/** Guards opened wide: the benchmark breaks the same target again and again on purpose. */
export const OPEN_GUARDS = `safety:
  flapGuard: { maxRuns: 100000, backoff: { initial: 0s, max: 0s }, resetAfter: 1s }
  blastRadius: { concurrent: 20, maxRuns: 100000 }
`;

/**
 * Starts `medic run` on a config written to dir/medic.yaml, its state in dir/state; resolves once its API listens.
 * listenTimeoutMs: how long start-up may take (a first start migrating a long journal takes a while);
 * nodeArgs: options for node before medic's script (a --require of bench/lib/heap-probe.cjs); env: added to the environment.
 */
export async function startMedic(dir, configText, { listenTimeoutMs = 120_000, nodeArgs = [], env = {} } = {}) {
  const configFile = join(dir, "medic.yaml");
  writeFileSync(configFile, configText);
  const child = spawn(
    process.execPath,
    [...nodeArgs, MEDIC_MAIN, "run", "-c", configFile, "--api-listen", "127.0.0.1:0", "--state-dir", join(dir, "state")],
    {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env },
    },
  );
  const spawnedAt = now();
  let out = "",
    err = "",
    port,
    listeningAt;
  child.stdout.on("data", (d) => {
    out += d;
    if (port === undefined) {
      const m = /"port":(\d+)[^\n]*"msg":"api listening"/.exec(out) ?? /"msg":"api listening"[^\n]*"port":(\d+)/.exec(out);
      if (m) ((port = Number(m[1])), (listeningAt = now()));
    }
    if (out.length > 1_000_000) out = out.slice(-100_000); // the port is found early; keep memory flat
  });
  child.stderr.on("data", (d) => (err += d));
  await waitFor("medic's API to listen", () => port !== undefined || child.exitCode !== null, listenTimeoutMs, 20);
  if (port === undefined) throw new Error(`medic exited (${child.exitCode}): ${err.slice(-2000)} ${out.slice(-2000)}`);
  // startupMs: from spawn to the "api listening" line, as it arrived.
  return { child, pid: child.pid, port, startupMs: listeningAt - spawnedAt, journal: join(dir, "state", "journal"), logs: () => out };
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

/** The seq of the newest complete record in a journal folder's segments (0 before the first): how many records medic wrote. */
export function lastSeq(dir) {
  if (!existsSync(dir)) return 0;
  const newest = readdirSync(dir)
    .filter((name) => /^\d{8}\.jsonl$/.test(name))
    .sort()
    .reverse();
  for (const name of newest) {
    const fd = openSync(join(dir, name), "r");
    try {
      const size = fstatSync(fd).size;
      const buf = Buffer.alloc(Math.min(size, 1 << 20));
      readSync(fd, buf, 0, buf.length, size - buf.length);
      const all = buf.toString("utf8").split("\n");
      const lines = (buf.length < size ? all.slice(1) : all).slice(0, -1).reverse(); // a first line cut short, the last unfinished
      for (const l of lines) {
        const seq = /"seq":(\d+)/.exec(l)?.[1];
        if (seq) return Number(seq);
      }
    } finally {
      closeSync(fd);
    }
  }
  return 0;
}
