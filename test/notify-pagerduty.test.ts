import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import https from "node:https";
import { hostname } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { pagerdutyChannel } from "../src/escalation/pagerduty.js";
import type { Notification, Notifier, SendResult } from "../src/escalation/types.js";
import { MedicError } from "../src/lib/errors.js";
import { startPagerDutyReceiver, type PagerDutyReceiver } from "./fixtures/pagerduty-receiver.js";
import { cleanup, freePort, onCleanup, ROOT, tempDir } from "./harness.js";

// The pagerduty channel through the real @pagerduty/pdjs and node-fetch, against an HTTPS receiver
// that speaks Events API v2 with a certificate made for the test.

afterEach(cleanup);

const KEY = "Sup3rS3cretR0utingKey0123456789x";
const log = pino({ level: "silent" });
// Every detail any send produced; none may carry the routing key (checked after each test, too).
const seen: string[] = [];
afterEach(() => {
  for (const text of seen.splice(0)) expect(text).not.toContain(KEY);
});

async function receiver(): Promise<PagerDutyReceiver> {
  const pd = await startPagerDutyReceiver();
  onCleanup(() => pd.close());
  return pd;
}

function notifier(pd: { server: string; caFile?: string }, extra: Record<string, unknown> = {}): Notifier {
  const params = pagerdutyChannel.schema.parse({
    routingKey: KEY,
    server: pd.server,
    ...(pd.caFile && { ca: pd.caFile }),
    timeout: "2s",
    ...extra,
  });
  return pagerdutyChannel.create(params, { name: "pagerduty", baseDir: "/", log });
}

function note(event: Notification["event"], incident = "inc-1", over: Partial<Notification> = {}): Notification {
  return {
    id: `${incident}-pagerduty-${event}-1`,
    channel: "pagerduty",
    event,
    incident,
    target: "orders-api",
    kind: "server_down",
    severity: "P1",
    state: "escalated",
    reason: "opened",
    evidence: "GET /health: ECONNREFUSED",
    openedAt: Date.now(),
    at: Date.now(),
    attempts: 1,
    steps: [],
    ...over,
  };
}

async function send(n: Notifier, notification: Notification, signal = new AbortController().signal): Promise<SendResult & { ms: number }> {
  const start = Date.now();
  const result = await n.send(notification, signal);
  seen.push(JSON.stringify(result));
  return { ...result, ms: Date.now() - start };
}

describe("pagerduty channel: config", () => {
  const parse = (v: unknown) => pagerdutyChannel.schema.safeParse(v);

  it("fills defaults and keeps source unset (the host name is taken at create time)", () => {
    expect(parse({ routingKey: KEY })).toMatchObject({
      success: true,
      data: { routingKey: KEY, server: "events.pagerduty.com", timeout: 10_000, acknowledgeOnRemediation: true },
    });
    expect(parse({ routingKey: KEY }).data?.source).toBeUndefined();
    expect(
      parse({ routingKey: KEY, server: "events.eu.pagerduty.com:443", timeout: "3s", acknowledgeOnRemediation: false }).data,
    ).toMatchObject({ server: "events.eu.pagerduty.com:443", timeout: 3000, acknowledgeOnRemediation: false });
  });

  it.each([
    [{ routingKey: "short-key-of-31-characters-abcd" }, "routingKey", "exactly 32 characters"],
    [{ routingKey: KEY, server: "https://events.pagerduty.com" }, "server", "no https://"],
    [{ routingKey: KEY, server: "events.pagerduty.com/v2/enqueue" }, "server", "host[:port]"],
    [{ routingKey: KEY, timeout: "0s" }, "timeout", "longer than 0"],
    [{ routingKey: KEY, url: "https://x" }, "", "url"],
  ])("rejects %o at %s", (value, path, message) => {
    const r = parse(value);
    expect(r.success).toBe(false);
    const issue = r.error!.issues.find((i) => i.path.join(".") === path) ?? r.error!.issues[0]!;
    expect(`${issue.message} ${JSON.stringify((issue as { keys?: string[] }).keys ?? [])}`).toContain(message);
    expect(JSON.stringify(r.error!.issues)).not.toContain("short-key-of-31");
  });

  it("generates a JSON Schema that marks the key as a secret and holds nothing of this machine", () => {
    const json = JSON.stringify(z.toJSONSchema(pagerdutyChannel.schema, { io: "input", unrepresentable: "any" }));
    expect(json).toContain('"writeOnly":true');
    expect(json).not.toContain(hostname());
  });

  it("an unreadable or bogus CA file fails create() with a MedicError naming the file, not the key", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "bogus.pem"), "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
    for (const ca of ["missing.pem", "bogus.pem"]) {
      const params = pagerdutyChannel.schema.parse({ routingKey: KEY, ca });
      let thrown: unknown;
      try {
        pagerdutyChannel.create(params, { name: "pagerduty", baseDir: dir, log });
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(MedicError);
      expect((thrown as MedicError).code).toBe("PAGERDUTY_CA");
      expect((thrown as MedicError).message).toContain(`${join(dir, ca)} as notify.pagerduty.ca:`);
      expect((thrown as MedicError).describe()).not.toContain(KEY);
    }
  });
});

