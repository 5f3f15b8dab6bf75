import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { utc } from "../src/incidents/markdown.js";
import { cleanup, freePort, journal, medic, serviceConfig, startMedic, startService, tempDir, waitUntil } from "./harness.js";

afterEach(cleanup);

describe("medic incidents show --format markdown", () => {
  it("writes a postmortem draft of a real incident from the journal a real medic run wrote", async () => {
    const dir = tempDir();
    const port = await freePort();
    const config = join(dir, "medic.yaml");
    writeFileSync(config, serviceConfig(dir, port));
    const firstPid = await startService(dir, port, join(dir, "api.pid"));
    const daemon = startMedic(["run", "--config", config]);
    await waitUntil(() => daemon.stdout().includes("medic started"), 10_000, "medic to start");
    process.kill(firstPid, "SIGKILL");

    const stateDir = join(dir, "state");
    const resolved = await waitUntil(() => journal(stateDir).find((r) => r.type === "resolved"), 30_000, "the incident to resolve");
    // The resolve notification is written after the resolve: let it land so the report sees the whole story.
    await waitUntil(
      () => journal(stateDir).some((r) => r.type === "notification_sent" && r.id.includes("-resolve-")),
      10_000,
      "the resolve notification",
    );
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    const records = journal(stateDir).filter((r) => r.incident === resolved.incident);

    // An id prefix is enough, as for the text format.
    const shown = await medic(["incidents", "show", resolved.incident.slice(0, 5), "--format", "markdown", "--config", config]);
    expect(shown.code).toBe(0);
    const report = shown.stdout;
    expect(report.split("\n")[0]).toBe(`# Incident ${resolved.incident}: \`server_down\` on api`);
    for (const title of ["Summary", "Impact", "Timeline", "Remediation", "Notifications", "Resolution", "Open questions", "Action items"]) {
      expect(report).toContain(`\n## ${title}\n`);
    }
    expect(report).toContain("by playbook `restart-on-server-down`, recovery verified by probing (healthy for 2 rounds");

    // One timeline row per journal record, at the record's UTC time.
    const rows = report
      .split("\n## Timeline\n")[1]!
      .split("\n## ")[0]!
      .split("\n")
      .filter((l) => /^\| \d/.test(l))
      .map((l) => l.slice(2, -2).split(" | "));
    expect(rows).toHaveLength(records.length);
    for (const [i, row] of rows.entries()) expect(utc(records[i]!.at).endsWith(row[0]!)).toBe(true);
    expect(rows.map((r) => r[2])).toEqual(
      expect.arrayContaining(["Detection", "Remediation", "Verification", "Resolution", "Notification"]),
    );
    expect(rows[0]![3]).toMatch(/^`server_down` P1 opened\. Evidence: .*ECONNREFUSED/);

    // The restart step's output, exactly as journaled, in a fenced block under its step.
    const step = records.find((r) => r.type === "step_finished");
    expect(step?.type === "step_finished" && step.outcome).toBe("ok");
    if (step?.type !== "step_finished") return;
    expect(report).toContain(`#### Step 1: \`service.restart\`: ok in `);
    expect(report).toContain(`\n\`\`\`text\n${step.detail}\n\`\`\`\n`);
    expect(report).toMatch(/\| `console` \| trigger \| \+[\d.]+m?s \| delivered at \+[\d.]+m?s \| opened \|/);
    expect(report).toContain("- What was the root cause? medic saw the symptom (`server_down`: ");

    // --json still works and --format json is the same; a format that does not exist is a usage error.
    const json = await medic(["incidents", "show", resolved.incident, "--json", "--config", config]);
    expect(JSON.parse(json.stdout)).toMatchObject({ id: resolved.incident, state: "resolved", kind: "server_down" });
    const formatJson = await medic(["incidents", "show", resolved.incident, "--format", "json", "--config", config]);
    expect(formatJson.stdout).toBe(json.stdout);
    const text = await medic(["incidents", "show", resolved.incident, "--config", config]);
    expect(text.stdout).toContain("resolved: verified");
    const bad = await medic(["incidents", "show", resolved.incident, "--format", "pdf", "--config", config]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("Allowed choices are text, json, markdown");
  }, 60_000);
});
