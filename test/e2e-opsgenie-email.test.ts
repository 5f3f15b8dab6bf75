import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { messageIdOf } from "../src/escalation/email-message.js";
import { startOpsgenieReceiver } from "./fixtures/opsgenie-receiver.js";
import { startSmtpReceiver } from "./fixtures/smtp-receiver.js";
import {
  cleanup,
  journal,
  journalText,
  onCleanup,
  startMedic,
  tempDir,
  waitUntil,
  type MedicProcess,
  switchableTarget,
} from "./harness.js";

// One incident through a real medic per channel: it opens, the receiver gets the trigger (and the
// acknowledge where the channel has one), the target recovers, the receiver gets the resolve.

afterEach(cleanup);

const OG_KEY = "e2e-0psg3n13-k3y-0123456789abcdef";
const SMTP_PASSWORD = "e2e-smtp-P4ssw0rd";

function config(channel: "opsgenie" | "email", notify: string, url: string): { dir: string; file: string; state: string } {
  const dir = tempDir();
  mkdirSync(join(dir, "playbooks"));
  // A playbook that works for a second: long enough for medic's acknowledge to go out.
  writeFileSync(join(dir, "playbooks", "fix.yaml"), "name: fix\non: [server_down]\nsteps:\n  - wait: 1s\nverify: { within: 10s }\n");
  const file = join(dir, "medic.yaml");
  writeFileSync(
    file,
    `stateDir: ./state
playbooks: [./playbooks]
defaults: { interval: 200ms, timeout: 1s, failureThreshold: 2, successThreshold: 2 }
notify:
${notify}
  retry: { initial: 200ms, max: 1s, attempts: 100 }
escalation:
  P1: [ { after: 0s, notify: [${channel}] } ]
targets:
  - { name: api, probe: { http: { url: "${url}" } } }
`,
  );
  return { dir, file, state: join(dir, "state") };
}

const started = (p: MedicProcess) => waitUntil(() => p.stdout().includes("medic started"), 10_000, "medic to start");

async function stop(daemon: MedicProcess, state: string, secrets: string[]): Promise<void> {
  daemon.child.kill("SIGTERM");
  expect(await daemon.exited).toBe(0);
  for (const text of [daemon.stdout(), journalText(state)]) for (const s of secrets) expect(text).not.toContain(s);
}

describe("opsgenie and email through a real medic", () => {
  it("opsgenie: the incident creates an alert under its id, medic acknowledges it while the playbook works, and closes it on recovery", async () => {
    const og = await startOpsgenieReceiver(OG_KEY);
    onCleanup(() => og.close());
    const api = await switchableTarget();
    const { file, state } = config(
      "opsgenie",
      `  opsgenie: { apiKey: "\${OG_KEY}", apiUrl: "${og.url}", timeout: 1s, tags: [e2e] }`,
      api.url,
    );
    const daemon = startMedic(["run", "--config", file], { OG_KEY });
    await started(daemon);
    api.set(500);
    const opened = await waitUntil(() => journal(state).find((r) => r.type === "opened"), 10_000, "the incident");
    await og.waitFor("acknowledged", () => og.alerts().get(opened.incident)?.status === "acked", 15_000);
    api.set(200);
    await og.waitFor("closed", () => og.alerts().get(opened.incident)?.status === "closed", 15_000);
    expect(og.requests.map((r) => [r.path, r.status])).toEqual([
      ["/v2/alerts", 202],
      [`/v2/alerts/${encodeURIComponent(opened.incident)}/acknowledge`, 202],
      [`/v2/alerts/${encodeURIComponent(opened.incident)}/close`, 202],
    ]);
    expect(og.alerts().get(opened.incident)).toMatchObject({
      creates: 1,
      create: { priority: "P1", tags: ["e2e", "medic", "server_down", "P1"] },
    });
    await stop(daemon, state, [OG_KEY]);
  }, 60_000);

  it("email: the trigger and the resolve arrive over STARTTLS with AUTH, the resolve threaded under the trigger", async () => {
    const smtp = await startSmtpReceiver({ user: "medic", password: SMTP_PASSWORD });
    onCleanup(() => smtp.close());
    const api = await switchableTarget();
    const { file, state } = config(
      "email",
      `  email: { host: 127.0.0.1, port: ${smtp.port}, ca: ${JSON.stringify(smtp.caFile)}, user: medic, password: "\${SMTP_PASSWORD}", from: "medic <medic@ops.example.com>", to: [oncall@example.com], timeout: 5s }`,
      api.url,
    );
    const daemon = startMedic(["run", "--config", file], { SMTP_PASSWORD });
    await started(daemon);
    api.set(500);
    const opened = await waitUntil(() => journal(state).find((r) => r.type === "opened"), 10_000, "the incident");
    await smtp.waitForMessages(1, 15_000);
    api.set(200);
    const [trigger, resolve] = await smtp.waitForMessages(2, 20_000);
    expect(trigger!.mail.subject).toMatch(/^\[P1\] server_down on api: /);
    expect(resolve!.mail.subject).toBe("[P1] Resolved: server_down on api");
    expect(trigger!.mail.messageId).toBe(messageIdOf(`${opened.incident}-email-trigger-1`, "ops.example.com"));
    expect(resolve!.mail.inReplyTo).toBe(trigger!.mail.messageId);
    expect(trigger).toMatchObject({ secure: true, user: "medic", to: ["oncall@example.com"] });
    expect(smtp.messages).toHaveLength(2);
    await stop(daemon, state, [SMTP_PASSWORD, Buffer.from(SMTP_PASSWORD).toString("base64")]);
  }, 60_000);
});
