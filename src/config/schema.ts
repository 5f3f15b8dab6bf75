import { z } from "zod";
import { parseCondition } from "../classify/conditions.js";
import { channelKinds } from "../escalation/registry.js";
import { dockerConnectionShape } from "../lib/docker.js";
import { SEVERITIES } from "../classify/types.js";
import { probeKinds } from "../probes/registry.js";
import { serviceKinds } from "../services/registry.js";
import { duration, HOST_NAME, labels, LISTEN, safeName } from "./fields.js";
import type { KindRef } from "./types.js";
import { describeValue, suggest } from "./issues.js";
import { cronProblem, validTimeZone } from "../safety/cron.js";
import { clusterSchema, storeSchema } from "./cluster.js";
import { artifactsSchema } from "./artifacts.js";

/** Every kind selector schema, so the JSON Schema generator can render it as "exactly one of". */
export const kindSelectors = new WeakMap<object, { kinds: string[]; common: string[] }>();

/**
 * `{ <kind>: params }` with exactly one kind from `kinds` (plus optional `common` keys) -> `{ kind, params, ...common }`.
 * Built from a registry, so a kind that is not registered cannot validate.
 */
export function kindSelector<C extends Record<string, z.ZodType> = Record<never, z.ZodType>>(
  what: string,
  kinds: ReadonlyMap<string, { schema: z.ZodType }>,
  opts: { example: string; common?: C; tooManyHint?: string },
) {
  const names = [...kinds.keys()];
  const common = Object.keys(opts.common ?? {});
  const oneOf = `one of ${names.join(", ")}`;
  const shape: Record<string, z.ZodType> = { ...opts.common };
  for (const [name, kind] of kinds) shape[name] = kind.schema.optional();
  const object = z
    .strictObject(shape, {
      error: (iss) => {
        if (iss.code === "unrecognized_keys") {
          return iss.keys
            .map((key) => {
              const close = suggest(key, common);
              return close ? `unknown key "${key}" (hint: did you mean "${close}"?)` : `unknown ${what} kind "${key}" (hint: ${oneOf})`;
            })
            .join("\n");
        }
        if (iss.code === "invalid_type" && iss.input === undefined)
          return `missing required key "${what}" (hint: write it like ${opts.example})`;
        if (iss.code === "invalid_type")
          return `expected a mapping with one ${what} kind, got ${describeValue(iss.input)} (hint: write it like ${opts.example})`;
        return undefined;
      },
    })
    .check((ctx) => {
      // An unknown key already says what is wrong; "needs a kind" on top of it would be noise.
      if (ctx.issues.some((i) => i.code === "unrecognized_keys")) return;
      const present = names.filter((n) => ctx.value[n] !== undefined);
      if (present.length === 0) {
        ctx.issues.push({
          code: "custom",
          input: ctx.value,
          message: `needs a ${what} kind`,
          params: { hint: `${oneOf}, like ${opts.example}` },
        });
      }
      if (present.length > 1) {
        ctx.issues.push({
          code: "custom",
          input: ctx.value,
          message: `has ${present.length} ${what} kinds (${present.join(", ")}) but takes exactly one`,
          params: { hint: opts.tooManyHint ?? `keep one of ${present.join(", ")}` },
        });
      }
    });
  kindSelectors.set(object, { kinds: names, common });
  return object.transform((value) => {
    // Zod still runs this after an unknown key (the parse fails anyway), so no kind must not throw.
    const kind = names.find((n) => value[n] !== undefined) ?? "";
    const rest: Record<string, unknown> = {};
    for (const key of common) if (value[key] !== undefined) rest[key] = value[key];
    return { ...rest, kind, params: value[kind] } as KindRef & { [K in keyof C]?: z.output<C[K]> };
  });
}

/** An incident kind as rules and playbooks name it: `queue_backlog`. */
export const incidentKind = () =>
  z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, "must be lowercase letters, digits and _, starting with a letter (hint: like queue_backlog)");

/** Target name globs (`orders-*`), default every target. */
export const targetGlobs = () => z.array(z.string().min(1)).min(1).default(["*"]);

