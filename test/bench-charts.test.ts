import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

// The bench's charts (bench/charts.mjs, bench/lib/charts.mjs, bench/lib/svg.mjs), drawn by the real CLI from result files:
// every chart is well-formed XML with outside text escaped, shows the figures the tables show, and a kind of row that is
// missing yields no chart. Also: the recovery bench alternates which tool goes first.

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CLI = join(ROOT, "bench/charts.mjs");
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "medic-bench-charts-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A strict well-formedness check for the XML subset the charts use (a declaration, elements, attributes, text; no
 * comments, CDATA or DTD): tags balance, attribute values are quoted and hold no raw `<`, and `&` only starts one of
 * the five predefined entities. Returns the first problem, or "" when there is none.
 */
function xmlProblem(xml: string): string {
  const entity = /&(?!(amp|lt|gt|quot|apos);)/;
  const body = xml.replace(/^<\?xml [^?]*\?>\s*/, "");
  const stack: string[] = [];
  let roots = 0;
  for (const token of body.trim().split(/(<[^>]*>)/)) {
    if (!token) continue;
    if (!token.startsWith("<")) {
      if (token.includes(">") || entity.test(token)) return `bad text: ${token}`;
      if (!stack.length && token.trim()) return `text outside the root: ${token}`;
      continue;
    }
    const close = /^<\/([A-Za-z][\w:-]*)>$/.exec(token);
    if (close) {
      if (stack.pop() !== close[1]) return `unbalanced </${close[1]}>`;
      continue;
    }
    const open = /^<([A-Za-z][\w:-]*)((?:\s+[A-Za-z][\w:-]*="[^"<]*")*)\s*(\/?)>$/.exec(token);
    if (!open) return `bad tag: ${token}`;
    if (entity.test(open[2]!)) return `bad entity in ${token}`;
    if (!stack.length) roots++;
    if (!open[3]) stack.push(open[1]!);
  }
  if (stack.length) return `unclosed <${stack.at(-1)}>`;
  return roots === 1 ? "" : `${roots} root elements`;
}

const HOSTILE = `<script>&"'x`;
const recovery = [100, 300, 500, 200, 400].flatMap((healthyMs, i) => [
  { scenario: HOSTILE, tool: "medic", rep: i + 1, break: "kill", healthyMs, detectMs: 10 },
  { scenario: HOSTILE, tool: "monit", rep: i + 1, break: "kill", healthyMs: healthyMs * 2, detectMs: i === 0 ? NaN : 900 },
]);
const scale = [500, 2000, 10_000].map((targets) => ({
  scenario: "scale",
  tool: "medic",
  targets,
  hanging: targets / 10,
  intervalMs: 10_000,
  driftP50Ms: 1,
  driftP99Ms: targets / 100,
  cpuCores: targets / 10_000,
  peakRssMB: 100 + targets / 100,
}));
const soak = {
  scenario: "soak",
  targets: 200,
  flapping: 20,
  durationMs: 600_000,
  rssSlopeMBPer10Min: 0.1,
  samples: Array.from({ length: 20 }, (_, i) => ({ tMs: i * 30_000, rssMB: 120, heapUsedMB: 40, loopP99Ms: 12, cpuCores: 0.01 })),
};
const failover = ["kill", "kill", "stall"].map((kind, i) => ({
  scenario: "cluster",
  part: "failover",
  kind,
  rep: i + 1,
  ttlMs: 10_000,
  electedMs: 150,
  firstActionMs: 180,
}));

/** Writes a results file as bench/run.mjs does and draws its charts; returns the charts by file name. */
async function draw(name: string, rows: object[]): Promise<Map<string, string>> {
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify({ rows }));
  await run(process.execPath, [CLI, file]);
  const out = join(dir, name);
  return new Map(readdirSync(out).map((f) => [f, readFileSync(join(out, f), "utf8")]));
}

describe("bench charts", () => {
  it("draws one chart per kind of row, each well-formed, with outside text escaped", async () => {
    const charts = await draw("all", [...recovery, ...scale, soak, ...failover]);
    expect([...charts.keys()].sort()).toEqual([
      "failover.svg",
      "recovery-script-x-kill.svg",
      "scale-cpu.svg",
      "scale-drift.svg",
      "scale-rss.svg",
      "soak.svg",
    ]);
    for (const [name, svg] of charts) expect(xmlProblem(svg), name).toBe("");
    const strips = charts.get("recovery-script-x-kill.svg")!;
    expect(strips).toContain("&lt;script&gt;&amp;&quot;&apos;x, kill");
    expect(strips).not.toContain("<script");
  });

  it("marks the nearest-rank median and p95 of each tool, counts the repetitions without a value, and pairs medic with Monit", async () => {
    const strips = (await draw("recovery", recovery)).get("recovery-script-x-kill.svg")!;
    expect(strips).toContain("median 300 ms");
    expect(strips).toContain("p95 500 ms");
    expect(strips).toContain("median 600 ms");
    expect(strips).toContain("n = 4, 1 without a value");
    expect(strips).toContain("(5 pairs): median 0.50×, worst 0.50×");
  });

  it("ends the scale below a value far above the rest, and marks that value with its size", async () => {
    const values = [100, 110, 120, 130, 140, 150, 160, 170, 180, 90_000];
    const rows = values.map((healthyMs, i) => ({ scenario: "process", tool: "medic", rep: i + 1, break: "kill", healthyMs, detectMs: 5 }));
    const strips = (await draw("outlier", rows)).get("recovery-process-kill.svg")!;
    expect(strips).toContain("▲ 1 above the scale");
    expect(strips).toContain("largest 90,000 ms");
    expect(strips).toContain("p95 90,000 ms");
    // 2 × the 90th percentile (180 ms), rounded up to a tick: the axis ends at 400, not at 90,000.
    expect(strips).toMatch(/>400<\/text>/);
    expect(strips).not.toMatch(/>(90,000|100,000)<\/text>/);
  });

  it("draws nothing for rows that are missing: a soak alone gives the soak's chart, with its loop delay and CPU", async () => {
    const charts = await draw("soak", [soak]);
    expect([...charts.keys()]).toEqual(["soak.svg"]);
    const svg = charts.get("soak.svg")!;
    expect(svg).toContain("event-loop delay p99");
    expect(svg).toContain("CPU (% of one core)");
  });

  it("asks where the charts of several files go, and names a file that is not results", async () => {
    const file = join(dir, "all.json");
    await expect(run(process.execPath, [CLI, file, file])).rejects.toMatchObject({ code: 2, stderr: expect.stringContaining("--out DIR") });
    const bad = join(dir, "bad.json");
    writeFileSync(bad, "{}");
    await expect(run(process.execPath, [CLI, bad])).rejects.toMatchObject({ stderr: expect.stringContaining(`${bad}: no "rows" array`) });
  });

  it("alternates which tool goes first from one repetition to the next", async () => {
    const path: string = join(ROOT, "bench/lib/recovery.mjs");
    const { toolOrder } = await import(path);
    expect([1, 2, 3, 4].map((rep) => toolOrder(rep)[0])).toEqual(["monit", "medic", "monit", "medic"]);
    expect(toolOrder(1, ["medic"])).toEqual(["medic"]);
  });
});
