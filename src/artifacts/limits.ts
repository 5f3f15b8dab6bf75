/** How much evidence medic keeps: per artifact, per incident, in all, and for how long. */
export interface ArtifactLimits {
  /** One artifact: a longer capture is cut (logs keep their tail). */
  maxBytes: number;
  /** One incident's artifacts together: a capture past it is refused. */
  incidentBytes: number;
  /** Every incident's artifacts together: the oldest closed incidents' are removed first. */
  totalBytes: number;
  /** Artifacts of closed incidents older than this are removed. */
  retentionMs: number;
}

/** The defaults: 64 MiB an artifact, 256 MiB an incident, 1 GiB in all, kept 14 days. */
export const ARTIFACT_DEFAULTS: ArtifactLimits = {
  maxBytes: 64 * 1024 ** 2,
  incidentBytes: 256 * 1024 ** 2,
  totalBytes: 1024 ** 3,
  retentionMs: 14 * 24 * 3600_000,
};