const DAY_MS = 24 * 3600_000;

/** A duration longer than zero. */
export const positiveDuration = () => duration().refine((ms) => ms > 0, "must be longer than 0 (hint: like 500ms or 10s)");

const fraction = () =>
  z
    .number()
    .gt(0, "must be above 0 and at most 1 (hint: a fraction, like 0.9 for 90%)")
    .lte(1, "must be above 0 and at most 1 (hint: a fraction, like 0.9 for 90%)");
const rounds = () => z.number().int().min(1);
const confirmSchema = () =>
  z
    .strictObject({
      quorum: z
        .number()
        .int()
        .min(1)
        .max(100)
        .meta({ description: "Nodes that must see the target failing before the leader acts (1: the leader alone)" }),
    })
    .meta({ description: "In a cluster: confirmation from more than one vantage point before acting" });

/** One condition (see src/classify/conditions.ts), parsed at load time; a bad one is located to its column. */
export const condition = () =>
  z.string().transform((text, ctx) => {
    const parsed = parseCondition(text);
    if (parsed.ok) return parsed.condition;
    ctx.addIssue({ code: "custom", input: text, message: parsed.message, params: { hint: parsed.hint, offset: parsed.offset } });
    return z.NEVER;
  });

/** A condition or a list of them that must all hold. */
export const conditions = () => z.union([condition().transform((c) => [c]), z.array(condition()).min(1)]);

const thresholdsShape = {
  latency: duration(),
  poolUtilization: fraction(),
  memoryUtilization: fraction(),
  idleInTransaction: duration(),
  queryDuration: duration(),
};

const targetSchema = () =>
  z.strictObject({
    name: safeName("target name").meta({ description: "Unique name of the target, like orders-api" }),
    labels: labels().default({}).meta({ description: "Labels playbooks can match on, like { team: payments }" }),
    probe: kindSelector("probe", probeKinds, { example: "probe: { http: { url: http://127.0.0.1:8000/health } }" }),
    service: kindSelector("service", serviceKinds, { example: "service: { process: { start: [node, server.js] } }" })
      .optional()
      .meta({ description: "What playbooks start, stop and restart for this target" }),
    interval: positiveDuration().optional().meta({ description: "Time between probes (default: defaults.interval)" }),
    timeout: positiveDuration().optional().meta({ description: "Time a probe may take (default: defaults.timeout)" }),
    failureThreshold: rounds()
      .optional()
      .meta({ description: "Failing rounds before an incident opens (default: defaults.failureThreshold)" }),
    successThreshold: rounds()
      .optional()
      .meta({ description: "Healthy rounds before an incident resolves (default: defaults.successThreshold)" }),
    thresholds: z.strictObject(thresholdsShape).partial().optional().meta({ description: "Overrides of defaults.thresholds" }),
    dependsOn: z.array(z.string().min(1)).default([]).meta({ description: "Names of targets this one needs; their incidents come first" }),
    playbook: safeName("playbook name")
      .optional()
      .meta({ description: "Use only this playbook for the target (default: the most specific match)" }),
    confirm: confirmSchema().optional(),
    node: safeName("node name").optional().meta({
      description:
        "In a cluster: the node on whose host the target's process, unit or docker socket is; steps that act on a host run only there",
    }),
  });

const ruleSchema = () =>
  z.strictObject({
    kind: incidentKind().meta({ description: "The incident kind this rule finds, like queue_backlog" }),
    severity: z
      .enum(SEVERITIES)
      .optional()
      .meta({ description: "Severity of the kind (default: severities: or the built-in one, else P3)" }),
    when: conditions().meta({ description: 'Condition over a probe result, like "[BODY].queue.depth > 1000"; a list means all must hold' }),
    targets: targetGlobs().meta({ description: "Target name globs the rule applies to" }),
  });

/** Channel kinds an operator configures (console, the log, always exists). */
const sendingKinds = () => new Map([...channelKinds].filter(([name]) => name !== "console"));

/** A channel's or a policy's name: what policies and routes say. */
const channelName = (what: string) =>
  z
    .string()
    .regex(
      /^[a-z][a-z0-9_-]{0,62}$/,
      `${what} names are lowercase letters, digits, _ and -, starting with a letter (hint: like payments-slack)`,
    );

