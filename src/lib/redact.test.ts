import { describe, expect, it } from "vitest";
import { Redactor } from "./redact.js";

describe("Redactor", () => {
  it("replaces a secret whole and as a substring, longest first", () => {
    const r = new Redactor();
    r.add(["s3cr3t-token", "s3cr3t"]);
    expect(r.text("GET /admin/s3cr3t-token/reset?k=s3cr3t")).toBe("GET /admin/[secret]/reset?k=[secret]");
  });

  it.each([
    ["a URL path (space and slash encoded)", "p@ss w/rd!", (s: string) => new URL(`http://h/x/${encodeURIComponent(s)}`).href],
    [
      "URL userinfo as the URL parser writes it",
      "us:er@pa ss",
      (s: string) => {
        const u = new URL("http://h/");
        u.password = s;
        return u.href;
      },
    ],
    [
      "a query the URL parser encodes",
      "tok en#1",
      (s: string) => {
        const u = new URL("http://h/");
        u.searchParams.set("k", s);
        return u.href;
      },
    ],
    ["a raw query as written", 'tok"en<1>', (s: string) => new URL(`http://h/?k=${s}`).href],
    ["a JSON body", 'qu"o\\te', (s: string) => JSON.stringify({ token: s })],
    ["a JSON body quoted in a JSON log line", 'qu"o\\te', (s: string) => JSON.stringify({ msg: JSON.stringify({ token: s }) })],
    ["a form body", "a b&c=d", (s: string) => new URLSearchParams({ k: s }).toString()],
    ["non-ASCII in a path", "pässwörd", (s: string) => new URL(`http://h/${s}`).href],
  ])("finds a secret in %s", (_what, secret, write) => {
    const r = new Redactor();
    r.add([secret]);
    const out = r.text(write(secret));
    expect(out).toContain("[secret]");
    expect(out).not.toContain(secret);
    for (const form of [encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)]) expect(out).not.toContain(form);
  });

  it("redacts every string in a value and keeps untouched parts as they were", () => {
    const r = new Redactor();
    r.add(["hunter22"]);
    const clean = { n: 1, list: ["x"] };
    const value = { a: "pw=hunter22", nested: [{ b: "hunter22" }], clean, at: 5, none: null };
    const out = r.value(value);
    expect(out).toEqual({ a: "pw=[secret]", nested: [{ b: "[secret]" }], clean, at: 5, none: null });
    expect(out.clean).toBe(clean);
    expect(value.a).toBe("pw=hunter22");
    const untouched = { a: "nothing here" };
    expect(r.value(untouched)).toBe(untouched);
  });

  it("leaves values too short to redact alone, and survives a lone surrogate", () => {
    const r = new Redactor();
    r.add(["42", "", "\uD800abcd"]);
    expect(r.text("port 42 and \uD800abcd")).toBe("port 42 and [secret]");
  });

  it("keeps what it learned: a secret added later is redacted too", () => {
    const r = new Redactor();
    r.add(["first-secret"]);
    expect(r.text("first-secret second-secret")).toBe("[secret] second-secret");
    r.add(["second-secret"]);
    expect(r.text("first-secret second-secret")).toBe("[secret] [secret]");
  });
});
