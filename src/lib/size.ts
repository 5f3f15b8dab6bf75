/** Byte sizes as operators write them: `512`, `64KiB`, `1MiB`, `50MB`. */
const UNIT_BYTES: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/** Bytes for a size string or number; undefined when it is not one. */
export function parseBytes(value: string | number): number | undefined {
  if (typeof value === "number") return Number.isInteger(value) && value >= 0 ? value : undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value.trim());
  if (!m) return undefined;
  const unit = UNIT_BYTES[(m[2] || "b").toLowerCase()];
  return unit === undefined ? undefined : Math.round(Number(m[1]) * unit);
}

/** `256MiB`, `1GiB`, `1.5MiB`, `512B`. */
export function formatBytes(n: number): string {
  const units: [string, number][] = [
    ["GiB", 1024 ** 3],
    ["MiB", 1024 ** 2],
    ["KiB", 1024],
  ];
  for (const [unit, size] of units) if (n >= size) return `${Number((n / size).toFixed(1))}${unit}`;
  return `${n}B`;
}
