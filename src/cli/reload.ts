import { formatIssue } from "../config/issues.js";
import { loadConfig, resolveConfigPath } from "../config/load.js";
import type { Config } from "../config/types.js";
import { describeError } from "../lib/errors.js";
import type { Logger } from "../lib/log.js";
import { shippedNote, splitWarnings, type GlobalOptions } from "./config.js";
import { takeSighup } from "./sighup.js";

/** What a reload acts on: the running daemon, and anything else that wants to hear (systemd). */
export interface ReloadTarget {
  apply(config: Config): void;
  /** Around each reload attempt (systemd's RELOADING=1 ... READY=1). */
  starting?(): void;
  finished?(): void;
}

/**
 * SIGHUP re-reads the config and playbooks. An invalid config changes nothing: every problem is
 * logged and the old config keeps running. Reloads never overlap; a SIGHUP during one is done
 * after it. Requests before `ready()`, and SIGHUPs that came while medic loaded (sighup.ts), wait
 * for it and are done once then: a SIGHUP never kills a starting daemon.
 */
export class Reloader {
  private target: ReloadTarget | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(
    private readonly opts: GlobalOptions,
    private readonly log: Logger,
  ) {
    const early = takeSighup(() => void this.request());
    if (early > 0) this.request();
  }

  /** The daemon is up: reloads from now on apply to it (one asked for earlier runs now). */
  ready(target: ReloadTarget): void {
    this.target = target;
    if (this.again) this.request();
  }

  /** Asks for a reload; returns when it (and any queued after it) is done. */
  request(): Promise<void> {
    if (this.closed) {
      this.log.info("reload asked for while medic stops: ignored");
      return Promise.resolve();
    }
    if (!this.target && !this.again) this.log.info("reload asked for while medic starts: it runs once medic is up");
    this.again = true;
    if (!this.target) return Promise.resolve();
    this.running ??= this.loop().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Stopping: later SIGHUPs are ignored (the handler stays, so one cannot kill medic mid-stop). */
  close(): void {
    this.target = undefined;
    this.closed = true;
  }

  private async loop(): Promise<void> {
    while (this.again && this.target) {
      this.again = false;
      const target = this.target;
      target.starting?.();
      try {
        await this.reloadOnce(target);
      } catch (err) {
        this.log.error({ err: describeError(err) }, "reload failed; the previous config keeps running");
      } finally {
        target.finished?.();
      }
    }
  }

  private async reloadOnce(target: ReloadTarget): Promise<void> {
    const file = resolveConfigPath(this.opts.config);
    this.log.info({ file }, "reloading the config");
    const result = await loadConfig(file, { stateDir: this.opts.stateDir });
    if (!result.ok) {
      const problems = result.issues.map(formatIssue);
      this.log.error(
        { file, problems },
        `${problems.length} problem${problems.length === 1 ? "" : "s"} in the new config; the previous config keeps running`,
      );
      return;
    }
    const { own, shipped } = splitWarnings(result.warnings);
    for (const warning of own) this.log.warn({ file, problem: formatIssue(warning) }, "config warning");
    const note = shippedNote(shipped);
    if (note) this.log.info({ file, note }, "shipped playbooks that do not fit");
    target.apply(result.config);
  }
}
