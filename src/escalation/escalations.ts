import { randomUUID } from "node:crypto";
import type { Config } from "../config/types.js";
import { MEDIC_TARGET, type Incident, type IncidentEvent } from "../incidents/types.js";
import type { Action, Verdict } from "../gate/types.js";
import { repeat, type Clock } from "../lib/clock.js";
import type { Logger } from "../lib/log.js";
import { backoffDelayMs } from "./backoff.js";
import { AlertLedger } from "./alerts.js";
import { buildNotification } from "./build.js";
import { CHANNEL_TROUBLE } from "./collapse.js";
import { Outbox } from "./outbox.js";
import { dueNotifications, type ChannelFacts } from "./policy.js";
import { createNotifier } from "./create.js";
import { routeIncident, type Routing } from "./route.js";
import { gated } from "./gated.js";
import { SELF_PAGE_KIND, type Notification, type Notifier, type SendResult } from "./types.js";

/** How often timed policy steps are checked (a P2 paged after 30 min needs no finer clock). */
const TICK_MS = 1000;

/** What escalation needs from the daemon. */
export interface EscalationsOptions {
  /** Replaced on reload. */
  config: Config;
  log: Logger;
  clock: Clock;
  /** Records an incident event (the daemon's record stream; what it records is durable before anything is sent). */
  record: (incident: string, event: IncidentEvent) => void;
  /** Open incidents and the recent ones still owed a notification (the store's live view). */
  incidents: () => ReadonlyMap<string, Incident>;
  /** Which incidents this medic handles: a dry run's own, or the real ones. */
  dryRun: boolean;
  /** The action gate: every send is checked when it is queued, and allowed (after the store is durable) when it goes out. */
  gate: { check(action: Action): Verdict; allow(action: Action): Promise<Verdict> };
  /** A maintenance window or pause covers the target: nobody is paged (a resolve of an earlier page still goes out). */
  paused?: (target: string, now: number) => boolean;
  /** A target's labels, for routes that match on them (a target no longer watched has none). */
  labels?: (target: string) => Readonly<Record<string, string>> | undefined;
  /** Targets come from discovery too: an incident of a target not found yet waits (see settle) before it is routed. */
  discovers?: boolean;
}

/** The longest an incident of a target discovery has not found yet waits to be routed after a start. */
const DISCOVERY_WAIT_MS = 30_000;

/**
 * The escalation stage at run time: turns the policy's due notifications into journal records
 * (the outbox of record) and hands them to the delivery engine. Timers are derived from the
 * journal on every tick, so they survive a restart; what was queued but never acknowledged by
 * its receiver is delivered after a restart.
 */
export class Escalations {
  private readonly notifiers = new Map<string, Notifier>();
  private facts: ChannelFacts;
  private readonly outbox: Outbox;
  private stopTimer: (() => void) | undefined;
  /** Pages about medic itself, in the order they were asked for. */
  private selfPages: Promise<void> = Promise.resolve();
  /** Every target's labels are known (discovery has listed its containers, or there is none). */
  private settled: boolean;

  constructor(private readonly opts: EscalationsOptions) {
    const { config } = opts;
    this.settled = !opts.discovers;
    this.facts = this.buildNotifiers(config);
    const { retry, breaker } = config.notify;
    this.outbox = new Outbox({
      notifiers: this.notifiers,
      retry: { initialMs: retry.initialMs, maxMs: retry.maxMs, maxAttempts: retry.attempts },
      breaker: { failures: breaker.failures, cooldownMs: breaker.cooldownMs },
      onSent: (n) => opts.record(n.incident, { type: "notification_sent", id: n.id, channel: n.channel }),
      onFailed: (n, reason, detail) => {
        opts.record(n.incident, { type: "notification_failed", id: n.id, channel: n.channel, reason, detail });
        opts.log.error(
          { incident: n.incident, channel: n.channel, event: n.event, reason, detail },
          "notification not delivered; not retrying",
        );
        this.reportBrokenChannel(n, `${reason}: ${detail}`);
      },
      onSuperseded: (n, by) => opts.record(n.incident, { type: "notification_superseded", id: n.id, channel: n.channel, by: by.id }),
      onAttemptFailed: (n, result, attempt, nextInMs) =>
        opts.log.warn(
          { incident: n.incident, channel: n.channel, reason: result.reason, detail: result.detail, attempt, nextInMs },
          "notification failed; will retry",
        ),
    });
  }

