import { getEventListeners } from "node:events";
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { emailChannel } from "../src/escalation/email.js";
import { messageIdOf } from "../src/escalation/email-message.js";
import type { Notification, Notifier } from "../src/escalation/types.js";
import { MedicError } from "../src/lib/errors.js";
import { startSmtpReceiver, type SmtpReceiver, type SmtpReceiverOptions } from "./fixtures/smtp-receiver.js";
import { note as sampleNote, sendTimed } from "./fixtures/notification.js";
import { cleanup, freePort, onCleanup, tempDir } from "./harness.js";

// The email channel through the real nodemailer against a real SMTP server (smtp-server) on
// 127.0.0.1 with a certificate made for the test; every message is parsed back with mailparser.

afterEach(cleanup);

const USER = "medic-bot";
const PASSWORD = "S3cr3t-smtp-P4ssw0rd!";
const FORMS = [PASSWORD, Buffer.from(PASSWORD).toString("base64"), Buffer.from(`\u0000${USER}\u0000${PASSWORD}`).toString("base64")];
const log = pino({ level: "silent" });
// Every result any send produced; none may carry the password in any form (checked after each test, too).
const seen: string[] = [];
afterEach(() => {
  for (const text of seen.splice(0)) for (const form of FORMS) expect(text).not.toContain(form);
});

async function receiver(opts: SmtpReceiverOptions = { user: USER, password: PASSWORD }): Promise<SmtpReceiver> {
  const smtp = await startSmtpReceiver(opts);
  onCleanup(() => smtp.close());
  return smtp;
}

function notifier(smtp: { port: number; caFile?: string }, extra: Record<string, unknown> = {}): Notifier {
  const params = emailChannel.schema.parse({
    host: "127.0.0.1",
    port: smtp.port,
    user: USER,
    password: PASSWORD,
    from: "medic <medic@ops.example.com>",
    to: ["oncall@example.com", "dba@example.com"],
    ...(smtp.caFile && { ca: smtp.caFile }),
    timeout: "5s",
    ...extra,
  });
  return emailChannel.create(params, { name: "email", baseDir: "/", log });
}

const note = (event: Notification["event"], incident = "inc-1", over: Partial<Notification> = {}): Notification =>
  sampleNote(event, incident, {
    channel: "email",
    openedAt: Date.now() - 60_000,
    steps: [{ name: "service.restart", outcome: "failed", detail: "exit 1" }],
    ...over,
  });

const send = (n: Notifier, notification: Notification, signal = AbortSignal.timeout(20_000)) => sendTimed(n, notification, seen, signal);

