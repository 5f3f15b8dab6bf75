import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import http from "node:http";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { afterEach, describe, expect, it } from "vitest";
import { closeApis, standInConfig, standInDaemon, startApi } from "../../test/fixtures/api-stand-in.js";
import { assetReply, CONSOLE_CSP, CONSOLE_DIR, pickEncoding } from "./assets.js";

// The console's files as medic serves them (from dist/console: npm run build writes it).

afterEach(closeApis);

/** A GET with the headers given and no decoding: status, headers and the bytes as sent. */
function rawGet(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      })
      .on("error", reject);
  });
}

describe("the console's files", () => {
  it("serves the page at / with a strict policy, and never from elsewhere: every URL in it is relative", async () => {
    const { url } = await startApi(await standInConfig({ token: true }), standInDaemon());
    // The page and its files are open even with a token: the data behind them is not.
    const page = await rawGet(`${url}/`);
    expect(page.status).toBe(200);
    expect(page.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(page.headers["content-security-policy"]).toBe(CONSOLE_CSP);
    expect(CONSOLE_CSP).toMatch(/^default-src 'self';/);
    expect(CONSOLE_CSP).not.toContain("unsafe");
    expect(page.headers["cache-control"]).toBe("no-cache");
    expect(page.headers["x-content-type-options"]).toBe("nosniff");
    const html = page.body.toString("utf8");
    const urls = [...html.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((m) => m[1]!);
    expect(urls.slice(0, 3)).toEqual(["console/favicon.svg", "console/console.css", "console/main.js"]);
    // Then a preload link per module the page imports (main.js's imports, and theirs): none left out.
    const imported = new Set<string>();
    const crawl = (name: string): void => {
      for (const m of readFileSync(join(CONSOLE_DIR, name), "utf8").matchAll(/\bfrom\s*"\.\/([\w-]+\.js)"/g)) {
        if (imported.has(m[1]!)) continue;
        imported.add(m[1]!);
        crawl(m[1]!);
      }
    };
    crawl("main.js");
    expect([...imported]).toEqual(expect.arrayContaining(["app.js", "preact.js", "preact-hooks.js"]));
    expect(urls.slice(3).sort()).toEqual([...imported].map((n) => `console/${n}`).sort());
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect((await rawGet(`${url}/api/targets`)).status).toBe(401);
  });

  it("answers HEAD / with the page's headers and no body", async () => {
    const { url } = await startApi(await standInConfig(), standInDaemon());
    const res = await fetch(`${url}/`, { method: "HEAD" });
    expect([res.status, res.headers.get("content-type"), await res.text()]).toEqual([200, "text/html; charset=utf-8", ""]);
  });

  it("every module asks the API by a relative path, and fetches nothing from another host", () => {
    for (const name of readdirSync(CONSOLE_DIR).filter((n) => n.endsWith(".js"))) {
      const text = readFileSync(join(CONSOLE_DIR, name), "utf8");
      expect([name, /["'`]\/api\//.test(text)]).toEqual([name, false]);
      expect([name, /\bfetch\(\s*["'`](?:https?:)?\/\//.test(text)]).toEqual([name, false]);
      // Imports are relative files of the console itself (a browser resolves no bare name).
      for (const m of text.matchAll(/(?:^|;)\s*(?:import|export)\b[^;"']*?\bfrom\s*"([^"]+)"/gm))
        expect([name, m[1]]).toEqual([name, expect.stringMatching(/^\.\/[\w-]+\.js$/)]);
    }
  });

  it.each([
    ["br", "br"],
    ["gzip, deflate", "gzip"],
    ["gzip, br;q=0", "gzip"],
    ["", undefined],
  ])("compresses for Accept-Encoding %j, with the right type and a validator per coding", async (accept, coding) => {
    const { url } = await startApi(await standInConfig(), standInDaemon());
    const res = await rawGet(`${url}/console/preact.js`, accept ? { "accept-encoding": accept } : {});
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(res.headers["content-encoding"]).toBe(coding);
    expect(res.headers.vary).toBe("accept-encoding");
    const original = readFileSync(join(CONSOLE_DIR, "preact.js"));
    const body = coding === "br" ? brotliDecompressSync(res.body) : coding === "gzip" ? gunzipSync(res.body) : res.body;
    expect(body.equals(original)).toBe(true);
    if (coding) expect(res.body.length).toBeLessThan(original.length / 2);
    expect(Number(res.headers["content-length"])).toBe(res.body.length);
    const again = await rawGet(`${url}/console/preact.js`, {
      ...(accept && { "accept-encoding": accept }),
      "if-none-match": res.headers.etag!,
    });
    expect([again.status, again.body.length, again.headers["content-length"]]).toEqual([304, 0, undefined]);
  });

  it.each([
    ["/console/index.html", "the console's page is at /"],
    ["/console/nope.js", 'the console has no file "nope.js"'],
    ["/console/..%2Fpackage.json", 'the console has no file "../package.json"'],
    ["/console/tsconfig.json", 'the console has no file "tsconfig.json"'],
  ])("refuses %s with a 404 that says where to go", async (path, error) => {
    const { url } = await startApi(await standInConfig(), standInDaemon());
    const res = await rawGet(`${url}${path}`);
    expect(res.status).toBe(404);
    expect(JSON.parse(res.body.toString()).error).toBe(error);
  });

  it("says how to build the console when it is not there", () => {
    expect(() => assetReply("index.html", {}, "/nonexistent/console")).toThrow("the web console is not built into this medic");
  });
});

describe("pickEncoding", () => {
  it.each([
    ["gzip, deflate, br", 10_000, "br"],
    ["gzip;q=1.0, br;q=0", 10_000, "gzip"],
    ["*", 10_000, "br"],
    ["*;q=0, gzip", 10_000, "gzip"],
    ["identity", 10_000, "identity"],
    [undefined, 10_000, "identity"],
    ["br", 100, "identity"],
  ] as const)("%j for %d bytes -> %s", (header, size, want) => {
    expect(pickEncoding(header, size)).toBe(want);
  });
});
