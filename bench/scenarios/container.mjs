import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, get } from "../lib/http.mjs";
import { actionScript } from "../lib/recovery.mjs";
import { run } from "../lib/proc.mjs";

const IMAGE = "medic-test/busybox:latest";
const DOCKER = "/usr/local/bin/docker";

/**
 * A container (busybox httpd, port published on 127.0.0.1) killed with `docker kill`. medic
 * follows the engine's event stream (the shipped restart-container playbook); Monit polls the
 * published port every cycle and runs `docker start` when it fails.
 */
export const containerSubject = {
  name: "container",
  async create(dir, tool) {
    const port = await freePort();
    const name = `medic-bench-${tool}-${process.pid}-${Date.now() % 100000}`;
    const www = join(dir, "www");
    mkdirSync(www);
    writeFileSync(join(www, "health"), "ok\n");
    const actionsFile = join(dir, "actions.log");
    const url = `http://127.0.0.1:${port}/health`;
    const start = actionScript(dir, "start", actionsFile, `exec ${DOCKER} start ${name}`);
    return {
      name: "container",
      actionsFile,
      medicTarget: `  - name: cont
    labels: { runtime: docker }
    probe: { docker: { container: ${name} } }
    service: { docker: { container: ${name}, stopTimeout: 1s } }
`,
      monitCheck: `check host cont with address 127.0.0.1
  if failed port ${port} protocol http request "/health" with timeout 1 seconds then exec "${start}"
`,
      async up() {
        const r = await run(DOCKER, [
          "run",
          "-d",
          "--name",
          name,
          "-p",
          `127.0.0.1:${port}:80`,
          "-v",
          `${www}:/www`,
          IMAGE,
          "/bin/busybox",
          "httpd",
          "-f",
          "-p",
          "80",
          "-h",
          "/www",
        ]);
        if (r.code !== 0) throw new Error(`docker run failed: ${r.stderr}`);
        for (let i = 0; i < 100 && !(await this.healthy()); i++) await new Promise((res) => setTimeout(res, 100));
      },
      async healthy() {
        return (await get(url, 300)).status === 200;
      },
      /** Resolves when the engine says the container died (State.FinishedAt, epoch ms). */
      async break() {
        await run(DOCKER, ["kill", name]);
        const r = await run(DOCKER, ["inspect", "-f", "{{.State.FinishedAt}}", name]);
        return Date.parse(r.stdout.trim());
      },
      async down() {
        await run(DOCKER, ["rm", "-f", name]);
      },
    };
  },
};
