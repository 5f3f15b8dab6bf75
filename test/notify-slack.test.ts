import { getEventListeners } from "node:events";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { redactWebhook, slackChannel } from "../src/escalation/slack.js";
import { createLogger } from "../src/lib/log.js";
import type { Notification, SendResult } from "../src/escalation/types.js";
import { refusedPort, startHttpServer, type TestServer } from "./fixtures/probes-servers.js";
import { startSlackReceiver, type SlackReceiver } from "./fixtures/slack-receiver.js";
import { sampleNotification, timed } from "./fixtures/notification.js";

// The slack notifier against real HTTP servers on 127.0.0.1 speaking Slack's webhook protocol.

const TOKEN_PATH = "/services/T0SECRET1/B0SECRET2/xoxbSecretToken123456";
const CTX = { name: "slack", baseDir: "/", log: createLogger({ level: "silent", pretty: false }) };

const notification = (over: Partial<Notification> = {}): Notification =>
  sampleNotification({ id: "n-1", channel: "slack", incident: "inc-7", evidence: "connection refused", ...over });

function notifier(webhookUrl: string, timeout: string | number = "10s") {
  return slackChannel.create(slackChannel.schema.parse({ webhookUrl, timeout }), CTX);
}

// No detail may carry the webhook URL, its path or any token-like segment of it.
function expectNoSecret(result: SendResult, webhookUrl: string): void {
  const url = new URL(webhookUrl);
  const parts = [webhookUrl, url.pathname, ...url.pathname.split("/").filter((s) => s.length >= 4 && s !== "services")];
  if (url.password) parts.push(url.password);
  for (const part of parts) expect(result.detail ?? "").not.toContain(part);
}

describe("slack channel params", () => {
  it("defaults the timeout to 10s and parses durations", () => {
    expect(slackChannel.schema.parse({ webhookUrl: "https://hooks.slack.com/services/T/B/X" })).toEqual({
      webhookUrl: "https://hooks.slack.com/services/T/B/X",
      timeout: 10_000,
    });
    expect(slackChannel.schema.parse({ webhookUrl: "http://127.0.0.1:9/x", timeout: "500ms" }).timeout).toBe(500);
  });

  it.each([
    [{ webhookUrl: "hooks.slack.com/services/T/B/X" }],
    [{ webhookUrl: "ftp://hooks.slack.com/services/T/B/X" }],
    [{ webhookUrl: "https://user:pw@hooks.slack.com/services/T/B/X" }],
    [{ webhookUrl: "https://hooks.slack.com/services/T/B/X", timeout: "soon" }],
    [{ webhookUrl: "https://hooks.slack.com/services/T/B/X", timeout: 0 }],
    [{ webhookUrl: "https://hooks.slack.com/services/T/B/X", channel: "#ops" }],
    [{}],
  ])("rejects %j", (input) => {
    expect(slackChannel.schema.safeParse(input).success).toBe(false);
  });

  it("never echoes a rejected URL in its message", () => {
    const got = slackChannel.schema.safeParse({ webhookUrl: `ftp://hooks.slack.com${TOKEN_PATH}` });
    expect(got.success).toBe(false);
    expect(JSON.stringify(got.error?.issues)).not.toContain("xoxbSecretToken");
  });

  it("describes its fields in the JSON Schema", () => {
    const schema = z.toJSONSchema(slackChannel.schema, { io: "input" }) as {
      properties: Record<string, { description?: string }>;
      required: string[];
    };
    expect(schema.required).toEqual(["webhookUrl"]);
    expect(schema.properties.webhookUrl?.description).toMatch(/secret/);
    expect(schema.properties.timeout?.description).toBeTruthy();
  });

  it("builds a notifier named slack that takes trigger and resolve, not acknowledge", () => {
    const n = notifier("https://hooks.slack.com/services/T/B/X");
    expect(n.name).toBe("slack");
    expect([...n.accepts].sort()).toEqual(["resolve", "trigger"]);
  });
});