describe("email channel: config", () => {
  const base = { host: "smtp.example.com", from: "medic@example.com", to: ["oncall@example.com"] };
  const parse = (v: unknown) => emailChannel.schema.safeParse(v);

  it("fills defaults: STARTTLS required, 30s, port chosen at send time", () => {
    expect(parse(base).data).toEqual({ ...base, secure: false, starttls: "require", timeout: 30_000 });
  });

  it.each([
    [{ ...base, host: "smtp://smtp.example.com" }, "host", "no smtp://"],
    [{ ...base, host: "smtp.example.com:587" }, "host", "use port"],
    [{ ...base, from: "medic@example.com\r\nBcc: evil@example.com" }, "from", "e-mail address"],
    [{ ...base, to: ["a@example.com\nBcc: evil@example.com"] }, "to.0", "e-mail address"],
    [{ ...base, to: [] }, "to", ""],
    [{ ...base, user: "u" }, "password", "user and password go together"],
    [{ ...base, password: "p" }, "password", "user and password go together"],
    [{ ...base, starttls: "never" }, "starttls", ""],
    [{ ...base, timeout: "0s" }, "timeout", "longer than 0"],
    [{ ...base, port: 70000 }, "port", ""],
  ])("rejects %o at %s", (value, path, message) => {
    const r = parse(value);
    expect(r.success).toBe(false);
    const issue = r.error!.issues.find((i) => i.path.join(".") === path)!;
    expect(issue).toBeDefined();
    expect(issue.message).toContain(message);
    expect(JSON.stringify(r.error!.issues)).not.toContain("Bcc: evil");
  });

  it("sends a password only over TLS: opportunistic STARTTLS with a login is refused, but for a relay on this host", () => {
    const base = {
      user: "medic",
      password: "pw-0123456789",
      from: "medic@example.com",
      to: ["ops@example.com"],
      starttls: "opportunistic",
    };
    const refused = parse({ ...base, host: "smtp.example.com" });
    expect(refused.success).toBe(false);
    expect(refused.error?.issues).toEqual([
      expect.objectContaining({ path: ["starttls"], message: expect.stringContaining("only over TLS") }),
    ]);
    expect(parse({ ...base, host: "127.0.0.1" }).success).toBe(true);
    expect(parse({ ...base, host: "smtp.example.com", secure: true }).success).toBe(true);
    const { user: _u, password: _p, ...relay } = base;
    expect(parse({ ...relay, host: "smtp.example.com" }).success).toBe(true);
  });

  it("marks the password as a secret in the JSON Schema, and lists it (and its AUTH encodings) among the channel's secrets", () => {
    const json = JSON.stringify(z.toJSONSchema(emailChannel.schema, { io: "input", unrepresentable: "any" }));
    expect(json).toContain('"writeOnly":true');
    expect(emailChannel.secrets!(emailChannel.schema.parse({ ...base, user: USER, password: PASSWORD }))).toEqual(FORMS);
    expect(emailChannel.secrets!(emailChannel.schema.parse(base))).toEqual([]);
  });

  it("an unreadable or bogus CA file fails create() with a MedicError naming the file", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "bogus.pem"), "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n");
    for (const ca of ["missing.pem", "bogus.pem"]) {
      const params = emailChannel.schema.parse({ ...base, ca, user: USER, password: PASSWORD });
      let thrown: unknown;
      try {
        emailChannel.create(params, { name: "email", baseDir: dir, log });
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(MedicError);
      expect((thrown as MedicError).code).toBe("EMAIL_CA");
      expect((thrown as MedicError).message).toContain(`${join(dir, ca)} as notify.email.ca:`);
      expect((thrown as MedicError).describe()).not.toContain(PASSWORD);
    }
  });
});