describe("pagerduty channel: delivery", () => {
  it("trigger, acknowledge and resolve are accepted and move one alert through its states", async () => {
    const pd = await receiver();
    const dir = tempDir();
    writeFileSync(join(dir, "pd-ca.pem"), readFileSync(pd.caFile));
    // A relative ca resolves against the config's directory.
    const n = pagerdutyChannel.create(pagerdutyChannel.schema.parse({ routingKey: KEY, server: pd.server, ca: "pd-ca.pem" }), {
      name: "pagerduty",
      baseDir: dir,
      log,
    });
    expect(n.name).toBe("pagerduty");
    expect([...n.accepts].sort()).toEqual(["acknowledge", "resolve", "trigger"]);

    expect(await send(n, note("trigger", "inc-42", { severity: "P2", link: "http://127.0.0.1:9/api/incidents/inc-42" }))).toMatchObject({
      ok: true,
    });
    expect(pd.alerts().get("inc-42")).toEqual({ status: "triggered", triggers: 1, rang: 1 });
    expect(await send(n, note("acknowledge", "inc-42"))).toMatchObject({ ok: true });
    expect(pd.alerts().get("inc-42")?.status).toBe("acknowledged");
    expect(await send(n, note("resolve", "inc-42"))).toMatchObject({ ok: true });
    expect(pd.alerts().get("inc-42")?.status).toBe("resolved");

    expect(pd.events.map((e) => [e.body.event_action, e.body.dedup_key, e.status])).toEqual([
      ["trigger", "inc-42", 202],
      ["acknowledge", "inc-42", 202],
      ["resolve", "inc-42", 202],
    ]);
    const trigger = pd.events[0]!.body;
    expect(trigger.routing_key).toBe(KEY);
    expect(trigger.payload).toMatchObject({
      severity: "error",
      source: hostname(),
      summary: "P2 server_down on orders-api: GET /health: ECONNREFUSED",
    });
    expect(trigger.links).toEqual([{ href: "http://127.0.0.1:9/api/incidents/inc-42", text: "incident in medic" }]);
    expect(Object.keys(pd.events[2]!.body).sort()).toEqual(["dedup_key", "event_action", "routing_key"]);
  });

  it("an alert medic acknowledged stays silent on another trigger; the page after a failed fix goes to its own key and rings", async () => {
    const pd = await receiver();
    const n = notifier(pd);
    for (const event of ["trigger", "acknowledge", "trigger"] as const)
      expect(await send(n, note(event, "inc-f"))).toMatchObject({ ok: true });
    expect(pd.alerts().get("inc-f")).toEqual({ status: "acknowledged", triggers: 2, rang: 1 });
    const repage = note("trigger", "inc-f", {
      key: "inc-f:2",
      escalation: 1,
      attempts: 1,
      reason: "escalated: verification: not recovered",
    });
    expect(await send(n, repage)).toMatchObject({ ok: true });
    expect(await send(n, note("resolve", "inc-f"))).toMatchObject({ ok: true });
    expect(pd.alerts().get("inc-f:2")).toEqual({ status: "triggered", triggers: 1, rang: 1 });
    expect(pd.alerts().get("inc-f")?.status).toBe("resolved");
    expect(pd.events.at(-2)!.body.payload.summary).toBe("P1 server_down on orders-api (medic's fix failed): GET /health: ECONNREFUSED");
    expect(pd.events.at(-2)!.body.payload.custom_details.reason).toBe("escalated: verification: not recovered");
  });

  it("the receiver dedups like PagerDuty: a trigger on an open alert pages no one, one after resolve opens it again", async () => {
    const pd = await receiver();
    const n = notifier(pd, { source: "ops-7" });
    for (const event of ["trigger", "trigger", "acknowledge", "trigger", "resolve", "acknowledge"] as const) {
      expect(await send(n, note(event, "inc-d"))).toMatchObject({ ok: true });
    }
    expect(pd.alerts().get("inc-d")).toEqual({ status: "resolved", triggers: 3, rang: 1 });
    expect(await send(n, note("trigger", "inc-d"))).toMatchObject({ ok: true });
    expect(pd.alerts().get("inc-d")).toEqual({ status: "triggered", triggers: 4, rang: 2 });
    expect(await send(n, note("resolve", "unknown"))).toMatchObject({ ok: true });
    expect(pd.alerts().has("unknown")).toBe(false);
    expect(pd.events[0]!.body.payload.source).toBe("ops-7");
  });

  it("an event PagerDuty would refuse gets a 400 with its errors: not retried, sent once, no key in the detail", async () => {
    const pd = await receiver();
    // Past the schema on purpose: a 31-character key, as a typo would make it.
    const bad = pagerdutyChannel.create(
      { ...pagerdutyChannel.schema.parse({ routingKey: KEY, server: pd.server, ca: pd.caFile }), routingKey: KEY.slice(0, 31) },
      { name: "pagerduty", baseDir: "/", log },
    );
    const r = await send(bad, note("trigger"));
    expect(r).toMatchObject({ ok: false, retry: false, reason: "bad_request" });
    expect(r.ok || r.detail).toContain("Length of 'routing_key' is incorrect (should be 32 characters)");
    expect(r.ok || r.detail).not.toContain(KEY.slice(0, 31));
    expect(pd.events).toHaveLength(1);
    expect(pd.events[0]!.status).toBe(400);
  });

  it("bad_request mode: PagerDuty's errors in the detail, a key it echoes is scrubbed, one request", async () => {
    const pd = await receiver();
    pd.setMode("bad_request", { errors: ["'payload.summary' is missing or blank", `no service for ${KEY}`] });
    const r = await send(notifier(pd), note("trigger"));
    expect(r).toMatchObject({ ok: false, retry: false, reason: "bad_request" });
    expect(r.ok || r.detail).toContain("Event object is invalid; 'payload.summary' is missing or blank; no service for [secret]");
    expect(pd.events).toHaveLength(1);
  });

  it("429 with Retry-After: rate_limited with its wait, at once and once (pdjs would try 3 more times, 20 s apart)", async () => {
    const pd = await receiver();
    pd.setMode("rate_limited", { retryAfter: "7" });
    const r = await send(notifier(pd), note("trigger"));
    expect(r).toMatchObject({ ok: false, retry: true, reason: "rate_limited", retryAfterMs: 7000 });
    expect(r.ms).toBeLessThan(5000);
    await new Promise((ok) => setTimeout(ok, 500));
    expect(pd.events.map((e) => e.status)).toEqual([429]);
  });

  it.each([
    ["error", {}, "server_error", "HTTP 500"],
    ["garbage", { status: 502 }, "bad_reply", "HTTP 502 with a body that is not PagerDuty's JSON"],
    ["garbage", { status: 200 }, "bad_reply", "HTTP 200 with a body that is not PagerDuty's JSON"],
  ] as const)("%s %o: retryable %s", async (mode, opts, reason, detail) => {
    const pd = await receiver();
    pd.setMode(mode, { ...opts, times: 1 });
    const n = notifier(pd);
    const r = await send(n, note("trigger"));
    expect(r).toMatchObject({ ok: false, retry: true, reason });
    expect(r.ok || r.detail).toContain(detail);
    // The mode ran out: the outbox's retry would now get through.
    expect(await send(n, note("trigger"))).toMatchObject({ ok: true });
    expect(pd.events).toHaveLength(2);
  });

  it("a redirect is not followed (it would turn the POST into a GET): a configuration problem", async () => {
    const pd = await receiver();
    pd.setMode("garbage", { status: 302 });
    const r = await send(notifier(pd), note("trigger"));
    expect(r).toMatchObject({ ok: false, retry: false, reason: "rejected" });
    expect(r.ok || r.detail).toContain("answered with a redirect (HTTP 302)");
    expect(pd.events).toHaveLength(1);
  });

  it("a notification that cannot be built is reported, not thrown", async () => {
    const pd = await receiver();
    const r = await send(notifier(pd), { ...note("trigger"), steps: undefined as never });
    expect(r).toMatchObject({ ok: false, retry: false, reason: "bad_request" });
    expect(pd.events).toHaveLength(0);
  });

  it("a receiver that never answers: timeout within the configured time", async () => {
    const pd = await receiver();
    pd.setMode("hang");
    const r = await send(notifier(pd, { timeout: "1s" }), note("trigger"));
    expect(r).toMatchObject({ ok: false, retry: true, reason: "timeout" });
    expect(r.ok || r.detail).toContain(`no answer from ${pd.server} within 1s`);
    expect(r.ms).toBeGreaterThanOrEqual(900);
    expect(r.ms).toBeLessThan(5000);
    expect(pd.events).toHaveLength(1);
  });

  it("medic stopping aborts a send at once, and a send after that does not start", async () => {
    const pd = await receiver();
    pd.setMode("hang");
    const n = notifier(pd, { timeout: "20s" });
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 300);
    const r = await send(n, note("trigger"), stop.signal);
    expect(r).toMatchObject({ ok: false, retry: true, reason: "timeout" });
    expect(r.ms).toBeLessThan(5000);
    expect(await send(n, note("trigger"), stop.signal)).toMatchObject({ ok: false, retry: true, reason: "timeout" });
    expect(pd.events).toHaveLength(1);
  });

  it("nothing listening: retryable network failure", async () => {
    const r = await send(notifier({ server: `127.0.0.1:${await freePort()}` }), note("trigger"));
    expect(r).toMatchObject({ ok: false, retry: true, reason: "network" });
    expect(r.ok || r.detail).toContain("ECONNREFUSED");
  });

  it("a self-signed receiver without ca: refused by TLS, with a hint to set ca", async () => {
    const pd = await receiver();
    const r = await send(notifier({ server: pd.server }), note("trigger"));
    expect(r).toMatchObject({ ok: false, retry: true, reason: "network" });
    expect(r.ok || r.detail).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY/);
    expect(r.ok || r.detail).toContain("set notify.pagerduty.ca");
    expect(pd.events).toHaveLength(0);
  });
});

