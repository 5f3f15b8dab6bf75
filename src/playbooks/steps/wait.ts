import { z } from "zod";
import { duration } from "../../config/fields.js";
import { sleep } from "../../lib/clock.js";
import { formatDuration } from "../../lib/duration.js";
import type { StepKind } from "../types.js";

// `- wait: 5s` or `- wait: { for: 5s }`.
const schema = z
  .union([duration(), z.strictObject({ for: duration() })])
  .transform((v) => ({ forMs: typeof v === "number" ? v : v.for }))
  .meta({ description: "How long to pause: a duration like 5s, or { for: 5s }" });

/** `wait`: pause between steps, e.g. to let a restarted service warm up. */
export const waitStep: StepKind<typeof schema> = {
  schema,
  // The pause bounds itself; the timeout is only a backstop for very long waits.
  defaultTimeoutMs: 3_600_000,
  idempotent: true,
  needsService: false,
  render: (p) => p,
  describe: (p) => `wait ${formatDuration(p.forMs)}`,
  async run(p, ctx) {
    const t0 = performance.now();
    try {
      await sleep(p.forMs, ctx.signal, ctx.clock);
      return { ok: true, detail: `waited ${formatDuration(p.forMs)}`, durationMs: performance.now() - t0 };
    } catch {
      const waited = performance.now() - t0;
      return { ok: false, detail: `aborted after ${formatDuration(waited)} of ${formatDuration(p.forMs)}`, durationMs: waited };
    }
  },
};
