import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Config } from "../config/types.js";
import { createNotifier } from "../escalation/create.js";
import { Outbox } from "../escalation/outbox.js";
import type { Notification, NotificationEvent } from "../escalation/types.js";
import { MEDIC_TARGET } from "../incidents/types.js";
import { createLogger } from "../lib/log.js";
import { loadOrReport, type GlobalOptions } from "./config.js";
import { EXIT, print, printError } from "./output.js";
import { whoAmI } from "./pause.js";

/** The kind a test notification says it is, so nobody takes it for an incident. */
export const TEST_KIND = "notify_test";

/** A test gives up sooner than the daemon: an operator is waiting for the answer. */
const TEST_ATTEMPTS = 3;

/**
 * `medic notify test CHANNEL`: a clearly marked test notification through the real outbox (its
 * retries, Retry-After and breaker) to one configured channel, then its resolve where the channel
 * has one, so a test page stops ringing. Prints each receiver's answer; exit 0 when every one was
 * accepted, 1 when not, 2 for an unknown channel. Journals nothing: it is not an incident.
 */
export async function notifyTestCommand(channelName: string, opts: GlobalOptions): Promise<number> {
  const config = await loadOrReport(opts, ["api", "alertmanager", "discovery"]);
  if (!config) return EXIT.badConfig;
  const channel = config.notify.channels.find((c) => c.name === channelName);
  if (!channel) {
    const names = config.notify.channels.map((c) => c.name).join(", ");
    printError(`no channel named "${channelName}" is configured (hint: one of ${names})\n`);
    return EXIT.badConfig;
  }
  // Channel logs (the console channel's lines) go to stderr: stdout is the answer.
  const log = createLogger({ pretty: false, level: "info", destination: process.stderr });
  const notifier = createNotifier(channel, config.baseDir, log);
  const events = (["trigger", "resolve"] as const).filter((e) => notifier.accepts.has(e));
  let ok = true;
  for (const event of events) {
    const answer = await deliver(notifier, testNotification(config, channelName, event), config);
    print(`${channelName} ${event}: ${answer.ok ? "accepted" : "NOT accepted"}: ${answer.detail}\n`);
    ok &&= answer.ok;
    if (!answer.ok) break; // a resolve of a trigger nobody took would only say the same again
  }
  return ok ? EXIT.ok : EXIT.unhealthy;
}

const INCIDENT = `test-${randomBytes(4).toString("hex")}`;

function testNotification(config: Config, channel: string, event: NotificationEvent): Notification {
  const now = Date.now();
  const said = `TEST from medic notify test, run by ${whoAmI()} on ${hostname()}: no incident, no action needed`;
  return {
    id: `${INCIDENT}-${channel}-${event}`,
    channel,
    event,
    incident: INCIDENT,
    target: MEDIC_TARGET,
    kind: TEST_KIND,
    severity: "P4",
    state: event === "resolve" ? "resolved" : "open",
    reason: event === "resolve" ? `${said} (resolving the test)` : said,
    evidence: said,
    openedAt: now,
    at: now,
    attempts: 0,
    steps: [],
    ...(config.notify.link && { link: config.notify.link }),
  };
}

// One notification through an outbox of its own, with the config's backoff and a few attempts.
function deliver(notifier: ReturnType<typeof createNotifier>, n: Notification, config: Config): Promise<{ ok: boolean; detail: string }> {
  const { retry, breaker } = config.notify;
  return new Promise((resolve) => {
    const outbox: Outbox = new Outbox({
      notifiers: new Map([[n.channel, notifier]]),
      retry: { initialMs: retry.initialMs, maxMs: retry.maxMs, maxAttempts: Math.min(retry.attempts, TEST_ATTEMPTS) },
      breaker: { failures: Math.max(breaker.failures, TEST_ATTEMPTS + 1), cooldownMs: breaker.cooldownMs },
      onSent: (_n, detail) => void outbox.stop().then(() => resolve({ ok: true, detail: detail ?? "accepted" })),
      onFailed: (_n, reason, detail) => void outbox.stop().then(() => resolve({ ok: false, detail: `${reason}: ${detail}` })),
      onAttemptFailed: (_n, result, attempt, nextInMs) =>
        printError(`attempt ${attempt} failed (${result.reason}: ${result.detail}); trying again in ${Math.ceil(nextInMs / 1000)} s\n`),
    });
    outbox.enqueue(n);
  });
}
