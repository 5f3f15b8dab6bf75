// Plain SVG for the bench's charts: scales with ticks, axes, a legend, lines with points and strip plots, laid out as
// panels of one figure. No dependency. Every string that reaches the document goes through escapeXml, and every axis
// starts where its first tick says (a value axis at 0 unless the caller says otherwise; a log axis says so in its label).

const FONT = "DejaVu Sans, Helvetica, Arial, sans-serif";
/** Average width of a character as a share of the font size (DejaVu Sans is wide); used to lay out text without metrics. */
const CHAR_EM = 0.62;
/** Colours that stay apart for the colour-blind (Okabe and Ito). */
export const PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"];

/** Escapes a value for an XML text node or attribute, dropping the control characters XML 1.0 forbids. */
export function escapeXml(value) {
  return String(value)
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, "")
    .replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[c]);
}

const num = (x) => String(Math.round(x * 10) / 10);

/** One element: attributes with a null or undefined value are left out; children are SVG already. */
export function el(name, attrs = {}, children = "") {
  const a = Object.entries(attrs)
    .filter(([, v]) => v !== undefined && v !== null)
    .map(([k, v]) => ` ${k}="${escapeXml(typeof v === "number" ? num(v) : v)}"`)
    .join("");
  return children === "" ? `<${name}${a}/>` : `<${name}${a}>${children}</${name}>`;
}

/** A text element; `content` is plain text (escaped here). */
export function text(x, y, content, { size = 12, anchor = "start", weight, fill = "#222", rotate } = {}) {
  return el(
    "text",
    {
      x,
      y,
      "font-size": size,
      "text-anchor": anchor,
      "font-weight": weight,
      fill,
      transform: rotate ? `rotate(${rotate} ${num(x)} ${num(y)})` : undefined,
    },
    escapeXml(content),
  );
}

/** Estimated width in pixels of a line of text at a font size. */
export function textWidth(content, size = 12) {
  return String(content).length * size * CHAR_EM;
}

/** Splits text into lines of at most `width` pixels at a font size, at spaces. */
export function wrapText(content, width, size = 12) {
  const max = Math.max(10, Math.floor(width / (size * CHAR_EM)));
  const lines = [];
  let line = "";
  for (const word of String(content).split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > max) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** A tick step of 1, 2, 2.5 or 5 × 10^k near `raw`. */
function niceStep(raw) {
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= raw * 0.999);
}

/** Formats a tick value with as many decimals as its step has, and thousands separators. */
export function formatNumber(v, step = v) {
  const digits = String(Number(Math.abs(step).toPrecision(6))).split(".")[1] ?? "";
  const d = Math.min(6, digits.length);
  return v.toLocaleString("en", { minimumFractionDigits: d, maximumFractionDigits: d });
}

/**
 * A linear scale from [min, max] to pixels [r0, r1], its top rounded up to a tick so the axis ends on one.
 * Returns a function with `ticks` ({value, label}[]) and `domain`.
 */
export function linearScale([min, max], [r0, r1], { count = 5 } = {}) {
  const top = max > min ? max : min + 1;
  const step = niceStep((top - min) / count);
  const lo = Math.floor(min / step + 1e-9) * step;
  const hi = Math.ceil(top / step - 1e-9) * step;
  const f = (v) => r0 + ((v - lo) / (hi - lo)) * (r1 - r0);
  f.domain = [lo, hi];
  f.ticks = [];
  for (let v = lo; v <= hi + step / 2; v += step) {
    const value = Number(v.toPrecision(12));
    f.ticks.push({ value, label: formatNumber(value, step) });
  }
  return f;
}

/** A base-10 log scale from [min, max] (both > 0) to pixels, ticks at 1, 2 and 5 × 10^k (only 10^k when those crowd). */
export function logScale([min, max], [r0, r1]) {
  const lo = Math.log10(min),
    hi = Math.log10(max > min ? max : min * 10);
  const f = (v) => r0 + ((Math.log10(v) - lo) / (hi - lo)) * (r1 - r0);
  f.domain = [10 ** lo, 10 ** hi];
  const within = (ms) => {
    const out = [];
    for (let k = Math.floor(lo); k <= Math.ceil(hi); k++)
      for (const m of ms) {
        const v = Number((m * 10 ** k).toPrecision(12));
        if (v >= f.domain[0] * 0.999 && v <= f.domain[1] * 1.001) out.push(v);
      }
    return out;
  };
  const values = within([1, 2, 5]).length <= 8 ? within([1, 2, 5]) : within([1]);
  f.ticks = values.map((value) => ({ value, label: formatNumber(value, value) }));
  f.log = true;
  return f;
}

