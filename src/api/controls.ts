import { z } from "zod";
import { MedicError } from "../lib/errors.js";
import { readControls } from "../safety/controls.js";
import {
  addPause,
  checkPause,
  checkTarget,
  endPauses,
  isRefusal,
  knownTargets,
  nothingToResume,
  resetGuard,
  type FieldNames,
} from "../safety/operator.js";
import type { Pause } from "../safety/types.js";
import { ApiError, oneLine, parseBody } from "./http.js";
import type { ApiContext, Route } from "./types.js";

// Pause, resume and guard reset: the same checks and the same controls file as `medic pause`,
// `medic resume` and `medic guard reset`; the running daemon reads the file within a second.

const FIELDS: FieldNames = { for: '"for"', reason: '"reason"', forExample: '"for": "30m"', reasonExample: '"reason": "deploying 2.4"' };
const PAUSE_EXAMPLE = '{"target": "orders-api", "for": "30m", "reason": "deploying 2.4"}';

const pauseBody = z.strictObject({
  target: z.string().max(128).optional(),
  all: z.boolean().optional(),
  // Checked by checkPause, so the message is the CLI's.
  for: z.string().max(32).optional(),
  reason: z.string().max(10_000).optional(),
  by: oneLine(100).optional(),
});
const resumeBody = z.strictObject({
  target: z.string().max(128).optional(),
  all: z.boolean().optional(),
  id: z.string().max(64).optional(),
});
const guardBody = z.strictObject({ target: z.string().max(128) });

/** The endpoints that write the controls file, and the one that reads it. */
export const controlRoutes: readonly Route[] = [
  {
    method: "GET",
    path: "/api/pauses",
    access: "read",
    handle: (_req, ctx) => ({ status: 200, json: { pauses: activePauses(ctx, Date.now()) } }),
  },
  {
    method: "POST",
    path: "/api/pause",
    access: "operate",
    controls: true,
    handle: async (req, ctx) => {
      const body = parseBody(pauseBody, await req.body(), PAUSE_EXAMPLE);
      const target = oneTarget(body, PAUSE_EXAMPLE);
      if (target !== "*") known(ctx, target);
      const pause = checkPause({ target, for: body.for, reason: body.reason, by: req.who!.name }, FIELDS, Date.now());
      if (isRefusal(pause)) throw new ApiError(400, pause.message, pause.hint);
      write(() => addPause(ctx.config.stateDir, pause, Date.now()));
      ctx.log.info({ pause: pause.id, target, by: pause.by }, "pause written through the API");
      return { status: 201, json: view(pause) };
    },
  },
  {
    method: "POST",
    path: "/api/resume",
    access: "operate",
    controls: true,
    handle: async (req, ctx) => {
      const body = parseBody(resumeBody, await req.body(), '{"target": "orders-api"}, {"all": true} or {"id": "1a2b3c4d"}');
      if (body.target !== undefined && body.all)
        throw new ApiError(400, 'give "target" or "all", not both', '{"target": "orders-api"} or {"all": true}');
      if (body.target === undefined && !body.all && body.id === undefined) {
        throw new ApiError(400, 'say which pauses to end: "target", "all" or "id"', "GET /api/pauses lists them");
      }
      const match = { target: body.target, id: body.id };
      const { removed, left } = write(() => endPauses(ctx.config.stateDir, match, Date.now()));
      if (removed.length === 0) {
        const none = nothingToResume(match, left, (id) => `POST /api/resume {"id": "${id}"}`, "GET /api/pauses lists them");
        throw new ApiError(404, none.message, none.hint);
      }
      return { status: 200, json: { resumed: removed.map(view) } };
    },
  },
  {
    method: "POST",
    path: "/api/guard/reset",
    access: "operate",
    controls: true,
    handle: async (req, ctx) => {
      const { target } = parseBody(guardBody, await req.body(), '{"target": "orders-api"}');
      known(ctx, target);
      const now = Date.now();
      write(() => resetGuard(ctx.config.stateDir, target, now));
      ctx.log.info({ target }, "flap guard reset through the API");
      return { status: 200, json: { target, resetAt: new Date(now).toISOString() } };
    },
  },
];

/** The pauses in force at `now`, as the API shows them. */
export function activePauses(ctx: ApiContext, now: number) {
  return write(() => readControls(ctx.config.stateDir))
    .pauses.filter((p) => p.until > now)
    .map(view);
}

function oneTarget(body: { target?: string | undefined; all?: boolean | undefined }, example: string): string {
  if (body.target !== undefined && body.all) throw new ApiError(400, 'give "target" or "all", not both', example);
  if (body.target === undefined && !body.all) throw new ApiError(400, 'name a "target", or "all": true', example);
  return body.target ?? "*";
}

function known(ctx: ApiContext, target: string): void {
  const checked = checkTarget(knownTargets(ctx.config), target);
  if (isRefusal(checked)) throw new ApiError(404, checked.message, checked.hint);
}

// A controls file that cannot be read or written is the operator's to fix (400s would hide that it is medic's side).
function write<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof MedicError)) throw err;
    const status = err.code === "CONTROLS_BUSY" ? 503 : 500;
    throw new ApiError(status, err.message, err.hint ?? "check medic's state directory", status === 503 ? { "retry-after": "1" } : {});
  }
}

function view(p: Pause) {
  return {
    id: p.id,
    target: p.target,
    from: new Date(p.from).toISOString(),
    until: new Date(p.until).toISOString(),
    reason: p.reason,
    by: p.by,
  };
}
