import { h } from "./preact.js";

// A glyph per incident state, so that the state reads without its colour.
const ICON: Record<string, string> = {
  open: "⚠",
  held: "◔",
  suppressed: "↓",
  remediating: "↻",
  verifying: "…",
  escalated: "⚑",
  awaiting_approval: "⚑",
  approved: "✓",
  resolved: "✓",
};

/** An incident's state as a word with its glyph and colour. */
export function StateBadge({ state }: { state: string }) {
  return (
    <span class={`state istate-${state}`} data-state={state}>
      <span aria-hidden="true">{ICON[state] ?? "•"}</span> {state.replace(/_/g, " ")}
    </span>
  );
}