/**
 * Axes around a plot area {x, y, width, height}: a frame on the left and bottom, light grid lines at the y ticks,
 * tick labels, and the axis labels (units belong in them). `xTicks` are {at (pixels), label} with "\n" for a second line.
 */
export function axes({ area, y, xTicks, xLabel, yLabel }) {
  const { x: left, y: top, width, height } = area;
  const bottom = top + height;
  const parts = [];
  for (const t of y.ticks) {
    const py = y(t.value);
    parts.push(el("line", { x1: left, x2: left + width, y1: py, y2: py, stroke: "#e3e3e3" }));
    parts.push(el("line", { x1: left - 4, x2: left, y1: py, y2: py, stroke: "#444" }));
    parts.push(text(left - 7, py + 4, t.label, { size: 11, anchor: "end" }));
  }
  for (const t of xTicks) {
    parts.push(el("line", { x1: t.at, x2: t.at, y1: bottom, y2: bottom + 4, stroke: "#444" }));
    String(t.label)
      .split("\n")
      .forEach((line, i) => parts.push(text(t.at, bottom + 17 + i * 13, line, { size: 11, anchor: "middle" })));
  }
  const lines = Math.max(1, ...xTicks.map((t) => String(t.label).split("\n").length));
  parts.push(el("path", { d: `M${num(left)},${num(top)}V${num(bottom)}H${num(left + width)}`, fill: "none", stroke: "#444" }));
  if (xLabel) parts.push(text(left + width / 2, bottom + 22 + lines * 13, xLabel, { size: 12, anchor: "middle" }));
  const labelWidth = Math.max(0, ...y.ticks.map((t) => textWidth(t.label, 11)));
  if (yLabel) parts.push(text(left - labelWidth - 16, top + height / 2, yLabel, { size: 12, anchor: "middle", rotate: -90 }));
  return parts.join("");
}

/** Pixels a y axis needs on its left for tick labels and its label. */
export function yAxisWidth(y) {
  return Math.max(0, ...y.ticks.map((t) => textWidth(t.label, 11))) + 30;
}

/** Markers a legend entry can show. */
function mark(kind, x, y, color) {
  if (kind === "point") return el("circle", { cx: x + 9, cy: y, r: 3.5, fill: color, "fill-opacity": 0.55, stroke: color });
  if (kind === "dash") return el("line", { x1: x, x2: x + 18, y1: y, y2: y, stroke: color, "stroke-width": 2, "stroke-dasharray": "4 3" });
  const dashed = kind.startsWith("dash-");
  const line = el("line", {
    x1: x,
    x2: x + 18,
    y1: y,
    y2: y,
    stroke: color,
    "stroke-width": 2,
    "stroke-dasharray": dashed ? "4 3" : undefined,
  });
  return kind.endsWith("-point") ? line + el("circle", { cx: x + 9, cy: y, r: 3, fill: color }) : line;
}

/** A legend of {label, color, mark: point|line|line-point|dash|dash-point} entries in rows no wider than `width`. Returns {svg, height}. */
export function legend(items, { x, y, width }) {
  const parts = [];
  let cx = x,
    cy = y + 8;
  for (const item of items) {
    const w = 24 + textWidth(item.label, 11) + 16;
    if (cx > x && cx + w > x + width) {
      cx = x;
      cy += 17;
    }
    parts.push(mark(item.mark ?? "line-point", cx, cy, item.color), text(cx + 24, cy + 4, item.label, { size: 11 }));
    cx += w;
  }
  return { svg: parts.join(""), height: items.length ? cy - y + 12 : 0 };
}

/** A horizontal reference line across the plot area at value `value`, labelled at its right end. */
function refLine(area, y, { value, label }) {
  const py = y(value);
  return (
    el("line", { x1: area.x, x2: area.x + area.width, y1: py, y2: py, stroke: "#888", "stroke-dasharray": "6 4" }) +
    text(area.x + area.width - 4, py - 4, label, { size: 11, anchor: "end", fill: "#555" })
  );
}

