/** The folder under the state dir that holds every incident's artifacts. */
export const ARTIFACTS_DIR = "artifacts";

// Names are made here, never taken from a request: these patterns are what the API accepts back.
const INCIDENT_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const ARTIFACT_NAME = /^[a-z][a-z0-9-]{0,39}-[1-9][0-9]{0,5}\.[a-z0-9]{1,16}$/;
const STEM = /^[a-z][a-z0-9-]{0,39}$/;
const EXT = /^[a-z0-9]{1,16}$/;

/** True for an incident id that may name a folder (medic's ids: 8 hex characters). */
export function isIncidentId(id: string): boolean {
  return INCIDENT_ID.test(id);
}

/** True for a name the store could have made ("logs-1.txt"): no slash, no dot-dot, nothing else. */
export function isArtifactName(name: string): boolean {
  return ARTIFACT_NAME.test(name);
}

/** True for a stem a step may ask for ("logs", "heap"). */
export function isStem(stem: string): boolean {
  return STEM.test(stem);
}

/** True for an extension a step may ask for ("txt", "heapsnapshot"). */
export function isExt(ext: string): boolean {
  return EXT.test(ext);
}

/** The sequence number in an artifact's name ("logs-3.txt" -> 3), or 0 for anything else. */
export function sequenceOf(name: string): number {
  if (!isArtifactName(name)) return 0;
  const m = /-([0-9]+)\.[a-z0-9]+$/.exec(name);
  return m ? Number(m[1]) : 0;
}
