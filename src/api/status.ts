import { describeError } from "../lib/errors.js";
import { activePauses } from "./controls.js";
import type { Route } from "./types.js";

/**
 * GET /api/status: medic itself at a glance (the console's status page): its health checks, the
 * outbox per channel, active pauses, the maintenance windows (and which hold now), and the cluster
 * when this medic is a node of one.
 */
export const statusRoute: Route = {
  method: "GET",
  path: "/api/status",
  access: "read",
  handle: async (_req, ctx) => {
    const now = Date.now();
    const holding = new Map<string, number>();
    for (const t of ctx.daemon.targetsStatus(now)) if (t.paused?.source === "window") holding.set(t.paused.name, t.paused.until);
    // The cluster's tables live in PostgreSQL: when they cannot be read, the rest of the status still can.
    const cluster = ctx.daemon.cluster
      ? await ctx.daemon.cluster().catch((err: unknown) => ({ error: `cannot read the cluster from its store: ${describeError(err)}` }))
      : undefined;
    return {
      status: 200,
      json: {
        health: ctx.daemon.health(now),
        channels: ctx.daemon.channels(),
        pauses: activePauses(ctx, now),
        maintenance: ctx.config.maintenance.map((w) => ({
          name: w.name,
          cron: w.cron,
          durationMs: w.durationMs,
          timezone: w.timezone,
          targets: w.targets,
          reason: w.reason,
          ...(holding.has(w.name) && { activeUntil: new Date(holding.get(w.name)!).toISOString() }),
        })),
        ...(cluster !== undefined && { cluster }),
      },
    };
  },
};