describe("pagerduty channel: nothing left running", () => {
  const BUILT = join(ROOT, "dist/escalation/pagerduty.js");
  // A send in its own node process: when the result is out, the process must end on its own. pdjs's
  // requestTimeout would hold it for 30 s; its 429 retries for 60 s.
  const CHILD = `
    const { pagerdutyChannel } = await import(${JSON.stringify(new URL(`file://${BUILT}`).href)});
    const [server, ca, key] = process.argv.slice(1);
    const n = pagerdutyChannel.create(pagerdutyChannel.schema.parse({ routingKey: key, server, ca, timeout: "1s" }), { name: "pagerduty", baseDir: "/" });
    const note = { id: "c-1", channel: "pagerduty", event: "trigger", incident: "c-1", target: "t", kind: "server_down", severity: "P1",
      state: "open", reason: "opened", evidence: "down", openedAt: Date.now(), at: Date.now(), attempts: 0, steps: [] };
    const result = await n.send(note, new AbortController().signal);
    process.stdout.write(JSON.stringify(result) + "\\n");
  `;

  it.each(["hang", "rate_limited", "ok"] as const)("%s: the process exits promptly after the result", async (mode) => {
    expect(existsSync(BUILT), `${BUILT} is missing: run npm run build`).toBe(true);
    const pd = await receiver();
    pd.setMode(mode, { retryAfter: "1" });
    const child = spawn(process.execPath, ["--input-type=module", "-e", CHILD, pd.server, pd.caFile, KEY], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    onCleanup(() => void child.kill("SIGKILL"));
    let out = "";
    let err = "";
    let resultAt = 0;
    child.stdout.on("data", (d) => {
      out += d;
      if (out.includes("\n") && !resultAt) resultAt = Date.now();
    });
    child.stderr.on("data", (d) => (err += d));
    const exited = new Promise<number | null>((ok) => child.once("exit", ok));
    const code = await Promise.race([exited, new Promise<"running">((ok) => setTimeout(() => ok("running"), 15_000))]);
    const exitedAt = Date.now();
    expect(code, `still running 15 s after start; stdout: ${out}`).not.toBe("running");
    expect(err).toBe("");
    expect(code).toBe(0);
    seen.push(out);
    const result = JSON.parse(out) as SendResult;
    expect(result).toMatchObject(
      mode === "ok" ? { ok: true } : { ok: false, retry: true, reason: mode === "hang" ? "timeout" : "rate_limited" },
    );
    expect(exitedAt - resultAt).toBeLessThan(3000);
    expect(pd.events).toHaveLength(1);
  });
});

// Beyond what medic sends: the checks the end-to-end suites rely on the receiver making.
describe("pagerduty receiver", () => {
  function post(pd: PagerDutyReceiver, body: string): Promise<{ status: number; body: any }> {
    const [host, port] = pd.server.split(":");
    return new Promise((ok, fail) => {
      const req = https.request(
        {
          host,
          port: Number(port),
          method: "POST",
          path: "/v2/enqueue",
          ca: readFileSync(pd.caFile),
          headers: { "content-type": "application/json" },
        },
        (res) => {
          let text = "";
          res.on("data", (d) => (text += d)).on("end", () => ok({ status: res.statusCode!, body: JSON.parse(text) }));
        },
      );
      req.on("error", fail);
      req.end(body);
    });
  }

  const valid = { routing_key: KEY, event_action: "trigger", dedup_key: "k", payload: { summary: "s", source: "h", severity: "critical" } };
  it.each([
    ["ack without dedup_key", { routing_key: KEY, event_action: "acknowledge" }, "'dedup_key' is missing or blank"],
    ["unknown action", { ...valid, event_action: "page" }, "'event_action' is invalid"],
    ["long dedup_key", { ...valid, dedup_key: "d".repeat(256) }, "Length of 'dedup_key' is too long"],
    ["long summary", { ...valid, payload: { ...valid.payload, summary: "s".repeat(1025) } }, "Length of 'payload.summary' is too long"],
    ["no source", { ...valid, payload: { ...valid.payload, source: "" } }, "'payload.source' is missing or blank"],
    ["bad severity", { ...valid, payload: { ...valid.payload, severity: "P1" } }, "'payload.severity' is invalid"],
    ["too big", { ...valid, payload: { ...valid.payload, custom_details: { pad: "x".repeat(600_000) } } }, "too large"],
  ])("400 for %s", async (_, event, error) => {
    const pd = await receiver();
    const r = await post(pd, JSON.stringify(event));
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ status: "invalid event", message: "Event object is invalid" });
    expect(r.body.errors.join("\n")).toContain(error);
    expect(pd.alerts().size).toBe(0);
  });

  it("202 with the dedup_key for a valid event", async () => {
    const pd = await receiver();
    expect(await post(pd, JSON.stringify(valid))).toEqual({
      status: 202,
      body: { status: "success", message: "Event processed", dedup_key: "k" },
    });
  });
});
