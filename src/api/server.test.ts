import { request } from "node:http";
import { createServer } from "node:net";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { removeTrees, writeTree } from "../../test/fixtures/config-tmp.js";
import { firing, webhook } from "../../test/fixtures/alertmanager-payload.js";
import { loadConfig } from "../config/load.js";
import type { Config } from "../config/types.js";
import { MemoryStore } from "../store/memory.js";
import { Metrics } from "../metrics/metrics.js";
import { readControls } from "../safety/controls.js";
import { createApi, parseListen, type Api } from "./server.js";
import type { ApiDaemon } from "./types.js";

// The request handling around the routes: auth, limits, errors. A stand-in daemon answers; the
// claims about the real daemon are in test/api.test.ts.

const TOKEN = "0123456789abcdef0123456789abcdef";
const log = pino({ level: "silent" });
const apis: Api[] = [];
afterEach(async () => {
  await Promise.all(apis.splice(0).map((a) => a.close()));
  await removeTrees();
});

async function config(extra = ""): Promise<Config> {
  const dir = await writeTree({
    token: TOKEN + "\n",
    "medic.yaml": `stateDir: ./state\nplaybooks: []\n${extra}targets:\n  - { name: api, probe: { tcp: { port: 1 } } }\n`,
  });
  const loaded = await loadConfig(join(dir, "medic.yaml"), { env: {} });
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
  return loaded.config;
}

function fakeDaemon(overrides: Partial<ApiDaemon> = {}): ApiDaemon {
  const store = new MemoryStore();
  store.append("abcd1234", { type: "opened", target: "api", kind: "server_down", severity: "P1", evidence: "refused" }, 1_000);
  return {
    targetsStatus: () => [{ name: "api", labels: {}, probe: "tcp", up: false, open: ["abcd1234"] }],
    health: () => ({ ok: true, checks: [] }),
    liveIncidents: () => store.live(),
    findIncident: (id) => store.find(id),
    history: (q) => store.history(q),
    channels: () => ({}),
    acknowledge: (id, by) => (store.append(id, { type: "acknowledged", by }, 2_000), store.live().get(id)),
    raiseExternal: () => ({ incident: "abcd1234", created: false }),
    resolveExternal: async () => ({ resolved: false, detail: "no open incident came from it" }),
    ...overrides,
  };
}

async function start(cfg: Config, opts: { daemon?: ApiDaemon; dryRun?: boolean; host?: string } = {}): Promise<string> {
  const api = createApi({
    config: cfg,
    daemon: opts.daemon ?? fakeDaemon(),
    metrics: new Metrics(),
    log,
    dryRun: opts.dryRun ?? false,
    listen: { host: opts.host ?? "127.0.0.1", port: 0 },
  })!;
  apis.push(api);
  const at = await api.listen();
  return `http://127.0.0.1:${at.port}`;
}

async function call(url: string, init: RequestInit = {}): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as Record<string, unknown>, headers: res.headers };
}
const post = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: "POST",
  body: typeof body === "string" ? body : JSON.stringify(body),
  headers: { "content-type": "application/json", ...headers },
});
const bearer = { authorization: `Bearer ${TOKEN}` };

describe("createApi", () => {
  it("refuses an address beyond loopback without a token file, and is undefined when off", async () => {
    const cfg = await config();
    expect(() =>
      createApi({ config: cfg, daemon: fakeDaemon(), metrics: new Metrics(), log, dryRun: false, listen: { host: "0.0.0.0", port: 0 } }),
    ).toThrow(/would listen on 0\.0\.0\.0:0, beyond this machine, without a token/);
    expect(createApi({ config: cfg, daemon: fakeDaemon(), metrics: new Metrics(), log, dryRun: false, listen: "off" })).toBeUndefined();
  });

  it("says which address is taken", async () => {
    const taken = createServer().listen(0, "127.0.0.1");
    await new Promise((r) => taken.once("listening", r));
    const port = (taken.address() as { port: number }).port;
    const api = createApi({
      config: await config(),
      daemon: fakeDaemon(),
      metrics: new Metrics(),
      log,
      dryRun: false,
      listen: { host: "127.0.0.1", port },
    })!;
    await expect(api.listen()).rejects.toThrow(`the API cannot listen on 127.0.0.1:${port}: the address is in use (EADDRINUSE)`);
    taken.close();
  });

  it.each([
    ["127.0.0.1:9464", { host: "127.0.0.1", port: 9464 }],
    ["[::1]:0", { host: "::1", port: 0 }],
    ["off", "off"],
  ])("parses --api-listen %s", (text, want) => {
    expect(parseListen(text)).toEqual(want);
  });
  it.each(["9464", "127.0.0.1:99999", "http://127.0.0.1:9464"])("refuses --api-listen %s", (text) => {
    expect(() => parseListen(text)).toThrow(/--api-listen must be host:port or off/);
  });
});

