import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { findPostgresBin } from "./postgres-server.js";

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
function tree(bins: string[]): string {
  const root = mkdtempSync(join(tmpdir(), "medic-pgbin-"));
  dirs.push(root);
  for (const b of bins) {
    mkdirSync(join(root, b), { recursive: true });
    for (const tool of ["pg_ctl", "initdb"]) writeFileSync(join(root, b, tool), "");
  }
  return root;
}

describe("findPostgresBin", () => {
  it("takes PATH first, then the newest of Debian's versions, then Red Hat's", () => {
    const root = tree(["path", "debian/13/bin", "debian/15/bin", "debian/9/bin", "pgsql-16/bin"]);
    const roots = { debian: join(root, "debian"), redhat: root };
    expect(findPostgresBin(`/nonexistent:${join(root, "path")}`, roots)).toBe(join(root, "path"));
    expect(findPostgresBin("/nonexistent", roots)).toBe(join(root, "debian/15/bin"));
    expect(findPostgresBin("", { debian: "/nonexistent", redhat: root })).toBe(join(root, "pgsql-16/bin"));
  });

  it("finds nothing where the server programs are not installed (the demo then says how to install them)", () => {
    const root = tree(["client-only"]);
    rmSync(join(root, "client-only", "initdb"));
    expect(findPostgresBin(join(root, "client-only"), { debian: join(root, "none"), redhat: join(root, "none") })).toBeUndefined();
  });
});
