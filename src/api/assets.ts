import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import type { IncomingHttpHeaders } from "node:http";
import { ApiError, type Reply } from "./http.js";

/**
 * The built console: dist/console, found from dist/api/ and from src/api/ alike (the package root is
 * two folders up from either), so tests that run the sources serve what `npm run build` wrote.
 */
export const CONSOLE_DIR = fileURLToPath(new URL("../../dist/console/", import.meta.url));

/** The console's policy: nothing from elsewhere, no inline script or style, never in a frame, no form posts. */
export const CONSOLE_CSP = "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// Only these kinds of file are served; anything else in the folder stays unserved.
const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".txt": "text/plain; charset=utf-8",
};

/** A content coding the console's files are sent in. */
export type Encoding = "br" | "gzip" | "identity";

/** One shipped file: its type, its bytes, and its compressed forms once asked for. */
interface Asset {
  type: string;
  hash: string;
  bytes: Record<Encoding, Buffer | undefined>;
}

let loaded: Map<string, Asset> | undefined;

/** The file `name` of the console as a reply: compressed when the client takes it, 304 when it has this version already. */
export function assetReply(name: string, headers: IncomingHttpHeaders, dir = CONSOLE_DIR): Reply {
  const asset = assets(dir).get(name);
  if (!asset) throw new ApiError(404, `the console has no file ${JSON.stringify(name.slice(0, 100))}`, "open the console at / (GET /)");
  const encoding = pickEncoding(headers["accept-encoding"], asset.bytes.identity!.length);
  const body = compressed(asset, encoding);
  const used = body === asset.bytes.identity ? "identity" : encoding;
  const etag = `"${asset.hash}${used === "identity" ? "" : `-${used}`}"`;
  const common: Record<string, string> = {
    etag,
    // Checked again on every load (a 304 when unchanged): an upgraded medic never serves a stale console.
    "cache-control": "no-cache",
    vary: "accept-encoding",
    "content-security-policy": CONSOLE_CSP,
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
  };
  if (matches(headers["if-none-match"], etag)) return { status: 304, bytes: Buffer.alloc(0), headers: common };
  return {
    status: 200,
    bytes: body,
    headers: { ...common, "content-type": asset.type, ...(used !== "identity" && { "content-encoding": used }) },
  };
}

/**
 * The coding to send, from an Accept-Encoding header: brotli, then gzip, else none; a coding the
 * client refuses (q=0) is never picked, and a file too small to gain is sent as it is.
 */
export function pickEncoding(header: string | string[] | undefined, size = Infinity): Encoding {
  if (size < 256) return "identity";
  const offered = new Map<string, number>();
  for (const part of String(header ?? "").split(",")) {
    const [name, ...params] = part.trim().toLowerCase().split(";");
    const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
    if (name) offered.set(name, q === undefined ? 1 : Number(q));
  }
  const takes = (coding: string) => (offered.get(coding) ?? offered.get("*") ?? 0) > 0;
  return takes("br") ? "br" : takes("gzip") ? "gzip" : "identity";
}

// Every servable file of the folder, read once; compressed forms are made on first use.
function assets(dir: string): Map<string, Asset> {
  if (loaded && dir === CONSOLE_DIR) return loaded;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    throw new ApiError(
      404,
      "the web console is not built into this medic",
      "build it with npm run build (it writes dist/console); an installed medic package ships it",
    );
  }
  const found = new Map<string, Asset>();
  for (const name of names) {
    const type = TYPES[extname(name)];
    if (!type || !/^[\w.-]+$/.test(name)) continue;
    const bytes = readFileSync(join(dir, name));
    const hash = createHash("sha256").update(bytes).digest("base64url").slice(0, 22);
    found.set(name, { type, hash, bytes: { identity: bytes, br: undefined, gzip: undefined } });
  }
  if (dir === CONSOLE_DIR) loaded = found;
  return found;
}

function compressed(asset: Asset, encoding: Encoding): Buffer {
  const identity = asset.bytes.identity!;
  if (encoding === "identity") return identity;
  asset.bytes[encoding] ??=
    encoding === "br"
      ? brotliCompressSync(identity, {
          params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: identity.length },
        })
      : gzipSync(identity, { level: 9 });
  // Compression that does not pay is not used.
  return asset.bytes[encoding]!.length < identity.length ? asset.bytes[encoding]! : identity;
}

function matches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.trim() === "*" || header.split(",").some((t) => t.trim().replace(/^W\//, "") === etag);
}
