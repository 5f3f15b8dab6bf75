import { createServer } from "node:http";

/**
 * Many HTTP targets in one process: GET /t/<i> on 127.0.0.1:PORT answers 200, except every
 * target whose index is below HANG (10 % of them, say) accepts and never answers. It records the
 * arrival time (epoch ms) of every request per target, to measure the prober's schedule from the
 * outside. GET /_stats returns them; GET /_break/<i> makes target i answer 500 from then on, GET
 * /_mend/<i> makes it answer 200 again; POST /_hook answers "ok" (a stand-in Slack webhook) and counts.
 * Prints "listening PORT" when ready. Usage: node farm.mjs N HANG_COUNT
 */
const n = Number(process.argv[2]);
const hang = Number(process.argv[3]);
const arrivals = Array.from({ length: n }, () => []);
const broken = new Set();
let hooks = 0;
const server = createServer((req, res) => {
  const at = performance.timeOrigin + performance.now();
  const url = req.url ?? "";
  if (url.startsWith("/t/")) {
    const i = Number(url.slice(3));
    if (!(i >= 0 && i < n)) return void res.writeHead(404).end();
    arrivals[i].push(Math.round(at * 10) / 10);
    if (i < hang) return; // accepts, never answers
    res.writeHead(broken.has(i) ? 500 : 200, { "content-type": "application/json" }).end('{"status":"healthy"}');
    return;
  }
  if (url.startsWith("/_break/")) {
    broken.add(Number(url.slice(8)));
    return void res.writeHead(200).end(String(at));
  }
  if (url.startsWith("/_mend/")) {
    broken.delete(Number(url.slice(7)));
    return void res.writeHead(200).end(String(at));
  }
  if (url === "/_hook") {
    hooks++;
    req.resume();
    return void req.on("end", () => res.writeHead(200, { "content-type": "text/plain" }).end("ok"));
  }
  if (url === "/_hooks") return void res.writeHead(200).end(String(hooks));
  if (url === "/_stats") return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ arrivals }));
  res.writeHead(404).end();
});
server.keepAliveTimeout = 60_000;
server.requestTimeout = 0; // hanging requests stay hung until the client gives up
server.headersTimeout = 60_000;
server.maxConnections = 100_000;
server.listen(0, "127.0.0.1", () => console.log(`listening ${server.address().port}`));
process.on("SIGTERM", () => process.exit(0));
