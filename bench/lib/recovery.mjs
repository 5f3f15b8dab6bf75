import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readJournal, startMedic, PLAYBOOKS, OPEN_GUARDS } from "./medic.mjs";
import { startMonit } from "./monit.mjs";
import { now, sleep, stopChild, waitFor } from "./proc.mjs";

/**
 * One break-and-recover measurement shared by the process, container and PostgreSQL scenarios.
 * A subject knows how to set itself up, break itself, tell when it is healthy (from outside),
 * and how medic and Monit are told to watch it. Both tools get the same 1 s cycle and 1 s timeout.
 */

/** Writes an executable sh script that appends "<what> <epoch ms>" to a file, then runs a command. */
export function actionScript(dir, name, actionsFile, line) {
  const file = join(dir, `${name}.sh`);
  writeFileSync(file, `#!/bin/sh\necho "${name} $(date +%s%3N)" >> ${actionsFile}\n${line}\n`);
  chmodSync(file, 0o755);
  return file;
}

/** Times (epoch ms) recorded by actionScript after t0. */
export function actionsAfter(file, t0) {
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    /* none yet */
  }
  return text
    .split("\n")
    .filter(Boolean)
    .map((l) => l.split(" "))
    .map(([what, at]) => ({ what, at: Number(at) }))
    .filter((a) => a.at >= t0);
}

/** The first time (epoch ms) at or after t0 in a file of one time per line, or NaN. */
function firstAfter(file, t0) {
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return NaN;
  }
  const times = text
    .split("\n")
    .filter(Boolean)
    .map(Number)
    .filter((at) => at >= t0 - 1);
  return times.length ? Math.min(...times) : NaN;
}

/**
 * The same subject, down at the start of every repetition: the tool under test starts it (medic
 * through the target's `process` service, so the service is medic's child in that run; Monit
 * through its start program), and the bench breaks it once the tool has it healthy.
 */
export function startedByTool(subject, name) {
  return {
    name,
    async create(dir, tool) {
      const s = await subject.create(dir, tool);
      return Object.assign(s, { name, startedByTool: true, up: async () => {} });
    },
  };
}

/** medic's config for one target with the shipped playbooks, matching Monit's `set daemon 1`. */
export function medicConfig(dir, targetYaml) {
  return `stateDir: ${JSON.stringify(join(dir, "state"))}
playbooks: [${JSON.stringify(PLAYBOOKS)}]
defaults: { interval: 1s, timeout: 1s, failureThreshold: 1, successThreshold: 1 }
${OPEN_GUARDS}targets:
${targetYaml}`;
}

/** The tools in the order one repetition runs them: medic first on even reps, Monit first on odd ones. */
export function toolOrder(rep, tools = ["medic", "monit"]) {
  // Alternating cancels a drift of the machine over the run (a warming cache, a neighbour's load) between the two tools.
  return rep % 2 === 0 ? [...tools] : [...tools].reverse();
}

/**
 * Runs `reps` rounds; each round measures every break with both tools, in alternating order (toolOrder), each on a fresh
 * subject and tool. Returns per-rep rows: {tool, rep, order, break, detectMs, actionMs, healthyMs, verifiedMs}.
 */
