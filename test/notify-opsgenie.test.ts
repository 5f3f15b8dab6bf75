import { getEventListeners } from "node:events";
import { hostname } from "node:os";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { opsgenieChannel } from "../src/escalation/opsgenie.js";
import type { Notification, Notifier } from "../src/escalation/types.js";
import { startOpsgenieReceiver, type OpsgenieReceiver } from "./fixtures/opsgenie-receiver.js";
import { note as sampleNote, sendTimed } from "./fixtures/notification.js";
import { cleanup, freePort, onCleanup } from "./harness.js";

// The opsgenie channel through global fetch against an Alert API v2 receiver on 127.0.0.1 that checks
// the GenieKey, the path, identifierType and every field, and keeps alerts by alias.

afterEach(cleanup);

const KEY = "0psg3n13-k3y-5ecr3t-0123456789ab";
const log = pino({ level: "silent" });
// Every result any send produced; none may carry the key (checked after each test, too).
const seen: string[] = [];
afterEach(() => {
  for (const text of seen.splice(0)) expect(text).not.toContain(KEY);
});

async function receiver(): Promise<OpsgenieReceiver> {
  const og = await startOpsgenieReceiver(KEY);
  onCleanup(() => og.close());
  return og;
}

function notifier(apiUrl: string, extra: Record<string, unknown> = {}): Notifier {
  const params = opsgenieChannel.schema.parse({ apiKey: KEY, apiUrl, timeout: "2s", ...extra });
  return opsgenieChannel.create(params, { name: "payments-opsgenie", baseDir: "/", log });
}

const note = (event: Notification["event"], incident = "inc-1", over: Partial<Notification> = {}): Notification =>
  sampleNote(event, incident, { channel: "payments-opsgenie", openedAt: Date.now(), attempts: 0, steps: [], ...over });

const send = (n: Notifier, notification: Notification, signal = AbortSignal.timeout(10_000)) => sendTimed(n, notification, seen, signal);

describe("opsgenie channel: config", () => {
  const parse = (v: unknown) => opsgenieChannel.schema.safeParse(v);

  it("fills defaults: the US API, 10s, acknowledge while a playbook works", () => {
    expect(parse({ apiKey: KEY }).data).toEqual({
      apiKey: KEY,
      apiUrl: "https://api.opsgenie.com",
      timeout: 10_000,
      acknowledgeOnRemediation: true,
    });
    expect(
      parse({ apiKey: KEY, apiUrl: "https://api.eu.opsgenie.com", responders: [{ team: "payments" }, { user: "a@b.c" }], tags: ["prod"] })
        .success,
    ).toBe(true);
  });

  it.each([
    [{ apiKey: "short" }, "apiKey", "API key"],
    [{ apiKey: "two words here" }, "apiKey", "one word"],
    [{ apiKey: KEY, apiUrl: "http://api.opsgenie.com" }, "apiUrl", "http:// only for 127.0.0.1"],
    [{ apiKey: KEY, apiUrl: "https://api.opsgenie.com/v2/alerts" }, "apiUrl", "no path"],
    [{ apiKey: KEY, apiUrl: "https://user:pw@api.opsgenie.com" }, "apiUrl", "user:password@"],
    [{ apiKey: KEY, responders: [{ team: "a", user: "b" }] }, "responders.0", ""],
    [{ apiKey: KEY, tags: ["has space"] }, "tags.0", "one word"],
    [{ apiKey: KEY, tags: Array.from({ length: 18 }, (_, i) => `t${i}`) }, "tags", ""],
    [{ apiKey: KEY, timeout: "0s" }, "timeout", "longer than 0"],
    [{ apiKey: KEY, routingKey: "x" }, "", "routingKey"],
  ])("rejects %o at %s", (value, path, message) => {
    const r = parse(value);
    expect(r.success).toBe(false);
    const issue = r.error!.issues.find((i) => i.path.join(".") === path) ?? r.error!.issues[0]!;
    expect(issue.path.join(".")).toBe(path);
    expect(`${issue.message} ${JSON.stringify((issue as { keys?: string[] }).keys ?? [])}`).toContain(message);
  });

  it("generates a JSON Schema that marks the key as a secret, and lists the key among the channel's secrets", () => {
    const json = JSON.stringify(z.toJSONSchema(opsgenieChannel.schema, { io: "input", unrepresentable: "any" }));
    expect(json).toContain('"writeOnly":true');
    expect(json).not.toContain(hostname());
    expect(opsgenieChannel.secrets!(opsgenieChannel.schema.parse({ apiKey: KEY }))).toEqual([KEY]);
  });
});

