import type { ChannelKind } from "./channel.js";
import { consoleChannel } from "./console.js";
import { emailChannel } from "./email.js";
import { opsgenieChannel } from "./opsgenie.js";
import { pagerdutyChannel } from "./pagerduty.js";
import { slackChannel } from "./slack.js";

/** Every notification channel, by the word used under `notify:` in YAML. One line per kind. */
export const channelKinds: ReadonlyMap<string, ChannelKind> = new Map<string, ChannelKind>([
  ["slack", slackChannel],
  ["pagerduty", pagerdutyChannel],
  ["opsgenie", opsgenieChannel],
  ["email", emailChannel],
  ["console", consoleChannel],
]);
