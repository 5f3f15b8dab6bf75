import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../lib/log.js";
import { openFileStore } from "../store/file/open.js";
import { StateDirWatch } from "./state-dir-watch.js";

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function watch(journal?: ConstructorParameters<typeof StateDirWatch>[0]["journal"], at?: string) {
  const base = mkdtempSync(join(tmpdir(), "medic-watch-"));
  dirs.push(base);
  const stateDir = at ?? join(base, "state");
  mkdirSync(stateDir, { recursive: true });
  const said: string[] = [];
  const paged: string[] = [];
  const w = new StateDirWatch({
    stateDir,
    log: createLogger({ level: "silent" }),
    ...(journal && { journal }),
    announce: (text) => said.push(text),
    page: async (key, event, summary) => void paged.push(`${event} ${key} ${summary}`),
  });
  return { w, stateDir, said, paged };
}

describe("StateDirWatch", () => {
  it("tells once when trouble starts and once when it ends, however often it looks", () => {
    const { w, stateDir, said, paged } = watch();
    expect(w.check(0)).toEqual([{ name: "state dir", ok: true, detail: `${stateDir} is writable` }]);
    rmSync(stateDir, { recursive: true });
    for (let t = 1; t <= 5; t++)
      expect(w.check(t * 1000)[0]).toMatchObject({ ok: false, detail: expect.stringMatching(/not writable.*ENOENT/) });
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(new RegExp(`cannot write its state dir ${stateDir}: .*not writable.*Hint: free space`));
    expect(paged).toEqual([expect.stringMatching(new RegExp(`^trigger medic:state-dir:${stateDir} `))]);
    mkdirSync(stateDir);
    for (let t = 6; t <= 8; t++) expect(w.check(t * 1000)[0]?.ok).toBe(true);
    expect(said).toHaveLength(2);
    expect(said[1]).toMatch(/takes writes again \(the trouble lasted 5s\)/);
    expect(paged.map((p) => p.split(" ")[0])).toEqual(["trigger", "resolve"]);
  });

  it("its tick writes a probe file every 10 s while all is well, and every tick while in trouble", () => {
    const { w, stateDir, said } = watch();
    w.tick(0);
    rmSync(stateDir, { recursive: true });
    w.tick(5_000);
    expect(said).toEqual([]);
    w.tick(10_000);
    expect(said).toHaveLength(1);
    mkdirSync(stateDir);
    w.tick(11_000);
    expect(said).toHaveLength(2);
    expect(said[1]).toMatch(/takes writes again \(the trouble lasted 1s\)/);
  });

  it("with the file store: once the deleted state dir is back, its check opens the journal there again with the live records", async () => {
    const stateDir = join(mkdtempSync(join(tmpdir(), "medic-watch-")), "state");
    dirs.push(join(stateDir, ".."));
    const store = await openFileStore({ stateDir, recentMs: 3600_000, maintainEveryMs: 0 });
    store.append("i1", { type: "opened", target: "web", kind: "server_down", severity: "P1", evidence: "refused" }, Date.now());
    await store.flushed();
    const { w, said } = watch(store, stateDir);
    rmSync(stateDir, { recursive: true });
    expect(w.check(1000).every((c) => c.ok)).toBe(false);
    mkdirSync(stateDir);
    expect(w.check(2000)).toEqual([{ name: "state dir", ok: true, detail: `${stateDir} is writable` }]);
    expect(said).toHaveLength(2);
    await store.close();
    const again = await openFileStore({ stateDir, recentMs: 3600_000, maintainEveryMs: 0 });
    expect(again.live().get("i1")?.state).toBe("open");
    await again.close();
  });
});
