import { appendFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";

/**
 * The watched service: GET /health answers 200 on 127.0.0.1:PORT. SIGUSR2 makes it hang (it
 * accepts and never answers) until it is restarted. Writes its pid to PIDFILE when given (Monit
 * reads it; medic writes its own), and appends "<pid> <process start ms> <ppid>" to STARTS when given
 * (the parent: which medic of a cluster started it). While hung, it appends the arrival time (epoch ms)
 * of each request to PIDFILE.hung: when the probe that hung started.
 * Usage: node service.mjs PORT [PIDFILE|-] [STARTS]
 */
const [port, pidFile, starts] = process.argv.slice(2);
let hung = false;
const server = createServer((req, res) => {
  if (hung) {
    if (pidFile && pidFile !== "-") appendFileSync(`${pidFile}.hung`, `${Math.round(performance.timeOrigin + performance.now())}\n`);
    return;
  }
  res.writeHead(req.url === "/health" ? 200 : 404, { "content-type": "application/json" }).end('{"status":"healthy"}');
});
server.listen(Number(port), "127.0.0.1", () => {
  if (pidFile && pidFile !== "-") writeFileSync(pidFile, `${process.pid}\n`);
  if (starts) writeFileSync(starts, `${process.pid} ${Math.round(performance.timeOrigin)} ${process.ppid}\n`, { flag: "a" });
});
process.on("SIGUSR2", () => (hung = true));
process.on("SIGTERM", () => process.exit(0));
