import http from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { httpProbe, requestOptions, showUrl } from "./http.js";
import type { Observation } from "./types.js";

const parse = (input: unknown) => httpProbe.schema.safeParse(input);
const messages = (input: unknown) => parse(input).error?.issues.map((i) => i.message) ?? [];

describe("http probe params", () => {
  it("applies defaults", () => {
    expect(httpProbe.schema.parse({ url: "http://127.0.0.1:8000/health" })).toEqual({
      url: "http://127.0.0.1:8000/health",
      method: "GET",
      headers: {},
      maxBodyBytes: 1024 * 1024,
    });
  });

  it("accepts every field, sizes with units", () => {
    const p = httpProbe.schema.parse({
      url: "https://h/x",
      method: "HEAD",
      headers: { "X-Key": "v" },
      expectStatus: [200, 204],
      maxBodyBytes: "64KiB",
    });
    expect(p.maxBodyBytes).toBe(65536);
    expect(p.expectStatus).toEqual([200, 204]);
  });

  it.each([
    ["no scheme", { url: "localhost:8000" }, /http\(s\) URL/],
    ["a template", { url: "http://{{host}}/health" }, /not templates/],
    ["unparseable", { url: "http://[zz/health" }, /not templates|http\(s\) URL/],
    ["an unknown field", { url: "http://h/", timeout: "3s" }, /Unrecognized key/i],
    ["a bad method", { url: "http://h/", method: "DELETE" }, /./],
    ["a status out of range", { url: "http://h/", expectStatus: [700] }, /./],
    ["a header value with a line break", { url: "http://h/", headers: { "X-A": "a\r\nX-Evil: 1" } }, /line breaks/],
    ["a header name with a space", { url: "http://h/", headers: { "X A": "a" } }, /not an HTTP token/],
    ["a bad size", { url: "http://h/", maxBodyBytes: "lots" }, /not a size/],
  ])("rejects %s with one clear message", (_, input, pattern) => {
    const got = messages(input);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatch(pattern);
  });

  it("describes the request without userinfo or query string", () => {
    const params = httpProbe.schema.parse({ url: "http://user:s3cret@127.0.0.1:8000/health?token=abc#x", method: "HEAD" });
    const text = httpProbe.describe(params);
    expect(text).toBe("HEAD http://127.0.0.1:8000/health");
    expect(showUrl(new URL("https://a:b@example.com/p?q=1"))).toBe("https://example.com/p");
  });

  it("is representable as JSON Schema for editors, with descriptions", () => {
    const schema = z.toJSONSchema(httpProbe.schema, { io: "input" }) as {
      properties: Record<string, { description?: string }>;
      required: string[];
      additionalProperties: boolean;
    };
    expect(schema.required).toEqual(["url"]);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.url?.description).toMatch(/URL/);
    expect(schema.properties.maxBodyBytes?.description).toBeTruthy();
  });
});

// Real listeners on 127.0.0.1: each test server records which paths it was asked for.
interface Recorder {
  port: number;
  hits: string[];
  methods: string[];
  server: http.Server;
}
const servers: Recorder[] = [];
afterAll(async () => {
  await Promise.all(
    servers.map(
      (r) =>
        new Promise<void>((done) => {
          r.server.closeAllConnections();
          r.server.close(() => done());
        }),
    ),
  );
});

async function serve(handler: (req: http.IncomingMessage, res: http.ServerResponse, port: number) => void): Promise<Recorder> {
  const rec: Recorder = {
    port: 0,
    hits: [],
    methods: [],
    server: http.createServer((req, res) => {
      rec.hits.push(req.url ?? "");
      rec.methods.push(req.method ?? "");
      handler(req, res, rec.port);
    }),
  };
  servers.push(rec);
  await new Promise<void>((ok) => rec.server.listen(0, "127.0.0.1", () => ok()));
  rec.port = (rec.server.address() as AddressInfo).port;
  return rec;
}

const run = (params: Record<string, unknown>, timeoutMs = 5000): Promise<Observation> =>
  httpProbe.create(httpProbe.schema.parse(params), { target: "t", timeoutMs, baseDir: "/" }).run(AbortSignal.timeout(timeoutMs));

