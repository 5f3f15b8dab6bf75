import type { z } from "zod";
import type { Logger } from "../lib/log.js";
import type { Notifier } from "./types.js";

/** What a channel needs besides its own params. */
export interface ChannelContext {
  /** The channel's name in config ("slack", "payments-slack"): the notifier's name, and what policies say. */
  name: string;
  /** Resolves config-relative paths (a CA file). */
  baseDir: string;
  log: Logger;
}

/** One notification channel kind: its YAML schema under `notify:` and how to build its notifier. */
export interface ChannelKind<S extends z.ZodType = z.ZodType> {
  schema: S;
  create(params: z.output<S>, ctx: ChannelContext): Notifier;
  /** Params that are secrets even when written literally (a webhook URL, a routing key): never shown. */
  secrets?(params: z.output<S>): string[];
}
