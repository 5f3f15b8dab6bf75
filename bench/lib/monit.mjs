import { spawn } from "node:child_process";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "./proc.mjs";

/** The monit binary; `npm run bench` installs it with apt when root and missing. */
export const MONIT = "/usr/bin/monit";

/** Monit's version line, or undefined when it is not installed. */
export async function monitVersion() {
  const r = await run(MONIT, ["-V"]);
  return r.code === 0 ? /version ([\d.]+)/.exec(r.stdout)?.[1] : undefined;
}

/** Starts `monit -I` (foreground) with `set daemon 1` and the given checks; its log is dir/monit.log. */
export function startMonit(dir, checks) {
  const rc = join(dir, "monitrc");
  const log = join(dir, "monit.log");
  writeFileSync(
    rc,
    `set daemon 1
set logfile ${log}
set idfile ${join(dir, "monit.id")}
set statefile ${join(dir, "monit.state")}
set pidfile ${join(dir, "monit.pid")}
${checks}
`,
  );
  chmodSync(rc, 0o700); // monit refuses a control file others can read
  const child = spawn(MONIT, ["-I", "-c", rc], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  return {
    child,
    log,
    errors: () => err,
    logText: () => {
      try {
        return readFileSync(log, "utf8");
      } catch {
        return "";
      }
    },
  };
}
