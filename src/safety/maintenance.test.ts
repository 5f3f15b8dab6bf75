import { describe, expect, it, vi } from "vitest";
import { cronMatcher, nextMatch } from "./cron.js";
import { MaintenanceCalendar, pausedFor } from "./maintenance.js";
import type { Controls, MaintenanceWindowConfig, Pause } from "./types.js";

// Counts cron matches, to hold the calendar to its cost promise.
const matches = vi.hoisted(() => ({ count: 0 }));
vi.mock("./cron.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("./cron.js")>();
  return {
    ...real,
    cronMatcher: (expr: string, timezone: string) => {
      const matcher = real.cronMatcher(expr, timezone);
      return { match: (date: Date) => (matches.count++, matcher.match(date)) };
    },
  };
});

const MIN = 60_000;
const at = (iso: string) => Date.parse(iso);
const win = (over: Partial<MaintenanceWindowConfig>): MaintenanceWindowConfig => ({
  name: "w",
  cron: "0 2 * * *",
  durationMs: 30 * MIN,
  timezone: "UTC",
  targets: ["*"],
  reason: "maintenance",
  ...over,
});
// Open until (ISO), or null when closed; a fresh calendar per question so no cache is involved.
const openUntil = (w: MaintenanceWindowConfig, iso: string, target = "api") => {
  const until = new MaintenanceCalendar([w]).activeFor(target, at(iso))[0]?.until;
  return until === undefined ? null : new Date(until).toISOString();
};

