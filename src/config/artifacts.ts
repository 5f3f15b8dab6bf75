import { z } from "zod";
import { ARTIFACT_DEFAULTS } from "../artifacts/limits.js";
import { bytes, duration } from "./fields.js";

const MIB = 1024 ** 2;

/** `artifacts:` in medic.yaml: the caps and retention of what capture steps keep. */
export const artifactsSchema = () =>
  z
    .strictObject({
      maxBytes: bytes()
        .refine((n) => n >= 1024, "must be at least 1KiB (hint: like 64MiB)")
        .default(ARTIFACT_DEFAULTS.maxBytes)
        .meta({ description: "One artifact at most (default 64MiB); a longer capture is cut, logs keep their tail" }),
      incidentBytes: bytes()
        .refine((n) => n >= 1024, "must be at least 1KiB (hint: like 256MiB)")
        .default(ARTIFACT_DEFAULTS.incidentBytes)
        .meta({ description: "One incident's artifacts together (default 256MiB); a capture past it is refused" }),
      totalBytes: bytes()
        .refine((n) => n >= MIB, "must be at least 1MiB (hint: like 1GiB)")
        .default(ARTIFACT_DEFAULTS.totalBytes)
        .meta({ description: "Every incident's artifacts together (default 1GiB); the oldest closed incidents' go first" }),
      retention: duration()
        .refine((ms) => ms >= 3600_000, "must be at least 1h (hint: like 14d)")
        .default(ARTIFACT_DEFAULTS.retentionMs)
        .meta({ description: "How long a closed incident's artifacts are kept (default 14d); an open incident's never go" }),
    })
    .superRefine((a, ctx) => {
      if (a.maxBytes > a.incidentBytes)
        ctx.addIssue({
          code: "custom",
          path: ["maxBytes"],
          input: a.maxBytes,
          message: `is larger than incidentBytes (${a.incidentBytes})`,
          params: { hint: "one artifact cannot be larger than its incident's share: lower maxBytes or raise incidentBytes" },
        });
      if (a.incidentBytes > a.totalBytes)
        ctx.addIssue({
          code: "custom",
          path: ["incidentBytes"],
          input: a.incidentBytes,
          message: `is larger than totalBytes (${a.totalBytes})`,
          params: { hint: "lower incidentBytes or raise totalBytes" },
        });
    })
    .prefault({})
    .meta({ description: "Evidence kept by capture steps under <stateDir>/artifacts/<incident>/: caps and retention" });
