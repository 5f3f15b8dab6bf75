import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cleanup, journal, medic, onCleanup, startMedic, tempDir, waitUntil } from "./harness.js";

afterEach(cleanup);

// Shell metacharacters, a path climbing out, a forged log line, a terminal escape, within the 256 a label may hold.
const pwned = (dir: string) => join(dir, "PWNED");
const hostile = (dir: string) =>
  `$(touch ${pwned(dir)}); \`touch ${pwned(dir)}\` | tee ../../../PWNED2 && ../x\n{"level":60,"msg":"forged"}\r\u001b[2J '"*?~`;

async function failing(body: string): Promise<string> {
  const server: Server = createServer((_req, res) => res.writeHead(503, { "content-type": "application/json" }).end(body));
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  onCleanup(() => new Promise<void>((ok) => server.close(() => ok())));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}/health`;
}

describe("chaos: hostile strings", () => {
  it("a hostile label reaches an exec step as one literal argument: no shell, no other file, no forged log line", async () => {
    const dir = tempDir();
    const label = hostile(dir);
    expect(label.length).toBeLessThanOrEqual(256);
    const out = join(dir, "argv.json");
    const script = join(dir, "record.cjs");
    writeFileSync(script, `require("fs").writeFileSync(${JSON.stringify(out)}, JSON.stringify(process.argv.slice(2)));\n`);
    mkdirSync(join(dir, "playbooks"));
    writeFileSync(
      join(dir, "playbooks/record.yaml"),
      `name: record
on: [server_down]
steps:
  - exec: { argv: [${JSON.stringify(process.execPath)}, ${JSON.stringify(script)}, "{{ target.labels.x }}", "{{ target.name }}", "--{{ target.labels.x }}--"] }
verify: { within: 2s }
onFailure: escalate
`,
    );
    // The health body says hostile things too: they may only ever be evidence.
    const url = await failing(JSON.stringify({ status: `down\n{"level":60,"msg":"forged body"}`, detail: label + "x".repeat(100_000) }));
    const config = join(dir, "medic.yaml");
    writeFileSync(
      config,
      `stateDir: ./state
playbooks: [./playbooks]
defaults: { interval: 200ms, timeout: 1s, failureThreshold: 1, successThreshold: 1 }
targets:
  - name: api
    labels: { x: ${JSON.stringify(label)} }
    probe: { http: { url: "${url}" } }
`,
    );
    const before = new Set(readdirSync(dir));
    const daemon = startMedic(["run", "--config", config]);
    await waitUntil(() => existsSync(out), 15_000, "the exec step to run");
    await waitUntil(() => journal(join(dir, "state")).some((r) => r.type === "escalated"), 15_000, "the escalation after verify fails");
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);

    expect(JSON.parse(readFileSync(out, "utf8"))).toEqual([label, "api", `--${label}--`]);
    expect(existsSync(pwned(dir))).toBe(false);
    expect(existsSync("/PWNED2") || existsSync(join(dir, "../../../PWNED2"))).toBe(false);
    // The files medic made are the state dir and what the step wrote, nothing named after a label.
    expect(
      readdirSync(dir)
        .filter((f) => !before.has(f))
        .sort(),
    ).toEqual(["argv.json", "state"]);
    expect(readdirSync(join(dir, "state")).every((f) => /^[\w.-]+$/.test(f) && !f.includes("PWNED"))).toBe(true);
    // Every line medic logged is one JSON record; none of them is a forged one.
    for (const line of daemon.stdout().trim().split("\n")) {
      const rec = JSON.parse(line) as { msg?: string };
      expect(rec.msg).not.toMatch(/^forged/);
    }
    expect(daemon.stdout()).not.toMatch(/\n\{"level":60,"msg":"forged/);
  }, 60_000);

  it("hostile target names are refused by validate with exit 2 and a file:line message, never used as paths", async () => {
    const dir = tempDir();
    const names = ["../../etc/passwd", "$(reboot)", "a;b", "a\nb", "-rf", "x".repeat(200), "a b", "a/b", "`id`", "é"];
    for (const name of names) {
      const config = join(dir, "medic.yaml");
      writeFileSync(
        config,
        `stateDir: ./state\nplaybooks: []\ntargets:\n  - name: ${JSON.stringify(name)}\n    probe: { tcp: { port: 1 } }\n`,
      );
      const res = await medic(["validate", "--config", config]);
      expect(res.code, name).toBe(2);
      expect(res.stdout + res.stderr, name).toMatch(/medic\.yaml:4:\d+ targets\[0\]\.name: target name must be/);
      expect(res.stdout + res.stderr, name).not.toMatch(/\n\s+at /);
    }
    expect(readdirSync(dir)).toEqual(["medic.yaml"]);
  }, 60_000);
});
