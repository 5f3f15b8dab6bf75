import { z } from "zod";
import { parseWebhook } from "../alertmanager/payload.js";
import { receiveAlerts } from "../alertmanager/receive.js";
import { answerApproval } from "../approvals/answer.js";
import { incidentReport } from "../incidents/report.js";
import { isRefusal } from "../safety/operator.js";
import { artifactReply } from "./artifacts.js";
import { consoleRoutes } from "./console.js";
import { controlRoutes } from "./controls.js";
import { pagerdutyWebhookRoute } from "./pagerduty-webhook.js";
import { ApiError, oneLine, parseBody } from "./http.js";
import type { Incident } from "../incidents/types.js";
import type { HistoryQuery } from "../store/types.js";
import type { ApiContext, Route } from "./types.js";
import { incidentDetail, incidentSummary, STATE_FILTERS } from "./views.js";

const MAX_LIST = 1000;

const ackBody = z.strictObject({ by: oneLine(100).optional(), note: oneLine(500).optional() });
const answerBody = z.strictObject({ note: oneLine(500).optional(), reason: oneLine(500).optional() });

/** Every endpoint of the API. */
export const ROUTES: readonly Route[] = [
  {
    method: "GET",
    path: "/healthz",
    access: "open",
    handle: (_req, ctx) => {
      const health = ctx.daemon.health();
      return { status: health.ok ? 200 : 503, json: health };
    },
  },
  {
    method: "GET",
    path: "/metrics",
    access: "read",
    handle: async (_req, ctx) => ({ status: 200, text: await ctx.metrics.text(), contentType: ctx.metrics.contentType }),
  },
  {
    method: "GET",
    path: "/api/whoami",
    access: "read",
    // Without a token where reads need none: someone who may read, and nothing more.
    handle: (req) => ({ status: 200, json: req.who ?? { name: "anonymous", role: "viewer" } }),
  },
  {
    method: "GET",
    path: "/api/targets",
    access: "read",
    handle: (_req, ctx) => ({ status: 200, json: { targets: ctx.daemon.targetsStatus() } }),
  },
  {
    method: "GET",
    path: "/api/cluster",
    access: "read",
    handle: async (_req, ctx) => {
      if (!ctx.daemon.cluster) throw new ApiError(404, "this medic is not a cluster node", "a cluster needs store.postgres in medic.yaml");
      return { status: 200, json: await ctx.daemon.cluster() };
    },
  },
  {
    method: "GET",
    path: "/api/incidents",
    access: "read",
    handle: async (req, ctx) => {
      const state = req.query.get("state") ?? undefined;
      if (state !== undefined && !STATE_FILTERS.includes(state)) {
        throw new ApiError(400, `unknown state ${JSON.stringify(state.slice(0, 40))}`, `one of ${STATE_FILTERS.join(", ")}`);
      }
      const limitText = req.query.get("limit") ?? "100";
      const limit = /^\d{1,4}$/.test(limitText) ? Number(limitText) : NaN;
      if (!(limit >= 1 && limit <= MAX_LIST))
        throw new ApiError(400, `limit must be a whole number from 1 to ${MAX_LIST}`, "like ?limit=50");
      const target = req.query.get("target") ?? undefined;
      const cursor = req.query.get("cursor") ?? undefined;
      if (cursor !== undefined && !/^[\w.:-]{1,200}$/.test(cursor))
        throw new ApiError(400, "cursor must be the next of an earlier page", "send back the next you were given");
      const page = await ctx.daemon.history({
        ...(state && { state: state as HistoryQuery["state"] }),
        ...(target && { target }),
        ...(cursor && { cursor }),
        limit,
      });
      return { status: 200, json: { incidents: page.incidents.map(incidentSummary), ...(page.next && { next: page.next }) } };
    },
  },
  {
    method: "GET",
    path: "/api/incidents/:id",
    access: "read",
    handle: async (req, ctx) => ({ status: 200, json: incidentDetail(await findIncident(req.params.id!, ctx)) }),
  },
  {
    method: "GET",
    path: "/api/incidents/:id/artifacts/:name",
    access: "read",
    handle: async (req, ctx) => {
      // Evidence may hold secrets (a heap dump holds every credential the process had): never without a token, even where reads are open.
      if (!req.who)
        throw new ApiError(
          401,
          "downloading evidence needs a token",
          "configure api.tokens (any role) and send Authorization: Bearer TOKEN",
        );
      return artifactReply(await findIncident(req.params.id!, ctx), req.params.name!, ctx.config.stateDir);
    },
  },
  {
    method: "GET",
    path: "/api/incidents/:id/postmortem",
    access: "read",
    handle: async (req, ctx) => {
      const incident = await findIncident(req.params.id!, ctx);
      // As `medic incidents show ID --format markdown` writes it, with the incidents suppressed under it.
      const related = (await ctx.daemon.history({ root: incident.id, limit: MAX_LIST })).incidents.sort((a, b) => a.openedAt - b.openedAt);
      return {
        status: 200,
        text: incidentReport(incident, related, Date.now()),
        contentType: "text/markdown; charset=utf-8",
        headers: { "content-disposition": `attachment; filename="medic-incident-${incident.id.replace(/[^\w.-]/g, "_")}.md"` },
      };
    },
  },
  {
    method: "POST",
    path: "/api/incidents/:id/ack",
    access: "operate",
    handle: async (req, ctx) => {
      const body = parseBody(ackBody, await req.body(), '{"by": "alice", "note": "looking at the database"}');
      const incident = await findIncident(req.params.id!, ctx);
      if (incident.state === "resolved")
        throw new ApiError(409, `incident ${incident.id} is resolved`, "only an open incident can be acknowledged");
      // Who comes from the token, never from the body (a `by` there is accepted, for old callers, and ignored).
      const acked = await ctx.daemon.acknowledge(incident.id, req.who!.name, body.note);
      if (!acked) throw new ApiError(409, `incident ${incident.id} is no longer open`, "GET /api/incidents/ID shows what happened to it");
      return { status: 200, json: incidentSummary(acked) };
    },
  },
  ...["approve", "reject"].map((verb): Route => ({
    method: "POST",
    path: `/api/incidents/:id/${verb}`,
    access: "approve",
    controls: true,
    handle: async (req, ctx) => {
      const example = verb === "approve" ? '{"note": "checked the replica"}' : '{"reason": "the primary is mid-failover"}';
      const body = parseBody(answerBody, await req.body(), example);
      const incident = await findIncident(req.params.id!, ctx);
      const decision = verb === "approve" ? "approved" : "rejected";
      const written = answerApproval(
        ctx.config.stateDir,
        incident,
        { decision, by: req.who!.name, reason: body.reason ?? body.note },
        Date.now(),
      );
      if (isRefusal(written)) throw new ApiError(409, written.message, written.hint);
      ctx.log.info({ incident: incident.id, step: written.index + 1, decision, by: written.by }, "approval answered through the API");
      // Written where the daemon reads it: it acts within a second, once (202: taken, not yet done).
      return { status: 202, json: { answer: written, incident: incidentSummary(incident) } };
    },
  })),
  ...controlRoutes,
  ...consoleRoutes,
  pagerdutyWebhookRoute,
  {
    method: "POST",
    path: "/api/alertmanager",
    access: "operate",
    handle: async (req, ctx) => {
      const routes = ctx.config.alertmanager?.routes;
      if (!routes)
        throw new ApiError(
          404,
          "the Alertmanager receiver is not configured",
          "add alertmanager: { routes: [...] } to medic.yaml (see the README, Use with Alertmanager)",
        );
      const parsed = parseWebhook(await req.body());
      if (!parsed.ok) {
        throw new ApiError(
          400,
          `not an Alertmanager webhook payload: ${parsed.problems.join("; ")}`,
          "point an Alertmanager webhook_configs receiver at this URL; it posts version 4 payloads",
        );
      }
      const result = await receiveAlerts(parsed.payload, {
        daemon: ctx.daemon,
        routes,
        severities: ctx.config.severities,
        log: ctx.log,
        count: (status, outcome) => ctx.metrics.alert(status, outcome),
      });
      if (result.ok) return { status: 200, json: { results: result.results } };
      // Alertmanager retries a 5xx and not a 4xx: only what may pass is a 503; the rest is a bug, said as one.
      if (result.transient)
        throw new ApiError(
          503,
          `could not handle the alerts: ${result.detail}`,
          "Alertmanager retries; check medic's log and its state directory",
          { "retry-after": "5" },
        );
      throw new ApiError(500, "internal error while handling the alerts", "see medic's log");
    },
  },
];

/** The incident by id, or by a prefix only one id starts with (live, or from history). */
async function findIncident(id: string, ctx: ApiContext): Promise<Incident> {
  const result = await ctx.daemon.findIncident(id);
  if (result.found) return result.found;
  const shown = JSON.stringify(id.slice(0, 64));
  if (result.ambiguous) throw new ApiError(404, `${result.ambiguous} incidents start with ${shown}`, "give more of the id");
  throw new ApiError(404, `no incident ${shown}`, "GET /api/incidents lists them");
}
