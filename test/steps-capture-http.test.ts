import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Redactor } from "../src/lib/redact.js";
import type { IncidentEvent } from "../src/incidents/types.js";
import type { RenderedStep } from "../src/playbooks/plan.js";
import { runPlaybook } from "../src/playbooks/run.js";
import { captureHttp, stemOf } from "../src/playbooks/steps/capture-http.js";
import { httpStep } from "../src/playbooks/steps/http.js";
import { stepKinds } from "../src/playbooks/steps/registry.js";
import { dirSink, type DirSink } from "./fixtures/artifact-dir.js";
import { incidentRenderer, stepContext } from "./fixtures/steps-context.js";
import { cleanup, tempDir } from "./harness.js";

// capture.http against a real HTTP server on 127.0.0.1 answering like Spring Boot's actuator and Go's pprof.

const TOKEN = "Bearer hdr-secret-7781";
const LEAKED = "db-password-Zq81";
const THREADS = `"main" #1 prio=5 tid=0x1 runnable\n   at java.lang.Thread.sleep\n   password=${LEAKED}\n`;
const PPROF = gzipSync(Buffer.concat([Buffer.from([0x0a, 0x00, 0x12]), Buffer.alloc(2000, 7)]));
const HUGE = 16 * 1024 * 1024;

interface Seen {
  url: string;
  headers: IncomingMessage["headers"];
  /** The reply's close: finished false means the client let go before the server wrote it all. */
  closed: Promise<{ finished: boolean }>;
}

let server: Server;
let base: string;
const seen: Seen[] = [];

