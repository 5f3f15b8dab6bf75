import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readRegularFile, readRegularFileSync } from "./regular-file.js";

const dir = mkdtempSync(join(tmpdir(), "medic-regular-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const fifo = join(dir, "fifo");
execFileSync("mkfifo", [fifo]);
const plain = join(dir, "plain.yaml");
writeFileSync(plain, "a: 1\n", { mode: 0o640 });
const big = join(dir, "big");
writeFileSync(big, "");
truncateSync(big, 2048); // sparse: no disk used

describe.each([
  ["readRegularFile", readRegularFile],
  ["readRegularFileSync", readRegularFileSync],
])("%s", (_name, read) => {
  it("reads a regular file, with its mode", async () => {
    expect(await read(plain, 100)).toEqual({ ok: true, text: "a: 1\n", mode: expect.any(Number) });
    const got = await read(plain, 100);
    expect(got.ok && got.mode & 0o777).toBe(0o640);
  });

  it.each([
    ["a FIFO, without waiting for a writer", fifo, "ENOTREG", "a named pipe (FIFO)"],
    ["/dev/zero, without reading it", "/dev/zero", "ENOTREG", "a character device"],
    ["a directory", dir, "ENOTREG", "a directory"],
    ["a file longer than the cap", big, "EFBIG", "larger than 1024 bytes"],
    ["a missing file", join(dir, "nope"), "ENOENT", "file not found"],
  ])("refuses %s", async (_what, path, code, reason) => {
    const got = await read(path, 1024);
    expect(got.ok).toBe(false);
    if (!got.ok) {
      expect(got.problem.code).toBe(code);
      expect(got.problem.reason).toContain(reason);
    }
  });

  it("counts what it reads: a /proc file claims to be empty but is not", async () => {
    expect((await read("/proc/self/status", 1 << 20)).ok).toBe(true);
    const capped = await read("/proc/self/status", 10);
    expect(capped.ok ? "read" : capped.problem.code).toBe("EFBIG");
  });
});
