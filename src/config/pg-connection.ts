import { z } from "zod";
import { duration } from "./fields.js";

/** How to reach a PostgreSQL server: a URL, or discrete fields. Used by the probe and the steps; lib/pg's PgConnection is what it yields. */
export const pgConnectionSchema = z
  .strictObject({
    url: z
      .string()
      .regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL (hint: like postgres://medic@127.0.0.1:5432/postgres)")
      .optional()
      .meta({ description: "Connection URL, e.g. postgres://medic:${PGPASSWORD}@127.0.0.1:5432/postgres" }),
    host: z.string().min(1).optional().meta({ description: "Server host (default 127.0.0.1)" }),
    port: z.number().int().min(1).max(65535).optional().meta({ description: "Server port (default 5432)" }),
    user: z.string().min(1).optional().meta({ description: "Role to connect as" }),
    database: z.string().min(1).optional().meta({ description: "Database (default: the role's name)" }),
    password: z.string().optional().meta({ description: "Password; use ${ENV_VAR} or ${file:/path}" }),
    passwordFile: z.string().min(1).optional().meta({ description: "File holding the password (relative to the config file)" }),
    connectTimeout: duration().optional().meta({ description: "Give up connecting after this (default: the probe or step timeout)" }),
  })
  .refine((p) => !(p.url && (p.host || p.port || p.user || p.database)), {
    message: "give either url or host/port/user/database, not both (hint: put everything in the URL, or drop it)",
  })
  .refine((p) => !(p.password !== undefined && p.passwordFile), { message: "give password or passwordFile, not both" });