describe("opsgenie channel: delivery", () => {
  it("create, acknowledge and close move one alert by alias; a resent create is a duplicate, not a second page", async () => {
    const og = await receiver();
    const n = notifier(og.url, { responders: [{ team: "payments" }, { user: "alice@example.com" }], tags: ["prod"], source: "ops-1" });
    expect(n.name).toBe("payments-opsgenie");
    expect(n.pages).toBe(true);
    expect([...n.accepts].sort()).toEqual(["acknowledge", "resolve", "trigger"]);

    const trigger = note("trigger", "inc-42", { severity: "P2", link: "http://127.0.0.1:9/#/incidents/inc-42" });
    expect(await send(n, trigger)).toMatchObject({
      ok: true,
      detail: expect.stringMatching(/accepted the trigger \(request [0-9a-f-]{36}\)/),
    });
    // The outbox resends after a lost answer: Opsgenie deduplicates on the alias.
    expect(await send(n, trigger)).toMatchObject({ ok: true });
    expect(og.alerts().get("inc-42")).toMatchObject({ status: "open", creates: 2, rang: 1 });
    const created = og.alerts().get("inc-42")!.create;
    expect(created).toMatchObject({
      message: "P2 server_down on orders-api: GET /health: ECONNREFUSED",
      alias: "inc-42",
      priority: "P2",
      source: "ops-1",
      entity: "orders-api",
      tags: ["prod", "medic", "server_down", "P2"],
      responders: [
        { type: "team", name: "payments" },
        { type: "user", username: "alice@example.com" },
      ],
      details: { target: "orders-api", kind: "server_down", state: "open", attempts: "0", link: "http://127.0.0.1:9/#/incidents/inc-42" },
    });

    expect(await send(n, note("acknowledge", "inc-42", { reason: "playbook restart is working on it" }))).toMatchObject({ ok: true });
    expect(og.alerts().get("inc-42")?.status).toBe("acked");
    expect(await send(n, note("resolve", "inc-42", { reason: "recovered" }))).toMatchObject({ ok: true });
    expect(og.alerts().get("inc-42")).toMatchObject({
      status: "closed",
      notes: ["opened", "opened", "playbook restart is working on it", "recovered"],
    });

    expect(og.requests.map((r) => [r.path, r.query.identifierType ?? "", r.status])).toEqual([
      ["/v2/alerts", "", 202],
      ["/v2/alerts", "", 202],
      ["/v2/alerts/inc-42/acknowledge", "alias", 202],
      ["/v2/alerts/inc-42/close", "alias", 202],
    ]);
    // And then: the incident comes back after the close; the same alias opens a new alert, which rings.
    expect(await send(n, trigger)).toMatchObject({ ok: true });
    expect(og.alerts().get("inc-42")).toMatchObject({ status: "open", rang: 2 });
  });

  it("a second alert of the incident (key inc-7:2) is created and closed under its own alias", async () => {
    const og = await receiver();
    const n = notifier(og.url);
    expect(await send(n, note("trigger", "inc-7"))).toMatchObject({ ok: true });
    expect(await send(n, note("trigger", "inc-7", { key: "inc-7:2", escalation: 1 }))).toMatchObject({ ok: true });
    expect(await send(n, note("resolve", "inc-7", { key: "inc-7:2" }))).toMatchObject({ ok: true });
    expect(og.alerts().get("inc-7")?.status).toBe("open");
    expect(og.alerts().get("inc-7:2")?.status).toBe("closed");
    expect(og.requests.at(-1)?.path).toBe("/v2/alerts/inc-7%3A2/close");
  });

  it("hostile text arrives escaped and within every limit the receiver checks", async () => {
    const og = await receiver();
    const evil = `<img src=x onerror=alert(1)>${"é".repeat(20_000)}\r\nX-Injected: yes`;
    const result = await send(
      notifier(og.url),
      note("trigger", "inc-evil", {
        target: evil,
        evidence: evil,
        reason: evil,
        steps: Array.from({ length: 300 }, (_, i) => ({ name: `s${i}`, outcome: "failed", detail: evil })),
      }),
    );
    expect(result).toMatchObject({ ok: true });
    const body = og.alerts().get("inc-evil")!.create;
    expect(body.message).toContain("&lt;img");
    expect(body.description).not.toContain("<img");
  });
});