describe("slack notifier against the Slack receiver", () => {
  let slack: SlackReceiver;
  beforeAll(async () => {
    slack = await startSlackReceiver();
  });
  afterAll(() => slack.close());
  afterEach(() => {
    slack.setMode("ok");
    slack.messages.length = 0;
  });

  it("posts a trigger as Block Kit with a text fallback: 200 ok", async () => {
    const result = await notifier(slack.url).send(notification(), AbortSignal.timeout(10_000));
    expect(result.ok).toBe(true);
    expectNoSecret(result, slack.url);
    expect(slack.messages).toHaveLength(1);
    const body = slack.messages[0]!.body;
    expect(body.blocks[0].text.text).toBe("P1 server_down on orders-api");
    expect(body.text).toContain("inc-7");
    expect(body.unfurl_links).toBe(false);
  });

  it("posts a resolve as a new message naming the incident", async () => {
    const result = await notifier(slack.url).send(
      notification({ event: "resolve", state: "resolved", reason: "recovered" }),
      AbortSignal.timeout(10_000),
    );
    expect(result.ok).toBe(true);
    expect(slack.messages[0]!.body.text).toMatch(/^resolved: recovered .*incident inc-7/);
  });

  it("sends nothing for acknowledge", async () => {
    const result = await notifier(slack.url).send(notification({ event: "acknowledge" }), AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: true, detail: expect.stringContaining("not sent") });
    expect(slack.messages).toHaveLength(0);
  });

  it("gets a worst-case notification (huge evidence, thousands of steps, hostile text) past Slack's validation", async () => {
    const steps = Array.from({ length: 3000 }, (_, i) => ({ name: `<!channel>${i}`, outcome: "failed", detail: "&<>".repeat(2000) }));
    const result = await notifier(slack.url).send(
      notification({ evidence: "<@U1>".repeat(5000), target: "x".repeat(400), steps }),
      AbortSignal.timeout(10_000),
    );
    expect(result).toMatchObject({ ok: true });
    expect(slack.messages[0]!.status).toBe(200);
    expect(JSON.stringify(slack.messages[0]!.body)).not.toContain("<!channel>");
  });

  it.each([
    ["invalid_payload", { retry: false, reason: "bad_request" }, /400 "invalid_payload"/],
    ["no_service", { retry: false, reason: "not_found" }, /404 "no_service"/],
    ["error", { retry: true, reason: "server_error" }, /500/],
  ] as const)("mode %s maps to %j", async (mode, want, detail) => {
    slack.setMode(mode);
    const result = await notifier(slack.url).send(notification(), AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: false, ...want });
    expect(result.detail).toMatch(detail);
    expectNoSecret(result, slack.url);
    expect(slack.messages).toHaveLength(1);
  });

  it("429: retry, rate_limited, with Retry-After in the result", async () => {
    slack.setMode("rate_limited", { retryAfterSeconds: 7 });
    const result = await notifier(slack.url).send(notification(), AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: false, retry: true, reason: "rate_limited", retryAfterMs: 7000 });
    expectNoSecret(result, slack.url);
  });

  it("hang: a timeout result soon after the timeout", async () => {
    slack.setMode("hang");
    const [result, ms] = await timed(notifier(slack.url, "300ms").send(notification(), new AbortController().signal));
    expect(result).toMatchObject({ ok: false, retry: true, reason: "timeout", detail: expect.stringContaining("within 300ms") });
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(ms).toBeLessThan(5_000);
    expect(slack.messages).toHaveLength(1);
    expectNoSecret(result, slack.url);
  });

  it("abort: stops waiting as soon as the signal fires, long before the timeout", async () => {
    slack.setMode("hang");
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const [result, ms] = await timed(notifier(slack.url, "60s").send(notification(), controller.signal));
    expect(result).toMatchObject({ ok: false, retry: true, reason: "timeout", detail: expect.stringContaining("aborted") });
    expect(ms).toBeLessThan(10_000);
    expectNoSecret(result, slack.url);
  });

  it("leaves no listener on a long-lived caller signal", async () => {
    const daemon = new AbortController();
    const n = notifier(slack.url);
    for (let i = 0; i < 5; i++) expect(await n.send(notification(), daemon.signal)).toMatchObject({ ok: true });
    slack.setMode("hang");
    expect(await notifier(slack.url, "200ms").send(notification(), daemon.signal)).toMatchObject({ reason: "timeout" });
    expect(getEventListeners(daemon.signal, "abort")).toHaveLength(0);
  });

  it("an already aborted signal sends nothing", async () => {
    const result = await notifier(slack.url).send(notification(), AbortSignal.abort());
    expect(result).toMatchObject({ ok: false, retry: true, reason: "timeout" });
    expect(slack.messages).toHaveLength(0);
  });

  it("setMode with times: one 500, then ok again", async () => {
    slack.setMode("error", { times: 1 });
    const n = notifier(slack.url);
    expect(await n.send(notification(), AbortSignal.timeout(10_000))).toMatchObject({ ok: false, reason: "server_error" });
    expect(await n.send(notification(), AbortSignal.timeout(10_000))).toMatchObject({ ok: true });
    expect(slack.messages.map((m) => m.status)).toEqual([500, 200]);
    expect(slack.posted()).toHaveLength(1);
    expect(await slack.waitForMessages(1, 1000)).toEqual([slack.messages[1]]);
    await expect(slack.waitForMessages(2, 300)).rejects.toThrow(/1 of 2 messages posted/);
  });

  const section = (text: string) => ({ type: "section", text: { type: "mrkdwn", text } });
  it.each([
    ["no text, no blocks", { username: "x" }],
    ["empty text", { text: "" }],
    ["51 blocks", { text: "t", blocks: Array.from({ length: 51 }, () => section("s")) }],
    ["a 151-character header", { text: "t", blocks: [{ type: "header", text: { type: "plain_text", text: "h".repeat(151) } }] }],
    ["a 3001-character section", { text: "t", blocks: [section("s".repeat(3001))] }],
    ["11 fields", { text: "t", blocks: [{ type: "section", fields: Array.from({ length: 11 }, () => ({ type: "mrkdwn", text: "f" })) }] }],
    ["a 2001-character field", { text: "t", blocks: [{ type: "section", fields: [{ type: "mrkdwn", text: "f".repeat(2001) }] }] }],
  ])("the receiver refuses %s with 400 invalid_payload, as Slack does", async (_what, payload) => {
    const res = await fetch(slack.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(payload) });
    expect([res.status, await res.text()]).toEqual([400, "invalid_payload"]);
    const ok = await fetch(slack.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ text: "hi", blocks: [section("s".repeat(3000))] }),
    });
    expect([ok.status, await ok.text()]).toEqual([200, "ok"]);
  });

  it("a wrong path on the receiver is Slack's 404 no_service", async () => {
    const wrong = new URL(slack.url);
    wrong.pathname = "/services/T0/B0/not-the-token";
    const result = await notifier(wrong.href).send(notification(), AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: false, retry: false, reason: "not_found" });
    expectNoSecret(result, wrong.href);
  });
});

