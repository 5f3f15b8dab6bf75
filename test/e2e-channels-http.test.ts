import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startTeamsReceiver } from "./fixtures/msteams-receiver.js";
import { startWebhookReceiver } from "./fixtures/webhook-receiver.js";
import {
  apiUrl,
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

// A real medic process notifying a signed webhook and a Teams Workflows webhook on 127.0.0.1.

afterEach(cleanup);

const TOKEN = "e2e-operator-token-0123456789abcdef";
const HOOK_SECRET = "whsec-e2e-0123456789abcdef";
const HOOK_AUTH = "Bearer e2e-hook-token-0123456789";

describe("webhook and msteams channels through a running medic", () => {
  it("trigger to both; a person's acknowledge reaches the webhook only; the resolve reaches both; a 500 is retried under the same key", async () => {
    const hook = await startWebhookReceiver({ secret: HOOK_SECRET, requireHeaders: { authorization: HOOK_AUTH } });
    const teams = await startTeamsReceiver();
    onCleanup(() => hook.close());
    onCleanup(() => teams.close());
    const api = await switchableTarget();
    const dir = tempDir();
    mkdirSync(join(dir, "playbooks"));
    writeFileSync(join(dir, "token"), `${TOKEN}\n`, { mode: 0o600 });
    // A playbook that works until the target comes back: one trigger per channel, no escalation racing it.
    writeFileSync(join(dir, "playbooks", "fix.yaml"), "name: fix\non: [server_down]\nsteps:\n  - wait: 1s\nverify: { within: 20s }\n");
    const file = join(dir, "medic.yaml");
    writeFileSync(
      file,
      `stateDir: ./state
playbooks: [./playbooks]
defaults: { interval: 200ms, timeout: 1s, failureThreshold: 2, successThreshold: 2 }
api:
  tokens:
    - { name: alice, tokenFile: ./token, role: operator }
notify:
  webhook: { url: "\${HOOK_URL}", secret: "\${HOOK_SECRET}", headers: { authorization: "\${HOOK_AUTH}" }, timeout: 2s }
  msteams: { url: "\${TEAMS_URL}", timeout: 2s }
  link: https://medic.example.com
  retry: { initial: 200ms, max: 1s, attempts: 100 }
escalation:
  P1: [ { after: 0s, notify: [webhook, msteams] } ]
targets:
  - { name: api, probe: { http: { url: "${api.url}" } } }
`,
    );
    hook.setMode("error", { times: 1 }); // the first POST fails: medic retries it
    const daemon = startMedic(["run", "--config", file], { HOOK_URL: hook.url, HOOK_SECRET, HOOK_AUTH, TEAMS_URL: teams.url });
    const base = await apiUrl(daemon);
    const state = join(dir, "state");
    api.set(500);
    const opened = await waitUntil(() => journal(state).find((r) => r.type === "opened"), 10_000, "the incident");
    const id = opened.incident;
    await hook.waitFor(1);
    await teams.waitFor(1);

    const ack = await fetch(`${base}/api/incidents/${id}/ack`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ note: "on it" }),
    });
    expect(ack.status).toBe(200);
    await waitUntil(() => hook.accepted().some((r) => r.body.event === "acknowledge"), 10_000, "the webhook's acknowledge");
    api.set(200);
    await waitUntil(() => hook.accepted().some((r) => r.body.event === "resolve"), 15_000, "the webhook's resolve");
    await waitUntil(
      () => teams.posted().some((r) => r.body.attachments[0].content.body[0].text.startsWith("Resolved:")),
      10_000,
      "the Teams resolve",
    );

    // Every request passed the receivers' protocol checks (signature, timestamp window, key, schema; card and size).
    expect(hook.requests.flatMap((r) => r.problems)).toEqual([]);
    expect(teams.requests.flatMap((r) => r.problems)).toEqual([]);
    // The failed first POST was retried with the same idempotency key and body (and a signature that still checks).
    const [failed, ...rest] = hook.requests;
    expect(failed!.status).toBe(500);
    const retried = rest.find((r) => r.headers["idempotency-key"] === failed!.headers["idempotency-key"]);
    expect(retried).toMatchObject({ status: 200, raw: failed!.raw });
    // Each notification accepted once, in order: trigger(s), the person's acknowledge, the resolve; one alert, keyed by the incident.
    const accepted = hook.accepted().map((r) => r.body);
    expect(new Set(accepted.map((b) => b.id)).size).toBe(accepted.length);
    expect(accepted.map((b) => b.event)).toEqual(["trigger", "acknowledge", "resolve"]);
    expect(accepted.every((b) => b.key === id && b.incident === id && b.channel === "webhook")).toBe(true);
    expect(accepted[0]).toMatchObject({
      target: "api",
      kind: "server_down",
      severity: "P1",
      link: `https://medic.example.com/#/incidents/${id}`,
    });
    expect(accepted.at(-2)!.reason).toMatch(/acknowledged by alice: on it/);
    // Teams: a card per trigger and the resolve, never an acknowledge; a button to the incident's page.
    const toTeams = journal(state).flatMap((r) =>
      r.type === "notification_queued" && r.notification.channel === "msteams" ? [r.notification.event] : [],
    );
    expect(toTeams).not.toContain("acknowledge");
    const titles = teams.posted().map((r) => r.body.attachments[0].content.body[0].text as string);
    expect(titles).toEqual(["P1 server\\_down on api", "Resolved: P1 server\\_down on api"]);
    expect(teams.posted()[0]!.body.attachments[0].content.actions[0].url).toBe(`https://medic.example.com/#/incidents/${id}`);

    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    // No secret in what medic printed or journaled.
    for (const text of [daemon.stdout(), daemon.stderr(), journalText(state)]) {
      for (const secret of [HOOK_SECRET, HOOK_AUTH, new URL(hook.url).pathname, new URL(teams.url).searchParams.get("sig")!]) {
        expect(text).not.toContain(secret);
      }
    }
  }, 60_000);
});

