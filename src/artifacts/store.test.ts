import { createHash } from "node:crypto";
import { mkdtemp, readFile, readdir, rm, stat, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Redactor } from "../lib/redact.js";
import { isArtifactName } from "./names.js";
import { pruneArtifacts } from "./prune.js";
import { createArtifactSink, type ArtifactLimits } from "./store.js";

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function stateDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "medic-artifacts-"));
  dirs.push(d);
  return d;
}

const LIMITS: ArtifactLimits = { maxBytes: 64, incidentBytes: 100, totalBytes: 1000, retentionMs: 3600_000 };
const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

describe("ArtifactSink.save", () => {
  it("writes redacted text under the incident, 0600 in a 0700 folder, hashed as kept, with an excerpt", async () => {
    const sd = await stateDir();
    const redactor = new Redactor();
    redactor.add(["hunter2-token"]);
    const sink = createArtifactSink({ stateDir: sd, incident: "abcd1234", limits: LIMITS, redactor });
    const ref = await sink.save("logs", "line one\nauth hunter2-token ok\n");
    expect(ref).toMatchObject({ name: "logs-1.txt", path: "artifacts/abcd1234/logs-1.txt", truncated: false });
    const kept = await readFile(join(sd, ref.path));
    expect(kept.toString()).toBe("line one\nauth [secret] ok\n");
    expect(ref.bytes).toBe(kept.length);
    expect(ref.sha256).toBe(sha(kept));
    expect(ref.excerpt).toBe("line one\nauth [secret] ok");
    expect((await stat(join(sd, ref.path))).mode & 0o777).toBe(0o600);
    expect((await stat(join(sd, "artifacts/abcd1234"))).mode & 0o777).toBe(0o700);
    expect((await stat(join(sd, "artifacts"))).mode & 0o777).toBe(0o700);
    expect(await readdir(join(sd, "artifacts/abcd1234"))).toEqual(["logs-1.txt"]);
  });

  it("numbers names per incident across stems, also after a restart (a new sink), and twice at once", async () => {
    const sd = await stateDir();
    const sink = createArtifactSink({ stateDir: sd, incident: "i1", limits: LIMITS });
    expect((await sink.save("logs", "a")).name).toBe("logs-1.txt");
    expect((await sink.save("heap", Buffer.from([0, 1]), { binary: true, ext: "heapsnapshot" })).name).toBe("heap-2.heapsnapshot");
    const again = createArtifactSink({ stateDir: sd, incident: "i1", limits: LIMITS });
    const both = await Promise.all([again.save("logs", "b"), again.save("logs", "c")]);
    expect(both.map((r) => r.name).sort()).toEqual(["logs-3.txt", "logs-4.txt"]);
    expect((await createArtifactSink({ stateDir: sd, incident: "i2", limits: LIMITS }).save("logs", "d")).name).toBe("logs-1.txt");
    for (const r of both) expect(isArtifactName(r.name)).toBe(true);
  });

  it("keeps a log's tail from a line start, a dump's head, and says it was cut", async () => {
    const sd = await stateDir();
    const sink = createArtifactSink({ stateDir: sd, incident: "i1", limits: { ...LIMITS, incidentBytes: 1000 } });
    const lines = Array.from({ length: 20 }, (_, i) => `line ${i}`).join("\n") + "\n";
    const tail = await sink.save("logs", lines, { keep: "tail" });
    const kept = (await readFile(join(sd, tail.path))).toString();
    expect(tail.truncated).toBe(true);
    expect(kept.endsWith("line 19\n")).toBe(true);
    expect(kept.startsWith("line ")).toBe(true);
    expect(kept.length).toBeLessThanOrEqual(64);
    expect(tail.excerpt!.split("\n").at(-1)).toBe("line 19");
    const head = await sink.save("dump", Buffer.alloc(200, 7), { binary: true });
    expect(head).toMatchObject({ bytes: 64, truncated: true, sha256: sha(Buffer.alloc(64, 7)) });
    expect(head.excerpt).toBeUndefined();
  });

  it("never cuts a UTF-8 character in half", async () => {
    const sd = await stateDir();
    const sink = createArtifactSink({ stateDir: sd, incident: "i1", limits: LIMITS });
    const ref = await sink.save("text", "é".repeat(40));
    const kept = await readFile(join(sd, ref.path));
    expect(kept.length).toBe(64);
    expect(kept.toString("utf8")).toBe("é".repeat(32));
  });

  it("cuts the last artifact to what the incident has left, then refuses with a clear error", async () => {
    const sd = await stateDir();
    const sink = createArtifactSink({ stateDir: sd, incident: "i1", limits: LIMITS });
    await sink.save("a", "x".repeat(64));
    const second = await sink.save("b", "y".repeat(64));
    expect(second).toMatchObject({ bytes: 36, truncated: true });
    await expect(sink.save("c", "z")).rejects.toMatchObject({
      code: "ARTIFACTS_FULL",
      message: expect.stringContaining("incident i1 already keeps 100 bytes"),
      hint: expect.stringContaining("artifacts.incidentBytes"),
    });
    expect((await readdir(join(sd, "artifacts/i1"))).sort()).toEqual(["a-1.txt", "b-2.txt"]);
  });

  it("refuses a stem or extension that could make a path, and an incident id that is not one", async () => {
    const sd = await stateDir();
    const sink = createArtifactSink({ stateDir: sd, incident: "i1", limits: LIMITS });
    await expect(sink.save("../x", "a")).rejects.toMatchObject({ code: "ARTIFACT_NAME" });
    await expect(sink.save("logs", "a", { ext: "txt/../../x" })).rejects.toMatchObject({ code: "ARTIFACT_NAME" });
    expect(() => createArtifactSink({ stateDir: sd, incident: "../etc", limits: LIMITS })).toThrow(/not an incident id/);
  });
});