function route(req: IncomingMessage, res: ServerResponse): void {
  const path = req.url!.split("?")[0];
  if (path === "/actuator/threaddump") return void res.writeHead(200, { "content-type": "text/plain;charset=UTF-8" }).end(THREADS);
  if (path === "/debug/pprof/heap") {
    return void res
      .writeHead(200, { "content-type": "application/octet-stream", "content-disposition": 'attachment; filename="heap"' })
      .end(PPROF);
  }
  if (path === "/actuator/heapdump") {
    // 16 MiB written with backpressure: a client that stops reading leaves most of it unwritten.
    res.writeHead(200, { "content-type": "application/octet-stream", "content-disposition": 'attachment; filename="heapdump.hprof"' });
    let sent = 0;
    const pump = (): void => {
      while (sent < HUGE && !res.destroyed) {
        sent += 64 * 1024;
        if (!res.write(Buffer.alloc(64 * 1024, 0xab))) return void res.once("drain", pump);
      }
      if (!res.destroyed) res.end();
    };
    return pump();
  }
  if (path === "/hang") return; // never answers
  if (path === "/fix") return void res.writeHead(204).end();
  // Headers and one line, then nothing.
  if (path === "/trickle") return void res.writeHead(200, { "content-type": "text/plain" }).write("goroutine 1 [running]:\n");
  if (path === "/fail") return void res.writeHead(500, { "content-type": "text/plain" }).end(`boom ${LEAKED}`);
  if (path === "/moved") return void res.writeHead(302, { location: "/elsewhere?token=loc-secret" }).end();
  if (path === "/plain") return void res.writeHead(200).end(`unlabelled text ${LEAKED}\n`); // no content type
  res.writeHead(404).end();
}

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push({
      url: req.url!,
      headers: req.headers,
      closed: new Promise((r) => res.on("close", () => r({ finished: res.writableFinished }))),
    });
    route(req, res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterEach(cleanup);
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function newSink(maxBytes = 1024 * 1024): DirSink {
  const redactor = new Redactor();
  redactor.add([LEAKED]);
  return dirSink(tempDir("medic-capture-http-"), maxBytes, redactor);
}

/** Parses, renders and runs a capture.http step as a playbook run does; returns the result and the requests the server saw. */
async function capture(params: unknown, opts: { sink?: DirSink | null; timeoutMs?: number } = {}) {
  const before = seen.length;
  const sink = opts.sink === null ? undefined : (opts.sink ?? newSink());
  const rendered = captureHttp.render(captureHttp.schema.parse(params), incidentRenderer("heap high"));
  const result = await captureHttp.run(rendered, stepContext("/", opts.timeoutMs ?? 10_000, sink ? { artifacts: sink } : {}));
  return { result, sink, requests: seen.slice(before), rendered };
}

describe("capture.http", () => {
  it("keeps a text thread dump as .txt, redacted by the store, sending the headers", async () => {
    const { result, sink, requests } = await capture({
      url: `${base}/actuator/threaddump`,
      headers: { Authorization: TOKEN, Accept: "text/plain" },
    });
    expect(result.ok).toBe(true);
    expect(requests).toHaveLength(1);
    expect(requests[0]!.headers.authorization).toBe(TOKEN);
    expect(result.artifacts).toHaveLength(1);
    const ref = result.artifacts![0]!;
    expect(ref).toMatchObject({ name: "threaddump-1.txt", truncated: false });
    const kept = sink!.read(ref).toString("utf8");
    expect(kept).toContain('"main" #1 prio=5');
    expect(kept).not.toContain(LEAKED);
    expect(kept).toContain("password=[secret]");
    expect(result.detail).toMatch(
      new RegExp(
        `^kept the reply to GET ${base}/actuator/threaddump \\(200\\) as threaddump-1.txt \\(\\d+ bytes, sha256 ${ref.sha256.slice(0, 12)}…\\) in `,
      ),
    );
  });

  it("keeps a gzipped pprof profile as binary, byte for byte, named after the URL", async () => {
    const { result, sink } = await capture({ url: `${base}/debug/pprof/heap` });
    expect(result.ok).toBe(true);
    const ref = result.artifacts![0]!;
    expect(ref).toMatchObject({ name: "heap-1.gz", bytes: PPROF.length, truncated: false });
    expect(ref.excerpt).toBeUndefined(); // the store's mark of binary data: no excerpt, no redaction
    expect(gunzipSync(sink!.read(ref))).toEqual(gunzipSync(PPROF));
  });

  it("treats a reply without a content type as text when it holds no NUL, so it is still redacted", async () => {
    const { result, sink } = await capture({ url: `${base}/plain`, artifact: "plain-reply" });
    expect(result.artifacts![0]!.name).toBe("plain-reply-1.txt");
    expect(result.artifacts![0]!.excerpt).toBe("unlabelled text [secret]");
    expect(sink!.read(result.artifacts![0]!).toString()).toBe("unlabelled text [secret]\n");
  });

  it("stops reading at the cap, keeps the head marked truncated, and lets go of the connection", async () => {
    const cap = 256 * 1024;
    const { result, sink, requests } = await capture({ url: `${base}/actuator/heapdump` }, { sink: newSink(cap) });
    expect(result.ok).toBe(true);
    const ref = result.artifacts![0]!;
    expect(ref).toMatchObject({ name: "heapdump-1.hprof", bytes: cap, truncated: true });
    expect(sink!.read(ref).equals(Buffer.alloc(cap, 0xab))).toBe(true);
    expect(result.detail).toContain(`as heapdump-1.hprof (${cap} bytes, cut at the cap, sha256 `);
    // The server never got to write its 16 MiB: the step hung up once it had the cap.
    expect(await requests[0]!.closed).toEqual({ finished: false });
  });

  it("a step maxBytes below the store's cap wins", async () => {
    const { result } = await capture({ url: `${base}/actuator/heapdump`, maxBytes: "10KiB" });
    expect(result.artifacts![0]).toMatchObject({ bytes: 10 * 1024, truncated: true });
  });

  it("once the incident's cap is used up, a capture fails, says why, and keeps nothing", async () => {
    const sink = dirSink(tempDir("medic-capture-http-"), 1024 * 1024, undefined, 40);
    const first = await capture({ url: `${base}/actuator/threaddump` }, { sink });
    expect(first.result.artifacts![0]).toMatchObject({ bytes: 40, truncated: true });
    const second = await capture({ url: `${base}/actuator/threaddump` }, { sink });
    expect(second.result.ok).toBe(false);
    expect(second.result.detail).toMatch(
      new RegExp(
        `^GET ${base}/actuator/threaddump -> 200, but could not keep it: incident inc-7 already keeps 40 bytes of artifacts, its cap`,
      ),
    );
    expect(second.result.artifacts).toBeUndefined();
  });

  it("a server that never answers fails within the step timeout and keeps nothing", async () => {
    const { result, sink } = await capture({ url: `${base}/hang` }, { timeoutMs: 400 });
    expect(result.ok).toBe(false);
    expect(result.detail).toBe(`GET ${base}/hang timed out after 400ms`);
    expect(result.durationMs).toBeGreaterThanOrEqual(390);
    expect(result.artifacts).toBeUndefined();
    expect(sink!.saved).toEqual([]);
  });

  it("a reply that stalls midway keeps what came, marked truncated, and fails", async () => {
    const { result, sink } = await capture({ url: `${base}/trickle` }, { timeoutMs: 400 });
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(
      /-> 200, then timed out after 400ms; kept what arrived as trickle-1\.txt \(23 bytes, incomplete, sha256 [0-9a-f]{12}…\)$/,
    );
    expect(result.artifacts![0]).toMatchObject({ truncated: true, bytes: 23 });
    expect(sink!.read(result.artifacts![0]!).toString()).toBe("goroutine 1 [running]:\n");
  });

  it("an abort from the run stops it at once", async () => {
    const controller = new AbortController();
    const rendered = captureHttp.render(captureHttp.schema.parse({ url: `${base}/hang` }), incidentRenderer("x"));
    const running = captureHttp.run(rendered, stepContext("/", 60_000, { signal: controller.signal, artifacts: newSink() }));
    controller.abort();
    const result = await running;
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/^GET .*\/hang aborted after /);
  });

  it("a 500 fails and keeps nothing, not even the error body", async () => {
    const { result, sink } = await capture({ url: `${base}/fail` });
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(new RegExp(`^GET ${base}/fail -> 500 in .*, nothing kept$`));
    expect(result.detail).not.toContain(LEAKED);
    expect(sink!.saved).toEqual([]);
  });

  it("does not follow a redirect, and names where it pointed without its query", async () => {
    const { result, requests } = await capture({ url: `${base}/moved` });
    expect(result.ok).toBe(false);
    expect(requests).toHaveLength(1);
    expect(result.detail).toBe(
      `GET ${base}/moved -> 302: redirect to ${base}/elsewhere not followed, nothing kept (hint: capture the final URL)`,
    );
  });

  it("a header value node:http refuses fails with a code, without quoting the value", async () => {
    const { result, requests } = await capture({
      url: `${base}/actuator/threaddump`,
      headers: { Authorization: "Bearer bad\r\nX-Evil: hdr-secret-9" },
    });
    expect(result).toMatchObject({ ok: false, detail: `GET ${base}/actuator/threaddump failed: ERR_INVALID_CHAR` });
    expect(requests).toHaveLength(0);
  });

  it("a refused connection fails with its code", async () => {
    const { result } = await capture({ url: "http://127.0.0.1:1/actuator/heapdump" });
    expect(result).toMatchObject({ ok: false, detail: "GET http://127.0.0.1:1/actuator/heapdump failed: ECONNREFUSED" });
  });

  it("never shows a header value, userinfo or the query in its description, preview or detail", async () => {
    const url = new URL(base);
    const params = {
      url: `http://ops:pw-in-url-9@${url.host}/actuator/threaddump?key=q-secret-55`,
      headers: { Authorization: TOKEN, "X-Api-Key": "{{ target.name }}-key-3321" },
    };
    const { result, rendered, requests } = await capture(params);
    expect(requests[0]!.headers["x-api-key"]).toBe("orders-api-key-3321");
    const shown = [captureHttp.describe(rendered), ...(await captureHttp.preview!(rendered, stepContext("/", 1000))), result.detail];
    expect(shown[0]).toBe(`capture GET ${base}/actuator/threaddump`);
    for (const line of shown) expect(line).not.toMatch(/hdr-secret|key-3321|pw-in-url|ops:|q-secret|key=/);
  });

  it("with no artifact store for the run, fails without sending anything", async () => {
    const { result, requests } = await capture({ url: `${base}/actuator/threaddump` }, { sink: null });
    expect(result.ok).toBe(false);
    expect(result.detail).toBe(
      `nowhere to keep evidence here (no artifact store for this run); nothing was captured (would GET ${base}/actuator/threaddump)`,
    );
    expect(requests).toHaveLength(0);
  });

  it("says in a plan what it would capture", async () => {
    const rendered = captureHttp.render(
      captureHttp.schema.parse({ url: `${base}/debug/pprof/goroutine?debug=2`, maxBytes: "1MiB" }),
      incidentRenderer("x"),
    );
    expect(await captureHttp.preview!(rendered, stepContext("/", 1000))).toEqual([
      `would capture GET ${base}/debug/pprof/goroutine as goroutine-N (up to 1MiB); nothing captured now`,
    ]);
  });

  it("is registered, a capture kind, and checks its params", () => {
    expect(stepKinds.get("capture.http")).toBe(captureHttp);
    expect(captureHttp).toMatchObject({ capture: true, idempotent: true, needsService: false });
    expect(captureHttp.schema.safeParse({ url: "localhost:8080/x" }).success).toBe(false);
    expect(captureHttp.schema.safeParse({ url: `${base}/x`, artifact: "../etc" }).success).toBe(false);
    expect(captureHttp.schema.safeParse({ url: `${base}/x`, method: "POST" }).success).toBe(false);
    expect(stemOf({ url: "http://h/debug/pprof/goroutine?debug=2" })).toBe("goroutine");
    expect(stemOf({ url: "http://h/" })).toBe("http");
    expect(stemOf({ url: "http://h/debug/2" })).toBe("http-2");
    expect(stemOf({ url: "http://h/a/Heap%20Dump.v2" })).toBe("heap-dump-v2");
  });
});