describe("slack notifier against other answers", () => {
  // A server that echoes the request path in its body, as a misbehaving proxy might: the detail
  // carries the body excerpt, so the token must be redacted from it.
  let server: TestServer;
  let reply = { status: 200, body: "ok", headers: {} as Record<string, string> };
  beforeAll(async () => {
    server = await startHttpServer((req, res) => {
      req.resume();
      req.on("end", () => res.writeHead(reply.status, reply.headers).end(reply.body.replace("PATH", req.url ?? "")));
    });
  });
  afterAll(() => server.close());
  const url = () => `http://127.0.0.1:${server.port}${TOKEN_PATH}`;

  it.each([
    [200, "not ok: PATH", { retry: true, reason: "bad_reply" }],
    [204, "", { retry: true, reason: "bad_reply" }],
    [301, "moved to PATH", { retry: false, reason: "rejected" }],
    [401, "invalid_token PATH", { retry: false, reason: "unauthorized" }],
    [403, "action_prohibited PATH", { retry: false, reason: "unauthorized" }],
    [404, "no_team PATH", { retry: false, reason: "not_found" }],
    [408, "", { retry: true, reason: "timeout" }],
    [410, "channel_is_archived PATH", { retry: false, reason: "rejected" }],
    [418, "teapot PATH", { retry: false, reason: "rejected" }],
    [429, "rate_limited PATH", { retry: true, reason: "rate_limited" }],
    [503, "<html>bad gateway at http://127.0.0.1PATH</html>", { retry: true, reason: "server_error" }],
  ] as const)("%i %j maps to %j, no secret in the detail", async (status, body, want) => {
    reply = { status, body, headers: status === 301 ? { location: "http://127.0.0.1:1/elsewhere" } : {} };
    const result = await notifier(url()).send(notification(), AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: false, ...want });
    expect(result.detail).toContain(String(status));
    if (body.includes("PATH")) expect(result.detail).toContain("[secret]");
    expectNoSecret(result, url());
  });

  it("a 429 without Retry-After leaves retryAfterMs to the outbox; an HTTP-date is honoured", async () => {
    reply = { status: 429, body: "rate_limited", headers: {} };
    const bare = await notifier(url()).send(notification(), AbortSignal.timeout(10_000));
    expect(bare).toMatchObject({ reason: "rate_limited" });
    expect(bare).not.toHaveProperty("retryAfterMs");
    reply = { status: 429, body: "rate_limited", headers: { "retry-after": new Date(Date.now() + 60_000).toUTCString() } };
    const dated = await notifier(url()).send(notification(), AbortSignal.timeout(10_000));
    expect(dated.ok ? 0 : dated.retryAfterMs).toBeGreaterThan(50_000);
  });
});

