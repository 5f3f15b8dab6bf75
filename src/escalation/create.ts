import type { ChannelConfig } from "../config/types.js";
import { redactor } from "../lib/redact.js";
import type { Logger } from "../lib/log.js";
import { redacting } from "./redacting.js";
import { channelKinds } from "./registry.js";
import type { Notifier } from "./types.js";

/** The notifier for a configured channel, its secrets known to the redactor first, everything it says and hears redacted. */
export function createNotifier(channel: ChannelConfig, baseDir: string, log: Logger): Notifier {
  const kind = channelKinds.get(channel.kind)!;
  redactor.add(kind.secrets?.(channel.params) ?? []);
  return redacting(kind.create(channel.params, { name: channel.name, baseDir, log }));
}
