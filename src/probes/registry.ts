import type { ProbeKind } from "./types.js";
import { httpProbe } from "./http.js";
import { tcpProbe } from "./tcp.js";
import { processProbe } from "./process.js";
import { postgresProbe } from "./postgres.js";
import { dockerProbe } from "./docker.js";

/** Every probe kind, by the word used in YAML (`probe: { http: {...} }`). One line per kind. */
export const probeKinds: ReadonlyMap<string, ProbeKind> = new Map<string, ProbeKind>([
  ["http", httpProbe],
  ["tcp", tcpProbe],
  ["process", processProbe],
  ["postgres", postgresProbe],
  ["docker", dockerProbe],
]);
