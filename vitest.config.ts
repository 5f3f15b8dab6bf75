import { defineConfig } from "vitest/config";

// Two rings. The inner ring is everything that runs in-process or touches one real edge quickly
// (units, the daemon on a manual clock, HTTP servers and programs on loopback): fast, and worth
// running on every Node version. The outer ring is the slow real-time scenarios (medic as a child
// process against real services, PostgreSQL, Docker, systemd, chaos): it proves the claims end to
// end once, on the main Node version (.ci/run runs `npm run test:inner` on the other).
const OUTER = [
  "test/e2e-*.test.ts",
  "test/chaos-*.test.ts",
  "test/demo.test.ts",
  "test/container-image.test.ts",
  "test/systemd.test.ts",
  "test/cli-pause.test.ts",
  "test/*docker*.test.ts",
  "test/*postgres*.test.ts",
  "test/state-dir-lock*.test.ts",
  "test/verify-rounds.test.ts",
  "test/outbox-backlog.test.ts",
  "test/alertmanager.test.ts",
  "test/incidents-report.test.ts",
];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: "forks",
    projects: [
      { extends: true, test: { name: "inner", include: ["src/**/*.test.ts", "test/**/*.test.ts"], exclude: OUTER } },
      { extends: true, test: { name: "outer", include: OUTER } },
    ],
  },
});
