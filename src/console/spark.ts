// A latency sparkline's geometry, without the DOM.

/** The SVG paths of a sparkline: the latency line (broken at failed rounds) and a tick per failed round. */
export interface Spark {
  line: string;
  fails: string;
  maxMs: number;
  failed: number;
}

/**
 * Paths for `values` (oldest first; null = a failed round) in a `width` x `height` box, the y axis
 * from 0 to the largest latency, one slot per round of `slots` so that a short history starts on the right.
 */
export function sparkPaths(values: readonly (number | null)[], width: number, height: number, slots = 30): Spark {
  const maxMs = Math.max(1, ...values.filter((v): v is number => v !== null));
  const step = width / Math.max(1, slots - 1);
  const offset = Math.max(0, slots - values.length);
  let line = "";
  let fails = "";
  let pen = false;
  values.forEach((v, i) => {
    const x = ((offset + i) * step).toFixed(1);
    if (v === null) {
      fails += `M${x} 0V${height}`;
      pen = false;
      return;
    }
    const y = (height - 1 - (v / maxMs) * (height - 2)).toFixed(1);
    // A round linecap shows a lone round (no neighbour to draw a line to) as a dot.
    line += pen ? `L${x} ${y}` : `M${x} ${y}h0.01`;
    pen = true;
  });
  return { line, fails, maxMs, failed: values.filter((v) => v === null).length };
}