  /** Applies a reloaded config: policy, link and channels (queued notifications carry over); retry and breaker settings need a restart. */
  reconfigure(config: Config): void {
    const before = new Map(this.notifiers);
    this.opts.config = config;
    this.facts = this.buildNotifiers(config);
    this.keepForOpenAlerts(before);
    this.outbox.setNotifiers(this.notifiers);
  }

  /**
   * A channel a reload removed still has alerts open on it: its old notifier stays, for their
   * acknowledges and resolves only (nothing new is triggered on it), until they are closed.
   */
  private keepForOpenAlerts(before: ReadonlyMap<string, Notifier>): void {
    const open = new Set([...this.opts.incidents().values()].flatMap((i) => new AlertLedger(i).channelsWithOpen()));
    let kept = false;
    for (const [name, notifier] of before) {
      if (this.notifiers.has(name) || !open.has(name)) continue;
      const accepts = new Set([...notifier.accepts].filter((e) => e !== "trigger"));
      this.notifiers.set(name, { ...notifier, accepts });
      this.opts.log.warn(
        { channel: name },
        "a channel the reload removed keeps its open alerts until they are resolved; nothing new goes to it",
      );
      kept = true;
    }
    if (kept) this.facts = { ...this.facts, accepts: acceptsOf(this.notifiers) };
  }

  private buildNotifiers(config: Config): ChannelFacts {
    const ack = new Set<string>();
    const pages = new Set<string>();
    this.notifiers.clear();
    for (const channel of config.notify.channels) {
      const notifier = gated(createNotifier(channel, config.baseDir, this.opts.log), this.opts.gate);
      this.notifiers.set(channel.name, notifier);
      if ((channel.params as { acknowledgeOnRemediation?: boolean }).acknowledgeOnRemediation) ack.add(channel.name);
      if (notifier.pages) pages.add(channel.name);
    }
    return { accepts: acceptsOf(this.notifiers), acknowledgeOnRemediation: ack, pages };
  }

  /** Delivers what a previous daemon queued and never got accepted, then starts the policy clock. */
  start(): void {
    const owed: { at: number; n: Notification }[] = [];
    for (const incident of this.opts.incidents().values()) {
      for (const n of incident.notifications) if (n.status === "queued") owed.push({ at: n.queuedAt, n: n.notification });
    }
    if (owed.length > 0) this.opts.log.info({ owed: owed.length }, "delivering notifications a previous run still owed");
    this.outbox.enqueue(
      ...owed
        .sort((a, b) => a.at - b.at)
        .map((o) => o.n)
        .filter((n) => this.mayQueue(n)),
    );
    // Once at start, everything: a resolve a previous run never queued is still owed.
    for (const incident of this.opts.incidents().values())
      if (incident.state !== "resolved" || hasUnresolved(incident)) this.review(incident.id);
    // From then on a resolve is queued the moment it is journaled; only open incidents have timed steps.
    this.stopTimer = repeat(this.opts.clock, TICK_MS, () => this.reviewOpen(), { unref: true });
    if (!this.settled) this.opts.clock.timer(() => this.settle(), DISCOVERY_WAIT_MS, { unref: true });
  }

  /** Discovery has found what it finds at start: incidents of its targets are routed by their labels now. */
  settle(): void {
    if (this.settled) return;
    this.settled = true;
    this.reviewOpen();
  }

