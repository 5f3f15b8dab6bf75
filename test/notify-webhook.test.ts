import { getEventListeners } from "node:events";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { webhookChannel } from "../src/escalation/webhook.js";
import { createLogger } from "../src/lib/log.js";
import type { Notification, SendResult } from "../src/escalation/types.js";
import { refusedPort, startHttpServer, type TestServer } from "./fixtures/probes-servers.js";
import { startWebhookReceiver, type WebhookReceiver } from "./fixtures/webhook-receiver.js";
import { sampleNotification, timed } from "./fixtures/notification.js";

// The webhook notifier against real HTTP servers on 127.0.0.1 that check medic's signed webhook protocol.

const SECRET = "whsec-0123456789abcdef-SECRET";
const BEARER = "Bearer tok-SECRET-abcdef123456";
const CTX = { name: "payments-hook", baseDir: "/", log: createLogger({ level: "silent", pretty: false }) };

const notification = (over: Partial<Notification> = {}): Notification =>
  sampleNotification({
    id: `n-${Math.random().toString(36).slice(2)}`,
    channel: "payments-hook",
    incident: "inc-7",
    evidence: "connection refused",
    ...over,
  });

function notifier(params: Record<string, unknown>) {
  return webhookChannel.create(webhookChannel.schema.parse(params), CTX);
}

// No detail carries the URL, its path, its query, the secret or a header value.
function expectNoSecret(result: SendResult, url: string): void {
  const u = new URL(url);
  for (const part of [url, u.pathname, u.search.slice(1), SECRET, BEARER, "tok-SECRET"].filter((p) => p.length >= 4)) {
    expect(result.detail ?? "").not.toContain(part);
  }
}

describe("webhook channel params", () => {
  it("defaults: all three events, no acknowledge on remediation, 10s, no extra headers", () => {
    expect(webhookChannel.schema.parse({ url: "https://alerts.example.com/medic" })).toEqual({
      url: "https://alerts.example.com/medic",
      headers: {},
      events: ["trigger", "acknowledge", "resolve"],
      acknowledgeOnRemediation: false,
      timeout: 10_000,
    });
  });

  it.each([
    ["no scheme", { url: "alerts.example.com/medic" }],
    ["ftp", { url: "ftp://alerts.example.com/medic" }],
    ["userinfo", { url: "https://user:pw@alerts.example.com/medic" }],
    ["a short secret", { url: "https://a.example.com/", secret: "short" }],
    ["a reserved header", { url: "https://a.example.com/", headers: { "Idempotency-Key": "x" } }],
    ["an x-medic header", { url: "https://a.example.com/", headers: { "X-Medic-Signature": "x" } }],
    ["content-type", { url: "https://a.example.com/", headers: { "content-type": "text/plain" } }],
    ["a bad header name", { url: "https://a.example.com/", headers: { "bad name": "x" } }],
    ["a header value with CRLF", { url: "https://a.example.com/", headers: { authorization: "x\r\nevil: 1" } }],
    ["no events", { url: "https://a.example.com/", events: [] }],
    ["an unknown event", { url: "https://a.example.com/", events: ["page"] }],
    ["an event twice", { url: "https://a.example.com/", events: ["trigger", "trigger"] }],
    ["a zero timeout", { url: "https://a.example.com/", timeout: 0 }],
    ["an unknown key", { url: "https://a.example.com/", method: "PUT" }],
  ])("rejects %s", (_what, input) => {
    expect(webhookChannel.schema.safeParse(input).success).toBe(false);
  });

  it("never echoes a rejected URL, secret or header value in its messages", () => {
    const got = webhookChannel.schema.safeParse({
      url: "ftp://alerts.example.com/tok-SECRET-path",
      secret: "tok-SECRET",
      headers: { authorization: "tok-SECRET\n" },
    });
    expect(got.success).toBe(false);
    expect(JSON.stringify(got.error?.issues)).not.toContain("tok-SECRET");
  });

  it("lists the URL, its token-like path, its query values, the secret and header values as secrets", () => {
    const params = webhookChannel.schema.parse({
      url: "https://alerts.example.com/hooks/abcdef123456?token=qs-SECRET-1",
      secret: SECRET,
      headers: { authorization: BEARER },
    });
    const secrets = webhookChannel.secrets!(params);
    for (const s of [params.url, "/hooks/abcdef123456", "qs-SECRET-1", SECRET, BEARER]) expect(secrets).toContain(s);
  });

  it("describes its fields in the JSON Schema", () => {
    const schema = z.toJSONSchema(webhookChannel.schema, { io: "input" }) as {
      properties: Record<string, { description?: string }>;
      required: string[];
    };
    expect(schema.required).toEqual(["url"]);
    for (const key of ["url", "secret", "headers", "events", "timeout", "acknowledgeOnRemediation"]) {
      expect(schema.properties[key]?.description).toBeTruthy();
    }
  });

  it("is named by its configured name and accepts the configured events", () => {
    const n = notifier({ url: "https://a.example.com/", events: ["trigger", "resolve"] });
    expect(n.name).toBe("payments-hook");
    expect([...n.accepts].sort()).toEqual(["resolve", "trigger"]);
  });
});

