import { createHash, timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";
import { MedicError } from "../lib/errors.js";
import { readRegularFileSync } from "../lib/regular-file.js";
import { redactor } from "../lib/redact.js";

/** Largest token file read: a token is one word. */
const MAX_TOKEN_FILE_BYTES = 64 * 1024;

/** Shortest token accepted: a guessable token is no protection. */
export const MIN_TOKEN_CHARS = 16;

/** The bearer token in `file` (surrounding whitespace dropped); `loose` is set when others than the owner may read it. */
export function readToken(file: string): { token: string; loose: boolean } {
  const read = readRegularFileSync(file, MAX_TOKEN_FILE_BYTES);
  if (!read.ok) {
    throw new MedicError("API_TOKEN", `cannot read the API token file ${file}: ${read.problem.reason}`, {
      hint: "create it with: openssl rand -hex 32 > FILE; chmod 600 FILE (readable by medic's user), or fix api.tokenFile",
    });
  }
  const token = read.text.trim();
  if (token.length < MIN_TOKEN_CHARS || /\s/.test(token)) {
    throw new MedicError(
      "API_TOKEN",
      `the API token in ${file} must be one word of at least ${MIN_TOKEN_CHARS} characters (it has ${token.length})`,
      {
        hint: "put a random token in it: openssl rand -hex 32 > FILE",
      },
    );
  }
  redactor.add([token]);
  return { token, loose: (read.mode & 0o077) !== 0 };
}

/** Whether an Authorization header carries `token` as a bearer token; compared in constant time. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer +(\S+) *$/i.exec(header ?? "");
  // Digests of equal length, so neither the token's length nor a common prefix leaks through timing.
  const given = createHash("sha256")
    .update(m?.[1] ?? "")
    .digest();
  const wanted = createHash("sha256").update(token).digest();
  return timingSafeEqual(given, wanted) && m !== null;
}

/** Whether a listen host is reachable from this machine only. */
export function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  if (isIP(host) === 6) return host === "::1" || /^::ffff:127\./i.test(host);
  return false;
}

/**
 * Whether a Host header may reach an API bound to loopback: loopback's own names and addresses, or
 * one the operator allowed. A web page that rebinds its own name to 127.0.0.1 still sends that
 * name, so this is what keeps it out. No header at all (HTTP/1.0) comes from no browser.
 */
export function hostAllowed(header: string | undefined, allowed: readonly string[] = []): boolean {
  if (header === undefined) return true;
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::\d{1,5})?$/i.exec(header.trim());
  if (!m) return false;
  const host = m[1]!.toLowerCase().replace(/\.$/, "");
  return isLoopback(host.replace(/^\[|\]$/g, "")) || allowed.includes(host);
}