describe("slack notifier when the answer breaks off", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startHttpServer((req, res) => {
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "content-length": "100" });
        res.write("o");
        setTimeout(() => res.socket?.destroy(), 50);
      });
    });
  });
  afterAll(() => server.close());

  it("a body cut short is a retryable network failure", async () => {
    const webhook = `http://127.0.0.1:${server.port}${TOKEN_PATH}`;
    const result = await notifier(webhook).send(notification(), AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: false, retry: true, reason: "network", detail: expect.stringContaining("connection broke") });
    expectNoSecret(result, webhook);
  });
});

describe("slack notifier when nothing answers", () => {
  it("connection refused: retry, network, no secret", async () => {
    const webhook = `http://127.0.0.1:${await refusedPort()}${TOKEN_PATH}`;
    const result = await notifier(webhook).send(notification(), AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: false, retry: true, reason: "network", detail: expect.stringContaining("ECONNREFUSED") });
    expectNoSecret(result, webhook);
  });

  it("a port fetch refuses: rejected, not retried", async () => {
    const webhook = `http://127.0.0.1:6000${TOKEN_PATH}`;
    const result = await notifier(webhook).send(notification(), AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: false, retry: false, reason: "rejected" });
    expectNoSecret(result, webhook);
  });

  it("an error whose message holds the whole URL (credentials, past the schema) is redacted", async () => {
    const webhook = `http://medic:pw-Secret-99@127.0.0.1:${await refusedPort()}${TOKEN_PATH}`;
    const n = slackChannel.create({ webhookUrl: webhook, timeout: 1000 }, CTX);
    const result = await n.send(notification(), AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: false, retry: false, reason: "rejected", detail: expect.stringContaining("credentials") });
    expectNoSecret(result, webhook);
    expect(result.detail).not.toContain("pw-Secret-99");
  });

  it("redactWebhook takes out the URL, its path and each token segment", () => {
    const url = new URL(`https://hooks.slack.com${TOKEN_PATH}`);
    const text = `POST ${url.href} failed; path ${url.pathname}; token xoxbSecretToken123456; team T0SECRET1`;
    expect(redactWebhook(text, url)).toBe("POST [secret] failed; path [secret]; token [secret]; team [secret]");
  });
});
