import type pg from "pg";
import { formatDuration } from "../../lib/duration.js";
import { describeError } from "../../lib/errors.js";
import { connectPg, pgClientConfig, pgErrorCode, type PgConnection } from "../../lib/pg.js";
import { withDeadline } from "../../lib/signals.js";
import type { PreviewContext } from "../types.js";

// How the postgres.* steps reach a database: which connection, a fresh client per run, bounded by
// the step's timeout and its signal, and failures described without a password.

/** Where to connect and why there; or why there is nowhere to connect. */
export type Resolved = { conn: PgConnection; via: string } | { error: string };

/** The step's own connection, else the target's postgres probe, else that of its first dependency with one. */
export function resolveConnection(explicit: PgConnection | undefined, ctx: PreviewContext): Resolved {
  if (explicit) return { conn: explicit, via: "the step's connection" };
  const target = ctx.target;
  // A postgres probe's params are a validated pgConnectionSchema output.
  if (target.probe.kind === "postgres") return { conn: target.probe.params as PgConnection, via: `${target.name}'s postgres probe` };
  for (const name of target.dependsOn) {
    const dep = ctx.targets.get(name);
    if (dep?.probe.kind === "postgres") return { conn: dep.probe.params as PgConnection, via: `${dep.name}'s postgres probe (dependsOn)` };
  }
  const deps = target.dependsOn.length === 0 ? "depends on none" : `none of its dependencies (${target.dependsOn.join(", ")}) has one`;
  return {
    error:
      `no database to act on: ${target.name} has no postgres probe and ${deps} ` +
      `(hint: add connection: { url: postgres://... } to the step, or dependsOn: [your-db] to ${target.name})`,
  };
}

/**
 * Runs `fn` on a fresh client within the step's timeout; never rejects, and never reports a
 * password. `permissionHint` is added to a 42501 (insufficient privilege) error.
 */
export async function withPgClient<T>(
  target: { conn: PgConnection; via: string },
  ctx: PreviewContext,
  permissionHint: string,
  fn: (client: pg.Client) => Promise<T>,
): Promise<{ value: T } | { failed: string }> {
  const t0 = performance.now();
  const secrets = connectionSecrets(target.conn);
  return withDeadline(ctx.signal, ctx.timeoutMs, async (signal) => {
    let client: pg.Client | undefined;
    try {
      const config = await pgClientConfig(target.conn, { baseDir: ctx.baseDir, timeoutMs: ctx.timeoutMs, applicationName: "medic" });
      if (typeof config.password === "string") secrets.push(config.password);
      client = await connectUnlessAborted(config, signal);
      return { value: await fn(client) };
    } catch (err) {
      const why = ctx.signal.aborted
        ? `aborted after ${formatDuration(performance.now() - t0)}`
        : signal.aborted
          ? `timed out after ${formatDuration(ctx.timeoutMs)}`
          : explain(err, permissionHint);
      return { failed: redact(`${where(target.conn)} (${target.via}): ${why}`, secrets) };
    } finally {
      await client?.end();
    }
  });
}

/** connectPg, but an abort stops the wait even when the server accepted and never answers. */
function connectUnlessAborted(config: pg.ClientConfig, signal: AbortSignal): Promise<pg.Client> {
  // connectPg's abort ends the client gracefully, which a silent server never acknowledges; the
  // attempt then lasts until its connect timeout. Stop waiting, and close the client if it connects after all.
  const pending = connectPg(config, signal);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      reject(signal.reason as Error);
      pending.then(
        (c) => c.end(),
        () => {},
      );
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    pending.then(
      (c) => {
        signal.removeEventListener("abort", onAbort);
        resolve(c);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e as Error);
      },
    );
  });
}

function explain(err: unknown, permissionHint: string): string {
  const code = pgErrorCode(err);
  const message = describeError(err).replace(/\s+/g, " ");
  const said = message.includes(code) ? message : `${code}: ${message}`;
  if (code === "EAUTH") return `${said} (hint: check the user and password of the connection)`;
  if (code === "42501") return `${said} (hint: ${permissionHint})`;
  return said;
}

/** `app@127.0.0.1:5432/orders`: where a connection goes, without its password. */
export function where(conn: PgConnection): string {
  if (conn.url) {
    try {
      const u = new URL(conn.url);
      const user = u.username ? `${decodeURIComponent(u.username)}@` : "";
      return `${user}${u.hostname || "localhost"}:${u.port || 5432}${u.pathname || "/"}`;
    } catch {
      return "(invalid postgres url)";
    }
  }
  const user = conn.user ? `${conn.user}@` : "";
  return `${user}${conn.host ?? "127.0.0.1"}:${conn.port ?? 5432}/${conn.database ?? conn.user ?? ""}`;
}

function connectionSecrets(conn: PgConnection): string[] {
  const found = conn.password ? [conn.password] : [];
  if (conn.url) {
    try {
      const pw = new URL(conn.url).password;
      if (pw) found.push(pw, decodeURIComponent(pw));
    } catch {
      // an unparsable URL: the pattern in redact() still hides its userinfo
    }
  }
  return found;
}

function redact(text: string, secrets: string[]): string {
  let out = text.replace(/(postgres(?:ql)?:\/\/[^:@/\s]*):[^@\s]*@/gi, "$1:[secret]@");
  for (const s of secrets) if (s.length > 0) out = out.split(s).join("[secret]");
  return out;
}