describe("auth", () => {
  it("on loopback without a token: reads are open, changes are refused with a hint (403)", async () => {
    const url = await start(await config());
    expect((await call(`${url}/api/targets`)).status).toBe(200);
    const ack = await call(`${url}/api/incidents/abcd1234/ack`, post({}));
    expect(ack.status).toBe(403);
    expect(ack.body.hint).toContain("set api.tokenFile");
  });

  it("with a token: a change needs the right bearer token (401 and WWW-Authenticate otherwise)", async () => {
    const url = await start(await config("api: { tokenFile: token }\n"));
    const none = await call(`${url}/api/incidents/abcd1234/ack`, post({}));
    expect([none.status, none.headers.get("www-authenticate"), none.body.error]).toEqual([
      401,
      'Bearer realm="medic"',
      "this call needs a bearer token",
    ]);
    const wrong = await call(`${url}/api/incidents/abcd1234/ack`, post({}, { authorization: `Bearer ${TOKEN.replace("0", "1")}` }));
    expect([wrong.status, wrong.body.error]).toEqual([401, "the bearer token is wrong"]);
    // The single token of old is an approver named admin; a `by` in the body is not who.
    const ok = await call(`${url}/api/incidents/abcd1234/ack`, post({ by: "alice" }, bearer));
    expect([ok.status, (ok.body.acknowledged as { by: string }).by]).toEqual([200, "admin"]);
    expect((await call(`${url}/api/whoami`, { headers: bearer })).body).toEqual({ name: "admin", role: "approver" });
  });

  it("one token per person: each role may do what it allows and no more, and the caller is named by the token", async () => {
    const dir = await writeTree({ v: `${"v".repeat(32)}\n`, o: `${"o".repeat(32)}\n`, a: `${"a".repeat(32)}\n` });
    const tokens = `api:\n  tokens:\n    - { name: vic, tokenFile: ${dir}/v, role: viewer }\n    - { name: olga, tokenFile: ${dir}/o, role: operator }\n    - { name: ann, tokenFile: ${dir}/a, role: approver }\n`;
    const url = await start(await config(tokens));
    const as = (c: string) => ({ authorization: `Bearer ${c.repeat(32)}` });
    expect((await call(`${url}/api/whoami`, { headers: as("o") })).body).toEqual({ name: "olga", role: "operator" });
    expect((await call(`${url}/api/incidents`, { headers: as("v") })).status).toBe(200);
    const viewer = await call(`${url}/api/incidents/abcd1234/ack`, post({}, as("v")));
    expect([viewer.status, viewer.body.error]).toEqual([403, "vic is a viewer: this needs the operator role"]);
    const operator = await call(`${url}/api/incidents/abcd1234/ack`, post({ by: "ann" }, as("o")));
    expect([operator.status, (operator.body.acknowledged as { by: string }).by]).toEqual([200, "olga"]);
    // No token where reads are open is someone who may read, nothing more; a wrong token is always refused.
    const open = await start(await config(`${tokens.replace("api:\n", "api:\n  publicReads: true\n")}`));
    expect((await call(`${open}/api/whoami`)).body).toEqual({ name: "anonymous", role: "viewer" });
    expect((await call(`${open}/api/whoami`, { headers: { authorization: "Bearer nope-nope-nope-nope" } })).status).toBe(401);
  });

  it("two holders of one token, or two tokens of one name, are refused: the journal could not say who", async () => {
    const dir = await writeTree({ a: `${"a".repeat(32)}\n`, b: `${"a".repeat(32)}\n` });
    const same = await config(
      `api:\n  tokens:\n    - { name: ann, tokenFile: ${dir}/a, role: approver }\n    - { name: bob, tokenFile: ${dir}/b, role: viewer }\n`,
    );
    expect(() => createApi({ config: same, daemon: fakeDaemon(), metrics: new Metrics(), log, dryRun: false })).toThrow(
      "the API tokens of ann and bob are the same",
    );
    const named = await writeTree({
      token: TOKEN,
      "medic.yaml": `stateDir: ./state\nplaybooks: []\napi:\n  tokenFile: token\n  tokens:\n    - { name: admin, tokenFile: token, role: viewer }\ntargets:\n  - { name: api, probe: { tcp: { port: 1 } } }\n`,
    });
    const loaded = await loadConfig(join(named, "medic.yaml"), { env: {} });
    expect(loaded.ok).toBe(false);
    if (!loaded.ok)
      expect(loaded.issues).toContainEqual(
        expect.objectContaining({
          line: 6,
          col: 15,
          path: "api.tokens[0].name",
          message: expect.stringMatching(/^token name "admin" is already used at .*medic\.yaml:4$/),
        }),
      );
  });

  it("approve and reject: approvers only, written to the controls for the daemon, once per question, a rejection with its reason", async () => {
    const dir = await writeTree({ o: `${"o".repeat(32)}\n`, a: `${"a".repeat(32)}\n` });
    const cfg = await config(
      `api:\n  tokens:\n    - { name: olga, tokenFile: ${dir}/o, role: operator }\n    - { name: ann, tokenFile: ${dir}/a, role: approver }\n`,
    );
    const store = new MemoryStore();
    store.append("abcd1234", { type: "opened", target: "api", kind: "server_down", severity: "P1", evidence: "refused" }, 1_000);
    store.append(
      "abcd1234",
      { type: "playbook_started", runId: "abcd1234-1", playbook: "p", steps: [{ name: "s", kind: "exec", description: "d" }] },
      1_001,
    );
    store.append(
      "abcd1234",
      {
        type: "approval_requested",
        runId: "abcd1234-1",
        index: 0,
        step: "s",
        plan: ["1. s: d"],
        why: "w",
        run: false,
        expiresAt: Date.now() + 60_000,
      },
      1_002,
    );
    const url = await start(cfg, { daemon: fakeDaemon({ findIncident: (id) => store.find(id) }) });
    const as = (c: string) => ({ authorization: `Bearer ${c.repeat(32)}` });
    const operator = await call(`${url}/api/incidents/abcd1234/approve`, post({}, as("o")));
    expect([operator.status, operator.body.error]).toEqual([403, "olga is an operator: this needs the approver role"]);
    const noReason = await call(`${url}/api/incidents/abcd1234/reject`, post({}, as("a")));
    expect([noReason.status, noReason.body.error]).toEqual([409, "a rejection needs a reason"]);
    const ok = await call(`${url}/api/incidents/abcd1234/approve`, post({ note: "checked" }, as("a")));
    expect(ok.status).toBe(202);
    expect(ok.body.answer).toMatchObject({
      incident: "abcd1234",
      runId: "abcd1234-1",
      index: 0,
      decision: "approved",
      by: "ann",
      reason: "checked",
    });
    expect(readControls(cfg.stateDir).answers).toEqual([ok.body.answer]);
    // Once the daemon journals it, the question is answered: another answer is refused.
    const answer = ok.body.answer as { id: string };
    store.append("abcd1234", { type: "approved", runId: "abcd1234-1", index: 0, by: "ann", answer: answer.id }, 1_003);
    const again = await call(`${url}/api/incidents/abcd1234/reject`, post({ reason: "no" }, as("a")));
    expect([again.status, again.body.error]).toEqual([409, "incident abcd1234 does not wait for an approval (it is approved)"]);
    expect(readControls(cfg.stateDir).answers).toHaveLength(1);
  });

  it("a POST from another site's page is refused whatever it carries; the same origin, a proxy's allowed name and tools pass", async () => {
    const url = await start(await config("api: { tokenFile: token, allowedHosts: [medic.example.com] }\n"));
    const host = new URL(url).host;
    const ack = (headers: Record<string, string>) => call(`${url}/api/incidents/abcd1234/ack`, post({}, { ...bearer, ...headers }));
    const forged = await ack({ origin: "http://evil.example" });
    expect([forged.status, forged.body.error]).toEqual([403, "a request from another site is refused"]);
    expect((await ack({ "sec-fetch-site": "cross-site" })).status).toBe(403);
    expect((await ack({ origin: "null" })).status).toBe(403);
    expect((await ack({ origin: `http://${host}`, "sec-fetch-site": "same-origin" })).status).toBe(200);
    expect((await ack({ origin: "https://medic.example.com" })).status).toBe(200);
    expect((await ack({})).status).toBe(200);
  });

  it("with a token on loopback: reads need it too (401 without, 200 with), /healthz stays open", async () => {
    const url = await start(await config("api: { tokenFile: token }\n"));
    const none = await call(`${url}/api/incidents`);
    expect([none.status, none.body.error]).toEqual([401, "this call needs a bearer token"]);
    expect((await fetch(`${url}/metrics`)).status).toBe(401);
    expect((await call(`${url}/api/incidents`, { headers: bearer })).status).toBe(200);
    expect((await call(`${url}/healthz`)).status).toBe(200);
  });

  it("api.publicReads: true opens reads without the token; changes still need it", async () => {
    const url = await start(await config("api: { tokenFile: token, publicReads: true }\n"));
    expect((await call(`${url}/api/incidents`)).status).toBe(200);
    expect((await call(`${url}/api/incidents/abcd1234/ack`, post({}))).status).toBe(401);
  });

  it("bound beyond loopback: every read needs the token too, but /healthz stays open", async () => {
    const url = await start(await config("api: { tokenFile: token }\n"), { host: "0.0.0.0" });
    expect((await call(`${url}/api/incidents`)).status).toBe(401);
    expect((await fetch(`${url}/metrics`)).status).toBe(401);
    expect((await call(`${url}/api/incidents`, { headers: bearer })).status).toBe(200);
    expect((await call(`${url}/healthz`)).status).toBe(200);
  });
});

