import { closeSync, fsyncSync, openSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { describeError } from "../lib/errors.js";
import type { Logger } from "../lib/log.js";

/** One line of medic's health, as /healthz shows it. */
export interface HealthCheck {
  name: string;
  ok: boolean;
  detail: string;
}

/** What the watch asks of the journal in the state dir (the file store, or the single-file journal before it). */
export interface WatchedJournal {
  /** Its own trouble (deleted, records waiting), or undefined; asking also retries what waits. */
  problem(): string | undefined;
  /** Records waiting in memory for the disk to take them. */
  waiting(): number;
}

/** What the watch tells humans through: neither goes through the journal or the outbox, which may live in the broken state dir. */
export interface StateDirWatchOptions {
  stateDir: string;
  /** The journal in the state dir, when medic keeps one: it is retried on every check. */
  journal?: WatchedJournal;
  log: Logger;
  /** Best effort to every channel that takes announcements (Slack, the log). */
  announce: (text: string) => void;
  /** A page about medic itself with a stable dedup key (PagerDuty), straight to the receiver. */
  page: (key: string, event: "trigger" | "resolve", summary: string) => Promise<void>;
}

/** How often the tick writes a probe file while nothing is wrong (a failed append is noticed at once anyway). */
const PROBE_EVERY_MS = 10_000;
const HINT = "free space in the state directory, or make it writable by medic's user";

/**
 * Checks the state dir (a probe write, the journal's own trouble, records waiting in memory) and
 * tells humans once when trouble starts and once when it ends, not once per failed write.
 */
export class StateDirWatch {
  private trouble: string | undefined;
  private since = 0;
  private probedAt = -Infinity;
  readonly pageKey: string;

  constructor(private readonly opts: StateDirWatchOptions) {
    this.pageKey = `medic:state-dir:${opts.stateDir}`;
  }

  /**
   * The daemon's tick: the journal's own trouble every time (an fstat), the probe write only every
   * PROBE_EVERY_MS or while in trouble, so an idle medic does not write and fsync every second.
   */
  tick(now = Date.now()): void {
    const probe = this.trouble !== undefined || now - this.probedAt >= PROBE_EVERY_MS;
    this.check(now, probe);
  }

  /** The state dir's health checks now (/healthz); announces a start or an end of trouble. */
  check(now = Date.now(), probe = true): HealthCheck[] {
    const { journal, stateDir } = this.opts;
    if (probe) this.probedAt = now;
    const writable = probe ? stateDirWritable(stateDir) : { name: "state dir", ok: true, detail: `${stateDir} is writable` };
    // problem() also writes what waits, so it comes after the probe write found room.
    const problem = journal?.problem();
    const waiting = journal?.waiting() ?? 0;
    const checks: HealthCheck[] = [
      waiting === 0
        ? writable
        : {
            name: "state dir",
            ok: false,
            detail: `${writable.ok ? `${stateDir} takes writes again, but` : `${writable.detail};`} ${waiting} journal record${waiting === 1 ? "" : "s"} waiting in memory to be written`,
          },
    ];
    if (problem && waiting === 0) checks.push({ name: "journal", ok: false, detail: problem });
    const bad = checks.find((c) => !c.ok);
    this.transition(bad?.detail, now);
    return checks;
  }

  private transition(trouble: string | undefined, now: number): void {
    if (trouble === undefined && this.trouble === undefined) return;
    if (trouble !== undefined && this.trouble !== undefined) return;
    const { stateDir, log, announce, page } = this.opts;
    if (trouble !== undefined) {
      this.trouble = trouble;
      this.since = now;
      const summary = `medic cannot write its state dir ${stateDir}: ${trouble}. It keeps watching and acting; what it records waits in memory. Hint: ${HINT}`;
      log.error({ stateDir, trouble }, "state dir trouble: announcing it");
      announce(`medic: ${summary}`);
      void page(this.pageKey, "trigger", summary);
      return;
    }
    const lasted = Math.round((now - this.since) / 1000);
    this.trouble = undefined;
    const text = `medic: the state dir ${stateDir} takes writes again (the trouble lasted ${lasted}s); what was waiting in memory is in the journal now.`;
    log.warn({ stateDir, lastedSeconds: lasted }, "state dir trouble is over");
    announce(text);
    void page(this.pageKey, "resolve", text);
  }
}

/** Whether the journal could take an append: write, fsync and remove a probe file beside it. */
export function stateDirWritable(stateDir: string): HealthCheck {
  const file = join(stateDir, ".healthz");
  try {
    const fd = openSync(file, "w");
    try {
      writeSync(fd, "ok\n");
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    unlinkSync(file);
    return { name: "state dir", ok: true, detail: `${stateDir} is writable` };
  } catch (err) {
    return { name: "state dir", ok: false, detail: `${stateDir} is not writable: ${describeError(err)}` };
  }
}