describe("MaintenanceCalendar.activeFor", () => {
  const cases: [string, MaintenanceWindowConfig, string, string | null][] = [
    // A daily window across midnight.
    ["before it opens", win({ cron: "30 23 * * *", durationMs: 60 * MIN }), "2025-06-10T23:29:59.999Z", null],
    [
      "the start minute exactly",
      win({ cron: "30 23 * * *", durationMs: 60 * MIN }),
      "2025-06-10T23:30:00.000Z",
      "2025-06-11T00:30:00.000Z",
    ],
    ["after midnight", win({ cron: "30 23 * * *", durationMs: 60 * MIN }), "2025-06-11T00:15:00.000Z", "2025-06-11T00:30:00.000Z"],
    ["its last millisecond", win({ cron: "30 23 * * *", durationMs: 60 * MIN }), "2025-06-11T00:29:59.999Z", "2025-06-11T00:30:00.000Z"],
    ["start + duration exactly", win({ cron: "30 23 * * *", durationMs: 60 * MIN }), "2025-06-11T00:30:00.000Z", null],
    ["a duration under a minute", win({ cron: "0 2 * * *", durationMs: 30_000 }), "2025-06-11T02:00:30.000Z", null],
    [
      "a duration under a minute, open",
      win({ cron: "0 2 * * *", durationMs: 30_000 }),
      "2025-06-11T02:00:29.000Z",
      "2025-06-11T02:00:30.000Z",
    ],
    // Time zones: 02:00 in Berlin is 00:00Z in summer (CEST), 01:00Z in winter (CET).
    ["Berlin summer", win({ timezone: "Europe/Berlin" }), "2025-06-10T00:10:00Z", "2025-06-10T00:30:00.000Z"],
    ["UTC at the same instant", win({ timezone: "UTC" }), "2025-06-10T00:10:00Z", null],
    ["UTC at 02:10Z", win({ timezone: "UTC" }), "2025-06-10T02:10:00Z", "2025-06-10T02:30:00.000Z"],
    ["Berlin at 02:10Z", win({ timezone: "Europe/Berlin" }), "2025-06-10T02:10:00Z", null],
    ["Berlin winter", win({ timezone: "Europe/Berlin" }), "2025-01-10T01:10:00Z", "2025-01-10T01:30:00.000Z"],
    // 2025-03-30 02:00 Berlin does not exist (clocks jump to 03:00): a 02:30 window skips that day.
    ["Berlin spring forward, before", win({ cron: "30 2 * * *", timezone: "Europe/Berlin" }), "2025-03-30T00:59:00Z", null],
    ["Berlin spring forward, after", win({ cron: "30 2 * * *", timezone: "Europe/Berlin" }), "2025-03-30T01:40:00Z", null],
    ["Berlin the day before", win({ cron: "30 2 * * *", timezone: "Europe/Berlin" }), "2025-03-29T01:40:00Z", "2025-03-29T02:00:00.000Z"],
    // 2025-10-26 02:30 Berlin happens twice (CEST, then CET): the window opens twice.
    [
      "Berlin fall back, first 02:30",
      win({ cron: "30 2 * * *", timezone: "Europe/Berlin" }),
      "2025-10-26T00:45:00Z",
      "2025-10-26T01:00:00.000Z",
    ],
    ["Berlin fall back, between", win({ cron: "30 2 * * *", timezone: "Europe/Berlin" }), "2025-10-26T01:10:00Z", null],
    [
      "Berlin fall back, second 02:30",
      win({ cron: "30 2 * * *", timezone: "Europe/Berlin" }),
      "2025-10-26T01:45:00Z",
      "2025-10-26T02:00:00.000Z",
    ],
    // Day of week: 2025-06-09 is a Monday, 2025-06-14 a Saturday.
    ["weekdays, Monday", win({ cron: "0 9 * * mon-fri", durationMs: 8 * 60 * MIN }), "2025-06-09T12:00:00Z", "2025-06-09T17:00:00.000Z"],
    ["weekdays, Saturday", win({ cron: "0 9 * * mon-fri", durationMs: 8 * 60 * MIN }), "2025-06-14T12:00:00Z", null],
    [
      "Sunday night into Monday",
      win({ cron: "0 22 * * sun", durationMs: 4 * 60 * MIN }),
      "2025-06-09T01:00:00Z",
      "2025-06-09T02:00:00.000Z",
    ],
    ["Sunday window on a Tuesday", win({ cron: "0 22 * * sun", durationMs: 4 * 60 * MIN }), "2025-06-10T01:00:00Z", null],
  ];
  it.each(cases)("%s", (_what, w, now, expected) => {
    expect(openUntil(w, now)).toBe(expected);
  });

  it("covers only targets its globs match", () => {
    const w = win({ targets: ["api*", "db-primary"] });
    const now = "2025-06-10T02:05:00Z";
    expect(["api", "api-eu-1", "db-primary", "db-replica", "web"].map((t) => openUntil(w, now, t) !== null)).toEqual([
      true,
      true,
      true,
      false,
      false,
    ]);
  });

  it("answers any clock order like a fresh calendar: backwards, big jumps, the same minute twice", () => {
    const windows = [
      win({ name: "daily", cron: "30 23 * * *", durationMs: 60 * MIN }),
      win({ name: "berlin", cron: "*/20 1-3 * * *", durationMs: 7 * MIN, timezone: "Europe/Berlin" }),
      win({ name: "short", cron: "*/5 * * * *", durationMs: 90_000 }),
    ];
    const shared = new MaintenanceCalendar(windows);
    const base = at("2025-10-25T22:00:00Z");
    const steps = [0, 17, 61, 3_600, 3_590, 3_601, 120, 86_400, 7_200, 7_199, 7_260, 30, 5_400, 5_400, 5_459, 5_390];
    for (const [i, seconds] of steps.entries()) {
      const now = base + seconds * 1000 + (i % 3) * 250;
      const fresh = new MaintenanceCalendar(windows).active(now).map((a) => [a.window.name, a.until]);
      expect(shared.active(now).map((a) => [a.window.name, a.until])).toEqual(fresh);
    }
    // And a sweep across the DST change, every 7 s for two hours (so every second of a minute comes up).
    for (let t = at("2025-10-26T00:00:00Z"); t < at("2025-10-26T02:00:00Z"); t += 7000) {
      const open = shared.active(t);
      const got = windows.map((w) => open.find((a) => a.window === w)).map((a) => (a ? new Date(a.until).toISOString() : null));
      expect(got).toEqual(windows.map((w) => openUntil(w, new Date(t).toISOString())));
    }
  });

  it("going back within a minute still sees a start the later question did not need", () => {
    // 02:00 + 90 s: closed at 02:01:40, open at 02:01:20 (same minute, earlier).
    const calendar = new MaintenanceCalendar([win({ cron: "*/5 * * * *", durationMs: 90_000 })]);
    expect(calendar.activeFor("api", at("2025-06-10T02:01:40Z"))).toEqual([]);
    expect(calendar.activeFor("api", at("2025-06-10T02:01:20Z"))[0]?.until).toBe(at("2025-06-10T02:01:30Z"));
  });

  it("asked every second, matches once per new minute after one scan over the duration", () => {
    const calendar = new MaintenanceCalendar([win({ cron: "0 2 * * *", durationMs: 6 * 60 * MIN })]);
    const start = at("2025-06-10T00:00:00Z");
    matches.count = 0;
    calendar.activeFor("api", start);
    expect(matches.count).toBe(6 * 60);
    matches.count = 0;
    let open = 0;
    for (let s = 1; s <= 24 * 3600; s++) if (calendar.activeFor("api", start + s * 1000).length > 0) open++;
    expect(matches.count).toBe(24 * 60);
    expect(open).toBe(6 * 3600);
    // A target the window does not cover costs no match at all.
    matches.count = 0;
    new MaintenanceCalendar([win({ targets: ["db*"] })]).activeFor("api", start);
    expect(matches.count).toBe(0);
  });
});