export async function measureRecovery({ subject, breaks, reps, log }) {
  const rows = [];
  for (let rep = 1; rep <= reps; rep++) {
    // A fresh subject and tool for every break: Monit's cycle stays blocked for its start timeout after a restart.
    for (const kind of breaks)
      for (const [index, tool] of toolOrder(rep, (process.env.BENCH_TOOLS ?? "medic,monit").split(",")).entries()) {
        const dir = mkdtempSync(join(tmpdir(), `medic-bench-${subject.name}-`));
        const s = await subject.create(dir, tool);
        let watcher;
        try {
          // The floor under any tool's kill-to-healthy: the service's own start, up to answering (as the bench polls it).
          const upAt = now();
          await s.up();
          // A subject the tool starts has no start of the bench's to time: its floor is its sibling scenario's (process, postgres).
          const upMs = s.startedByTool ? NaN : now() - upAt;
          watcher = tool === "medic" ? await startMedic(dir, medicConfig(dir, s.medicTarget)) : startMonit(dir, s.monitCheck);
          // A few healthy rounds first, and past Monit's start timeout: until it expires Monit skips the port tests of a service it could start.
          await sleep(s.warmupMs ?? 2500);
          {
            if (!(await s.healthy())) await waitFor(`${s.name} healthy before ${kind}`, () => s.healthy(), 30_000, 100);
            // medic started it through an incident: that one must be over, or the break would merge into it.
            if (s.startedByTool && tool === "medic") {
              await waitFor(`medic to resolve the start of ${s.name}`, () => settled(readJournal(watcher.journal)), 30_000, 50);
            }
            // The tool has seen it healthy; then a random phase, so the break lands anywhere in either tool's 1 s cycle.
            await sleep(1200 + Math.random() * 1000);
            let t0 = now();
            // A subject may know more exactly when the break happened (a container's FinishedAt), past the CLI's own latency.
            const at = await s.break(kind);
            if (Number.isFinite(at) && at > t0) t0 = at;
            // The break takes effect asynchronously (a signal is handled, an engine acts); the tool reacting proves it did, so
            // healthy counts only after that. Not after an outside poll saw it broken: the tool may have it back before the
            // break's own CLI calls return (then the poll never sees it down). Not polling meanwhile also keeps a client
            // hammering a hung service from slowing Monit's own check (seen here).
            await waitFor(
              `${tool} to react to ${kind}`,
              () =>
                tool === "medic"
                  ? readJournal(watcher.journal).some((r) => r.type === "opened" && r.at >= t0 - 1)
                  : actionsAfter(s.actionsFile, t0).length > 0,
              90_000,
              10,
            ).catch(() => {});
            const healthyAt = await waitFor(
              `${s.name} healthy after ${kind}`,
              async () => ((await s.healthy()) ? now() : 0),
              90_000,
              20,
            ).catch(() => NaN);
            const row = { scenario: s.name, tool, rep, order: index + 1, break: kind, healthyMs: healthyAt - t0, upMs };
            // A slow recovery says what the outside check saw meanwhile, so a harness fault cannot pass for the tool's.
            if (!(row.healthyMs < 10_000) && s.unhealthyWhy) row.unhealthyWhy = s.unhealthyWhy();
            if (tool === "monit") await sleep(300); // an action script may still be writing its line
            const acts = actionsAfter(s.actionsFile, t0);
            if (tool === "medic") {
              const rec = await waitFor(
                "medic's journal to record the recovery",
                () => {
                  const recs = readJournal(watcher.journal).filter((r) => r.at >= t0 - 1);
                  return recs.some((r) => r.type === "resolved" || r.type === "escalated") && recs;
                },
                60_000,
                50,
              ).catch(() => readJournal(watcher.journal).filter((r) => r.at >= t0 - 1));
              const at = (type) => rec.find((r) => r.type === type)?.at ?? NaN;
              // When medic heard of the break from the target's source (a container's die event, a pid's exit), if it did.
              const heard = watcher
                .logs()
                .split("\n")
                .filter((l) => l.includes('"msg":"event from the target\'s source"'))
                .map((l) => Number(/"time":(\d+)/.exec(l)?.[1]))
                .find((time) => time >= t0 - 1);
              Object.assign(row, {
                eventMs: heard === undefined ? NaN : heard - t0,
                detectMs: at("opened") - t0,
                actionMs: at("step_started") - t0,
                verifiedMs: at("resolved") - t0,
                escalated: rec.some((r) => r.type === "escalated"),
              });
            } else {
              // Monit's log has 1 s resolution: its first action (the stop or start script it ran) times its detection.
              Object.assign(row, {
                detectMs: (acts[0]?.at ?? NaN) - t0,
                actionMs: (acts[0]?.at ?? NaN) - t0,
                verifiedMs: NaN,
                actions: acts.map((a) => `${a.what}+${Math.round(a.at - t0)}`),
              });
            }
            // A hang: how long after the first request that hung (the probe that hung started) the tool reacted.
            const hungAt = kind === "hang" && s.hangLog ? firstAfter(s.hangLog, t0) : NaN;
            if (Number.isFinite(hungAt)) row.hangDetectMs = row.detectMs + t0 - hungAt;
            rows.push(row);
            log(
              `  ${s.name} ${kind} ${tool} rep ${rep}: detect ${Math.round(row.detectMs)} ms, healthy ${Math.round(row.healthyMs)} ms${row.unhealthyWhy ? ` (outside check: ${row.unhealthyWhy})` : ""}`,
            );
          }
        } finally {
          await stopChild(watcher?.child);
          await s.down();
          if (!process.env.BENCH_KEEP) rmSync(dir, { recursive: true, force: true });
        }
      }
  }
  return rows;
}

/** True when every incident the journal opened was resolved (or escalated). */
function settled(records) {
  const open = new Set();
  for (const r of records) {
    if (r.type === "opened") open.add(r.incident);
    if (r.type === "resolved" || r.type === "escalated") open.delete(r.incident);
  }
  return open.size === 0;
}
