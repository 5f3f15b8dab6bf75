import type { ChannelKind } from "./channel.js";
import { consoleChannel } from "./console.js";
import { emailChannel } from "./email.js";
import { opsgenieChannel } from "./opsgenie.js";
import { msteamsChannel } from "./msteams.js";
import { pagerdutyChannel } from "./pagerduty.js";
import { slackChannel } from "./slack.js";
import { webhookChannel } from "./webhook.js";

/** Every notification channel, by the word used under `notify:` in YAML. One line per kind. */
export const channelKinds: ReadonlyMap<string, ChannelKind> = new Map<string, ChannelKind>([
  ["slack", slackChannel],
  ["pagerduty", pagerdutyChannel],
  ["opsgenie", opsgenieChannel],
  ["email", emailChannel],
  ["webhook", webhookChannel],
  ["msteams", msteamsChannel],
  ["console", consoleChannel],
]);
