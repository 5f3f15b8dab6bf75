import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { removeTrees, writeTree } from "../../test/fixtures/config-tmp.js";
import { MedicError } from "../lib/errors.js";
import { bearerMatches, isLoopback, readToken } from "./auth.js";

afterEach(removeTrees);

const TOKEN = "0123456789abcdef0123456789abcdef";

describe("bearerMatches", () => {
  it.each([
    [`Bearer ${TOKEN}`, true],
    [`bearer   ${TOKEN}`, true],
    [`Bearer ${TOKEN}x`, false],
    [`Bearer ${TOKEN.slice(0, -1)}`, false],
    [`Basic ${TOKEN}`, false],
    [TOKEN, false],
    ["Bearer ", false],
    [undefined, false],
  ])("%s -> %s", (header, ok) => {
    expect(bearerMatches(header, TOKEN)).toBe(ok);
  });
});

describe("isLoopback", () => {
  it.each([
    ["127.0.0.1", true],
    ["127.1.2.3", true],
    ["::1", true],
    ["localhost", true],
    ["::ffff:127.0.0.1", true],
    ["0.0.0.0", false],
    ["::", false],
    ["10.0.0.5", false],
    ["medic.example.com", false],
    ["127.0.0.1.example.com", false],
  ])("%s -> %s", (host, loopback) => {
    expect(isLoopback(host)).toBe(loopback);
  });
});

describe("readToken", () => {
  it("reads the token without its newline, and says when others may read the file", async () => {
    const dir = await writeTree({ token: `${TOKEN}\n` });
    const file = join(dir, "token");
    chmodSync(file, 0o600);
    expect(readToken(file)).toEqual({ token: TOKEN, loose: false });
    chmodSync(file, 0o644);
    expect(readToken(file).loose).toBe(true);
  });

  it("refuses a missing file, and a short or two-word token, naming the file", async () => {
    const dir = await writeTree({});
    const file = join(dir, "token");
    expect(() => readToken(file)).toThrow(MedicError);
    expect(() => readToken(file)).toThrow(`cannot read the API token file ${file}`);
    writeFileSync(file, "short\n");
    expect(() => readToken(file)).toThrow(/must be one word of at least 16 characters \(it has 5\)/);
    writeFileSync(file, `${TOKEN} ${TOKEN}`);
    expect(() => readToken(file)).toThrow(/one word/);
  });
});
