import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { listenAddress } from "../config/fields.js";
import type { Config } from "../config/types.js";
import { describeError, MedicError } from "../lib/errors.js";
import { hostAllowed, isLoopback } from "./auth.js";
import { identify, readHolders, roleAllows, type Holder, type Who } from "./identity.js";
import { admitConnections } from "./connections.js";
import { ApiError, errorReply, parseJson, readBytes, send, type Reply } from "./http.js";
import { ROUTES } from "./routes.js";
import type { ApiContext, Route } from "./types.js";

/** How long a client may take to send its headers, and its whole request; curl, probes and Alertmanager send headers at once. */
const HEADERS_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 30_000;
/** How often node looks for connections past those timeouts (its default, 30 s, let slow ones pile up). */
const TIMEOUT_CHECK_MS = 1_000;
/** Connections in all, and what one client address keeps of them once they are all taken (see connections.ts). */
const CONNECTIONS = { max: 512, perClient: 32 };
/** In-flight requests get this long to finish when the API closes. */
const CLOSE_GRACE_MS = 2_000;

/** The running API. */
export interface Api {
  /** Binds the listen address; resolves with the address really bound (port 0 picks one). */
  listen(): Promise<{ host: string; port: number; url: string }>;
  /** A reloaded config: alert routes, targets and severities from it (the state dir, discovery, listen address and token stay). */
  setConfig(config: Config): void;
  close(): Promise<void>;
}

/** What the API serves and where. `listen` overrides the config's (undefined there: off). */
export interface ApiOptions extends ApiContext {
  listen?: { host: string; port: number } | "off";
}

/**
 * medic's HTTP API (node:http, no framework), or undefined when it is off. Checks everything that
 * can be checked before binding: a listen address beyond loopback needs a token file, and the
 * token file must be readable. Throws MedicError when it must not start.
 */
export function createApi(opts: ApiOptions): Api | undefined {
  const listen = opts.listen === "off" ? undefined : (opts.listen ?? opts.config.api.listen);
  if (!listen) return undefined;
  const { tokens } = opts.config.api;
  const loopback = isLoopback(listen.host);
  if (!loopback && tokens.length === 0) {
    throw new MedicError(
      "API_PUBLIC_WITHOUT_TOKEN",
      `the API would listen on ${listen.host}:${listen.port}, beyond this machine, without a token`,
      {
        hint: "set api.tokenFile or api.tokens in medic.yaml (openssl rand -hex 32 > FILE), or listen on 127.0.0.1",
      },
    );
  }
  const { holders, loose } = readHolders(tokens);
  for (const tokenFile of loose) opts.log.warn({ tokenFile }, "an API token file is readable by others than its owner; chmod 600 it");
  const closing = new AbortController();
  const h: Handling = { ...opts, holders, loopback, closing: closing.signal };
  const server = createServer(
    { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, connectionsCheckingInterval: TIMEOUT_CHECK_MS },
    (req, res) => void handle(req, res, h),
  );
  server.keepAliveTimeout = 5_000;
  admitConnections(server, CONNECTIONS);
  return {
    listen: () => bind(server, listen),
    // As the daemon does on reload: the state dir, discovery and the API itself stay until a restart.
    setConfig: ({ discovery: _ignored, ...next }) => {
      const { stateDir, api, discovery } = h.config;
      h.config = { ...next, stateDir, api, ...(discovery && { discovery }) };
    },
    close: () => {
      closing.abort();
      return closeServer(server);
    },
  };
}

/** `host:port` (`[::1]:9464` for IPv6) or `off`, as --api-listen takes it. Throws MedicError when it is neither. */
export function parseListen(text: string): { host: string; port: number } | "off" {
  const address = listenAddress(text);
  if (address === undefined) {
    throw new MedicError("API_LISTEN", `--api-listen must be host:port or off (got ${JSON.stringify(text.slice(0, 100))})`, {
      hint: "like 127.0.0.1:9464, 127.0.0.1:0 for any free port, or off",
    });
  }
  return address;
}

interface Handling extends ApiContext {
  holders: Holder[];
  loopback: boolean;
  closing: AbortSignal;
}

async function handle(req: IncomingMessage, res: ServerResponse, h: Handling): Promise<void> {
  const started = Date.now();
  let name = "unmatched";
  let reply: Reply;
  try {
    // On loopback the network keeps strangers out, but not a web page whose name was rebound to 127.0.0.1.
    if (h.loopback && !hostAllowed(req.headers.host, h.config.api.allowedHosts)) {
      throw new ApiError(
        421,
        `medic does not answer to the host ${JSON.stringify((req.headers.host ?? "").slice(0, 100))}`,
        "call it as 127.0.0.1, [::1] or localhost; behind a reverse proxy that sends its own name, add that name to api.allowedHosts",
      );
    }
    const url = new URL(req.url ?? "/", "http://medic.invalid");
    const { route, params } = findRoute(req.method ?? "GET", url.pathname);
    name = route.path;
    if (req.method === "POST") sameSite(req, h);
    const who = authorize(route, req.headers.authorization, h);
    if (route.controls && h.dryRun) {
      throw new ApiError(
        409,
        "medic runs as a dry run: it writes no controls",
        "use this on a medic that is not a dry run; a dry run changes nothing",
      );
    }
    // The body is read once, whether a handler asks for its bytes (a signature), its JSON, or both.
    let bytes: Promise<Buffer> | undefined;
    const raw = () => (bytes ??= readBytes(req));
    reply = await route.handle(
      {
        params,
        query: url.searchParams,
        headers: req.headers,
        closing: h.closing,
        body: async () => parseJson(await raw()),
        raw,
        ...(who && { who }),
      },
      h,
    );
  } catch (err) {
    if (err instanceof ApiError) reply = errorReply(err);
    // A cluster's follower asked to decide: the leader does (503: try the leader, or again shortly).
    else if (err instanceof MedicError && err.code === "NOT_LEADER") reply = { status: 503, json: { error: err.message, hint: err.hint } };
    else {
      // Never a stack trace to the caller: the log has the details.
      h.log.error({ err: describeError(err), method: req.method, route: name }, "internal error in the API");
      reply = { status: 500, json: { error: "internal error", hint: "see medic's log" } };
    }
  }
  send(res, reply);
  h.metrics.request(name, reply.status);
  h.log.debug({ method: req.method, route: name, status: reply.status, ms: Date.now() - started }, "api request");
}

