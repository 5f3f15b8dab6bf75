import { getEventListeners } from "node:events";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { msteamsChannel } from "../src/escalation/msteams.js";
import { createLogger } from "../src/lib/log.js";
import type { Notification, SendResult } from "../src/escalation/types.js";
import { startTeamsReceiver, TEAMS_MAX_BYTES, type TeamsReceiver } from "./fixtures/msteams-receiver.js";
import { refusedPort, startHttpServer, type TestServer } from "./fixtures/probes-servers.js";
import { sampleNotification, timed } from "./fixtures/notification.js";

// The msteams notifier against real HTTP servers on 127.0.0.1 speaking the Teams Workflows webhook protocol.

const CTX = { name: "ops-teams", baseDir: "/", log: createLogger({ level: "silent", pretty: false }) };
const WORKFLOW_PATH = "/workflows/0123456789abcdef0123456789abcdef/triggers/manual/paths/invoke";
const SIG = "sigSECRETvalue0123456789";

const notification = (over: Partial<Notification> = {}): Notification =>
  sampleNotification({ id: "n-1", channel: "ops-teams", incident: "inc-7", evidence: "connection refused", ...over });

function notifier(url: string, timeout: string | number = "10s") {
  return msteamsChannel.create(msteamsChannel.schema.parse({ url, timeout }), CTX);
}

// No detail carries the URL, its path, its query or its sig.
function expectNoSecret(result: SendResult, url: string): void {
  const u = new URL(url);
  const parts = [
    url,
    u.pathname,
    u.search.slice(1),
    u.searchParams.get("sig") ?? "",
    ...u.pathname.split("/").filter((s) => s.length >= 8),
  ];
  for (const part of parts.filter((p) => p.length >= 4)) expect(result.detail ?? "").not.toContain(part);
}

describe("msteams channel params", () => {
  it("defaults the timeout to 10s", () => {
    expect(msteamsChannel.schema.parse({ url: "https://prod-1.westus.logic.azure.com/workflows/x?sig=y" })).toEqual({
      url: "https://prod-1.westus.logic.azure.com/workflows/x?sig=y",
      timeout: 10_000,
    });
  });

  it.each([
    [{ url: "prod-1.westus.logic.azure.com/workflows/x" }],
    [{ url: "https://u:p@prod-1.westus.logic.azure.com/workflows/x" }],
    [{ url: "https://x.example/", timeout: "soon" }],
    [{ url: "https://x.example/", webhookUrl: "https://x.example/" }],
    [{}],
  ])("rejects %j", (input) => {
    expect(msteamsChannel.schema.safeParse(input).success).toBe(false);
  });

  it("never echoes a rejected URL in its message", () => {
    const got = msteamsChannel.schema.safeParse({ url: `ftp://x.example${WORKFLOW_PATH}?sig=${SIG}` });
    expect(got.success).toBe(false);
    expect(JSON.stringify(got.error?.issues)).not.toContain(SIG);
  });

  it("lists the URL, its path, its query and its sig as secrets", () => {
    const url = `https://prod-1.westus.logic.azure.com${WORKFLOW_PATH}?api-version=2016-06-01&sig=${SIG}`;
    const secrets = msteamsChannel.secrets!(msteamsChannel.schema.parse({ url }));
    for (const s of [url, WORKFLOW_PATH, SIG, `api-version=2016-06-01&sig=${SIG}`]) expect(secrets).toContain(s);
  });

  it("describes its fields in the JSON Schema", () => {
    const schema = z.toJSONSchema(msteamsChannel.schema, { io: "input" }) as { properties: Record<string, { description?: string }> };
    expect(schema.properties.url?.description).toMatch(/secret/);
    expect(schema.properties.timeout?.description).toBeTruthy();
  });

  it("is named by its configured name and takes trigger and resolve, not acknowledge", () => {
    const n = notifier("https://x.example/");
    expect(n.name).toBe("ops-teams");
    expect([...n.accepts].sort()).toEqual(["resolve", "trigger"]);
  });
});

