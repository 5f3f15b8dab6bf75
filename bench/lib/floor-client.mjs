import { request } from "node:http";
import { connect } from "node:net";

/**
 * A client that does nothing but HTTP checks, each on a fresh connection: RATE per second, started
 * BEAT ms apart in batches, for SECONDS after a 2 s warm-up. Prints {checks, usPerCheck, userUs, systemUs}.
 * Usage: node floor-client.mjs http|net PORT RATE BEAT SECONDS
 */
const [mode, port, rate, beat, seconds] = [process.argv[2], ...process.argv.slice(3).map(Number)];
let done = 0;
let i = 0;

function viaHttp(path) {
  const req = request({ host: "127.0.0.1", port, path, headers: { connection: "close" }, createConnection: (o) => connect(o) }, (res) => {
    res.on("data", () => {});
    res.on("end", () => done++);
  });
  req.on("error", () => {});
  req.end();
}

function viaNet(path) {
  const s = connect({ host: "127.0.0.1", port });
  s.on("connect", () => s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`));
  s.on("data", () => {});
  s.on("end", () => {
    done++;
    s.destroy();
  });
  s.on("error", () => {});
}

const check = mode === "net" ? viaNet : viaHttp;
let owed = 0;
const timer = setInterval(() => {
  owed += (rate * beat) / 1000;
  for (; owed >= 1; owed--) check(`/t/${i++ % 2000}`);
}, beat);
await new Promise((r) => setTimeout(r, 2000));
const [c0, d0] = [process.cpuUsage(), done];
await new Promise((r) => setTimeout(r, seconds * 1000));
const c = process.cpuUsage(c0);
const checks = done - d0;
clearInterval(timer);
process.stdout.write(
  JSON.stringify({ checks, usPerCheck: (c.user + c.system) / checks, userUs: c.user / checks, systemUs: c.system / checks }) + "\n",
);
process.exit(0);
