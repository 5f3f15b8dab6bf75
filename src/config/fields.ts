import { z } from "zod";
import { parseDuration } from "../lib/duration.js";
import { parseBytes } from "../lib/size.js";

/** A duration field: `10s`, `500ms`, `5m` or milliseconds; parsed to ms. */
export const duration = () =>
  z
    .union([z.string(), z.number()])
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (ms === undefined) {
        ctx.addIssue({
          code: "custom",
          message: `not a duration (got ${JSON.stringify(value)}; hint: write it like 500ms, 10s, 5m or 1h)`,
        });
        return z.NEVER;
      }
      return ms;
    })
    .meta({ description: "A duration: 500ms, 10s, 5m, 1h, or a number of milliseconds" });

/** A byte-size field: `64KiB`, `1MiB`, `50MB` or bytes. */
export const bytes = () =>
  z
    .union([z.string(), z.number()])
    .transform((value, ctx) => {
      const n = parseBytes(value);
      if (n === undefined) {
        ctx.addIssue({ code: "custom", message: `not a size (got ${JSON.stringify(value)}; hint: write it like 65536, 64KiB or 1MiB)` });
        return z.NEVER;
      }
      return n;
    })
    .meta({ description: "A size: bytes, or with a unit: 64KiB, 1MiB, 50MB" });

/** A name that may reach an argv or a path: letters, digits, `._@:-`, not starting with `-`. */
export const SAFE_NAME = /^[A-Za-z0-9_.@:][A-Za-z0-9_.@:-]{0,127}$/;
export const safeName = (what: string, hint?: string) =>
  z.string().regex(SAFE_NAME, {
    message: `${what} must be 1-128 of letters, digits and ._@:- and may not start with "-"${hint ? ` (hint: ${hint})` : ""}`,
  });

/** A command as argv: a program and its arguments, never a shell string. */
export const argv = () =>
  z
    .array(
      z
        .string()
        .min(1)
        .refine((s) => !s.includes("\0"), "argv items may not contain NUL"),
    )
    .min(1, {
      message: 'argv needs at least the program to run (hint: write it as a list, like ["/usr/bin/systemctl", "restart", "web"])',
    });

/** An http(s) URL; templates (`{{ }}`) are checked when rendered. */
export const httpUrl = () =>
  z.string().refine((s) => s.includes("{{") || /^https?:\/\/[^\s/]+/i.test(s), {
    message: "must be an http(s) URL (hint: add http://, like http://127.0.0.1:8000/health)",
  });

/** Labels: short string keys and values. */
export const labels = () =>
  z.record(z.string().regex(/^[A-Za-z0-9_./-]{1,63}$/, "label keys are letters, digits and _./-"), z.string().max(256));

/** A host as a Host header names it, without the port: a DNS name, an IPv4 address, or an IPv6 address in brackets. */
export const HOST_NAME = /^(?:[A-Za-z0-9][A-Za-z0-9.-]{0,252}|\[[0-9A-Fa-f:.]+\])$/;

/** `host:port` (an IPv6 host in brackets) or `off`: where a listener binds. */
export const LISTEN = /^(?:off|(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5}))$/;

/** A LISTEN string as `{ host, port }` (brackets dropped) or "off"; undefined when it is not one or the port is past 65535. */
export function listenAddress(text: string): { host: string; port: number } | "off" | undefined {
  const m = LISTEN.exec(text);
  if (!m || Number(m[2] ?? 0) > 65535) return undefined;
  return text === "off" ? "off" : { host: m[1]!.replace(/^\[|\]$/g, ""), port: Number(m[2]) };
}