describe("MaintenanceCalendar.active and upcoming", () => {
  const nightly = win({ name: "nightly", timezone: "Europe/Berlin" });
  const weekly = win({ name: "weekly", cron: "0 22 * * sun", durationMs: 4 * 60 * MIN });
  const calendar = new MaintenanceCalendar([nightly, weekly]);

  it("active lists the open windows with when they close", () => {
    expect(calendar.active(at("2025-06-09T00:10:00Z")).map((a) => [a.window.name, new Date(a.until).toISOString()])).toEqual([
      ["nightly", "2025-06-09T00:30:00.000Z"],
      ["weekly", "2025-06-09T02:00:00.000Z"],
    ]);
    expect(calendar.active(at("2025-06-10T12:00:00Z"))).toEqual([]);
  });

  it("upcoming gives each window's next start, also while it is open", () => {
    const next = (iso: string) => calendar.upcoming(at(iso)).map((u) => [u.window.name, u.at && new Date(u.at).toISOString()]);
    expect(next("2025-06-10T12:00:00Z")).toEqual([
      ["nightly", "2025-06-11T00:00:00.000Z"],
      ["weekly", "2025-06-15T22:00:00.000Z"],
    ]);
    expect(next("2025-06-11T00:00:00Z")).toEqual([
      ["nightly", "2025-06-12T00:00:00.000Z"],
      ["weekly", "2025-06-15T22:00:00.000Z"],
    ]);
    expect(next("2025-01-10T12:00:00Z")[0]).toEqual(["nightly", "2025-01-11T01:00:00.000Z"]);
    // Berlin skips 02:00 on 2025-03-30: the next start is the day after, at 02:00 CEST.
    expect(next("2025-03-29T12:00:00Z")[0]).toEqual(["nightly", "2025-03-31T00:00:00.000Z"]);
  });
});