const notifySchema = () =>
  z
    .strictObject({
      ...Object.fromEntries([...sendingKinds()].map(([name, kind]) => [name, kind.schema.optional()])),
      channels: z
        .record(
          channelName("channel"),
          kindSelector("channel", sendingKinds(), { example: '{ slack: { webhookUrl: "${PAYMENTS_SLACK_URL}" } }' }),
        )
        .default({})
        .meta({ description: "More channels, each named by you, like payments-slack: { slack: { webhookUrl: ... } }" }),
      retry: z
        .strictObject({
          initial: positiveDuration().prefault("1s").meta({ description: "First wait before a failed send is retried" }),
          max: positiveDuration().prefault("5m").meta({ description: "Longest wait between retries" }),
          attempts: z.number().int().min(1).max(1000).default(20).meta({ description: "Attempts before a notification is given up on" }),
        })
        .prefault({}),
      breaker: z
        .strictObject({
          failures: z.number().int().min(1).default(5).meta({ description: "Consecutive failures that open a channel's circuit breaker" }),
          cooldown: positiveDuration().prefault("30s").meta({ description: "How long an open breaker waits before trying again" }),
        })
        .prefault({}),
      link: z
        .string()
        .regex(/^https?:\/\/[^\s]+$/, "must be an http(s) URL")
        .optional()
        .meta({ description: "Base URL of medic's API and console, for links to incidents' pages in notifications" }),
    })
    .prefault({})
    .meta({
      description:
        "Where humans are told: one channel per kind named after it, and named ones under channels (console, the log, always exists)",
    });

const escalationStep = () =>
  z.strictObject({
    after: duration().prefault("0s").meta({ description: "How long after the incident opened" }),
    notify: z.array(z.string().min(1)).min(1).meta({ description: "Channels to tell, by name: slack, pagerduty, payments-slack, console" }),
  });

const escalationSteps = (severity: string) =>
  z
    .array(escalationStep())
    .optional()
    .meta({ description: `Who hears of an open ${severity} incident, and when` });

/** The longest a page may be held while a playbook works. */
const MAX_PAGE_GRACE_MS = 30 * 60_000;

const severityPolicy = () => ({
  P1: escalationSteps("P1"),
  P2: escalationSteps("P2"),
  P3: escalationSteps("P3"),
  P4: escalationSteps("P4"),
});

const notifyRoute = () =>
  z.strictObject({
    name: z.string().min(1).max(64).optional().meta({ description: "How plans and errors name the route (default: route N)" }),
    targets: z.array(z.string().min(1)).min(1).optional().meta({ description: "Target name globs, like payments-*" }),
    labels: labels().optional().meta({ description: "Target labels that must all be equal, like { team: payments }" }),
    kinds: z.array(incidentKind()).min(1).optional().meta({ description: "Incident kinds, like [db_disconnect, pool_exhaustion]" }),
    severities: z.array(z.enum(SEVERITIES)).min(1).optional().meta({ description: "Severities, like [P1, P2]" }),
    policy: channelName("policy").meta({ description: "The policy (under escalation.policies) the incident follows" }),
    continue: z.boolean().default(false).meta({ description: "Keep matching: the incident also follows the next matching route's policy" }),
  });

const escalationSchema = () =>
  z
    .strictObject({
      ...severityPolicy(),
      policies: z
        .record(channelName("policy"), z.strictObject(severityPolicy()))
        .default({})
        .meta({ description: "Named policies routes send to: timed steps per severity, like the default ones above" }),
      routes: z
        .array(notifyRoute())
        .default([])
        .meta({ description: "Which policy an incident follows: first match wins; none matched: the steps above (the default policy)" }),
      raiseOnFailure: z
        .partialRecord(z.enum(SEVERITIES), z.enum(SEVERITIES))
        .default({})
        .meta({ description: "Raise the severity when remediation fails, like { P2: P1 }" }),
      pageGrace: duration()
        .refine((ms) => ms <= MAX_PAGE_GRACE_MS, "must be at most 30m (hint: a page held longer is a page missed)")
        .prefault("0s")
        .meta({
          description:
            "How long a page (PagerDuty) waits while a playbook works on the incident: fixed within it, nobody is woken; " +
            "medic gives up, paged at once; still working, paged then. Slack is told at once. Default 0s: page at once",
        }),
    })
    .prefault({})
    .meta({
      description: "Per severity, timed steps of who is told (default: P1 page at once; P2 Slack, page after 30m; P3 Slack; P4 log)",
    });

