import { existsSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";

/**
 * The demo's service: answers GET /health on 127.0.0.1:PORT in the common plain style. While the
 * file DIR/db-broken exists it reports its database disconnected (503): a fault that survives a
 * restart, as a real database outage would. While DIR/hang exists it accepts connections and
 * never answers, like a process stuck on a lock.
 * Usage: node service.js PORT DIR
 */
const [port, dir] = process.argv.slice(2);
if (!port || !dir) {
  console.error("usage: service.js PORT DIR");
  process.exit(2);
}

const server = createServer((req, res) => {
  if (existsSync(join(dir, "hang"))) return; // keep the socket open, say nothing
  if (req.url !== "/health") {
    res.writeHead(404).end();
    return;
  }
  const broken = existsSync(join(dir, "db-broken"));
  const body = broken
    ? { status: "unhealthy", database_status: "disconnected", connection_pool: { pool_utilization: 0 } }
    : { status: "healthy", database_status: "connected", connection_pool: { pool_utilization: 0.12 } };
  res.writeHead(broken ? 503 : 200, { "content-type": "application/json" }).end(JSON.stringify(body));
});
server.listen(Number(port), "127.0.0.1");
process.on("SIGTERM", () => server.close(() => process.exit(0)));
