#!/usr/bin/env node
// Child of bench/store-history.mjs: opens a state dir's file store for writing, as the daemon does
// at start, and reports what it cost; then times history queries against it.
// Usage: node bench/lib/store-open.mjs STATE_DIR   (prints one JSON line)
import { openFileStore } from "../../dist/store/file/open.js";
import { percentile } from "./stats.mjs";

const stateDir = process.argv[2];
const t0 = performance.now();
const store = await openFileStore({ stateDir, recentMs: 3600_000, maintainEveryMs: 0 });
const openMs = performance.now() - t0;
// What the daemon's process holds right after start, once the start-up's garbage had a moment to go.
await new Promise((r) => setTimeout(r, 1000));
const rssAfterOpenMB = process.memoryUsage().rss / 1024 / 1024;
const heapAfterOpenMB = process.memoryUsage().heapUsed / 1024 / 1024;

const time = async (n, fn) => {
  const ms = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    ms.push(performance.now() - t);
  }
  return { p50: percentile(ms, 50), p99: percentile(ms, 99), max: Math.max(...ms) };
};
const newest50 = await time(200, () => store.history({ limit: 50 }));
const page = await store.history({ limit: 50 });
const page2 = await time(100, () => store.history({ limit: 50, cursor: page.next }));
const targets = [...new Set(page.incidents.map((i) => i.target))];
const byTarget = await time(50, (i) => store.history({ limit: 50, target: targets[i % targets.length] }));
const sinceDay = await time(20, () => store.history({ limit: 100, since: Date.now() - 24 * 3600_000 }));
const oldest = page.incidents.at(-1);
const findOld = await time(20, () => store.find(oldest.id));
console.log(
  JSON.stringify({
    openMs,
    rssAfterOpenMB,
    heapAfterOpenMB,
    live: store.live().size,
    seq: store.seq(),
    history: { newest50, page2, byTarget, sinceDay, findOld },
  }),
);
await store.close();
