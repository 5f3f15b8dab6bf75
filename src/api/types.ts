import type { IncomingHttpHeaders } from "node:http";
import type { Config } from "../config/types.js";
import type { CommandPort, ReadPort } from "../daemon/ports.js";
import type { Logger } from "../lib/log.js";
import type { Metrics } from "../metrics/metrics.js";
import type { Reply } from "./http.js";
import type { Who } from "./identity.js";

/** What the API needs of the daemon. */
export type ApiDaemon = ReadPort & CommandPort;

/** What every handler may use. */
export interface ApiContext {
  config: Config;
  daemon: ApiDaemon;
  metrics: Metrics;
  log: Logger;
  dryRun: boolean;
}

/** One request, as a handler sees it. */
export interface RouteRequest {
  params: Record<string, string>;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** Aborted when the API closes: a long-lived response (live events) ends then. */
  closing: AbortSignal;
  /** The JSON body ({} when empty); refused with a 4xx when it is not JSON or too large. */
  body: () => Promise<unknown>;
  /** The body's bytes as sent, for a route that checks a signature over them. */
  raw: () => Promise<Buffer>;
  /** The token's holder; absent on an open route, or a read with no token where reads need none. */
  who?: Who;
}

/**
 * An endpoint. `access`: open (no token ever); read (a token when any is configured, unless
 * api.publicReads); operate (an operator's or approver's token, always); approve (an approver's).
 */
export interface Route {
  method: "GET" | "POST";
  path: string;
  access: "open" | "read" | "operate" | "approve";
  /** Writes the controls file: refused in a dry run. */
  controls?: boolean;
  handle(req: RouteRequest, ctx: ApiContext): Promise<Reply> | Reply;
}
