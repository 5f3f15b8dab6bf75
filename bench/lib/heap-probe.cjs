// Preloaded into medic by the soak scenario (node --require): appends the process's memory use as one
// JSON line to $MEDIC_BENCH_HEAP_FILE every $MEDIC_BENCH_HEAP_EVERY_MS (default 10 s), so the bench
// sees V8's heap from outside. The timer is unref'd: it never keeps medic alive.
const { appendFileSync } = require("node:fs");

const file = process.env.MEDIC_BENCH_HEAP_FILE;
if (file) {
  const every = Number(process.env.MEDIC_BENCH_HEAP_EVERY_MS ?? 10_000);
  const write = () => {
    const m = process.memoryUsage();
    appendFileSync(
      file,
      JSON.stringify({ at: Date.now(), rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external }) + "\n",
    );
  };
  setInterval(write, every).unref();
  setTimeout(write, 1000).unref();
}