describe("msteams notifier against the Workflows receiver", () => {
  let teams: TeamsReceiver;
  beforeAll(async () => {
    teams = await startTeamsReceiver();
  });
  afterAll(() => teams.close());
  afterEach(() => {
    teams.setMode("ok");
    teams.requests.length = 0;
  });

  it("a trigger is an Adaptive Card the receiver accepts with 202", async () => {
    const result = await notifier(teams.url).send(notification(), AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: true, detail: expect.stringContaining("202") });
    expectNoSecret(result, teams.url);
    expect(teams.requests[0]!.problems).toEqual([]);
    const card = teams.requests[0]!.body.attachments[0].content;
    expect(card.body[0].text).toBe("P1 server_down on orders-api");
  });

  it("a resolve is a card that says so", async () => {
    const result = await notifier(teams.url).send(notification({ event: "resolve", reason: "recovered" }), AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: true });
    expect(teams.posted()[0]!.body.attachments[0].content.body[0].text).toBe("Resolved: P1 server_down on orders-api");
  });

  it("an announcement about medic itself is a one-block card the receiver accepts", async () => {
    const result = await notifier(teams.url).announce!("pause p-1 on orders-* ended", AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: true });
    expect(teams.requests[0]!.problems).toEqual([]);
    expect(teams.requests[0]!.body.attachments[0].content.body[0].text).toBe("pause p-1 on orders-\\* ended");
  });

  it("sends nothing for acknowledge", async () => {
    const result = await notifier(teams.url).send(notification({ event: "acknowledge" }), AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: true, detail: expect.stringContaining("not sent") });
    expect(teams.requests).toHaveLength(0);
  });

  it("a worst-case notification (megabytes, thousands of steps, hostile text) passes the receiver's size and card checks", async () => {
    const evil = "[pwn](https://evil.example) <at>all</at> {{DATE(2017-02-14T06:08:39Z)}} ".repeat(20_000);
    const steps = Array.from({ length: 3000 }, (_, i) => ({ name: `s${i}`, outcome: "failed", detail: evil }));
    const artifacts = Array.from({ length: 300 }, (_, i) => ({ name: `a${i}${evil.slice(0, 500)}`, bytes: i, step: "capture.logs" }));
    const result = await notifier(teams.url).send(
      notification({
        evidence: evil,
        target: evil,
        steps,
        artifacts,
        affected: [evil],
        link: "https://medic.example.com/#/incidents/inc-7",
      }),
      AbortSignal.timeout(10_000),
    );
    expect(result).toMatchObject({ ok: true });
    expect(teams.requests[0]!.problems).toEqual([]);
    expect(Buffer.byteLength(teams.requests[0]!.raw)).toBeLessThanOrEqual(TEAMS_MAX_BYTES);
    expect(teams.requests[0]!.raw).not.toContain("[pwn](");
  });

  it.each([
    ["bad_request", { retry: false, reason: "bad_request" }, /400/],
    ["unauthorized", { retry: false, reason: "unauthorized" }, /401.*hint: the URL's sig/],
    ["not_found", { retry: false, reason: "not_found" }, /404/],
    ["error", { retry: true, reason: "server_error" }, /502/],
  ] as const)("mode %s maps to %j", async (mode, want, detail) => {
    teams.setMode(mode);
    const result = await notifier(teams.url).send(notification(), AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: false, ...want });
    expect(result.detail).toMatch(detail);
    expectNoSecret(result, teams.url);
  });

  it("429: retry, rate_limited, with Retry-After in the result", async () => {
    teams.setMode("rate_limited", { retryAfterSeconds: 9 });
    const result = await notifier(teams.url).send(notification(), AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: false, retry: true, reason: "rate_limited", retryAfterMs: 9000 });
  });

  it("a wrong sig is Workflows' 401, not retried, and the sig is nowhere in the detail", async () => {
    const wrong = new URL(teams.url);
    wrong.searchParams.set("sig", "wrongSigValue0123456789");
    const result = await notifier(wrong.href).send(notification(), AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: false, retry: false, reason: "unauthorized" });
    expectNoSecret(result, wrong.href);
    expect(teams.requests).toHaveLength(0);
  });

  it("a wrong workflow path is Workflows' 404", async () => {
    const wrong = new URL(teams.url);
    wrong.pathname = "/workflows/ffffffffffffffffffffffffffffffff/triggers/manual/paths/invoke";
    const result = await notifier(wrong.href).send(notification(), AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: false, retry: false, reason: "not_found" });
    expectNoSecret(result, wrong.href);
  });

  it("hang: a timeout result soon after the timeout", async () => {
    teams.setMode("hang");
    const [result, ms] = await timed(notifier(teams.url, "300ms").send(notification(), new AbortController().signal));
    expect(result).toMatchObject({ ok: false, retry: true, reason: "timeout", detail: expect.stringContaining("within 300ms") });
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(ms).toBeLessThan(5_000);
    expectNoSecret(result, teams.url);
  });

  it("abort: stops waiting at once and leaves no listener on the caller's signal", async () => {
    teams.setMode("hang");
    const daemon = new AbortController();
    const sending = notifier(teams.url, "60s").send(notification(), daemon.signal);
    const deadline = Date.now() + 10_000;
    while (teams.requests.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    daemon.abort();
    const [result, ms] = await timed(sending);
    expect(result).toMatchObject({ ok: false, retry: true, reason: "timeout", detail: expect.stringContaining("aborted") });
    expect(ms).toBeLessThan(10_000);
    expect(getEventListeners(daemon.signal, "abort")).toHaveLength(0);
  });

  const envelope = (content: unknown) => ({
    type: "message",
    attachments: [{ contentType: "application/vnd.microsoft.card.adaptive", contentUrl: null, content }],
  });
  const goodCard = {
    $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
    type: "AdaptiveCard",
    version: "1.4",
    body: [{ type: "TextBlock", text: "hi", wrap: true }],
  };
  it.each([
    ["a message card (the retired connector format)", { "@type": "MessageCard", text: "hi" }, 400],
    ["no attachments", { type: "message", attachments: [] }, 400],
    ["a wrong contentType", { type: "message", attachments: [{ contentType: "text/plain", content: goodCard }] }, 400],
    ["a wrong card version", envelope({ ...goodCard, version: "2.0" }), 400],
    ["a card without $schema", envelope({ ...goodCard, $schema: undefined }), 400],
    ["an empty TextBlock", envelope({ ...goodCard, body: [{ type: "TextBlock", text: "" }] }), 400],
    ["a TextBlock over 4000 characters", envelope({ ...goodCard, body: [{ type: "TextBlock", text: "x".repeat(4001) }] }), 400],
    ["a non-string TextBlock", envelope({ ...goodCard, body: [{ type: "TextBlock", text: 42 }] }), 400],
    [
      "an action that is not a plain URL",
      envelope({ ...goodCard, actions: [{ type: "Action.OpenUrl", title: "x", url: "javascript:x" }] }),
      400,
    ],
    [
      "a body over 28 KiB",
      envelope({ ...goodCard, body: Array.from({ length: 10 }, () => ({ type: "TextBlock", text: "x".repeat(3000) })) }),
      413,
    ],
  ])("the receiver refuses %s as Workflows would", async (_what, payload, status) => {
    const res = await fetch(teams.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(payload) });
    expect(res.status).toBe(status);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBeTruthy();
    const ok = await fetch(teams.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(envelope(goodCard)),
    });
    expect(ok.status).toBe(202);
  });
});