/** A GET with a Host header of our choosing (fetch does not let one set it). */
function getWithHost(url: string, path: string, host: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { headers: { host } }, (res) => {
      let text = "";
      res
        .setEncoding("utf8")
        .on("data", (d) => (text += d))
        .on("end", () => resolve({ status: res.statusCode!, body: JSON.parse(text) as Record<string, unknown> }));
    });
    req.on("error", reject).end();
  });
}

describe("Host on a loopback address (DNS rebinding)", () => {
  it.each(["evil.example", "evil.example:80", "127.0.0.1.evil.example", "0.0.0.0", "localhost.evil.example"])(
    "refuses Host %s with 421 and a hint, on every endpoint",
    async (host) => {
      const url = await start(await config());
      for (const path of ["/api/incidents", "/healthz", "/api/nope"]) {
        const r = await getWithHost(url, path, host);
        expect([path, r.status, r.body.error]).toEqual([path, 421, `medic does not answer to the host ${JSON.stringify(host)}`]);
        expect(r.body.hint).toContain("api.allowedHosts");
      }
    },
  );

  it.each(["127.0.0.1", "127.0.0.1:9464", "localhost:9464", "LOCALHOST", "[::1]:9464", "127.1.2.3"])("takes Host %s", async (host) => {
    const url = await start(await config());
    expect((await getWithHost(url, "/api/incidents", host)).status).toBe(200);
  });

  it("takes the names in api.allowedHosts, with any port, and no others", async () => {
    const url = await start(await config("api: { allowedHosts: [medic.internal, Ops.Example.com] }\n"));
    expect((await getWithHost(url, "/api/incidents", "medic.internal:8443")).status).toBe(200);
    expect((await getWithHost(url, "/api/incidents", "ops.example.com")).status).toBe(200);
    expect((await getWithHost(url, "/api/incidents", "evil.example")).status).toBe(421);
  });

  it("does not look at Host beyond loopback, where the token guards every read", async () => {
    const url = await start(await config("api: { tokenFile: token }\n"), { host: "0.0.0.0" });
    expect((await getWithHost(url, "/healthz", "medic.example.com")).status).toBe(200);
  });
});