describe("webhook notifier against a receiver that checks signature, timestamp, key and schema", () => {
  let hook: WebhookReceiver;
  beforeAll(async () => {
    hook = await startWebhookReceiver({ secret: SECRET, requireHeaders: { authorization: BEARER } });
  });
  afterAll(() => hook.close());
  afterEach(() => {
    hook.setMode("ok");
    hook.requests.length = 0;
  });
  const signed = (over: Record<string, unknown> = {}) =>
    notifier({ url: hook.url, secret: SECRET, headers: { authorization: BEARER }, ...over });

  it.each(["trigger", "acknowledge", "resolve"] as const)("a %s passes every check and is accepted", async (event) => {
    const n = notification({ event });
    const result = await signed().send(n, AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: true });
    expectNoSecret(result, hook.url);
    const [got] = hook.requests;
    expect(got!.problems).toEqual([]);
    expect(got!.status).toBe(200);
    expect(got!.headers).toMatchObject({ "idempotency-key": n.id, "x-medic-event": event, "content-type": "application/json" });
    expect(got!.headers["x-medic-signature"]).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(got!.body).toMatchObject({ version: 1, id: n.id, event, incident: "inc-7", key: "inc-7", channel: "payments-hook" });
  });

  it("a resend of the same notification carries the same idempotency key and body, with a fresh signature check", async () => {
    const n = notification();
    const send = signed();
    expect(await send.send(n, AbortSignal.timeout(10_000))).toMatchObject({ ok: true });
    expect(await send.send(n, AbortSignal.timeout(10_000))).toMatchObject({ ok: true });
    const [a, b] = hook.requests;
    expect(a!.headers["idempotency-key"]).toBe(b!.headers["idempotency-key"]);
    expect(a!.raw).toBe(b!.raw);
    expect([a!.problems, b!.problems]).toEqual([[], []]);
  });

  it("a wrong secret: the receiver refuses the signature (400), not retried, the secret nowhere in the detail", async () => {
    const result = await signed({ secret: "not-the-right-secret-0000" }).send(notification(), AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: false, retry: false, reason: "bad_request" });
    expect(result.detail).toContain("signature does not match");
    expect(result.detail).not.toContain("not-the-right-secret-0000");
    expectNoSecret(result, hook.url);
  });

  it("no secret configured: the receiver that expects one refuses it", async () => {
    const result = await notifier({ url: hook.url, headers: { authorization: BEARER } }).send(notification(), AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: false, retry: false, reason: "bad_request" });
  });

  it("without the authorization header the receiver answers 401: unauthorized, with a hint", async () => {
    const result = await notifier({ url: hook.url, secret: SECRET }).send(notification(), AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: false, retry: false, reason: "unauthorized", detail: expect.stringContaining("hint") });
  });

  it("an event left out of `events` is not sent", async () => {
    const result = await signed({ events: ["trigger", "resolve"] }).send(
      notification({ event: "acknowledge" }),
      AbortSignal.timeout(10_000),
    );
    expect(result).toMatchObject({ ok: true, detail: expect.stringContaining("not sent") });
    expect(hook.requests).toHaveLength(0);
  });

  it("a worst-case notification (huge, hostile, thousands of steps) passes the receiver's schema check", async () => {
    const hostile = '"\\\u0000\u2028<!channel>*[x](http://evil)'.repeat(20_000);
    const steps = Array.from({ length: 3000 }, (_, i) => ({ name: `s${i}`, outcome: "failed", detail: hostile }));
    const result = await signed().send(notification({ evidence: hostile, target: hostile, steps }), AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: true });
    expect(hook.requests[0]!.problems).toEqual([]);
    expect(Buffer.byteLength(hook.requests[0]!.raw)).toBeLessThanOrEqual(256 * 1024);
    expect(hook.requests[0]!.body.truncated).toBe(true);
  });

  it.each([
    ["bad_request", { retry: false, reason: "bad_request" }],
    ["not_found", { retry: false, reason: "not_found" }],
    ["gone", { retry: false, reason: "rejected" }],
    ["error", { retry: true, reason: "server_error" }],
    ["redirect", { retry: false, reason: "rejected" }],
  ] as const)("mode %s maps to %j, no secret in the detail", async (mode, want) => {
    hook.setMode(mode);
    const result = await signed().send(notification(), AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: false, ...want });
    expectNoSecret(result, hook.url);
    expect(hook.requests).toHaveLength(1);
  });

  it("429: retry, rate_limited, with Retry-After in the result", async () => {
    hook.setMode("rate_limited", { retryAfterSeconds: 7 });
    const result = await signed().send(notification(), AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: false, retry: true, reason: "rate_limited", retryAfterMs: 7000 });
  });

  it("hang: a timeout result soon after the timeout", async () => {
    hook.setMode("hang");
    const [result, ms] = await timed(signed({ timeout: "300ms" }).send(notification(), new AbortController().signal));
    expect(result).toMatchObject({ ok: false, retry: true, reason: "timeout", detail: expect.stringContaining("within 300ms") });
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(ms).toBeLessThan(5_000);
    expectNoSecret(result, hook.url);
  });

  it("abort: stops waiting as soon as the signal fires, and leaves no listener on it", async () => {
    hook.setMode("hang");
    const daemon = new AbortController();
    const sending = signed({ timeout: "60s" }).send(notification(), daemon.signal);
    await waitForRequest(hook);
    daemon.abort();
    const [result, ms] = await timed(sending);
    expect(result).toMatchObject({ ok: false, retry: true, reason: "timeout", detail: expect.stringContaining("aborted") });
    expect(ms).toBeLessThan(10_000);
    expect(getEventListeners(daemon.signal, "abort")).toHaveLength(0);
  });
});