/** Panel title, then the legend; returns the SVG and the y where the plot may start. */
function header(box, title, items) {
  let svg = "";
  let y = box.y + 4;
  for (const line of wrapText(title, box.width - 16, 13)) {
    y += 16;
    svg += text(box.x + 8, y, line, { size: 13, weight: "bold" });
  }
  const l = legend(items, { x: box.x + 8, y: y + 6, width: box.width - 16 });
  return { svg: svg + l.svg, top: y + 14 + l.height };
}

/**
 * A line chart in `box` {x, y, width, height}. Each series {label, color?, dash?, points: [[x, y]…], markers?, scatter?} is a
 * line through its points (sorted by x), with a dot at each unless `markers` is false, and a ring at each `scatter` point.
 * y starts at 0. x is linear from `xMin` (default: the smallest x, or 0 when all are the same) or, with `xLog`, base-10 log
 * (the caller says so in `xLabel`). `refLines`: [{value, label}].
 */
export function lineChart({ box, title, xLabel, yLabel, series, xLog = false, xMin, refLines = [] }) {
  const colored = series.map((s, i) => ({ ...s, color: s.color ?? PALETTE[i % PALETTE.length] }));
  const head = header(
    box,
    title,
    colored.map((s) => ({ label: s.label, color: s.color, mark: `${s.dash ? "dash" : "line"}${s.markers === false ? "" : "-point"}` })),
  );
  const all = colored.flatMap((s) => [...s.points, ...(s.scatter ?? [])]).filter(([px, py]) => Number.isFinite(px) && Number.isFinite(py));
  const xs = all.map(([px]) => px),
    ys = all.map(([, py]) => py).concat(refLines.map((r) => r.value));
  const bottomSpace = 52;
  const y = linearScale([0, Math.max(0, ...ys)], [box.y + box.height - bottomSpace, head.top + 6]);
  const area = { x: box.x + yAxisWidth(y), y: head.top + 6, width: 0, height: box.height - bottomSpace - (head.top + 6 - box.y) };
  area.width = box.x + box.width - 28 - area.x;
  const xRange = [area.x + 6, area.x + area.width - 6];
  const x = xLog
    ? logScale([Math.min(...xs), Math.max(...xs)], xRange)
    : linearScale([xMin ?? (new Set(xs).size > 1 ? Math.min(...xs) : 0), Math.max(...xs)], [area.x, area.x + area.width], { count: 6 });
  const parts = [head.svg, axes({ area, y, xTicks: x.ticks.map((t) => ({ at: x(t.value), label: t.label })), xLabel, yLabel })];
  for (const r of refLines) parts.push(refLine(area, y, r));
  for (const s of colored) {
    const pts = s.points.filter(([px, py]) => Number.isFinite(px) && Number.isFinite(py)).sort((a, b) => a[0] - b[0]);
    if (pts.length > 1)
      parts.push(
        el("polyline", {
          points: pts.map(([px, py]) => `${num(x(px))},${num(y(py))}`).join(" "),
          fill: "none",
          stroke: s.color,
          "stroke-width": 2,
          "stroke-linejoin": "round",
          "stroke-dasharray": s.dash ? "6 4" : undefined,
        }),
      );
    if (s.markers !== false) for (const [px, py] of pts) parts.push(el("circle", { cx: x(px), cy: y(py), r: 3.5, fill: s.color }));
    for (const [px, py] of s.scatter ?? [])
      if (Number.isFinite(px) && Number.isFinite(py))
        parts.push(el("circle", { cx: x(px), cy: y(py), r: 4, fill: "none", stroke: s.color }));
  }
  return parts.join("");
}

/** Spread of a strip's points across its band, the same on every run: the golden-ratio sequence in [-0.5, 0.5). */
const jitter = (i) => ((i * 0.6180339887) % 1) - 0.5;

/**
 * A strip plot in `box`: each group {label, color, values, stats: {median, p95}} gets a band with every value as a point,
 * and its median (solid) and p95 (dashed) as labelled horizontal marks. y starts at 0 and ends at the largest value, or at
 * `yMax` when that is lower: a value above the scale is a ▲ on its top edge and its group's label counts them and gives the
 * largest; a median or p95 above it is drawn on the edge with its true value. Values that are not finite are not drawn (the
 * caller says how many in the group's label). `refLines`: [{value, label}].
 */
