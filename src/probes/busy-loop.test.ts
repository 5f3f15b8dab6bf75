import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpProbe } from "./http.js";
import { runProbe } from "./run.js";

// A server in its own process (so medic's busy loop cannot hold it up) that answers 150 ms after a request.
const SERVER = `require("node:http").createServer((q, s) => setTimeout(() => s.end('{"status":"pass"}'), 150))
  .listen(0, "127.0.0.1", function () { console.log(this.address().port); });`;

let server: ChildProcess;
let port: number;

beforeAll(async () => {
  server = spawn(process.execPath, ["-e", SERVER], { stdio: ["ignore", "pipe", "inherit"] });
  const [line] = (await once(server.stdout!, "data")) as [Buffer];
  port = Number(line.toString().trim());
});
afterAll(() => void server.kill());

/** Holds this process's event loop, as a medic overloaded by its own work would be. */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe("a probe's timeout while medic's own loop is late", () => {
  it("reads an answer that came in time before judging the probe timed out", async () => {
    const probe = httpProbe.create(httpProbe.schema.parse({ url: `http://127.0.0.1:${port}/health` }), {
      target: "t",
      timeoutMs: 300,
      baseDir: "/",
    });
    // The request goes out, the answer arrives at ~150 ms while the loop is held from 100 to 500 ms (in
    // an immediate, as medic's own work is): the next turn of the loop finds the 300 ms timeout due and
    // the answer waiting, unread; timers come first in a turn.
    setTimeout(() => setImmediate(() => busy(400)), 100);
    const obs = await runProbe(probe, { target: "t", timeoutMs: 300 });
    expect(obs.error).toBeUndefined();
    expect(obs.ok).toBe(true);
  });
});
