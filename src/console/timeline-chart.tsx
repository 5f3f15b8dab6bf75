import { h } from "./preact.js";
import { layoutTimeline } from "./timeline-layout.js";
import type { IncidentDetail } from "./types.js";

const WIDTH = 960;
const LEFT = 110;
const AXIS = WIDTH - LEFT - 20;
const ROW = 22;
const TOP = 24;

const LANE_NAMES: Record<string, string> = {
  incident: "Incident",
  guards: "Guards",
  approval: "Approval",
  steps: "Steps",
  verification: "Verification",
  notifications: "Notifications",
};

/**
 * The incident as a picture on a time axis: opened → guards → steps with their durations →
 * verification → notifications → resolved. Every mark has a tooltip with its journal line; the
 * list of records beside it says the same in text.
 */
export function TimelineChart({ detail, now }: { detail: IncidentDetail; now: number }) {
  const layout = layoutTimeline(detail, now);
  let y = TOP;
  const lanes = layout.lanes.map((lane) => {
    const top = y;
    y += lane.rows * ROW + 8;
    return { lane, top };
  });
  const height = y + 4;
  const x = (f: number) => LEFT + f * AXIS;
  const summary = `Timeline of incident ${detail.id}: ${layout.lanes.map((l) => `${LANE_NAMES[l.name] ?? l.name}: ${l.marks.map((m) => m.label).join(", ")}`).join("; ")}`;
  return (
    <svg class="timeline" viewBox={`0 0 ${WIDTH} ${height}`} role="img" aria-label={summary} data-testid="timeline-chart">
      {layout.ticks.map((t) => (
        <g class="tick">
          <line x1={x(t.at)} x2={x(t.at)} y1={TOP - 6} y2={height} />
          <text x={x(t.at)} y={TOP - 10} text-anchor="middle">
            {t.label}
          </text>
        </g>
      ))}
      {lanes.map(({ lane, top }) => (
        <g class={`lane lane-${lane.name}`} data-lane={lane.name}>
          <text class="lane-name" x={LEFT - 8} y={top + 15} text-anchor="end">
            {LANE_NAMES[lane.name] ?? lane.name}
          </text>
          <line class="lane-rule" x1={LEFT} x2={WIDTH - 20} y1={top + lane.rows * ROW + 3} y2={top + lane.rows * ROW + 3} />
          {lane.marks.map((m) => {
            const my = top + m.row * ROW;
            const x1 = x(m.from);
            const bar = m.to !== undefined;
            const w = bar ? Math.max(3, x(m.to!) - x1) : 0;
            return (
              <g class={`mark tone-${m.tone}`}>
                <title>{m.title}</title>
                {bar ? <rect x={x1} y={my + 4} width={w} height={ROW - 8} rx="2" /> : <circle cx={x1} cy={my + ROW / 2} r="5" />}
                <text
                  x={m.flip ? (bar ? x1 + w - 4 : x1 - 8) : bar ? x1 + 4 : x1 + 8}
                  y={my + ROW / 2 + 4}
                  text-anchor={m.flip ? "end" : "start"}
                  class="mark-label"
                >
                  {m.label}
                </text>
              </g>
            );
          })}
        </g>
      ))}
      {layout.now !== undefined && <line class="now" x1={x(layout.now)} x2={x(layout.now)} y1={TOP - 6} y2={height} />}
    </svg>
  );
}
