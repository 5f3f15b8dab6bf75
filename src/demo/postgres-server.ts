import { execFile } from "node:child_process";
import { chownSync, existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Where PostgreSQL's server programs may be: PATH first, then Debian's and Red Hat's versioned folders (the newest first). */
export function findPostgresBin(
  path = process.env.PATH ?? "",
  roots = { debian: "/usr/lib/postgresql", redhat: "/usr" },
): string | undefined {
  for (const dir of path.split(":")) if (dir && existsSync(join(dir, "pg_ctl")) && existsSync(join(dir, "initdb"))) return dir;
  const versioned = (root: string, pattern: RegExp, bin: (name: string) => string): string[] => {
    try {
      return readdirSync(root)
        .filter((n) => pattern.test(n))
        .sort((a, b) => Number(b.replace(/\D+/g, "")) - Number(a.replace(/\D+/g, "")))
        .map((n) => join(root, bin(n)));
    } catch {
      return [];
    }
  };
  const candidates = [
    ...versioned(roots.debian, /^\d+$/, (v) => join(v, "bin")),
    ...versioned(roots.redhat, /^pgsql-\d+$/, (v) => join(v, "bin")),
  ];
  return candidates.find((dir) => existsSync(join(dir, "pg_ctl")) && existsSync(join(dir, "initdb")));
}

/** How to get the server programs, for a machine that has none. */
export const INSTALL_HINT =
  "install PostgreSQL's server programs (Debian/Ubuntu: apt-get install postgresql; Fedora/RHEL: dnf install postgresql-server; " +
  "macOS: brew install postgresql), or put the folder that holds pg_ctl and initdb on PATH";

/** A throwaway PostgreSQL server on 127.0.0.1 in `dir`, trusting local connections. */
export interface DemoPostgres {
  port: number;
  stop(): Promise<void>;
}

/**
 * initdb + start, as the current user, or as `postgres` when this is root (PostgreSQL refuses to
 * run as root). The data dir lives in `dir`; nothing listens beyond 127.0.0.1.
 */
export async function startDemoPostgres(bin: string, dir: string, port: number): Promise<DemoPostgres> {
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const [uid, gid] = await Promise.all([run("id", ["-u", "postgres"]), run("id", ["-g", "postgres"])]).then(
      (ids) => ids.map((r) => Number(r.stdout.trim())),
      () => {
        throw new Error(
          "PostgreSQL will not run as root, and there is no postgres user to run it as (hint: run medic demo cluster as another user)",
        );
      },
    );
    chownSync(dir, uid!, gid!);
  }
  const tool = (name: string, args: string[]) =>
    asRoot
      ? run("runuser", ["-u", "postgres", "--", join(bin, name), ...args], { timeout: 60_000 })
      : run(join(bin, name), args, { timeout: 60_000 });
  const data = join(dir, "data");
  await tool("initdb", ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  await tool("pg_ctl", ["-D", data, "-l", join(dir, "postgres.log"), "-w", "-t", "60", "-o", options, "start"]);
  return {
    port,
    stop: async () => {
      await tool("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => {});
    },
  };
}
