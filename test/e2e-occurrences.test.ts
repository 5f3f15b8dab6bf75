import { mkdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { apiUrl, cleanup, journal, medic, onCleanup, startMedic, tempDir, waitUntil } from "./harness.js";

afterEach(cleanup);

/** A health endpoint on 127.0.0.1 that answers 500 until told otherwise, counting the failing rounds it answered. */
async function flakyHealth() {
  const state = { ok: false, failed: 0 };
  const server = http.createServer((_req, res) => {
    if (!state.ok) state.failed++;
    res.writeHead(state.ok ? 200 : 500, { "content-type": "application/json" }).end(JSON.stringify({ status: state.ok ? "pass" : "fail" }));
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  onCleanup(() => new Promise<void>((ok) => server.close(() => ok())));
  return { state, port: (server.address() as AddressInfo).port };
}

describe("occurrences of an incident", () => {
  it("are the same number in medic incidents --json, GET /api/incidents and GET /api/incidents/ID, open, resolved and after a restart", async () => {
    const dir = tempDir();
    const health = await flakyHealth();
    mkdirSync(join(dir, "playbooks"));
    const config = join(dir, "medic.yaml");
    // No playbook: the incident escalates and stays open while every round fails.
    writeFileSync(
      config,
      `stateDir: ${JSON.stringify(join(dir, "state"))}
playbooks: [./playbooks]
defaults: { interval: 100ms, timeout: 1s, failureThreshold: 2, successThreshold: 2 }
targets:
  - name: api
    probe: { http: { url: "http://127.0.0.1:${health.port}/health" } }
`,
    );
    const daemon = startMedic(["run", "--config", config]);
    const url = await apiUrl(daemon);
    const opened = await waitUntil(() => journal(join(dir, "state")).find((r) => r.type === "opened"), 10_000, "the incident");
    await waitUntil(() => health.state.failed >= 25, 20_000, "25 failing rounds");

    const counts = async () => {
      const cli = await medic(["incidents", "--json", "--config", config]);
      expect(cli.code, cli.stderr).toBe(0);
      const fromCli = (JSON.parse(cli.stdout) as { id: string; occurrences: number }[]).find((i) => i.id === opened.incident)!.occurrences;
      const detail = (await (await fetch(`${url}/api/incidents/${opened.incident}`)).json()) as { occurrences: number };
      const list = (await (await fetch(`${url}/api/incidents`)).json()) as { incidents: { id: string; occurrences: number }[] };
      return { cli: fromCli, detail: detail.occurrences, list: list.incidents.find((i) => i.id === opened.incident)!.occurrences };
    };
    // Open and failing: every view derives the count from the same records.
    const open = await counts();
    expect(open.detail).toBe(open.cli);
    expect(open.list).toBe(open.cli);

    // Healthy again: the resolve carries the rounds counted since the last journaled count, so the final number is exact.
    health.state.ok = true;
    await waitUntil(
      () => journal(join(dir, "state")).find((r) => r.type === "resolved" && r.incident === opened.incident),
      10_000,
      "the resolve",
    );
    const failingSinceOpen = health.state.failed - 1; // the first failing round did not open it (failureThreshold 2)
    expect(await counts()).toEqual({ cli: failingSinceOpen, detail: failingSinceOpen, list: failingSinceOpen });

    // And after a restart, the API (a fresh fold of the journal) still says the same.
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    const again = startMedic(["run", "--config", config]);
    const url2 = await apiUrl(again);
    const detail = (await (await fetch(`${url2}/api/incidents/${opened.incident}`)).json()) as { occurrences: number };
    expect(detail.occurrences).toBe(failingSinceOpen);
    again.child.kill("SIGTERM");
    expect(await again.exited).toBe(0);
  }, 60_000);
});
