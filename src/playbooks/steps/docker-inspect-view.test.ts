import { describe, expect, it } from "vitest";
import { formatInspect, HIDDEN_LABEL, inspectSchema, keptInspect } from "./docker-inspect-view.js";

// What docker.inspect keeps of an inspect, and how it reads: pure, so a hand-written inspect will do.
const raw = {
  Id: "0123456789abcdef0123",
  Name: "/orders-api",
  RestartCount: 2,
  State: {
    Status: "running",
    Running: true,
    OOMKilled: true,
    Pid: 42,
    ExitCode: 0,
    StartedAt: "2026-12-03T10:00:05Z",
    FinishedAt: "2026-12-03T10:00:01Z",
    Health: {
      Status: "unhealthy",
      FailingStreak: 3,
      Log: [{ Start: "2026-12-03T10:01:00Z", End: "2026-12-03T10:01:02Z", ExitCode: 1, Output: `curl: (7) refused\n${"x".repeat(5000)}` }],
    },
  },
  Config: {
    Image: "orders:1.4",
    Env: ["DB_PASSWORD=env-secret"],
    Cmd: ["serve", "--token=cmd-secret"],
    Labels: { team: "payments", "db.password": "label-secret", dsn: "postgres://app:url-secret@db/orders" },
    Healthcheck: { Test: ["CMD", "curl", "-H", "Authorization: hc-secret"], Interval: 5e9 },
  },
  HostConfig: { RestartPolicy: { Name: "on-failure", MaximumRetryCount: 5 }, Memory: 256 * 1024 ** 2, NanoCpus: 1.5e9 },
};

describe("docker.inspect's view", () => {
  const kept = keptInspect(inspectSchema.parse(raw));
  const text = formatInspect(kept, "/var/run/docker.sock", "2026-12-03T10:02:00Z");

  it("keeps no environment, command or healthcheck command, and hides secret-looking labels", () => {
    const all = JSON.stringify(kept) + text;
    for (const secret of ["env-secret", "cmd-secret", "hc-secret", "label-secret", "url-secret"]) expect(all).not.toContain(secret);
    expect(kept.Config!.Labels).toEqual({ team: "payments", "db.password": HIDDEN_LABEL, dsn: HIDDEN_LABEL });
  });

  it("caps each healthcheck's output and reads as a person would want it", () => {
    expect(kept.State.Health!.Log![0]!.Output).toHaveLength(4096);
    expect(text.split("\n").slice(0, 6)).toEqual([
      "container orders-api (0123456789ab), image orders:1.4, on /var/run/docker.sock, inspected 2026-12-03T10:02:00Z",
      "status: running, OOM killed: flagged, maybe before its last start, restarts: 2",
      "started 2026-12-03T10:00:05Z (pid 42)",
      "restart policy on-failure (max 5); memory limit 256MiB; cpus 1.5",
      "health: unhealthy, failing streak 3, checked every 5s",
      "last 1 healthchecks, oldest first:",
    ]);
    expect(text).toContain("\n  2026-12-03T10:01:00Z: exit 1 in 2s\n      curl: (7) refused\n");
  });
});