describe("msteams notifier against other answers", () => {
  let server: TestServer;
  let status = 200;
  beforeAll(async () => {
    // Echoes the request URL, as a proxy's error page might.
    server = await startHttpServer((req, res) => {
      req.resume();
      req.on("end", () => res.writeHead(status).end(`error at ${req.url}`));
    });
  });
  afterAll(() => server.close());
  const url = () => `http://127.0.0.1:${server.port}${WORKFLOW_PATH}?api-version=2016-06-01&sig=${SIG}`;

  it.each([200, 202])("%i accepts", async (s) => {
    status = s;
    expect(await notifier(url()).send(notification(), AbortSignal.timeout(10_000))).toMatchObject({ ok: true });
  });

  it.each([400, 403, 413, 500])("%i echoing the URL: redacted", async (s) => {
    status = s;
    const result = await notifier(url()).send(notification(), AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: false });
    expect(result.detail).toContain("[secret]");
    expectNoSecret(result, url());
  });

  it("connection refused: retry, network, no secret", async () => {
    const refused = `http://127.0.0.1:${await refusedPort()}${WORKFLOW_PATH}?sig=${SIG}`;
    const result = await notifier(refused).send(notification(), AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ ok: false, retry: true, reason: "network" });
    expectNoSecret(result, refused);
  });
});
