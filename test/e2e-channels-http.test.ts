import { mkdirSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startTeamsReceiver } from "./fixtures/msteams-receiver.js";
import { startWebhookReceiver } from "./fixtures/webhook-receiver.js";
import { apiUrl, cleanup, journal, journalText, onCleanup, startMedic, tempDir, waitUntil } from "./harness.js";

// A real medic process notifying a signed webhook and a Teams Workflows webhook on 127.0.0.1.

afterEach(cleanup);

const TOKEN = "e2e-operator-token-0123456789abcdef";
const HOOK_SECRET = "whsec-e2e-0123456789abcdef";
const HOOK_AUTH = "Bearer e2e-hook-token-0123456789";

async function switchable(): Promise<{ url: string; set(status: number): void }> {
  let status = 200;
  const server: Server = createServer((_req, res) => res.writeHead(status, { "content-type": "application/json" }).end("{}"));
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  onCleanup(() => new Promise<void>((ok) => server.close(() => ok())));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/health`,
    set(s) {
      status = s;
    },
  };
}

describe("webhook and msteams channels through a running medic", () => {
  it("trigger to both; a person's acknowledge reaches the webhook only; the resolve reaches both; a 500 is retried under the same key", async () => {
    const hook = await startWebhookReceiver({ secret: HOOK_SECRET, requireHeaders: { authorization: HOOK_AUTH } });
    const teams = await startTeamsReceiver();
    onCleanup(() => hook.close());
    onCleanup(() => teams.close());
    const api = await switchable();
    const dir = tempDir();
    mkdirSync(join(dir, "playbooks"));
    writeFileSync(join(dir, "token"), `${TOKEN}\n`, { mode: 0o600 });
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
    const events = accepted.map((b) => b.event);
    expect(events.slice(-2)).toEqual(["acknowledge", "resolve"]);
    expect(new Set(events.slice(0, -2))).toEqual(new Set(["trigger"]));
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
    // (no playbook matches: the open's card may be superseded by "Medic cannot fix it" before it goes out)
    expect(titles[0]).toMatch(/^(Medic cannot fix it: )?P1 server\\_down on api$/);
    expect(titles.at(-1)).toBe("Resolved: P1 server\\_down on api");
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
