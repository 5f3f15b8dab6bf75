// Reading config data that may not have passed the schema: cross-checks look only at well-formed parts.

/** The value as a mapping, or an empty one. */
export const record = (v: unknown): Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

/** The value as a list, or an empty one. */
export const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** The value as a list of strings, or undefined. */
export const strings = (v: unknown): string[] | undefined => (Array.isArray(v) && v.every((s) => typeof s === "string") ? v : undefined);
