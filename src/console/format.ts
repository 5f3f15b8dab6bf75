// Times and durations as the console shows them.

/** A duration for people: 850ms, 4.2s, 3m 05s, 2h 10m, 3d 4h. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "–";
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  if (ms < 10_000) return `${(ms / 1_000).toFixed(1)}s`;
  const s = Math.round(ms / 1_000);
  if (s < 60) return `${s}s`;
  if (s < 3_600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  if (s < 86_400) return `${Math.floor(s / 3_600)}h ${String(Math.floor((s % 3_600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3_600)}h`;
}

/** How long ago, from `now`: "just now", "12s ago", "3m 05s ago". */
export function ago(at: number, now: number): string {
  const ms = now - at;
  return ms < 1_000 ? "just now" : `${formatDuration(ms)} ago`;
}

/** A time of day in the browser's zone, to the second: 14:03:07. */
export function clock(at: number | string): string {
  const d = new Date(at);
  if (Number.isNaN(d.getTime())) return "–";
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
}

/** A full local date and time (for titles and tables): 2025-05-04 14:03:07. */
export function dateTime(at: number | string): string {
  const d = new Date(at);
  if (Number.isNaN(d.getTime())) return "–";
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${clock(d.getTime())}`;
}

/** Epoch ms of an ISO time (NaN when it is not one). */
export function ms(iso: string | undefined): number {
  return iso === undefined ? NaN : Date.parse(iso);
}