describe("bad requests get a JSON error with a hint, never a stack trace", () => {
  it.each([
    ["an unknown endpoint", "/api/nope", {}, 404, "no such endpoint", "GET /api/targets"],
    ["a wrong method", "/api/targets", { method: "DELETE" }, 405, "DELETE is not allowed here", "use GET"],
    ["an unknown state", "/api/incidents?state=bogus", { headers: bearer }, 400, 'unknown state "bogus"', "unresolved"],
    ["a bad limit", "/api/incidents?limit=0", { headers: bearer }, 400, "limit must be a whole number from 1 to 1000", "?limit=50"],
    ["an unknown incident", "/api/incidents/ffff0000", { headers: bearer }, 404, 'no incident "ffff0000"', "GET /api/incidents"],
    [
      "a body that is not JSON",
      "/api/incidents/abcd1234/ack",
      post("{oops", bearer),
      400,
      "the body is not valid JSON",
      "send a JSON object",
    ],
    [
      "a body that says it is text",
      "/api/incidents/abcd1234/ack",
      post("hi", { ...bearer, "content-type": "text/plain" }),
      415,
      "the body must be JSON",
      "application/json",
    ],
    [
      "an unknown field",
      "/api/incidents/abcd1234/ack",
      post({ by: "a", whom: "b" }, bearer),
      400,
      'unknown field "whom"',
      '{"by": "alice"',
    ],
    ["a two-line note", "/api/incidents/abcd1234/ack", post({ note: "a\nb" }, bearer), 400, "note: must be one line", "send a JSON object"],
    [
      "a body over 1 MiB",
      "/api/incidents/abcd1234/ack",
      post({ note: "x".repeat(1_100_000) }, bearer),
      413,
      "the body is larger than 1048576 bytes",
      "send less",
    ],
    [
      "a payload that is not Alertmanager's",
      "/api/alertmanager",
      post({ version: "4", status: "firing" }, bearer),
      400,
      "not an Alertmanager webhook payload: alerts:",
      "webhook_configs",
    ],
  ])("%s", async (_what, path, init, status, error, hint) => {
    const url = await start(await config("api: { tokenFile: token }\nalertmanager: { routes: [{ target: api, kind: server_down }] }\n"));
    const r = await call(url + path, init as RequestInit);
    expect(r.status).toBe(status);
    expect(r.body.error).toContain(error);
    expect(r.body.hint).toContain(hint);
  });

  it("an internal error is a 500 that says where to look, with no stack", async () => {
    const url = await start(await config(), {
      daemon: fakeDaemon({
        targetsStatus: () => {
          throw new TypeError("boom at x.ts:1:2");
        },
      }),
    });
    const r = await call(`${url}/api/targets`);
    expect(r).toMatchObject({ status: 500, body: { error: "internal error", hint: "see medic's log" } });
    expect(JSON.stringify(r.body)).not.toContain("boom");
  });
});

