import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { httpStep } from "../src/playbooks/steps/http.js";
import { incidentRenderer, stepContext } from "./fixtures/steps-context.js";

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

let server: Server;
let base: string;
const seen: Seen[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
      if (req.url!.startsWith("/hang")) return; // never answers
      if (req.url!.startsWith("/fail")) return void res.writeHead(500).end("boom");
      if (req.url!.startsWith("/big")) return void res.writeHead(200).end(Buffer.alloc(1024 * 1024, "x"));
      res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

/** Parse, render and run an http step the way a playbook run does; returns the result and what the server saw. */
async function runHttp(params: unknown, evidence = "db down", timeoutMs = 10_000, signal?: AbortSignal) {
  const before = seen.length;
  const rendered = httpStep.render(httpStep.schema.parse(params), incidentRenderer(evidence));
  const result = await httpStep.run(rendered, stepContext("/", timeoutMs, signal ? { signal } : {}));
  return { result, requests: seen.slice(before) };
}

describe("http step", () => {
  it("sends the method, an encoded path on the same host, headers and a JSON body", async () => {
    const evidence = "../../admin?token=x#frag $(reboot)";
    const { result, requests } = await runHttp(
      {
        url: `${base}/api/incidents/{{ incident.evidence }}/ack?key=s3cret-key`,
        headers: { "X-Incident": "{{ incident.id }}", Authorization: "Bearer hdr-secret" },
        body: { text: "{{ incident.kind }} on {{ target.name }}: {{ incident.evidence }}", count: 2, tags: ["{{ target.labels.team }}"] },
      },
      evidence,
    );
    expect(result.ok).toBe(true);
    expect(requests).toHaveLength(1);
    const [req] = requests;
    expect(req!.method).toBe("POST");
    expect(req!.headers.host).toBe(new URL(base).host);
    expect(req!.url).toBe(`/api/incidents/${encodeURIComponent(evidence)}/ack?key=s3cret-key`);
    expect(req!.headers["x-incident"]).toBe("inc-7");
    expect(req!.headers["content-type"]).toBe("application/json");
    expect(JSON.parse(req!.body)).toEqual({ text: `server_down on orders-api: ${evidence}`, count: 2, tags: ["payments"] });
    expect(result.detail).toMatch(new RegExp(`^POST ${base}/api/incidents/[^ ?]+/ack -> 200 in \\d+`));
    expect(result.detail).not.toMatch(/s3cret|hdr-secret|key=/);
  });

  it("sends userinfo as basic auth but never prints it", async () => {
    const url = new URL(base);
    const { result, requests } = await runHttp({ method: "GET", url: `http://bob:pa55word@${url.host}/hooks/{{ target.name }}` });
    expect(result.ok).toBe(true);
    expect(requests[0]!.method).toBe("GET");
    expect(requests[0]!.url).toBe("/hooks/orders-api");
    expect(requests[0]!.headers.authorization).toBe(`Basic ${Buffer.from("bob:pa55word").toString("base64")}`);
    expect(result.detail).toMatch(new RegExp(`^GET ${base}/hooks/orders-api -> 200`));
    expect(result.detail).not.toMatch(/bob|pa55word/);
  });

  it("fails on a status outside expectStatus", async () => {
    const failed = await runHttp({ url: `${base}/fail` });
    expect(failed.result.ok).toBe(false);
    expect(failed.result.detail).toMatch(/-> 500 in .+\(expected 2xx\)$/);
    const strict = await runHttp({ method: "PUT", url: `${base}/ok`, expectStatus: [202] });
    expect(strict.result.ok).toBe(false);
    expect(strict.result.detail).toContain("-> 200");
    expect(strict.result.detail).toContain("expected 202");
    const lenient = await runHttp({ url: `${base}/fail`, expectStatus: [500] });
    expect(lenient.result.ok).toBe(true);
  });

  it("times out on a server that never answers", async () => {
    const t0 = Date.now();
    const { result, requests } = await runHttp({ url: `${base}/hang?secret=1` }, "x", 500);
    expect(requests).toHaveLength(1);
    expect(result.ok).toBe(false);
    expect(result.detail).toBe(`POST ${base}/hang timed out after 500ms`);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it("stops reading a huge reply and still reports the status", async () => {
    const { result } = await runHttp({ method: "GET", url: `${base}/big` });
    expect(result.ok).toBe(true);
    expect(result.detail).toContain("-> 200");
  });

  it("honours the abort signal", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const { result } = await runHttp({ url: `${base}/hang` }, "x", 30_000, ac.signal);
    expect(result.ok).toBe(false);
    expect(result.detail).toMatch(/aborted after/);
  });

  it("reports a refused connection without throwing", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const { result } = await runHttp({ url: `http://127.0.0.1:${port}/x` });
    expect(result).toMatchObject({ ok: false, detail: `POST http://127.0.0.1:${port}/x failed: ECONNREFUSED` });
  });

  it("refuses external values with line breaks in headers before sending", async () => {
    const before = seen.length;
    expect(() =>
      httpStep.render(
        httpStep.schema.parse({ url: `${base}/x`, headers: { "X-Why": "{{ incident.evidence }}" } }),
        incidentRenderer("a\r\nX-Admin: 1"),
      ),
    ).toThrow(/line break/);
    expect(seen.length).toBe(before);
  });
});