describe("email channel: delivery", () => {
  it("over STARTTLS with AUTH: trigger, acknowledge and resolve arrive as one thread, with the facts in headers and body", async () => {
    const smtp = await receiver();
    // A relative ca resolves against the config's directory.
    const dir = tempDir();
    copyFileSync(smtp.caFile, join(dir, "relay-ca.pem"));
    const params = emailChannel.schema.parse({
      host: "127.0.0.1",
      port: smtp.port,
      user: USER,
      password: PASSWORD,
      from: "medic <medic@ops.example.com>",
      to: ["oncall@example.com", "dba@example.com"],
      ca: "relay-ca.pem",
      timeout: "5s",
    });
    const n = emailChannel.create(params, { name: "email", baseDir: dir, log });
    expect(n.name).toBe("email");
    expect(n.pages).toBeUndefined();
    expect([...n.accepts].sort()).toEqual(["acknowledge", "resolve", "trigger"]);

    const link = "https://medic.example/#/incidents/inc-9";
    const trigger = note("trigger", "inc-9", { link, artifacts: [{ name: "heap.heapsnapshot", bytes: 2048, step: "capture.signal" }] });
    expect(await send(n, trigger)).toMatchObject({
      ok: true,
      detail: expect.stringMatching(/accepted the trigger: 250 2\.0\.0 Ok: queued/),
    });
    expect(await send(n, note("acknowledge", "inc-9", { reason: "acknowledged by alice: looking" }))).toMatchObject({ ok: true });
    expect(await send(n, note("resolve", "inc-9", { reason: "recovered" }))).toMatchObject({ ok: true });
    const [t, a, r] = await smtp.waitForMessages(3);

    for (const m of [t!, a!, r!]) {
      expect(m).toMatchObject({ from: "medic@ops.example.com", to: ["oncall@example.com", "dba@example.com"], secure: true, user: USER });
      expect(m.mail.headers.get("auto-submitted")).toBe("auto-generated");
      expect(m.mail.headers.get("x-medic-incident")).toBe("inc-9");
    }
    expect(smtp.logins.every((l) => l.ok && l.user === USER)).toBe(true);
    expect(t!.mail.subject).toBe("[P1] server_down on orders-api: GET /health: ECONNREFUSED");
    expect(a!.mail.subject).toBe("[P1] Acknowledged: server_down on orders-api");
    expect(r!.mail.subject).toBe("[P1] Resolved: server_down on orders-api");
    // Threading: the trigger starts the thread; the others answer it.
    const root = messageIdOf("inc-9-email-trigger-1", "ops.example.com");
    expect(t!.mail.messageId).toBe(root);
    expect(t!.mail.inReplyTo).toBeUndefined();
    for (const m of [a!, r!]) {
      expect(m.mail.inReplyTo).toBe(root);
      expect(m.mail.references).toBe(root);
      expect(m.mail.messageId).not.toBe(root);
    }
    expect(t!.mail.text).toContain("Evidence:\n  GET /health: ECONNREFUSED");
    expect(t!.mail.text).toContain("- service.restart: failed: exit 1");
    expect(t!.mail.text).toContain(
      `Evidence captured before the fix (1), read it at ${link}:\n  - heap.heapsnapshot (2048 bytes, capture.signal)`,
    );
    expect(a!.mail.text).toContain("acknowledged by alice: looking");
    expect(r!.mail.text).toContain("Why: recovered");
    expect(t!.mail.html).toBe(false);

    // And then: the outbox resends a trigger whose answer was lost; it keeps its Message-ID, so clients show it once.
    expect(await send(n, trigger)).toMatchObject({ ok: true });
    expect((await smtp.waitForMessages(4))[3]!.mail.messageId).toBe(root);
  });

  it("over implicit TLS (secure: true, like port 465)", async () => {
    const smtp = await receiver({ secure: true, user: USER, password: PASSWORD });
    expect(await send(notifier(smtp, { secure: true }), note("trigger"))).toMatchObject({ ok: true });
    const [m] = await smtp.waitForMessages(1);
    expect(m).toMatchObject({ secure: true, user: USER });
  });

  it("starttls: opportunistic sends in clear to a relay that cannot encrypt and takes no login", async () => {
    const smtp = await receiver({ noStartTls: true });
    const n = notifier(smtp, { user: undefined, password: undefined, starttls: "opportunistic" });
    expect(await send(n, note("trigger"))).toMatchObject({ ok: true });
    expect((await smtp.waitForMessages(1))[0]).toMatchObject({ secure: false });
  });

  it("hostile text cannot add a header: no Bcc, no injected field, a one-line subject", async () => {
    const smtp = await receiver();
    const evil = "down\r\nBcc: victim@evil.example\r\nX-Injected: yes\n\nfake body\u2028Subject: spoofed";
    const result = await send(
      notifier(smtp),
      note("trigger", "inc-evil\r\nX-Also: injected", {
        target: `api\r\nX-Target-Injected: 1`,
        kind: "k\nX-Kind: 1",
        evidence: evil,
        reason: evil,
      }),
    );
    expect(result).toMatchObject({ ok: true });
    const [m] = await smtp.waitForMessages(1);
    for (const name of ["bcc", "x-injected", "x-also", "x-target-injected", "x-kind"]) expect(m!.mail.headers.has(name)).toBe(false);
    expect(m!.to).toEqual(["oncall@example.com", "dba@example.com"]);
    expect(m!.mail.subject).toMatch(
      /^\[P1\] k X-Kind: 1 on api X-Target-Injected: 1: down Bcc: victim@evil\.example X-Injected: yes fake body Subject: spoofed$/,
    );
    expect(m!.mail.headers.get("x-medic-incident")).toBe("inc-evil X-Also: injected");
    // In the body the evidence stays readable, as text.
    expect(m!.mail.text).toContain("Bcc: victim@evil.example");
  });
});

