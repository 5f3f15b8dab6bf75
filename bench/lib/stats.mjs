/** Percentile (nearest rank) of a list of numbers; NaN when empty. */
export function percentile(values, p) {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1))];
}

/** median, p95, min, max and n of a list. */
export function summary(values) {
  const v = values.filter(Number.isFinite);
  return {
    n: v.length,
    median: percentile(v, 50),
    p95: percentile(v, 95),
    min: v.length ? Math.min(...v) : NaN,
    max: v.length ? Math.max(...v) : NaN,
  };
}

/** Formats a number of milliseconds or a plain figure for the table. */
export function fmt(x, unit = "ms") {
  if (!Number.isFinite(x)) return "—";
  if (unit === "ms") return x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x)} ms`;
  if (unit === "MB") return `${x.toFixed(0)} MB`;
  if (unit === "%") return `${x.toFixed(1)} %`;
  if (unit === "x") return `${x.toFixed(2)}×`;
  return String(Math.round(x * 100) / 100);
}
