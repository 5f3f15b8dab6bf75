import type { Clock } from "../../lib/clock.js";
import type { Logger } from "../../lib/log.js";
import type { LiveWindow } from "../live.js";
import type { SegmentLimits } from "./segments.js";

/** How a file store is set up: the state dir and the recent window are required, the rest has defaults. */
export interface FileStoreOptions extends LiveWindow {
  stateDir: string;
  /** Resolved history older than this is pruned (default 90 days); an open incident never is. */
  retentionMs?: number;
  log?: Logger;
  clock?: Pick<Clock, "now">;
  /** Records kept in memory while the disk refuses them (default 10,000); beyond, the oldest are dropped and counted. */
  maxWaiting?: number;
  segment?: Partial<SegmentLimits>;
  /** A snapshot is written after this many records, or this long after the last when records came (default 50,000 or 5 min). */
  snapshotEvery?: { records?: number; ms?: number };
  /**
   * How often the store looks after itself on a timer: lets incidents leave memory, writes what
   * waits, snapshots, prunes (default 5 s; 0: no timer, `maintain()` is called by hand, as tests do).
   */
  maintainEveryMs?: number;
}

/** The defaults the options leave out. */
export const FILE_STORE_DEFAULTS = {
  retentionMs: 90 * 24 * 3600_000,
  maxWaiting: 10_000,
  snapshotRecords: 50_000,
  snapshotMs: 5 * 60_000,
  maintainEveryMs: 5_000,
  /** Retention is checked at start and then this often. */
  retentionEveryMs: 3600_000,
};