describe("http probe: redirects", () => {
  let app: Recorder;
  let other: Recorder;
  const at = (path: string, port = app.port) => `http://127.0.0.1:${port}${path}`;

  beforeAll(async () => {
    other = await serve((_, res) => res.writeHead(200).end("{}"));
    app = await serve((req, res) => {
      const path = new URL(req.url ?? "/", "http://x").pathname;
      const hop = /^\/hop\/(\d+)$/.exec(path);
      if (hop)
        return void (hop[1] === "0" ? res.writeHead(200).end("ok") : res.writeHead(302, { location: `/hop/${Number(hop[1]) - 1}` }).end());
      const redirect = (status: number, location: string) => res.writeHead(status, { location }).end("moved");
      switch (path) {
        case "/ok":
          return void res.writeHead(200, { "content-type": "application/json" }).end('{"status":"pass"}');
        case "/boom":
          return void res.writeHead(500).end();
        case "/start":
          return redirect(302, "/ok");
        case "/see-other":
          return redirect(303, "/ok");
        case "/temporary":
          return redirect(307, "/ok");
        case "/to-boom":
          return redirect(301, "/boom");
        case "/loop":
          return redirect(302, req.url ?? "/loop");
        case "/ping":
          return redirect(308, "/pong?x=1");
        case "/pong":
          return redirect(308, "/ping");
        case "/absolute":
          return redirect(302, at("/ok"));
        case "/away":
          return redirect(302, at("/health", other.port));
        case "/tls":
          return redirect(302, `https://127.0.0.1:${app.port}/ok`);
        case "/nowhere":
          return void res.writeHead(302).end();
        case "/bad-location":
          return redirect(302, "http://[::zz/");
        case "/slow-a":
          return void setTimeout(() => redirect(302, "/slow-b"), 700);
        case "/slow-b":
          return void setTimeout(() => redirect(302, "/ok"), 700);
        default:
          return void res.writeHead(404).end();
      }
    });
  });

  it.each([["/start"], ["/absolute"]])(
    "follows a same-origin redirect (%s) to a healthy page: ok, one hop, the final status",
    async (path) => {
      app.hits.length = 0;
      const obs = await run({ url: at(path) });
      expect(obs).toMatchObject({ ok: true, facts: { status: 200, redirects: 1, health: { status: "pass" } } });
      expect(obs.error).toBeUndefined();
      expect(app.hits).toEqual([path, "/ok"]);
    },
  );

  it("the final answer decides: a redirect to a 500 is a failed probe with status 500", async () => {
    const obs = await run({ url: at("/to-boom") });
    expect(obs).toMatchObject({ ok: false, facts: { status: 500, redirects: 1 } });
  });

  it("303 and a 301/302 after a POST continue as GET; 307 keeps the method", async () => {
    app.methods.length = 0;
    expect((await run({ url: at("/see-other"), method: "POST" })).ok).toBe(true);
    expect((await run({ url: at("/start"), method: "POST" })).ok).toBe(true);
    expect((await run({ url: at("/temporary"), method: "POST" })).ok).toBe(true);
    expect(app.methods).toEqual(["POST", "GET", "POST", "GET", "POST", "POST"]);
  });

  it("a redirect loop is a failed probe naming the chain, without the query string", async () => {
    const obs = await run({ url: at("/loop?token=sekrit") });
    expect(obs.ok).toBe(false);
    expect(obs.facts.status).toBe(302);
    expect(obs.error?.code).toBe("REDIRECT_LOOP");
    expect(obs.error?.message).toBe(
      `GET http://127.0.0.1:${app.port}/loop: redirect loop /loop -> /loop (hint: point the probe at the final URL)`,
    );
    const pingPong = await run({ url: at("/ping") });
    expect(pingPong.error).toMatchObject({ code: "REDIRECT_LOOP", message: expect.stringContaining("/ping -> /pong -> /ping") });
  });

  it("follows up to 5 hops; the 6th is a failed probe", async () => {
    expect(await run({ url: at("/hop/5") })).toMatchObject({ ok: true, facts: { status: 200, redirects: 5 } });
    app.hits.length = 0;
    const obs = await run({ url: at("/hop/6") });
    expect(obs.ok).toBe(false);
    expect(obs.error?.code).toBe("TOO_MANY_REDIRECTS");
    expect(obs.error?.message).toContain("more than 5 redirects /hop/6 -> /hop/5 -> /hop/4 -> /hop/3 -> /hop/2 -> /hop/1 -> /hop/0");
    expect(obs.error?.message).toContain("point the probe at the final URL");
    // The 7th URL is named but never requested.
    expect(app.hits).toEqual(["/hop/6", "/hop/5", "/hop/4", "/hop/3", "/hop/2", "/hop/1"]);
  });

  it("a redirect to another origin (another port) is not followed: failed, naming the origin", async () => {
    other.hits.length = 0;
    const obs = await run({ url: at("/away") });
    expect(obs.ok).toBe(false);
    expect(obs.error?.code).toBe("REDIRECT_ELSEWHERE");
    expect(obs.error?.message).toContain(`another origin (http://127.0.0.1:${other.port})`);
    expect(obs.error?.message).toContain("point the probe at the final URL");
    const tls = await run({ url: at("/tls") });
    expect(tls.error).toMatchObject({ code: "REDIRECT_ELSEWHERE", message: expect.stringContaining(`https://127.0.0.1:${app.port}`) });
    expect(other.hits).toEqual([]);
  });

  it("expectStatus listing the 3xx takes it as the answer: ok, not followed", async () => {
    app.hits.length = 0;
    const obs = await run({ url: at("/start"), expectStatus: [302] });
    expect(obs).toMatchObject({ ok: true, facts: { status: 302 } });
    expect(obs.facts.redirects).toBeUndefined();
    expect(app.hits).toEqual(["/start"]);
    // Listing other codes still follows.
    expect(await run({ url: at("/start"), expectStatus: [200] })).toMatchObject({ ok: true, facts: { status: 200, redirects: 1 } });
  });

  it("a 3xx without a usable Location is judged by its status", async () => {
    expect(await run({ url: at("/nowhere") })).toMatchObject({ ok: true, facts: { status: 302 } });
    expect(await run({ url: at("/bad-location") })).toMatchObject({ ok: true, facts: { status: 302 } });
    expect((await run({ url: at("/nowhere"), expectStatus: [200] })).ok).toBe(false);
  });

  it("every hop shares the probe's one timeout", async () => {
    app.hits.length = 0;
    const obs = await run({ url: at("/slow-a") }, 1000);
    expect(obs.ok).toBe(false);
    expect(obs.error?.code).toBe("ETIMEDOUT");
    // Each hop alone answers within the timeout; together they do not.
    expect(app.hits).toEqual(["/slow-a", "/slow-b"]);
  });
});