const safetySchema = () =>
  z
    .strictObject({
      flapGuard: z
        .strictObject({
          maxRuns: z
            .number()
            .int()
            .min(0)
            .default(3)
            .meta({ description: "Playbook runs per target and incident kind per window; past it, escalate" }),
          window: positiveDuration().prefault("1h").meta({ description: "The window maxRuns counts in" }),
          backoff: z
            .strictObject({
              initial: duration().prefault("10s").meta({ description: "Wait after the first run before a second" }),
              max: duration().prefault("5m").meta({ description: "Longest wait between runs (it doubles per run up to this)" }),
            })
            .prefault({}),
          resetAfter: positiveDuration().prefault("10m").meta({ description: "Healthy this long and the guard counts from zero again" }),
        })
        .prefault({})
        .meta({ description: "Per target and kind: how often playbooks may run" }),
      blastRadius: z
        .strictObject({
          concurrent: z.number().int().min(1).default(2).meta({ description: "Playbooks running at once, across all targets" }),
          maxRuns: z.number().int().min(1).default(10).meta({ description: "Playbook runs started per window, across all targets" }),
          window: positiveDuration().prefault("10m").meta({ description: "The window maxRuns counts in" }),
        })
        .prefault({})
        .meta({ description: "Across all targets: how much medic may do at once" }),
    })
    .prefault({})
    .meta({ description: "What stops medic from making things worse (defaults are on)" });

const maintenanceWindowSchema = () =>
  z.strictObject({
    name: safeName("window name").meta({ description: "Name of the window, like nightly-backup" }),
    cron: z
      .string()
      .superRefine((expr, ctx) => {
        const problem = cronProblem(expr);
        if (problem)
          ctx.addIssue({
            code: "custom",
            input: expr,
            message: problem,
            params: { hint: 'five fields: minute hour day-of-month month day-of-week, like "0 2 * * *" for 02:00 daily' },
          });
      })
      .meta({ description: 'When the window starts, cron syntax: "0 2 * * sun"' }),
    duration: positiveDuration().meta({ description: "How long the window lasts, like 30m" }),
    timezone: z
      .string()
      .default("UTC")
      .superRefine((tz, ctx) => {
        if (!validTimeZone(tz))
          ctx.addIssue({
            code: "custom",
            input: tz,
            message: `unknown time zone "${tz}"`,
            params: { hint: "an IANA name, like UTC or Europe/Berlin" },
          });
      })
      .meta({ description: "Time zone the cron expression is read in (default UTC)" }),
    targets: targetGlobs().meta({ description: "Target name globs the window covers (default all)" }),
    reason: z.string().max(500).default("maintenance window").meta({ description: "Shown in logs and incidents while the window holds" }),
  });

/** `approval:` on a playbook or a step. */
export const approvalSchema = () =>
  z
    .strictObject({
      required: z.boolean().default(true).meta({ description: "Ask a person before it runs (default true)" }),
      timeout: positiveDuration()
        .optional()
        .meta({ description: "How long to wait for an answer before escalating without acting (default approvals.timeout)" }),
    })
    .meta({ description: "Ask an approver before this runs, like { required: true, timeout: 15m }" });

