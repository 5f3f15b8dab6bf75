import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "./harness.js";

// The shape STYLE.md asks for, checked on the source: stages know each other through types, never
// in a circle (type-only imports count: a cycle of types is a cycle of concepts), and lib/ is the
// small shared edge that knows nothing of medic.

const SRC = join(ROOT, "src");

/** Every non-test source file, relative to src/, with the src files it imports (type-only too). */
function importGraph(): Map<string, string[]> {
  // .tsx too: the web console's views (src/console) import each other like any other source.
  const files = readdirSync(SRC, { recursive: true, encoding: "utf8" }).filter((f) => /\.tsx?$/.test(f) && !/\.test\.tsx?$/.test(f));
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(join(SRC, file), "utf8");
    const specs = [
      ...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s+"(\.{1,2}\/[^"]+)"|\bimport\(\s*"(\.{1,2}\/[^"]+)"\s*\)/g),
    ].map((m) => m[1] ?? m[2]!);
    const deps = specs.map((s) => {
      const ts = relative(SRC, resolve(dirname(join(SRC, file)), s.replace(/\.js$/, ".ts")));
      return existsSync(join(SRC, ts)) || !existsSync(join(SRC, `${ts}x`)) ? ts : `${ts}x`;
    });
    graph.set(
      file,
      [...new Set(deps)].filter((d) => d !== file),
    );
  }
  return graph;
}

/** The import cycles: each strongly connected component of more than one file, as a path round it. */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const stack: string[] = [];
  const meta = new Map<string, { index: number; low: number; onStack: boolean }>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    meta.set(v, { index, low: index, onStack: true });
    index++;
    stack.push(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!meta.has(w)) {
        visit(w);
        meta.get(v)!.low = Math.min(meta.get(v)!.low, meta.get(w)!.low);
      } else if (meta.get(w)!.onStack) meta.get(v)!.low = Math.min(meta.get(v)!.low, meta.get(w)!.index);
    }
    if (meta.get(v)!.low !== meta.get(v)!.index) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      meta.get(w)!.onStack = false;
      component.push(w);
    } while (w !== v);
    if (component.length > 1) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!meta.has(v)) visit(v);
  return found;
}

describe("the source's shape", () => {
  const graph = importGraph();

  it("reads every source file and its imports", () => {
    expect(graph.size).toBeGreaterThan(100);
    expect(graph.get("daemon/app.ts")).toContain("lib/clock.ts");
    expect(graph.get("console/app.tsx")).toContain("console/fleet.tsx");
  });

  it("has no import cycle, type-only imports included", () => {
    expect(cycles(graph)).toEqual([]);
  });

  it("finds a cycle when there is one (the check itself works)", () => {
    expect(
      cycles(
        new Map([
          ["a.ts", ["b.ts"]],
          ["b.ts", ["c.ts"]],
          ["c.ts", ["a.ts"]],
          ["d.ts", ["a.ts"]],
        ]),
      ),
    ).toEqual([["a.ts", "b.ts", "c.ts"]]);
  });

  it("keeps lib/ free of the rest of medic", () => {
    const outside = [...graph]
      .filter(([file]) => file.startsWith("lib/"))
      .flatMap(([file, deps]) => deps.filter((d) => !d.startsWith("lib/")).map((d) => `${file} -> ${d}`));
    expect(outside).toEqual([]);
  });
});