describe("email channel: failures", () => {
  it.each([
    ["defer", { retry: true, reason: "server_error" }, /deferred the message \(450\)/],
    ["defer_data", { retry: true, reason: "server_error" }, /deferred the message \(451\)/],
    ["reject", { retry: false, reason: "rejected" }, /rejected the message \(550\).*hint: .*notify\.email\.to/],
    ["auth_fail", { retry: false, reason: "unauthorized" }, /refused the login.*535.*hint: check notify\.email\.user and password/],
  ] as const)("mode %s maps to %j", async (mode, want, detail) => {
    const smtp = await receiver();
    smtp.setMode(mode);
    const result = await send(notifier(smtp), note("trigger"));
    expect(result).toMatchObject({ ok: false, ...want });
    expect(result.detail).toMatch(detail);
    expect(smtp.messages).toHaveLength(0);
  });

  it("a wrong password is a 535 from the server: unauthorized, never retried, the password nowhere", async () => {
    const smtp = await receiver();
    const result = await send(notifier(smtp, { password: "not-the-password" }), note("trigger"));
    expect(result).toMatchObject({ ok: false, retry: false, reason: "unauthorized" });
    expect(result.detail).not.toContain("not-the-password");
    expect(smtp.logins).toEqual([expect.objectContaining({ user: USER, ok: false })]);
  });

  it("a certificate medic cannot verify (no ca) fails before AUTH, retryable, with a hint about ca", async () => {
    const smtp = await receiver();
    const result = await send(notifier({ port: smtp.port }), note("trigger"));
    expect(result).toMatchObject({ ok: false, retry: true, reason: "network" });
    expect(result.detail).toMatch(/TLS with SMTP server 127\.0\.0\.1:\d+ failed.*hint: .*notify\.email\.ca/);
    // The password never left medic: no login was tried over an unverified connection.
    expect(smtp.logins).toEqual([]);
  });

  it("starttls: require refuses a server that cannot encrypt, with a hint", async () => {
    const smtp = await receiver({ noStartTls: true, user: USER, password: PASSWORD });
    const result = await send(notifier(smtp), note("trigger"));
    expect(result).toMatchObject({ ok: false, retry: true, reason: "network" });
    expect(result.detail).toMatch(/STARTTLS/);
    expect(smtp.logins).toEqual([]);
  });

  it("nothing listening is a retryable network failure", async () => {
    const result = await send(notifier({ port: await freePort() }), note("trigger"));
    expect(result).toMatchObject({ ok: false, retry: true, reason: "network", detail: expect.stringContaining("ECONNREFUSED") });
  });

  it("hang: a timeout result after the channel's timeout; abort: at once, leaving no listener", async () => {
    const smtp = await receiver();
    smtp.setMode("hang");
    const timedOut = await send(notifier(smtp, { timeout: "1s" }), note("trigger"), new AbortController().signal);
    expect(timedOut).toMatchObject({ ok: false, retry: true, reason: "timeout", detail: expect.stringContaining("within 1s") });
    expect(timedOut.ms).toBeGreaterThanOrEqual(900);

    const daemon = new AbortController();
    const pending = send(notifier(smtp, { timeout: "60s" }), note("trigger"), daemon.signal);
    setTimeout(() => daemon.abort(), 300);
    const aborted = await pending;
    expect(aborted).toMatchObject({ ok: false, retry: true, reason: "timeout", detail: expect.stringContaining("medic is stopping") });
    expect(aborted.ms).toBeLessThan(30_000);
    expect(getEventListeners(daemon.signal, "abort")).toHaveLength(0);
    expect(await send(notifier(smtp), note("trigger"), AbortSignal.abort())).toMatchObject({ ok: false, retry: true, reason: "timeout" });
  });
});