/** A medic config watching `targetUrl` with only a webhook channel (P1 -> webhook); `webhook` is more of its params. */
function webhookOnly(targetUrl: string, webhook = "", playbook?: string): { dir: string; file: string; state: string } {
  const dir = tempDir();
  mkdirSync(join(dir, "playbooks"));
  if (playbook) writeFileSync(join(dir, "playbooks", "fix.yaml"), playbook);
  const file = join(dir, "medic.yaml");
  writeFileSync(
    file,
    `stateDir: ./state
playbooks: [./playbooks]
defaults: { interval: 200ms, timeout: 1s, failureThreshold: 2, successThreshold: 2 }
notify:
  webhook: { url: "\${HOOK_URL}", secret: "\${HOOK_SECRET}", timeout: 1s${webhook} }
  retry: { initial: 200ms, max: 1s, attempts: 100 }
escalation:
  P1: [ { after: 0s, notify: [webhook] } ]
targets:
  - { name: api, probe: { http: { url: "${targetUrl}" } } }
`,
  );
  return { dir, file, state: join(dir, "state") };
}

const started = (p: MedicProcess) => waitUntil(() => p.stdout().includes("medic started"), 10_000, "medic to start");

describe("webhook: and then?", () => {
  it("medic killed while the receiver holds the trigger: the restarted medic sends it again under the same idempotency key", async () => {
    const hook = await startWebhookReceiver({ secret: HOOK_SECRET });
    onCleanup(() => hook.close());
    const api = await switchableTarget();
    // A playbook still working when medic is killed: the incident has one trigger, the one held (no escalation yet).
    const playbook = "name: slow-fix\non: [server_down]\nsteps:\n  - wait: 30s\nverify: { within: 30s }\n";
    const { file, state } = webhookOnly(api.url, "", playbook);
    const env = { HOOK_URL: hook.url, HOOK_SECRET };
    hook.setMode("hang");
    const first = startMedic(["run", "--config", file], env);
    await started(first);
    api.set(500);
    await waitUntil(() => hook.requests.length >= 1, 10_000, "the trigger to reach the receiver");
    const held = hook.requests[0]!;
    first.child.kill("SIGKILL");
    await first.exited;

    hook.setMode("ok");
    startMedic(["run", "--config", file], env);
    const [delivered] = await hook.waitFor(1);
    expect(delivered!.problems).toEqual([]);
    expect(delivered!.headers["idempotency-key"]).toBe(held.headers["idempotency-key"]);
    expect(delivered!.body).toEqual(held.body);
    // A fresh timestamp and signature: the receiver's replay window still holds for a resend.
    expect(Number(delivered!.headers["x-medic-timestamp"])).toBeGreaterThanOrEqual(Number(held.headers["x-medic-timestamp"]));
    const id = delivered!.body.incident as string;
    const queued = journal(state).filter((r) => r.type === "notification_queued" && r.incident === id);
    expect(queued).toHaveLength(1);
    await waitUntil(() => journal(state).some((r) => r.type === "notification_sent" && r.incident === id), 10_000, "the send journaled");
    // (the playbook's 30 s step is still running: the cleanup's SIGKILL ends medic rather than a 5 s graceful stop)
  }, 60_000);

  it("acknowledgeOnRemediation: trigger, acknowledge when the playbook starts, resolve, one key", async () => {
    const hook = await startWebhookReceiver({ secret: HOOK_SECRET });
    onCleanup(() => hook.close());
    const api = await switchableTarget();
    const playbook = "name: fix\non: [server_down]\nsteps:\n  - wait: 1s\nverify: { within: 10s }\n";
    const { file, state } = webhookOnly(api.url, ", acknowledgeOnRemediation: true", playbook);
    const daemon = startMedic(["run", "--config", file], { HOOK_URL: hook.url, HOOK_SECRET });
    await started(daemon);
    api.set(500);
    await waitUntil(() => journal(state).some((r) => r.type === "playbook_started"), 10_000, "the playbook");
    api.set(200);
    await waitUntil(() => hook.accepted().some((r) => r.body.event === "resolve"), 15_000, "the resolve");
    const bodies = hook.accepted().map((r) => r.body);
    expect(bodies.map((b) => b.event)).toEqual(["trigger", "acknowledge", "resolve"]);
    expect(bodies[1].reason).toBe("playbook fix is working on it");
    expect(new Set(bodies.map((b) => b.key)).size).toBe(1);
    expect(hook.requests.flatMap((r) => r.problems)).toEqual([]);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 60_000);
});