const approvalsSchema = () =>
  z
    .strictObject({
      timeout: positiveDuration()
        .default(15 * 60_000)
        .meta({ description: "How long medic waits for an answer before it escalates without acting (default 15m)" }),
      severities: z
        .partialRecord(z.enum(SEVERITIES), z.strictObject({ timeout: positiveDuration().optional() }))
        .default({})
        .meta({ description: "Severities whose playbook runs are asked for before they start, like { P1: {} }" }),
      rules: z
        .array(
          z.strictObject({
            kinds: z
              .array(z.string().regex(/^[a-z][a-z.-]*$/, "must be a step kind, like postgres.terminate"))
              .min(1, "needs at least one step kind (hint: like kinds: [postgres.terminate])")
              .meta({ description: "Step kinds that need approval, like [postgres.terminate, docker.update]" }),
            targets: targetGlobs().meta({ description: "Target name globs the rule covers (default all)" }),
            timeout: positiveDuration().optional().meta({ description: "How long to wait for an answer (default approvals.timeout)" }),
          }),
        )
        .default([])
        .meta({ description: "Steps of these kinds are asked for before they run, wherever they are" }),
    })
    .prefault({})
    .meta({ description: "Approval gates: which steps a person must approve before medic runs them" });

const apiSchema = () =>
  z
    .strictObject({
      listen: z
        .string()
        .regex(LISTEN, "must be host:port, like 127.0.0.1:9464, or off")
        .refine((s) => s === "off" || Number(s.slice(s.lastIndexOf(":") + 1)) <= 65535, "the port must be 0-65535")
        .default("127.0.0.1:9464")
        .meta({ description: "Where the HTTP API listens (default 127.0.0.1:9464); off turns it off" }),
      tokenFile: z
        .string()
        .min(1)
        .optional()
        .meta({ description: "File holding a bearer token for an approver named admin (api.tokens names each person instead)" }),
      tokens: z
        .array(
          z.strictObject({
            name: z
              .string()
              .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, "must be a name like alice or oncall-bot (letters, digits, . _ @ -)")
              .meta({ description: "Who holds the token: the journal's `by` for what they do" }),
            tokenFile: z.string().min(1).meta({ description: "File holding this person's bearer token" }),
            role: z.enum(["viewer", "operator", "approver"], { error: "must be viewer, operator or approver" }).meta({
              description: "viewer reads; operator also acks, pauses, resumes, resets guards; approver also approves and rejects",
            }),
          }),
        )
        .optional()
        .meta({ description: "One token per person or tool, each with a name and a role" }),
      allowedHosts: z
        .array(z.string().regex(HOST_NAME, "must be a host name or address without a port, like medic.example.com"))
        .optional()
        .meta({ description: "More Host header names accepted on a loopback listen address, like a reverse proxy's name" }),
      publicReads: z
        .boolean()
        .default(false)
        .meta({ description: "With a token file: reads (GET) need no token; anyone who can reach the API can read incidents" }),
    })
    .prefault({})
    .meta({ description: "The HTTP API: /healthz, /metrics, /api/..., the Alertmanager receiver" });

const labelName = () => z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be a Prometheus label name, like alertname");

const alertRouteSchema = () =>
  z
    .strictObject({
      match: z.record(labelName(), z.string()).default({}).meta({ description: "Labels the alert must have, with these values" }),
      matchRe: z
        .record(
          labelName(),
          z.string().superRefine((re, ctx) => {
            try {
              new RegExp(`^(?:${re})$`);
            } catch (err) {
              ctx.addIssue({ code: "custom", input: re, message: `not a regular expression: ${(err as Error).message}` });
            }
          }),
        )
        .default({})
        .meta({ description: "Labels whose values must match these regular expressions (anchored, as in Alertmanager)" }),
      target: safeName("target name").optional().meta({ description: "The target the alert is about" }),
      targetLabel: labelName().optional().meta({ description: "Or: the alert label whose value names the target, like service" }),
      kind: incidentKind().meta({ description: "The incident kind the alert opens, like server_down" }),
      severity: z.enum(SEVERITIES).optional().meta({ description: "Severity (default: the kind's)" }),
    })
    .superRefine((r, ctx) => {
      if ((r.target === undefined) === (r.targetLabel === undefined)) {
        ctx.addIssue({
          code: "custom",
          input: r,
          message: "needs exactly one of target or targetLabel",
          params: { hint: "target: orders-api, or targetLabel: service" },
        });
      }
    });

