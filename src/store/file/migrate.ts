import { closeSync, openSync, renameSync, statSync } from "node:fs";
import { basename, dirname } from "node:path";
import { scanJournalFile, SKIPPED_LINES } from "../../incidents/journal-read.js";
import { MedicError } from "../../lib/errors.js";
import type { Logger } from "../../lib/log.js";
import { redactor } from "../../lib/redact.js";
import type { FileStore } from "./file-store.js";
import { migratedName } from "./layout.js";
import { syncDir } from "./segments.js";

const SWEEP_EVERY_MS = 10 * 60_000;

/**
 * Moves the records of a single-file journal (journal.jsonl, as medic wrote it before segments)
 * into the store, streamed a line at a time, each at its own time: segments roll by the records'
 * days and incidents leave memory into the index as the records' time passes, so memory stays
 * bounded whatever the old file's size. Nothing is lost: the old file is kept under a new name.
 *
 * A snapshot marks the import before it starts; if medic dies during it, the next start cuts away
 * what it wrote and imports again. Once the import's own snapshot is written, only the renaming
 * is left, and a crash before it is finished by the next start.
 */
export async function migrate(store: FileStore, file: string, opts: { log?: Logger; clock?: { now(): number } }): Promise<void> {
  const bytes = statSync(file).size;
  const from = basename(file);
  const now = () => opts.clock?.now() ?? Date.now();
  if (store.migrated?.from !== from || store.migrated.bytes !== bytes) {
    opts.log?.info({ journal: file, bytes }, "migrating the single-file journal of an older medic into segments (once)");
    const t0 = performance.now();
    store.migrated = { from, bytes, importing: true };
    await store.snapshot();
    let refused = false;
    let records = 0;
    let swept = -Infinity;
    const fd = openSync(file, "r");
    let scan;
    try {
      scan = scanJournalFile(fd, (record, _offset, _length, line) => {
        if (refused) return;
        // Letting incidents leave memory is a walk over the oldest resolved: every 10 minutes of the records' time is plenty.
        if (record.at - swept >= SWEEP_EVERY_MS) store.importAt((swept = record.at));
        const numbered = record.seq !== undefined;
        if (numbered) delete record.seq;
        // A record with no secret in it (the usual case: the old medic redacted it too) is written as it was read.
        const redacted = redactor.value(record);
        store.store(redacted, redacted === record && !numbered && line[line.length - 1] === 0x7d ? line : undefined);
        records++;
        refused = store.writeTrouble() !== undefined;
      });
    } finally {
      closeSync(fd);
      store.importAt(undefined);
    }
    refused ||= store.writeTrouble() !== undefined;
    if (refused) {
      throw new MedicError("STATE_DIR", `cannot migrate ${file}: the state dir refuses writes (${store.problem() ?? "unknown"})`, {
        hint: "free space in the state directory or make it writable, then start medic again: the migration starts over, and loses nothing",
      });
    }
    if (scan.skipped > 0) opts.log?.warn({ journal: file, skipped: scan.skipped, oversized: scan.oversized }, SKIPPED_LINES);
    store.maintain(now());
    store.migrated = { from, bytes };
    await store.snapshot();
    opts.log?.info({ journal: file, records, live: store.live().size, ms: Math.round(performance.now() - t0) }, "journal migrated");
  }
  const keptAs = migratedName(file, now());
  renameSync(file, keptAs);
  syncDir(dirname(file));
  opts.log?.info({ journal: file, keptAs }, "the single-file journal is migrated into segments; the old file is kept under a new name");
}
