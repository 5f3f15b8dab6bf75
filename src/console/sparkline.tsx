import { h } from "./preact.js";
import { sparkPaths } from "./spark.js";

const W = 120;
const H = 24;

/** A target's latency over its recent rounds, with a red tick for each failed round; its label says the same in words. */
export function Sparkline({ values }: { values: readonly (number | null)[] | undefined }) {
  if (!values || values.length === 0) return <span class="muted">no rounds yet</span>;
  const s = sparkPaths(values, W, H);
  const last = values[values.length - 1];
  const label = `latency of the last ${values.length} rounds: up to ${Math.round(s.maxMs)} ms${s.failed > 0 ? `, ${s.failed} failed` : ""}`;
  return (
    <svg class="spark" viewBox={`0 0 ${W} ${H}`} width={W} height={H} role="img" aria-label={label}>
      <title>{label}</title>
      {s.fails && <path class="spark-fail" d={s.fails} />}
      {s.line && <path class="spark-line" d={s.line} />}
      {last === null && (
        <text x={W - 2} y={H - 3} text-anchor="end" class="spark-x">
          ✗
        </text>
      )}
    </svg>
  );
}
