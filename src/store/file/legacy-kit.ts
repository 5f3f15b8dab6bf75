import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { JOURNAL_FILE } from "../../incidents/journal-read.js";

/** How a generated old-format journal looks. */
export interface LegacyShape {
  /** Incidents to write. */
  incidents: number;
  /** The first incident opens at this time; one opens every `everyMs` after it. */
  startAt: number;
  everyMs: number;
  /** The last `open` incidents are left open (the rest resolve a minute after they open). */
  open?: number;
  /** Distinct targets the incidents are spread over. */
  targets?: number;
}

/**
 * Writes a journal.jsonl as medic wrote it before segments: per incident an opening, a playbook run
 * with its step, a verification, a resolve and two notifications sent (ten records). Fast: lines
 * are built as text and written in large blocks. Returns how many records it wrote.
 */
export function writeLegacyJournal(stateDir: string, shape: LegacyShape): number {
  mkdirSync(stateDir, { recursive: true });
  const fd = openSync(join(stateDir, JOURNAL_FILE), "w");
  const targets = shape.targets ?? 100;
  let block: string[] = [];
  let records = 0;
  try {
    for (let n = 0; n < shape.incidents; n++) {
      const id = legacyId(n);
      const target = `svc-${n % targets}`;
      const at = shape.startAt + n * shape.everyMs;
      const lines = incidentLines(id, target, at, n >= shape.incidents - (shape.open ?? 0));
      block.push(...lines);
      records += lines.length;
      if (block.length >= 20_000) {
        writeSync(fd, block.join(""));
        block = [];
      }
    }
    writeSync(fd, block.join(""));
  } finally {
    closeSync(fd);
  }
  return records;
}

/** The id of the n-th generated incident: 8 hex characters, like medic's. */
export function legacyId(n: number): string {
  return n.toString(16).padStart(8, "0");
}

function incidentLines(id: string, target: string, at: number, open: boolean): string[] {
  const r = (offset: number, body: string) => `{${body},"at":${at + offset},"incident":"${id}"}\n`;
  const run = `${id}-1`;
  const lines = [
    r(0, `"type":"opened","target":"${target}","kind":"server_down","severity":"P1","evidence":"connect ECONNREFUSED 127.0.0.1:8080"`),
    r(
      1,
      `"type":"playbook_started","runId":"${run}","playbook":"restart","steps":[{"name":"service.restart","kind":"service.restart","description":"restart ${target}"}],"guards":"flap guard: run 1 of 3 in 1h"`,
    ),
    r(2, `"type":"step_started","runId":"${run}","index":0`),
    r(3000, `"type":"step_finished","runId":"${run}","index":0,"outcome":"ok","detail":"restarted","durationMs":2998`),
    r(3001, `"type":"verifying","runId":"${run}","withinMs":30000`),
  ];
  if (open) return lines;
  const note = (nid: string, event: string) =>
    `"notification":{"id":"${nid}","incident":"${id}","channel":"slack","event":"${event}","severity":"P1","target":"${target}","kind":"server_down","reason":"${event}"}`;
  lines.push(
    r(5, `"type":"notification_queued",${note(`${id}-t`, "trigger")}`),
    r(400, `"type":"notification_sent","id":"${id}-t","channel":"slack"`),
    r(60_000, `"type":"resolved","reason":"verified: healthy for 2 rounds","occurrences":3`),
    r(60_001, `"type":"notification_queued",${note(`${id}-r`, "resolve")}`),
    r(60_300, `"type":"notification_sent","id":"${id}-r","channel":"slack"`),
  );
  return lines;
}
