import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { demuxDockerLog, looksMultiplexed } from "./docker-logs.js";
import { readTail } from "./tail.js";

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function file(text: string | Buffer): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "medic-tail-"));
  dirs.push(d);
  await writeFile(join(d, "f"), text);
  return join(d, "f");
}

describe("readTail", () => {
  it("keeps the last N lines, with or without a final newline, across chunk boundaries", async () => {
    const long = Array.from({ length: 40_000 }, (_, i) => `l${i}`).join("\n");
    expect((await readTail(await file(`${long}\n`), 3, 1 << 20)).data.toString()).toBe("l39997\nl39998\nl39999\n");
    expect((await readTail(await file(long), 2, 1 << 20)).data.toString()).toBe("l39998\nl39999");
    const whole = await readTail(await file("a\nb\n"), 10, 1 << 20);
    expect([whole.data.toString(), whole.cut]).toEqual(["a\nb\n", false]);
  });

  it("stops at the byte cap, reading no more than it from the end", async () => {
    const t = await readTail(await file("x".repeat(100_000) + "\nend\n"), 5, 10);
    expect([t.data.toString(), t.cut, t.sizeBytes]).toEqual(["x".repeat(5) + "\nend\n", true, 100_005]);
  });
});

describe("demuxDockerLog", () => {
  const frame = (stream: number, text: string) => {
    const payload = Buffer.from(text);
    const head = Buffer.alloc(8);
    head[0] = stream;
    head.writeUInt32BE(payload.length, 4);
    return Buffer.concat([head, payload]);
  };

  it("joins frames in order and marks stderr lines", () => {
    const raw = Buffer.concat([frame(1, "a\n"), frame(2, "oops\nworse\n"), frame(1, "b\n")]);
    expect(looksMultiplexed(raw)).toBe(true);
    expect(demuxDockerLog(raw)).toBe("a\nstderr: oops\nstderr: worse\nb\n");
    expect(looksMultiplexed(Buffer.from("plain tty text\n"))).toBe(false);
  });
});
