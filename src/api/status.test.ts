import { afterEach, describe, expect, it } from "vitest";
import { BEARER, closeApis, standInConfig, standInDaemon, startApi } from "../../test/fixtures/api-stand-in.js";

afterEach(closeApis);

describe("GET /api/status", () => {
  it("says medic's health, the outbox per channel, active pauses and the maintenance windows (and which holds now)", async () => {
    const config = await standInConfig({
      token: true,
      extra: 'maintenance:\n  - { name: nightly, cron: "0 3 * * *", duration: 30m, targets: ["api"], reason: backups }\n',
    });
    const daemon = standInDaemon([
      {
        name: "api",
        labels: {},
        probe: "tcp",
        up: true,
        open: [],
        paused: { source: "window", name: "nightly", reason: "backups", until: 2_000_000_000_000 },
      },
    ]);
    const { url } = await startApi(config, daemon);
    const paused = await fetch(`${url}/api/pause`, {
      method: "POST",
      headers: { ...BEARER, "content-type": "application/json" },
      body: JSON.stringify({ target: "api", for: "10m", reason: "deploying" }),
    });
    expect(paused.status).toBe(201);
    expect((await fetch(`${url}/api/status`)).status).toBe(401);
    const res = await fetch(`${url}/api/status`, { headers: BEARER });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, any>;
    expect(body.health).toEqual({ ok: true, checks: [{ name: "scheduler", ok: true, detail: "1 targets probed on time" }] });
    expect(body.channels).toEqual({ slack: { queued: 2, breaker: "open", failures: 5 } });
    expect(body.pauses).toMatchObject([{ target: "api", reason: "deploying", by: "admin" }]);
    expect(body.maintenance).toEqual([
      {
        name: "nightly",
        cron: "0 3 * * *",
        durationMs: 1_800_000,
        timezone: expect.any(String),
        targets: ["api"],
        reason: "backups",
        activeUntil: new Date(2_000_000_000_000).toISOString(),
      },
    ]);
    expect(body).not.toHaveProperty("cluster");
  });

  it("has the cluster on a cluster node, and says why when its store cannot be read (the rest still answers)", async () => {
    const config = await standInConfig();
    const node = await startApi(config, standInDaemon([], { cluster: async () => ({ cluster: "prod", leader: null, nodes: [] }) }));
    expect(((await (await fetch(`${node.url}/api/status`)).json()) as Record<string, unknown>).cluster).toEqual({
      cluster: "prod",
      leader: null,
      nodes: [],
    });
    const down = await startApi(
      config,
      standInDaemon([], {
        cluster: async () => {
          throw Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
        },
      }),
    );
    const res = await fetch(`${down.url}/api/status`);
    const body = (await res.json()) as Record<string, any>;
    expect([res.status, body.health.ok]).toEqual([200, true]);
    expect(body.cluster.error).toMatch(/^cannot read the cluster from its store: .*ECONNREFUSED/);
  });
});
