import { describe, expect, it } from "vitest";
import { z } from "zod";
import { httpProbe, showUrl } from "./http.js";

const parse = (input: unknown) => httpProbe.schema.safeParse(input);
const messages = (input: unknown) => parse(input).error?.issues.map((i) => i.message) ?? [];

describe("http probe params", () => {
  it("applies defaults", () => {
    expect(httpProbe.schema.parse({ url: "http://127.0.0.1:8000/health" })).toEqual({
      url: "http://127.0.0.1:8000/health", method: "GET", headers: {}, maxBodyBytes: 1024 * 1024,
    });
  });

  it("accepts every field, sizes with units", () => {
    const p = httpProbe.schema.parse({ url: "https://h/x", method: "HEAD", headers: { "X-Key": "v" }, expectStatus: [200, 204], maxBodyBytes: "64KiB" });
    expect(p.maxBodyBytes).toBe(65536);
    expect(p.expectStatus).toEqual([200, 204]);
  });

  it.each([
    ["no scheme", { url: "localhost:8000" }, /http\(s\) URL/],
    ["a template", { url: "http://{{host}}/health" }, /not templates/],
    ["unparseable", { url: "http://[zz/health" }, /not templates|http\(s\) URL/],
    ["an unknown field", { url: "http://h/", timeout: "3s" }, /Unrecognized key/i],
    ["a bad method", { url: "http://h/", method: "DELETE" }, /./],
    ["a status out of range", { url: "http://h/", expectStatus: [700] }, /./],
    ["a header value with a line break", { url: "http://h/", headers: { "X-A": "a\r\nX-Evil: 1" } }, /line breaks/],
    ["a header name with a space", { url: "http://h/", headers: { "X A": "a" } }, /not an HTTP token/],
    ["a bad size", { url: "http://h/", maxBodyBytes: "lots" }, /not a size/],
  ])("rejects %s with one clear message", (_, input, pattern) => {
    const got = messages(input);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatch(pattern);
  });

  it("describes the request without userinfo or query string", () => {
    const params = httpProbe.schema.parse({ url: "http://user:s3cret@127.0.0.1:8000/health?token=abc#x", method: "HEAD" });
    const text = httpProbe.describe(params);
    expect(text).toBe("HEAD http://127.0.0.1:8000/health");
    expect(showUrl(new URL("https://a:b@example.com/p?q=1"))).toBe("https://example.com/p");
  });

  it("is representable as JSON Schema for editors, with descriptions", () => {
    const schema = z.toJSONSchema(httpProbe.schema, { io: "input" }) as { properties: Record<string, { description?: string }>; required: string[]; additionalProperties: boolean };
    expect(schema.required).toEqual(["url"]);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.url?.description).toMatch(/URL/);
    expect(schema.properties.maxBodyBytes?.description).toBeTruthy();
  });
});