  /** Queues what the policy says an incident is owed now. */
  review(id: string): void {
    const incident = this.opts.incidents().get(id);
    if (!incident || incident.dryRun !== this.opts.dryRun) return;
    // Routed by labels nobody knows yet (a container discovery has not listed since the start): it would take the default policy.
    if (!this.settled && incident.state !== "resolved" && incident.target !== MEDIC_TARGET && !this.opts.labels?.(incident.target)) return;
    const now = this.opts.clock.now();
    const { pageGraceMs } = this.opts.config.escalation;
    const due = dueNotifications(incident, this.route(incident).steps, this.facts, now, { pageGraceMs });
    if (due.length === 0) return;
    // Asked only when something is due: every open incident is reviewed every second.
    if (incident.state !== "resolved" && this.opts.paused?.(incident.target, now)) return;
    const affected = this.affectedBy(id);
    for (const d of due) {
      const n = buildNotification(incident, d, now, this.opts.config.notify.link, affected);
      this.opts.record(id, { type: "notification_queued", notification: n });
      if (this.mayQueue(n)) this.outbox.enqueue(n);
    }
  }

  // The gate's word on a notification as it is queued: a dry run says what it would send and sends nothing.
  private mayQueue(n: Notification): boolean {
    const verdict = this.opts.gate.check({ kind: "notify", incident: n.incident, channel: n.channel, event: n.event });
    if (verdict.allow) return true;
    const fields = { incident: n.incident, channel: n.channel, event: n.event, reason: n.reason, evidence: n.evidence };
    if (verdict.rule === "dry_run") this.opts.log.info(fields, "dry run: would notify");
    else if (verdict.rule === "follower") this.opts.log.debug(fields, "the leader notifies");
    else this.opts.log.warn({ ...fields, refused: verdict.reason }, "notification kept queued: the gate refuses sends");
    return false;
  }

  // Sends about medic itself; the console is medic's own log, not the world, so it always speaks.
  private mayAnnounce(notifier: Notifier, what: string, fields: object): boolean {
    if (notifier.name === "console") return true;
    const verdict = this.opts.gate.check({ kind: "announce", channel: notifier.name, what });
    if (verdict.allow) return true;
    this.opts.log.info(
      { channel: notifier.name, ...fields, refused: verdict.reason },
      `${verdict.rule === "dry_run" ? "dry run: would" : "not sent:"} ${what}`,
    );
    return false;
  }

  /** Where an incident's notifications go now: its routes, policies and steps (plans show it too). */
  route(incident: Pick<Incident, "target" | "kind" | "severity">): Routing {
    const labels = this.opts.labels?.(incident.target) ?? {};
    return routeIncident(
      { target: incident.target, labels, kind: incident.kind, severity: incident.severity },
      this.opts.config.escalation,
    );
  }

  // News about medic itself goes where its own trouble is routed: a P1 of kind medic_trouble, by default the default P1 policy's channels.
  private selfChannels(): Notifier[] {
    const steps = this.route({ target: MEDIC_TARGET, kind: SELF_PAGE_KIND, severity: "P1" }).steps;
    const names = new Set(["console", ...steps.flatMap((s) => s.notify)]);
    return [...this.notifiers.values()].filter((n) => names.has(n.name));
  }

  /** Tells the channels medic's own news goes to that take announcements (Slack, the log); best effort, not journaled. */
  announce(text: string): void {
    for (const notifier of this.selfChannels()) {
      if (!notifier.announce || !this.mayAnnounce(notifier, "announce", { announcement: text })) continue;
      void this.announceTo(notifier, text);
    }
  }

  /**
   * Pages about medic itself on the channels its own news goes to that page rather than announce (PagerDuty), straight
   * to the receiver: not journaled, not through the outbox (the trouble may be the state dir itself).
   * Sends run one after another, so a resolve never overtakes its trigger. `key` is the dedup key.
   */
  pageSelf(key: string, event: "trigger" | "resolve", summary: string): Promise<void> {
    const now = this.opts.clock.now();
    const send = async () => {
      for (const notifier of this.selfChannels()) {
        if (notifier.announce || !notifier.accepts.has(event)) continue;
        const n: Notification = {
          id: randomUUID(),
          channel: notifier.name,
          event,
          incident: key,
          target: MEDIC_TARGET,
          kind: SELF_PAGE_KIND,
          severity: "P1",
          state: event === "trigger" ? "open" : "resolved",
          reason: summary,
          evidence: summary,
          openedAt: now,
          at: now,
          attempts: 0,
          steps: [],
        };
        if (this.mayAnnounce(notifier, "page about medic itself", { event, summary })) await this.deliverDirect(notifier, n);
      }
    };
    this.selfPages = this.selfPages.then(send, send);
    return this.selfPages;
  }

