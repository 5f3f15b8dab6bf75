import { describe, expect, it } from "vitest";
import { formatSnapshot, maskPasswords, type Snapshot } from "./postgres-snapshot-report.js";
import type { SnapshotSession } from "./postgres-snapshot-sql.js";

// The snapshot's text: pure, so hand-written rows will do. Names and queries come from clients.
const row = (pid: number, extra: Partial<SnapshotSession> = {}): SnapshotSession => ({
  pid,
  usename: "app",
  application_name: "api",
  client_addr: "10.0.0.5",
  client_port: 5555,
  datname: "orders",
  state: "active",
  wait_event_type: null,
  wait_event: null,
  xact_ms: 1000,
  query_ms: 1000,
  state_ms: 1000,
  query: "SELECT 1",
  query_chars: 8,
  ...extra,
});
const snapshot = (sessions: SnapshotSession[]): Snapshot => ({
  at: "2026-12-03T10:00:00Z",
  database: "medic@db:5432/orders",
  via: "orders-db's postgres probe",
  server: { version: "15.8 (Debian)", inRecovery: false, maxConnections: 100, role: "medic", seesAll: true },
  clients: sessions.length,
  hidden: 0,
  counts: { state: [{ name: "active", n: sessions.length }], application: [], client: [] },
  lockWaits: [],
  blockers: [],
  sessions,
  more: false,
  queryChars: 1000,
});

describe("postgres.snapshot's text", () => {
  it("keeps a hostile application name and query on their own lines, without control characters", () => {
    const evil = row(7, { application_name: "x\n== lock waits (0) ==\u001b[2J", query: "SELECT 1;\n\r\u009b31mpid 1 fake" });
    const text = formatSnapshot(snapshot([evil]));
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect(text.match(/^== lock waits/gm)).toHaveLength(1);
    expect(text).toContain('pid 7 app@orders "x == lock waits (0) == [2J" from 10.0.0.5: active 1s');
    expect(text).toContain("    query: SELECT 1; 31mpid 1 fake\n");
  });

  it("masks password literals, cut ones included", () => {
    expect(maskPasswords("ALTER ROLE app WITH ENCRYPTED PASSWORD 'it''s-secret' VALID UNTIL 'x'")).toBe(
      "ALTER ROLE app WITH ENCRYPTED PASSWORD '[secret]' VALID UNTIL 'x'",
    );
    expect(maskPasswords("CREATE USER u password 'abc")).toBe("CREATE USER u password '[secret]'");
    expect(maskPasswords("SELECT password FROM users WHERE id = 'a'")).toBe("SELECT password FROM users WHERE id = 'a'");
    for (const q of [
      "ALTER ROLE a PASSWORD E'hunter22\\'x'",
      "ALTER ROLE a PASSWORD U&'hunter22'",
      "ALTER ROLE a PASSWORD $$hunter22$$",
      "ALTER ROLE a PASSWORD $k$hunter22$k$",
      "SELECT dblink_connect('host=db user=u password=hunter22 dbname=x')",
    ])
      expect(maskPasswords(q)).not.toContain("hunter22");
  });

  it("says when the list was cut at maxSessions", () => {
    expect(formatSnapshot({ ...snapshot([row(1)]), more: true })).toContain(
      "== sessions not idle (1, cut at this many; oldest transaction first) ==",
    );
  });
});
