import { hostname } from "node:os";
import { z } from "zod";
import { duration, safeName } from "./fields.js";

// The PostgreSQL store and the cluster that shares it. Neither is needed: a single node keeps its
// journal in the state dir. With `store.postgres`, medic is a node of a cluster (of one, unless
// other medics name the same cluster in the same database).

/** Where a cluster's journal lives. */
export const storeSchema = () =>
  z
    .strictObject({
      postgres: z
        .strictObject({
          url: z
            .string()
            .regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL (hint: like postgres://medic:${MEDIC_STORE_PASSWORD}@db:5432/medic)")
            .meta({ description: "Connection URL of the database that holds the cluster's journal; use ${ENV} for the password" }),
          statementTimeout: duration()
            .refine((ms) => ms >= 100, "must be at least 100ms")
            .prefault("5s")
            .meta({ description: "Every statement medic sends the store gives up after this (default 5s)" }),
        })
        .optional()
        .meta({ description: "Keep the journal in PostgreSQL: what several medics share to act as one" }),
    })
    .optional()
    .meta({ description: "Where the journal lives (default: files in stateDir)" });

/** Which cluster this node is part of. */
export const clusterSchema = () =>
  z
    .strictObject({
      name: safeName("cluster name", "like prod or eu-1, the same on every node").meta({
        description: "Nodes with the same name in the same database are one medic",
      }),
      node: safeName("node name", 'like db-1, or "${HOSTNAME}"; unique in the cluster')
        .optional()
        .meta({ description: "This node's name, unique in the cluster (default: the host name), like ${HOSTNAME}" }),
      leaseTtl: duration()
        .refine((ms) => ms >= 2_000 && ms <= 300_000, "must be between 2s and 5m (hint: 10s)")
        .prefault("10s")
        .meta({ description: "A leader that stops renewing is replaced once its lease ends on the database's clock (default 10s)" }),
    })
    .optional()
    .meta({ description: "Several medics on one PostgreSQL store: one leader decides, every node probes" });

/** The store: files in the state dir (default) or a PostgreSQL database. */
export interface StoreConfig {
  postgres?: { url: string; statementTimeoutMs: number };
}

/** This node's place in a cluster (set whenever the store is PostgreSQL: a cluster of one by default). */
export interface ClusterConfig {
  name: string;
  node: string;
  leaseTtlMs: number;
}

/** The normalised store and cluster sections. */
export function normaliseCluster(
  store: z.output<ReturnType<typeof storeSchema>>,
  cluster: z.output<ReturnType<typeof clusterSchema>>,
): { store?: StoreConfig; cluster?: ClusterConfig } {
  if (!store?.postgres) return {};
  const { url, statementTimeout } = store.postgres;
  return {
    store: { postgres: { url, statementTimeoutMs: statementTimeout } },
    cluster: {
      name: cluster?.name ?? "medic",
      node: cluster?.node ?? safeHostName(),
      leaseTtlMs: cluster?.leaseTtl ?? 10_000,
    },
  };
}

// A host name as a node name: the characters a safe name allows, and never empty.
function safeHostName(): string {
  return (
    hostname()
      .replace(/[^A-Za-z0-9_.-]/g, "-")
      .replace(/^-+/, "") || "node"
  );
}