function findRoute(method: string, path: string): { route: Route; params: Record<string, string> } {
  const allowed: string[] = [];
  for (const route of ROUTES) {
    const params = matchPath(route.path, path);
    if (!params) continue;
    if (route.method === method || (method === "HEAD" && route.method === "GET")) return { route, params };
    allowed.push(route.method);
  }
  if (allowed.length > 0)
    throw new ApiError(405, `${method.slice(0, 10)} is not allowed here`, `use ${allowed.join(" or ")}`, { allow: allowed.join(", ") });
  throw new ApiError(404, "no such endpoint", `endpoints: ${ROUTES.map((r) => `${r.method} ${r.path}`).join(", ")}`);
}

// "/api/incidents/:id" against "/api/incidents/ab12": { id: "ab12" }; undefined when it does not match.
function matchPath(pattern: string, path: string): Record<string, string> | undefined {
  const want = pattern.split("/");
  const got = path.split("/");
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    if (want[i]!.startsWith(":")) {
      let value: string;
      try {
        value = decodeURIComponent(got[i]!);
      } catch {
        return undefined;
      }
      if (!value) return undefined;
      params[want[i]!.slice(1)] = value;
    } else if (want[i] !== got[i]) return undefined;
  }
  return params;
}

const ACTION_ROLE = { operate: "operator", approve: "approver" } as const;

// The caller: whoever holds the token sent. A read needs a token whenever there is one (beyond
// loopback there always is), unless the operator made reads public; a token sent is always checked.
function authorize(route: Route, header: string | undefined, h: Handling): Who | undefined {
  if (route.access === "open") return undefined;
  const publicRead = route.access === "read" && (h.holders.length === 0 || h.config.api.publicReads === true);
  if (publicRead && header === undefined) return undefined;
  if (h.holders.length === 0) {
    throw new ApiError(
      403,
      "this call changes what medic does and needs a bearer token, but the API has none configured",
      "set api.tokenFile (or api.tokens) in medic.yaml to a file holding a random token, and send Authorization: Bearer TOKEN",
    );
  }
  const who = identify(header, h.holders);
  if (!who) {
    throw new ApiError(
      401,
      header ? "the bearer token is wrong" : "this call needs a bearer token",
      "send Authorization: Bearer TOKEN, with a token from api.tokenFile or api.tokens",
      { "www-authenticate": 'Bearer realm="medic"' },
    );
  }
  if (route.access === "read") return who;
  const needed = ACTION_ROLE[route.access];
  if (!roleAllows(who.role, needed))
    throw new ApiError(
      403,
      `${who.name} is a${who.role === "operator" ? "n" : ""} ${who.role}: this needs the ${needed} role`,
      "ask for a token with that role in api.tokens",
    );
  return who;
}

// A browser sends Origin (and Sec-Fetch-Site) with a cross-site POST: one from a page of another
// site is refused before anything else, whatever it carries. Tools (curl, Alertmanager) send neither.
function sameSite(req: IncomingMessage, h: Handling): void {
  const site = req.headers["sec-fetch-site"];
  const origin = req.headers.origin;
  let cross = site === "cross-site";
  if (origin !== undefined && !cross) {
    // Behind a reverse proxy the Host it forwards may differ from the page's: its name is in allowedHosts.
    const host = /^https?:\/\/([^/]+)$/i.exec(origin)?.[1]?.toLowerCase();
    const name = host?.replace(/:\d+$/, "");
    cross = host === undefined || (host !== (req.headers.host ?? "").toLowerCase() && !(h.config.api.allowedHosts ?? []).includes(name!));
  }
  if (cross)
    throw new ApiError(
      403,
      "a request from another site is refused",
      "call the API from medic's own console, curl or a tool, not from another site's page",
    );
}

function bind(server: Server, at: { host: string; port: number }): Promise<{ host: string; port: number; url: string }> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const hint =
        err.code === "EADDRINUSE"
          ? "another process listens there: stop it, or set api.listen (or --api-listen) to another port, or off"
          : "check the host in api.listen (or --api-listen): it must be an address of this machine";
      const why =
        err.code === "EADDRINUSE"
          ? "the address is in use (EADDRINUSE)"
          : err.code === "EADDRNOTAVAIL"
            ? "no such address on this machine (EADDRNOTAVAIL)"
            : describeError(err);
      reject(new MedicError("API_LISTEN", `the API cannot listen on ${at.host}:${at.port}: ${why}`, { cause: err, hint }));
    };
    server.once("error", onError);
    server.listen({ host: at.host, port: at.port }, () => {
      server.off("error", onError);
      const { address, port } = server.address() as AddressInfo;
      resolve({ host: address, port, url: `http://${address.includes(":") ? `[${address}]` : address}:${port}` });
    });
  });
}

async function closeServer(server: Server): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
  await closed;
  clearTimeout(timer);
}