describe("webhook notifier against other answers", () => {
  let server: TestServer;
  let reply = { status: 200, body: "" };
  beforeAll(async () => {
    // Echoes the path, query and headers it got, as a careless receiver's error page might.
    server = await startHttpServer((req, res) => {
      req.resume();
      req.on("end", () => res.writeHead(reply.status).end(`${reply.body} ${req.url} ${JSON.stringify(req.headers)}`));
    });
  });
  afterAll(() => server.close());
  const url = () => `http://127.0.0.1:${server.port}/hooks/abcdef123456?token=qs-SECRET-1`;

  it.each([200, 201, 202, 204])("any 2xx accepts: %i", async (status) => {
    reply = { status, body: "" };
    expect(await notifier({ url: url() }).send(notification(), AbortSignal.timeout(10_000))).toMatchObject({ ok: true });
  });

  it.each([400, 401, 403, 404, 418, 500, 503])("%i echoing URL, secret and headers: all redacted", async (status) => {
    reply = { status, body: "error" };
    const result = await notifier({ url: url(), secret: SECRET, headers: { authorization: BEARER } }).send(
      notification(),
      AbortSignal.timeout(10_000),
    );
    expect(result).toMatchObject({ ok: false });
    expect(result.detail).toContain(String(status));
    expect(result.detail).toContain("[secret]");
    expectNoSecret(result, url());
    expect(result.detail).not.toContain("qs-SECRET-1");
  });

  it("connection refused: retry, network, no secret", async () => {
    const refused = `http://127.0.0.1:${await refusedPort()}/hooks/abcdef123456`;
    const result = await notifier({ url: refused, secret: SECRET }).send(notification(), AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: false, retry: true, reason: "network", detail: expect.stringContaining("ECONNREFUSED") });
    expectNoSecret(result, refused);
  });
});

async function waitForRequest(hook: WebhookReceiver): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (hook.requests.length === 0) {
    if (Date.now() > deadline) throw new Error("no request reached the receiver");
    await new Promise((r) => setTimeout(r, 10));
  }
}