describe("http probe: the request", () => {
  const hostOf = (url: string): unknown => {
    const req = http.request(requestOptions(new URL(url), "GET", {}));
    req.on("error", () => {});
    const host = req.getHeader("host");
    req.destroy();
    return host;
  };

  it("names the port in Host only when the URL does, as with an agent", () => {
    expect(hostOf("http://localhost/health")).toBe("localhost");
    expect(hostOf("http://[::1]/health")).toBe("[::1]");
    expect(hostOf("http://127.0.0.1:8080/health")).toBe("127.0.0.1:8080");
    expect(hostOf("http://[::1]:8080/health")).toBe("[::1]:8080");
  });

  it("sends the URL's user and password percent-decoded, as Basic credentials", async () => {
    let auth: string | undefined;
    const rec = await serve((req, res) => {
      auth = req.headers.authorization;
      res.end("ok");
    });
    const obs = await run({ url: `http://us%40er:p%3As%20s@127.0.0.1:${rec.port}/health?x=1` });
    expect(obs.ok).toBe(true);
    expect(auth).toBe(`Basic ${Buffer.from("us@er:p:s s").toString("base64")}`);
    expect(rec.hits).toEqual(["/health?x=1"]);
  });

  it("refuses a user or password whose % does not decode, with a hint", () => {
    expect(messages({ url: "http://admin:50%off@127.0.0.1:8000/health" })).toEqual([
      "the user or password in the URL has a % that is not followed by two hex digits (hint: write % as %25)",
    ]);
  });
});

describe("http probe: body size", () => {
  const KIB = 1024;
  let app: Recorder;
  const at = (path: string) => `http://127.0.0.1:${app.port}${path}`;

  beforeAll(async () => {
    app = await serve((req, res) => {
      const path = new URL(req.url ?? "/", "http://x").pathname;
      // No content-length: chunked, so only reading tells the size.
      if (path === "/over") return void res.writeHead(200).end("x".repeat(KIB + 1));
      if (path === "/exact") return void res.writeHead(200).end("x".repeat(KIB));
      if (path === "/exact-length") return void res.writeHead(200, { "content-length": String(KIB) }).end("x".repeat(KIB));
      // Declares 1 GB, then sends nothing: only a probe that trusts the header ends before the timeout.
      if (path === "/declared") return void res.writeHead(200, { "content-length": String(1024 ** 3) }).flushHeaders();
      res.writeHead(404).end();
    });
  });

  it("a body of maxBodyBytes + 1 is a failed probe, cut off, with its excerpt kept", async () => {
    const obs = await run({ url: at("/over"), maxBodyBytes: "1KiB" });
    expect(obs.ok).toBe(false);
    expect(obs.facts).toMatchObject({ status: 200, bodyTruncated: true });
    expect(obs.facts.bodyExcerpt).toMatch(/^x{512}$/);
    expect(obs.error).toEqual({
      code: "BODY_TOO_LARGE",
      message: `GET http://127.0.0.1:${app.port}/over: health body larger than 1KiB (maxBodyBytes); cut off (hint: keep health answers small, or raise maxBodyBytes)`,
    });
  });

  it.each([["/exact"], ["/exact-length"]])("a body of exactly maxBodyBytes (%s) is fine", async (path) => {
    const obs = await run({ url: at(path), maxBodyBytes: "1KiB" });
    expect(obs.ok).toBe(true);
    expect(obs.error).toBeUndefined();
    expect(obs.facts.bodyTruncated).toBeUndefined();
  });

  it("a Content-Length over the limit fails at once, without waiting for the body", async () => {
    const t0 = performance.now();
    const obs = await run({ url: at("/declared") }, 8000);
    expect(performance.now() - t0).toBeLessThan(4000);
    expect(obs.ok).toBe(false);
    expect(obs.facts).toMatchObject({ status: 200, bodyTruncated: true });
    expect(obs.error?.code).toBe("BODY_TOO_LARGE");
    expect(obs.error?.message).toContain("health body of 1GiB is larger than 1MiB (maxBodyBytes); not read");
  });

  it("HEAD has no body: a large Content-Length is only a header", async () => {
    const obs = await run({ url: at("/exact-length"), method: "HEAD", maxBodyBytes: 100 });
    expect(obs).toMatchObject({ ok: true, facts: { status: 200 } });
  });
});
