import picomatch from "picomatch";

const matchers = new Map<string, (name: string) => boolean>();

/** Whether a name glob (`orders-*`) matches a name; each glob is compiled once. */
export function globMatches(glob: string, name: string): boolean {
  let m = matchers.get(glob);
  if (!m) matchers.set(glob, (m = picomatch(glob)));
  return m(name);
}