describe("ArtifactSink.adopt", () => {
  it("moves a dump in, hashes it, and leaves nothing behind", async () => {
    const sd = await stateDir();
    const src = await stateDir();
    const dump = join(src, "Heap.1.heapsnapshot");
    const body = Buffer.from(JSON.stringify({ snapshot: { node_count: 3 } }));
    await writeFile(dump, body, { mode: 0o644 });
    const sink = createArtifactSink({ stateDir: sd, incident: "i1", limits: LIMITS });
    const ref = await sink.adopt("heap", dump, { ext: "heapsnapshot" });
    expect(ref).toMatchObject({ name: "heap-1.heapsnapshot", bytes: body.length, sha256: sha(body), truncated: false });
    expect(ref.excerpt).toBeUndefined();
    expect(await readFile(join(sd, ref.path))).toEqual(body);
    expect((await stat(join(sd, ref.path))).mode & 0o777).toBe(0o600);
    await expect(stat(dump)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("copies the head of a dump larger than the cap and leaves the whole one where it was", async () => {
    const sd = await stateDir();
    const src = await stateDir();
    const dump = join(src, "big.dump");
    await writeFile(dump, Buffer.alloc(300, 9));
    const ref = await createArtifactSink({ stateDir: sd, incident: "i1", limits: LIMITS }).adopt("heap", dump);
    expect(ref).toMatchObject({ bytes: 64, truncated: true, sha256: sha(Buffer.alloc(64, 9)) });
    expect((await stat(dump)).size).toBe(300);
  });

  it("refuses a symlink (a service cannot point medic at /etc/shadow)", async () => {
    const sd = await stateDir();
    const src = await stateDir();
    await writeFile(join(src, "secret"), "s3cret");
    await symlink(join(src, "secret"), join(src, "dump"));
    await expect(
      createArtifactSink({ stateDir: sd, incident: "i1", limits: LIMITS }).adopt("heap", join(src, "dump")),
    ).rejects.toMatchObject({
      code: "ELOOP",
    });
    expect(await readdir(join(sd, "artifacts/i1"))).toEqual([]);
  });
});

describe("pruneArtifacts", () => {
  async function incidentWith(sd: string, id: string, bytes: number, ageMs: number, now: number): Promise<void> {
    const ref = await createArtifactSink({
      stateDir: sd,
      incident: id,
      limits: { ...LIMITS, maxBytes: 1000, incidentBytes: 1000, totalBytes: 1e9 },
    }).save("x", "x".repeat(bytes));
    const t = new Date(now - ageMs);
    await utimes(join(sd, ref.path), t, t);
    await utimes(join(sd, "artifacts", id), t, t);
  }

  it("removes closed incidents past the retention, then the oldest until under the total, never an open one", async () => {
    const sd = await stateDir();
    const now = Date.now();
    const H = 3600_000;
    await incidentWith(sd, "expired", 10, 2 * H, now);
    await incidentWith(sd, "openold", 400, 3 * H, now);
    await incidentWith(sd, "oldest", 400, 50 * 60_000, now);
    await incidentWith(sd, "middle", 400, 40 * 60_000, now);
    await incidentWith(sd, "newest", 100, 60_000, now);
    const out = await pruneArtifacts(sd, { totalBytes: 1000, retentionMs: H }, new Set(["openold"]), now);
    expect(out.removed).toEqual([
      { incident: "expired", bytes: 10, reason: "retention" },
      { incident: "oldest", bytes: 400, reason: "total" },
    ]);
    expect(out.keptBytes).toBe(900);
    expect((await readdir(join(sd, "artifacts"))).sort()).toEqual(["middle", "newest", "openold"]);
    expect(await pruneArtifacts(sd, { totalBytes: 1000, retentionMs: H }, new Set(["openold"]), now)).toEqual({
      removed: [],
      keptBytes: 900,
    });
  });

  it("a capture never takes the total past its cap, even when every incident is open (pruning frees only closed ones)", async () => {
    const sd = await stateDir();
    const sink = (incident: string) =>
      createArtifactSink({ stateDir: sd, incident, limits: { ...LIMITS, maxBytes: 1000, incidentBytes: 1000, totalBytes: 1000 } });
    expect((await sink("first").save("x", "a".repeat(800))).bytes).toBe(800);
    expect(await sink("second").save("x", "b".repeat(800))).toMatchObject({ bytes: 200, truncated: true });
    await expect(sink("third").save("x", "c")).rejects.toThrow(/total cap \(artifacts\.totalBytes 1000\)/);
  });

  it("does nothing without an artifacts folder", async () => {
    expect(await pruneArtifacts(await stateDir(), { totalBytes: 1, retentionMs: 1 }, new Set(), Date.now())).toEqual({
      removed: [],
      keptBytes: 0,
    });
  });
});

describe("ArtifactSink.adopt with redact", () => {
  it("redacts a text dump (a V8 heap snapshot is JSON) and removes the original; keeps a binary one as it is", async () => {
    const sd = await stateDir();
    const src = await stateDir();
    const redactor = new Redactor();
    redactor.add(["db-password-123"]);
    const sink = createArtifactSink({ stateDir: sd, incident: "i1", limits: { ...LIMITS, maxBytes: 1000, incidentBytes: 1000 }, redactor });
    await writeFile(join(src, "Heap.1.heapsnapshot"), '{"strings":["postgres://u:db-password-123@db/x"]}');
    const ref = await sink.adopt("heap", join(src, "Heap.1.heapsnapshot"), { ext: "heapsnapshot", redact: true });
    const kept = await readFile(join(sd, ref.path), "utf8");
    expect(kept).toBe('{"strings":["postgres://u:[secret]@db/x"]}');
    expect(JSON.parse(kept)).toEqual({ strings: ["postgres://u:[secret]@db/x"] });
    expect(ref.sha256).toBe(sha(kept));
    await expect(stat(join(src, "Heap.1.heapsnapshot"))).rejects.toMatchObject({ code: "ENOENT" });
    const binary = Buffer.from([0xff, 0xfe, 0x00, 0x01]);
    await writeFile(join(src, "core.bin"), binary);
    const b = await sink.adopt("core", join(src, "core.bin"), { redact: true });
    expect(await readFile(join(sd, b.path))).toEqual(binary);
  });
});