export function stripChart({ box, title, yLabel, groups, refLines = [], yMax = Infinity, format = (v) => formatNumber(Math.round(v)) }) {
  const head = header(box, title, [
    { label: "one repetition", color: "#555", mark: "point" },
    { label: "median", color: "#555", mark: "line" },
    { label: "p95", color: "#555", mark: "dash" },
  ]);
  const values = groups.flatMap((g) => g.values).filter(Number.isFinite);
  const top = Math.min(yMax, Math.max(0, ...values, ...refLines.map((r) => r.value)));
  const draft = linearScale([0, top], [1, 0]);
  const above = (g) => g.values.filter((v) => v > draft.domain[1]);
  const labels = groups.map((g) =>
    above(g).length ? `${g.label}\n▲ ${above(g).length} above the scale\nlargest ${format(Math.max(...above(g)))}` : g.label,
  );
  const bottomSpace = 30 + 13 * Math.max(1, ...labels.map((l) => l.split("\n").length));
  const y = linearScale([0, top], [box.y + box.height - bottomSpace, head.top + 6]);
  const area = { x: box.x + yAxisWidth(y), y: head.top + 6, width: 0, height: box.height - bottomSpace - (head.top + 6 - box.y) };
  // The last band's labels (median, p95) need ~100 px right of its points: the bands put their points at a third of their width.
  area.width = box.x + box.width - 24 - area.x;
  const band = area.width / Math.max(1, groups.length);
  const onScale = (v) => y(Math.min(v, y.domain[1]));
  const parts = [head.svg, axes({ area, y, xTicks: groups.map((g, i) => ({ at: area.x + band * (i + 0.32), label: labels[i] })), yLabel })];
  for (const r of refLines.filter((r) => r.value <= y.domain[1])) parts.push(refLine(area, y, r));
  groups.forEach((g, i) => {
    const center = area.x + band * (i + 0.32);
    const spread = Math.min(50, band * 0.3);
    g.values.forEach((v, j) => {
      if (!Number.isFinite(v)) return;
      const cx = center + jitter(j) * spread;
      const style = { fill: g.color, "fill-opacity": 0.45, stroke: g.color };
      if (v <= y.domain[1]) parts.push(el("circle", { cx, cy: y(v), r: 3.5, ...style }));
      else parts.push(el("path", { d: `M${num(cx)},${num(area.y)}l-4.5,8h9z`, ...style }));
    });
    const x1 = center - spread / 2 - 6,
      x2 = center + spread / 2 + 6;
    const { median, p95 } = g.stats;
    if (!Number.isFinite(median)) return;
    const ym = onScale(median),
      yp = onScale(p95);
    parts.push(el("line", { x1, x2, y1: ym, y2: ym, stroke: "#222", "stroke-width": 2.5 }));
    parts.push(el("line", { x1, x2, y1: yp, y2: yp, stroke: "#222", "stroke-width": 1.5, "stroke-dasharray": "4 3" }));
    // The two labels keep 12 px apart when the marks nearly meet; p95 is never below the median.
    parts.push(text(x2 + 4, ym + 4, `median ${format(median)}`, { size: 11 }));
    parts.push(text(x2 + 4, Math.min(yp + 4, ym - 8), `p95 ${format(p95)}`, { size: 11 }));
  });
  return parts.join("");
}

/**
 * A figure: a title (and an optional subtitle, wrapped) over panels laid out in `columns`, each drawn by a function of its box.
 * Returns the SVG document.
 */
export function figure({ title, subtitle, panels, columns = panels.length, panelWidth = 460, panelHeight = 340 }) {
  const width = columns * panelWidth;
  let y = 8;
  let head = "";
  for (const line of wrapText(title, width - 24, 15)) {
    y += 19;
    head += text(12, y, line, { size: 15, weight: "bold" });
  }
  for (const line of subtitle ? wrapText(subtitle, width - 24, 12) : []) {
    y += 16;
    head += text(12, y, line, { size: 12, fill: "#555" });
  }
  const top = y + 8;
  const rows = Math.ceil(panels.length / columns);
  const height = top + rows * panelHeight;
  const body = panels
    .map((draw, i) =>
      draw({ x: (i % columns) * panelWidth, y: top + Math.floor(i / columns) * panelHeight, width: panelWidth, height: panelHeight }),
    )
    .join("");
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    el(
      "svg",
      { xmlns: "http://www.w3.org/2000/svg", width, height, viewBox: `0 0 ${width} ${height}`, "font-family": FONT },
      el("rect", { width, height, fill: "#ffffff" }) + head + body,
    ) +
    "\n"
  );
}
