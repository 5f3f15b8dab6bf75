import type { StepKind } from "../types.js";
import { serviceRestart, serviceStart, serviceStop } from "./service.js";
import { dockerKill, dockerRestart, dockerStart, dockerStop, dockerUpdate } from "./docker.js";
import { dockerInspect } from "./docker-inspect.js";
import { execStep } from "./exec.js";
import { captureHttp } from "./capture-http.js";
import { httpStep } from "./http.js";
import { postgresCancel, postgresTerminate } from "./postgres.js";
import { postgresSnapshot } from "./postgres-snapshot.js";
import { waitStep } from "./wait.js";
import { captureLogs } from "./capture-logs.js";
import { captureSignal } from "./capture-signal.js";
import { systemdRestart, systemdStart, systemdStop } from "./systemd.js";
import { systemdSetProperty } from "./systemd-property.js";
import { systemdSetEnv } from "./systemd-env.js";

/** Every step kind, by the word used in playbooks (`- service.restart: {}`). One line per kind. */
export const stepKinds: ReadonlyMap<string, StepKind> = new Map<string, StepKind>([
  ["service.restart", serviceRestart],
  ["service.start", serviceStart],
  ["service.stop", serviceStop],
  ["docker.restart", dockerRestart],
  ["docker.start", dockerStart],
  ["docker.stop", dockerStop],
  ["docker.kill", dockerKill],
  ["docker.update", dockerUpdate],
  ["systemd.restart", systemdRestart],
  ["systemd.start", systemdStart],
  ["systemd.stop", systemdStop],
  ["systemd.set-property", systemdSetProperty],
  ["systemd.set-env", systemdSetEnv],
  ["exec", execStep],
  ["http", httpStep],
  ["postgres.terminate", postgresTerminate],
  ["postgres.cancel", postgresCancel],
  ["wait", waitStep],
  ["capture.logs", captureLogs],
  ["capture.signal", captureSignal],
  ["capture.http", captureHttp],
  ["postgres.snapshot", postgresSnapshot],
  ["docker.inspect", dockerInspect],
]);