describe("nextMatch", () => {
  // The first minute after `after` that match() accepts, found the slow way.
  function scan(expr: string, timezone: string, after: number): number | null {
    const matcher = cronMatcher(expr, timezone);
    let t = Math.floor(after / MIN) * MIN + MIN;
    for (let i = 0; i < 40 * 1440; i++, t += MIN) if (matcher.match(new Date(t))) return t;
    return null;
  }
  it("agrees with a minute-by-minute scan, across DST changes and odd offsets", () => {
    const exprs: [string, string][] = [
      ["0 2 * * *", "Europe/Berlin"],
      ["30 2 * * *", "Europe/Berlin"],
      ["0,30 2 * * *", "Europe/Berlin"],
      ["*/20 * * * *", "Asia/Kathmandu"],
      ["15 1 * * sun", "America/New_York"],
      ["0 0 L * *", "UTC"],
      ["0 3 * * 1#2", "Europe/Berlin"],
      ["45 23 * * *", "Australia/Lord_Howe"],
      ["* * * * *", "Europe/Berlin"],
    ];
    const afters = [
      "2025-03-29T23:17:05Z",
      "2025-03-30T00:59:59Z",
      "2025-10-25T23:59:00Z",
      "2025-10-26T00:15:00Z",
      "2025-10-26T00:45:00Z",
      "2025-11-02T05:59:00Z",
    ].map(at);
    for (const [expr, tz] of exprs) {
      for (const after of afters) expect([expr, tz, after, nextMatch(expr, tz, after)]).toEqual([expr, tz, after, scan(expr, tz, after)]);
    }
  });

  it("finds rare dates and never returns a start at or before `after`", () => {
    expect(new Date(nextMatch("0 0 29 2 1", "UTC", at("2025-01-01T00:00:00Z"))!).toISOString()).toBe("2044-02-29T00:00:00.000Z");
    expect(nextMatch("0 2 * * *", "UTC", at("2025-06-10T02:00:00Z"))).toBe(at("2025-06-11T02:00:00Z"));
  });
});

describe("pausedFor", () => {
  const calendar = new MaintenanceCalendar([win({ name: "nightly", targets: ["api*"], reason: "backups" })]);
  const now = at("2025-06-10T02:10:00Z");
  const pause = (over: Partial<Pause>): Pause => ({
    id: "a1b2c3d4",
    target: "api",
    from: now - MIN,
    until: now + 10 * MIN,
    reason: "deploy",
    by: "ops",
    ...over,
  });
  const controls = (...pauses: Pause[]): Controls => ({ pauses, guardResets: {}, answers: [] });

  it("is the window when only a window covers the target", () => {
    expect(pausedFor("api", now, calendar, controls())).toEqual({
      source: "window",
      name: "nightly",
      reason: "backups",
      until: at("2025-06-10T02:30:00Z"),
    });
    expect(pausedFor("web", now, calendar, controls())).toBeUndefined();
  });

  it("picks what ends last, among the window, the target's pauses and pauses on all", () => {
    const long = pause({ id: "0000000b", target: "*", until: now + 60 * MIN, reason: "all day" });
    expect(pausedFor("api", now, calendar, controls(pause({}), long))).toMatchObject({
      source: "pause",
      name: "0000000b",
      reason: "all day",
    });
    expect(pausedFor("web", now, calendar, controls(pause({}), long))?.name).toBe("0000000b");
    expect(pausedFor("api", now, calendar, controls(pause({}))))?.toMatchObject({ source: "window" });
    expect(pausedFor("web", now, calendar, controls(pause({ target: "web" }))))?.toMatchObject({ source: "pause", until: now + 10 * MIN });
  });

  it("ignores pauses on other targets and expired ones (until is exclusive)", () => {
    expect(pausedFor("web", now, calendar, controls(pause({ target: "api" })))).toBeUndefined();
    expect(pausedFor("web", now, calendar, controls(pause({ target: "web", until: now })))).toBeUndefined();
    expect(pausedFor("web", now, calendar, controls(pause({ target: "web", until: now + 1 }))))?.toMatchObject({ name: "a1b2c3d4" });
  });
});