describe("opsgenie channel: failures", () => {
  it.each([
    ["rate_limited", { retryAfter: "7" }, { retry: true, reason: "rate_limited", retryAfterMs: 7000 }, /429/],
    ["rate_limited", { retryAfter: null }, { retry: true, reason: "rate_limited" }, /too many requests/],
    ["error", { status: 503 }, { retry: true, reason: "server_error" }, /503/],
    ["error", { status: 500 }, { retry: true, reason: "server_error" }, /500/],
    ["unauthorized", {}, { retry: false, reason: "unauthorized" }, /401.*hint: check notify\.opsgenie\.apiKey/],
    ["forbidden", {}, { retry: false, reason: "unauthorized" }, /403.*create and update access/],
  ] as const)("mode %s %j maps to %j", async (mode, opts, want, detail) => {
    const og = await receiver();
    og.setMode(mode, opts);
    const result = await send(notifier(og.url), note("trigger"));
    expect(result).toMatchObject({ ok: false, ...want });
    expect(result.detail).toMatch(detail);
    if (opts && "retryAfter" in opts && opts.retryAfter === null) expect(result).not.toHaveProperty("retryAfterMs");
  });

  it("a wrong key is the receiver's own 401, and the key never shows", async () => {
    const og = await receiver();
    const params = opsgenieChannel.schema.parse({ apiKey: "wrong-key-but-long", apiUrl: og.url });
    const result = await opsgenieChannel
      .create(params, { name: "opsgenie", baseDir: "/", log })
      .send(note("trigger"), AbortSignal.timeout(5000));
    expect(result).toMatchObject({ ok: false, retry: false, reason: "unauthorized" });
    expect(result.detail).not.toContain("wrong-key-but-long");
  });

  it("a receiver that echoes the key in its error text has it redacted", async () => {
    const http = await import("node:http");
    const server = http.createServer((req, res) => {
      req.resume();
      req.on("end", () =>
        res.writeHead(422, { "content-type": "application/json" }).end(JSON.stringify({ message: `bad ${req.headers.authorization}` })),
      );
    });
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    onCleanup(() => new Promise<void>((ok) => server.close(() => ok())));
    const result = await send(notifier(`http://127.0.0.1:${(server.address() as { port: number }).port}`), note("trigger"));
    expect(result).toMatchObject({ ok: false, retry: false, reason: "bad_request" });
    // The whole authorization header is hidden before the excerpt is cut, so no part of the key survives a cut.
    expect(result.detail).toContain("bad [secret]");
  });

  it("an acknowledge without the alert is Opsgenie's 404: not retried, with a hint", async () => {
    const og = await receiver();
    const result = await send(notifier(og.url), note("acknowledge", "never-created"));
    expect(result).toMatchObject({ ok: false, retry: false, reason: "not_found" });
  });

  it("nothing listening is a retryable network failure", async () => {
    const result = await send(notifier(`http://127.0.0.1:${await freePort()}`), note("trigger"));
    expect(result).toMatchObject({ ok: false, retry: true, reason: "network", detail: expect.stringContaining("ECONNREFUSED") });
  });

  it("hang: a timeout result after the channel's timeout; abort: at once, leaving no listener", async () => {
    const og = await receiver();
    og.setMode("hang");
    const timedOut = await send(notifier(og.url, { timeout: "300ms" }), note("trigger"), new AbortController().signal);
    expect(timedOut).toMatchObject({ ok: false, retry: true, reason: "timeout", detail: expect.stringContaining("within 300ms") });
    expect(timedOut.ms).toBeGreaterThanOrEqual(250);

    const daemon = new AbortController();
    const pending = send(notifier(og.url, { timeout: "60s" }), note("trigger"), daemon.signal);
    await og.waitFor("holding a second request", () => og.requests.length === 2);
    daemon.abort();
    const aborted = await pending;
    expect(aborted).toMatchObject({ ok: false, retry: true, reason: "timeout", detail: expect.stringContaining("aborted") });
    expect(aborted.ms).toBeLessThan(30_000);
    expect(getEventListeners(daemon.signal, "abort")).toHaveLength(0);
  });
});
