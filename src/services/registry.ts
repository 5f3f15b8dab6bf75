import type { ServiceKind } from "./types.js";
import { dockerService } from "./docker.js";
import { processService } from "./process.js";
import { systemdService } from "./systemd.js";

/** Every service kind, by the word used in YAML (`service: { process: {...} }`). One line per kind. */
export const serviceKinds: ReadonlyMap<string, ServiceKind> = new Map<string, ServiceKind>([
  ["process", processService],
  ["docker", dockerService],
  ["systemd", systemdService],
]);
