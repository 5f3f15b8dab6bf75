/** At most this many bytes of a text artifact are quoted in the journal, the console and the postmortem. */
export const EXCERPT_BYTES = 1024;
const EXCERPT_LINES = 12;

/**
 * A few lines of already-redacted text: the first ones, or for a log tail the last ones (where the
 * trouble usually is), within EXCERPT_BYTES and never ending in half a character.
 */
export function excerptOf(text: string, keep: "head" | "tail"): string {
  const lines = text.replace(/\n$/, "").split("\n");
  const picked = keep === "tail" ? lines.slice(-EXCERPT_LINES) : lines.slice(0, EXCERPT_LINES);
  let out = picked.join("\n");
  if (Buffer.byteLength(out) <= EXCERPT_BYTES) return out;
  const bytes = Buffer.from(out, "utf8");
  out = keep === "tail" ? bytes.subarray(bytes.length - EXCERPT_BYTES).toString("utf8") : bytes.subarray(0, EXCERPT_BYTES).toString("utf8");
  // A cut character decodes to U+FFFD: drop it rather than quote a broken one.
  return keep === "tail" ? out.replace(/^\uFFFD+/, "") : out.replace(/\uFFFD+$/, "");
}