  private deliverDirect(notifier: Notifier, n: Notification): Promise<void> {
    return this.retrying(notifier, 5, (signal) => notifier.send(n, signal), { event: n.event }, "page about medic itself not delivered");
  }

  private announceTo(notifier: Notifier, text: string): Promise<void> {
    return this.retrying(notifier, 3, (signal) => notifier.announce!(text, signal), {}, "announcement not delivered");
  }

  // Best-effort sends outside the outbox: a few tries, spaced by the outbox's own backoff (unjittered: one message, not a crowd).
  private async retrying(
    notifier: Notifier,
    tries: number,
    send: (signal: AbortSignal) => Promise<SendResult>,
    fields: object,
    failed: string,
  ): Promise<void> {
    for (let attempt = 1; attempt <= tries; attempt++) {
      const result = await send(AbortSignal.timeout(30_000));
      if (result.ok) return;
      this.opts.log.warn({ channel: notifier.name, ...fields, reason: result.reason, detail: result.detail, attempt }, failed);
      if (!result.retry) return;
      await new Promise((ok) =>
        setTimeout(
          ok,
          backoffDelayMs(attempt, this.opts.config.notify.retry, () => 0.5),
        ).unref(),
      );
    }
  }

  // Targets of the incidents suppressed under this one: the root's notifications name them.
  private affectedBy(id: string): string[] {
    const targets = new Set<string>();
    for (const i of this.opts.incidents().values()) if (i.root === id) targets.add(i.target);
    return [...targets].sort();
  }

  /** Per channel: queue depth and breaker state. */
  status() {
    return this.outbox.status();
  }

  /** Resolves when nothing is waiting to be sent. */
  idle(): Promise<void> {
    return this.outbox.idle();
  }

  async stop(): Promise<void> {
    this.stopTimer?.();
    await this.outbox.stop();
  }

  private reviewOpen(): void {
    for (const incident of this.opts.incidents().values()) if (incident.state !== "resolved") this.review(incident.id);
  }

  // A channel that refuses for good is itself an incident for humans: say so on the incident's other channels.
  private reportBrokenChannel(failed: Notification, why: string): void {
    const incident = this.opts.incidents().get(failed.incident);
    // A resolve that cannot go out is worth a log line (onFailed wrote it), not a page about a resolved incident.
    if (!incident || incident.state === "resolved" || failed.event !== "trigger" || failed.reason.startsWith(CHANNEL_TROUBLE)) return;
    const ledger = new AlertLedger(incident);
    const routed = this.route(incident).steps.flatMap((s) => s.notify);
    const told = incident.notifications.map((n) => n.notification.channel);
    for (const channel of new Set([...routed, ...told])) {
      if (channel === failed.channel || channel === "console" || !this.notifiers.has(channel)) continue;
      // To the alert the channel's latest page went to: an older one may be resolved already.
      const key = ledger.current(channel)?.key;
      const reason = `${CHANNEL_TROUBLE} ${failed.channel} (${why})`;
      const due = { channel, event: "trigger" as const, reason, ...(key && key !== incident.id && { key }) };
      const n = buildNotification(incident, due, this.opts.clock.now(), this.opts.config.notify.link);
      this.opts.record(incident.id, { type: "notification_queued", notification: n });
      this.outbox.enqueue(n);
    }
  }
}

/** Which events each configured channel acts on. */
function acceptsOf(notifiers: ReadonlyMap<string, Notifier>): ChannelFacts["accepts"] {
  return new Map([...notifiers].map(([name, n]) => [name, n.accepts]));
}

function hasUnresolved(incident: Incident): boolean {
  return new AlertLedger(incident).channelsWithOpen().length > 0;
}