const alertmanagerSchema = () =>
  z
    .strictObject({
      routes: z.array(alertRouteSchema()).min(1).meta({ description: "Alerts to incidents: the first route whose matchers hold" }),
    })
    .optional()
    .meta({ description: "Alerts posted by Alertmanager to /api/alertmanager open incidents like probes do" });

const TARGET_EXAMPLE = "targets: [{ name: api, probe: { http: { url: http://127.0.0.1:8000/health } } }]";

/** medic.yaml as written, before defaults are applied to targets. */
export const configSchema = () =>
  z
    .strictObject({
      stateDir: z.string().min(1).default("/var/lib/medic").meta({ description: "Where the journal lives; relative to this file" }),
      retention: duration()
        .refine((ms) => ms >= DAY_MS, "must be at least 1d (hint: like 90d; resolved incidents older than this are pruned)")
        .prefault("90d")
        .meta({ description: "How long resolved incidents are kept in the journal (default 90d); open ones are never pruned" }),
      artifacts: artifactsSchema(),
      defaults: z
        .strictObject({
          interval: positiveDuration().prefault("10s"),
          timeout: positiveDuration().prefault("3s"),
          failureThreshold: rounds().default(3),
          successThreshold: rounds().default(2),
          confirm: confirmSchema().prefault({ quorum: 1 }),
          thresholds: z
            .strictObject({
              latency: thresholdsShape.latency.prefault("2s"),
              poolUtilization: thresholdsShape.poolUtilization.default(0.9),
              memoryUtilization: thresholdsShape.memoryUtilization.default(0.9),
              idleInTransaction: thresholdsShape.idleInTransaction.prefault("5m"),
              queryDuration: thresholdsShape.queryDuration.prefault("5m"),
            })
            .prefault({}),
        })
        .prefault({})
        .meta({ description: "Values every target gets unless it sets its own" }),
      playbooks: z
        .array(z.string().min(1))
        .default(["./playbooks"])
        .meta({ description: "Playbook .yaml/.yml files or folders (every *.yaml/*.yml in them), relative to this file" }),
      safety: safetySchema(),
      approvals: approvalsSchema(),
      api: apiSchema(),
      store: storeSchema(),
      cluster: clusterSchema(),
      alertmanager: alertmanagerSchema(),
      maintenance: z
        .array(maintenanceWindowSchema())
        .default([])
        .meta({ description: "Recurring windows in which medic records but runs no playbook and pages nobody" }),
      severities: z
        .record(incidentKind(), z.enum(SEVERITIES))
        .default({})
        .meta({ description: "Severity per incident kind, overriding the built-in or rule's one, like { high_latency: P3 }" }),
      targets: z.array(targetSchema()).default([]).meta({ description: "What medic watches" }),
      rules: z.array(ruleSchema()).default([]).meta({ description: "Operator-defined incident kinds" }),
      notify: notifySchema(),
      escalation: escalationSchema(),
      discovery: z
        .strictObject({
          docker: z
            .strictObject({
              ...dockerConnectionShape,
              label: z
                .string()
                .regex(/^[A-Za-z0-9_./-]{1,63}$/)
                .default("medic.enable")
                .meta({ description: "Containers with this label set to true are watched (default medic.enable)" }),
            })
            .optional()
            .meta({ description: "Watch containers that opt in with labels, as they come and go" }),
        })
        .optional()
        .meta({ description: "Targets found at run time instead of listed here" }),
    })
    .superRefine((c, ctx) => {
      if (c.cluster && !c.store?.postgres)
        ctx.addIssue({
          code: "custom",
          path: ["cluster"],
          input: c.cluster,
          message: "a cluster needs a shared store",
          params: { hint: 'add store: { postgres: { url: "${MEDIC_STORE_URL}" } } on every node' },
        });
      if (c.targets.length > 0 || c.discovery?.docker) return;
      ctx.addIssue({
        code: "custom",
        path: ["targets"],
        input: c.targets,
        message: `needs at least one target, or discovery (hint: like ${TARGET_EXAMPLE})`,
      });
    });

/** medic.yaml validated, before normalisation. */
export type ParsedConfig = z.output<ReturnType<typeof configSchema>>;