describe("setConfig", () => {
  it("a reloaded config brings new alert routes, but the controls stay in the state dir the daemon reads", async () => {
    const before = await config("api: { tokenFile: token }\n");
    const api = createApi({
      config: before,
      daemon: fakeDaemon(),
      metrics: new Metrics(),
      log,
      dryRun: false,
      listen: { host: "127.0.0.1", port: 0 },
    })!;
    apis.push(api);
    const url = `http://127.0.0.1:${(await api.listen()).port}`;
    expect((await call(`${url}/api/alertmanager`, post(webhook([firing]), bearer))).status).toBe(404);
    const after = await config("api: { tokenFile: token }\nalertmanager: { routes: [{ targetLabel: service, kind: server_down }] }\n");
    api.setConfig(after);
    expect((await call(`${url}/api/alertmanager`, post(webhook([firing]), bearer))).status).toBe(200);
    expect((await call(`${url}/api/pause`, post({ target: "api", for: "1m", reason: "x" }, bearer))).status).toBe(201);
    expect(readControls(before.stateDir).pauses.map((p) => p.target)).toEqual(["api"]);
    expect(readControls(after.stateDir).pauses).toEqual([]);
  });
});

describe("dry run and the Alertmanager receiver", () => {
  it("a dry run refuses to write controls (409) but still takes an acknowledgement", async () => {
    const url = await start(await config("api: { tokenFile: token }\n"), { dryRun: true });
    const paused = await call(`${url}/api/pause`, post({ target: "api", for: "5m", reason: "x" }, bearer));
    expect([paused.status, paused.body.error]).toEqual([409, "medic runs as a dry run: it writes no controls"]);
    expect((await call(`${url}/api/incidents/abcd1234/ack`, post({}, bearer))).status).toBe(200);
  });

  it("answers 404 when no routes are configured, 503 with Retry-After for transient trouble, 500 for a bug", async () => {
    const body = webhook([firing]);
    const bare = await start(await config("api: { tokenFile: token }\n"));
    expect((await call(`${bare}/api/alertmanager`, post(body, bearer))).status).toBe(404);
    const routes = "api: { tokenFile: token }\nalertmanager: { routes: [{ targetLabel: service, kind: server_down }] }\n";
    const full = Object.assign(new Error("no space left on device"), { code: "ENOSPC" });
    const disk = await start(await config(routes), {
      daemon: fakeDaemon({
        raiseExternal: () => {
          throw full;
        },
      }),
    });
    const r = await call(`${disk}/api/alertmanager`, post(body, bearer));
    expect([r.status, r.headers.get("retry-after")]).toEqual([503, "5"]);
    expect(r.body.error).toContain("no space left on device");
    const bug = await start(await config(routes), {
      daemon: fakeDaemon({
        raiseExternal: () => {
          throw new TypeError("x");
        },
      }),
    });
    expect((await call(`${bug}/api/alertmanager`, post(body, bearer))).status).toBe(500);
    const fine = await start(await config(routes));
    expect(await call(`${fine}/api/alertmanager`, post(body, bearer))).toMatchObject({
      status: 200,
      body: { results: [{ outcome: "joined", incident: "abcd1234" }] },
    });
  });
});
