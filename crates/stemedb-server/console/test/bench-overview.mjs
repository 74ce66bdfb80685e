// How long the console takes to be usable on a large store: from opening /console/ with the
// key typed in to the overview's data on screen (`data-ready`), in a fresh browser page each
// time, with the first read of a freshly started server and then warm. Not a test: run by
// scripts/bench-console.sh, which records the figures in docs/benchmarks.md.
// Usage: STEMEDB_BIN=… node test/bench-overview.mjs DATA_DIR [ROUNDS]
import { launch, newPage, startServer } from "./harness.mjs";

const [dataDir, roundsArg] = process.argv.slice(2);
if (!dataDir) throw new Error("usage: bench-overview.mjs DATA_DIR [ROUNDS]");
const rounds = Number(roundsArg ?? 5);
const started = Date.now();
const server = await startServer([], dataDir);
const opened = Date.now() - started;
const health = await (await fetch(`${server.url}/v1/health`, { headers: { authorization: `Bearer ${server.adminKey}` } })).json();
const browser = await launch();
const phases = {};
try {
  phases.before_table = await measure(rounds);
  // Then with the reliability table made (the disputed groups come from it).
  const t0 = Date.now();
  for (;;) {
    const o = await (await fetch(`${server.url}/v1/overview`, { headers: { authorization: `Bearer ${server.adminKey}` } })).json();
    if (o.disputed_sequence >= o.last_sequence) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  phases.table_wait_ms = Date.now() - t0;
  phases.with_table = await measure(rounds);
} finally {
  await browser.close();
  await server.stop();
}
console.log(JSON.stringify({ assertions: health.assertion_count, server_start_ms: opened, rounds, ...phases }));

async function measure(n) {
  const times = [];
  for (let round = 0; round < n; round++) {
    const { page, troubles } = await newPage(browser);
    await page.goto(`${server.url}/console/`);
    await page.fill("#key", server.adminKey);
    const t0 = Date.now();
    await page.click("#login button[type=submit]");
    await page.waitForSelector('main#view[data-panel="overview"][data-ready="true"]', { timeout: 60_000 });
    const usable = Date.now() - t0;
    const load = await page.evaluate(() => performance.getEntriesByType("navigation")[0]?.duration ?? null);
    const disputed = (await page.$$("#disputed tbody tr")).length;
    times.push(usable);
    console.log(JSON.stringify({ round, usable_ms: usable, page_load_ms: load && Math.round(load), disputed_rows: disputed, troubles }));
    await page.close();
  }
  const sorted = [...times].sort((a, b) => a - b);
  return { usable_ms_first: times[0], usable_ms_median: sorted[Math.floor(n / 2)], usable_ms_max: sorted[n - 1] };
}