describe("capture.http in a playbook run", () => {
  it("a capture that hangs is cut at its own timeout, recorded as failed, and the fix after it still runs", async () => {
    const before = seen.length;
    const steps: RenderedStep[] = [
      { kind: "capture.http", step: captureHttp, params: { url: `${base}/hang` }, timeoutMs: 300 },
      { kind: "http", step: httpStep, params: { url: `${base}/fix` }, timeoutMs: 5000 },
    ].map((s, index) => {
      const rendered = s.step.render(s.step.schema.parse(s.params) as never, incidentRenderer("x")) as never;
      return {
        index,
        name: s.kind,
        kind: s.kind,
        step: s.step as never,
        rendered,
        description: s.step.describe(rendered),
        timeoutMs: s.timeoutMs,
      };
    });
    const events: IncidentEvent[] = [];
    const target = stepContext("/", 1000).target;
    const outcome = await runPlaybook({
      record: (e) => void events.push(e),
      runId: "r1",
      steps,
      verifyWithinMs: 1000,
      target,
      baseDir: "/",
      targets: new Map([[target.name, target]]),
      check: async () => undefined,
      observe: async () => ({ target: target.name, at: 0, ok: true, latencyMs: 1, facts: {} }),
      stop: new AbortController().signal,
      signal: new AbortController().signal,
      artifacts: newSink(),
    });
    expect(outcome).toEqual({ outcome: "recovered" });
    const finished = events.filter((e) => e.type === "step_finished");
    expect(finished).toMatchObject([
      { index: 0, outcome: "failed", detail: `capture failed: GET ${base}/hang timed out after 300ms; going on` },
      { index: 1, outcome: "ok", detail: expect.stringMatching(new RegExp(`^POST ${base}/fix -> 204`)) },
    ]);
    expect(seen.slice(before).map((r) => r.url)).toEqual(["/hang", "/fix"]);
  });
});
