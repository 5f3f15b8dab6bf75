import { spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, get } from "../lib/http.mjs";
import { actionScript, startedByTool } from "../lib/recovery.mjs";
import { alive, killPid, readPid, sleep, waitFor } from "../lib/proc.mjs";

const SERVICE = fileURLToPath(new URL("../lib/service.mjs", import.meta.url));

/** A watched HTTP service (a process); breaks: kill (SIGKILL) and hang (accepts, never answers). */
export const processSubject = {
  name: "process",
  async create(dir, tool) {
    const port = await freePort();
    const pidFile = join(dir, "web.pid");
    const actionsFile = join(dir, "actions.log");
    const url = `http://127.0.0.1:${port}/health`;
    const node = process.execPath;
    // Monit's start and stop run through scripts that note when Monit acted (its log has 1 s resolution).
    const start = actionScript(dir, "start", actionsFile, `${node} ${SERVICE} ${port} ${pidFile} </dev/null >/dev/null 2>&1 &`);
    const stop = actionScript(dir, "stop", actionsFile, `kill -TERM $(cat ${pidFile}) 2>/dev/null; exit 0`);
    return {
      name: "process",
      actionsFile,
      hangLog: `${pidFile}.hung`,
      warmupMs: 4000,
      medicTarget: `  - name: web
    probe: { http: { url: "${url}" } }
    service:
      process:
        start: [${JSON.stringify(node)}, ${JSON.stringify(SERVICE)}, "${port}", ${JSON.stringify(pidFile)}]
        pidFile: ${JSON.stringify(pidFile)}
        stopTimeout: 1s
`,
      monitCheck: `check process web with pidfile ${pidFile}
  start program = "${start}" with timeout 3 seconds
  stop program = "${stop}"
  if failed host 127.0.0.1 port ${port} protocol http request "/health" with timeout 1 seconds then restart
`,
      async up() {
        // Exactly medic's start command: medic acts on a pid file it did not write only when the process runs exactly that.
        spawn(node, [SERVICE, String(port), pidFile], { detached: true, stdio: "ignore" }).unref();
        await waitFor("the service to answer", () => this.healthy(), 10_000, 50);
      },
      async healthy() {
        return (await get(url, 300)).status === 200;
      },
      async break(kind) {
        const pid = readPid(pidFile);
        killPid(pid, kind === "kill" ? "SIGKILL" : "SIGUSR2");
      },
      async down() {
        const pid = readPid(pidFile);
        if (pid && alive(pid)) killPid(pid, "SIGKILL");
        await sleep(50);
      },
    };
  },
};

/** The same service, started by the tool: for medic its `process` service's child, whose exit medic learns of at once. */
export const processChildSubject = startedByTool(processSubject, "process-child");
