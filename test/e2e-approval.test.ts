import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  apiUrl,
  cleanup,
  freePort,
  journal,
  killOnCleanup,
  medic,
  serviceConfig,
  startMedic,
  startService,
  tempDir,
  waitUntil,
} from "./harness.js";

// An approval gate on a real medic process and a real service it restarts: the incident waits,
// journaled; medic is killed -9 while it waits; an approver answers from the CLI while it is down;
// the next medic honours that answer once, restarts the service and verifies. The API answers by
// role, and names who from the token.

afterEach(cleanup);

const ANN = "ann-approver-token-0123456789abcdef";
const OLGA = "olga-operator-token-0123456789abcdef";

describe("an approval gate, end to end", () => {
  it("waits across a kill -9; an approval given while medic was down is honoured once; roles and names come from tokens", async () => {
    const dir = tempDir("medic-approval-");
    const port = await freePort();
    mkdirSync(join(dir, "playbooks"));
    writeFileSync(
      join(dir, "playbooks", "careful.yaml"),
      "name: careful\non: [server_down]\nsteps:\n  - service.start: {}\n    approval: { required: true, timeout: 10m }\nverify: { within: 20s }\n",
    );
    writeFileSync(join(dir, "ann"), ANN, { mode: 0o600 });
    writeFileSync(join(dir, "olga"), OLGA, { mode: 0o600 });
    const config = join(dir, "medic.yaml");
    writeFileSync(
      config,
      `${serviceConfig(dir, port, { playbooks: join(dir, "playbooks") })}api:\n  tokens:\n    - { name: ann, tokenFile: ./ann, role: approver }\n    - { name: olga, tokenFile: ./olga, role: operator }\n`,
    );
    killOnCleanup(join(dir, "api.pid"));
    const pid = await startService(dir, port, join(dir, "api.pid"));
    const state = join(dir, "state");
    let daemon = startMedic(["run", "--config", config]);
    let url = await apiUrl(daemon);
    const call = async (path: string, token: string, body?: unknown) => {
      const res = await fetch(url + path, {
        method: body === undefined ? "GET" : "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json()) as Record<string, any> };
    };

    process.kill(pid, "SIGKILL");
    const id = await waitUntil(
      () => journal(state).find((r) => r.type === "approval_requested")?.incident,
      20_000,
      "the step to wait for approval",
    );
    const waiting = await call(`/api/incidents/${id}`, OLGA);
    expect(waiting.body).toMatchObject({ state: "awaiting_approval", approval: { step: 0, stepName: "service.start", run: false } });
    expect(waiting.body.approval.plan.join("\n")).toContain("start process");
    // An operator may not answer; the journal is untouched.
    const refused = await call(`/api/incidents/${id}/approve`, OLGA, {});
    expect([refused.status, refused.body.error]).toEqual([403, "olga is an operator: this needs the approver role"]);

    // Killed while it waits: nothing ran, and the question is still there.
    daemon.child.kill("SIGKILL");
    await daemon.exited;
    expect(journal(state).some((r) => r.type === "step_started")).toBe(false);
    const approved = await medic(["approve", id.slice(0, 6), "--note", "checked it", "--config", config]);
    expect(approved.code).toBe(0);
    expect(approved.stdout).toMatch(
      new RegExp(`^approved step 1 \\(service.start\\) of incident ${id} as \\S+; medic acts on it within a second$`, "m"),
    );

    daemon = startMedic(["run", "--config", config]);
    url = await apiUrl(daemon);
    await waitUntil(() => journal(state).find((r) => r.type === "resolved" && r.incident === id), 30_000, "the incident to resolve");
    const records = journal(state).filter((r) => r.incident === id);
    expect(records.filter((r) => r.type === "approved")).toEqual([expect.objectContaining({ note: "checked it" })]);
    expect(records.filter((r) => r.type === "step_finished")).toEqual([expect.objectContaining({ index: 0, outcome: "ok" })]);

    // Answered and done: a second answer is refused, and nothing runs again.
    const late = await call(`/api/incidents/${id}/approve`, ANN, { note: "me too" });
    expect(late.status).toBe(409);
    expect(late.body.error).toBe(`incident ${id} does not wait for an approval (it is resolved)`);
    const postmortem = await medic(["incidents", "show", id, "--format", "markdown", "--config", config]);
    expect(postmortem.stdout).toMatch(/\*\*Approvals\*\* \| step 1 approved by \S+ at/);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 90_000);
});
