// The console in a real browser against a real server: log in, explore the demo, switch
// lenses, check a provenance chain's signatures in the page, move through time, review the
// quarantine as a curator, see no write control as a reader, and show hostile content as
// text. A screenshot of every panel goes to SCREENSHOTS (default target/console-screenshots).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { call, go, launch, login, newKey, newPage, ready, runDemo, startServer } from "./harness.mjs";

const SHOTS = process.env.SCREENSHOTS ?? "target/console-screenshots";
const CURATOR = "console/curator";
const TROLL = "console/troll";
const HOSTILE = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>"'&`;
let server, browser, keys, held;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  // Quick refreshes so that the overview's disputed groups appear within the test.
  server = await startServer(["--reliability-refresh-ms", "200"]);
  runDemo(server);
  keys = {
    curator: await newKey(server, "curator", "write", [CURATOR]),
    troll: await newKey(server, "troll", "write", [TROLL]),
    reader: await newKey(server, "reader", "read"),
  };
  await call(server, server.adminKey, "POST", "/v1/admin/curators", { agent_id: CURATOR });
  // A gold answer, then a low-trust claim against it: held in quarantine for review.
  const gold = await call(server, keys.curator, "POST", "/v1/assert",
    { agent_id: CURATOR, subject: "console/review", predicate: "answer", value: 42 });
  await call(server, keys.curator, "POST", "/v1/gold-standard", { agent_id: CURATOR, subject: gold.id, value: true });
  held = await call(server, keys.troll, "POST", "/v1/assert",
    { agent_id: TROLL, subject: "console/review", predicate: "answer", value: 7 });
  // Hostile strings wherever the server takes them.
  await call(server, keys.troll, "POST", "/v1/assert",
    { agent_id: TROLL, subject: "console/hostile", predicate: "note", value: HOSTILE });
  await call(server, keys.troll, "POST", "/v1/assert",
    { agent_id: TROLL, subject: "console/hostile", predicate: HOSTILE.replace(/[^a-z_]/g, "_"), value: { html: HOSTILE } });
  await waitFor(async () => (await call(server, server.adminKey, "GET", "/v1/overview")).disputed.length > 0);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function waitFor(condition, timeoutMs = 20_000) {
  const end = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

test("logs in, shows the overview with counts, disputed groups and retractions", async () => {
  const { page, troubles } = await newPage(browser);
  await login(page, server, server.adminKey);
  assert.equal(await page.getAttribute("main#view", "data-panel"), "overview");
  const counts = await page.textContent("#counts");
  assert.match(counts, /Assertions/);
  assert.match(await page.textContent("#disputed"), /drug\/aspirin\/dosage/);
  assert.match(await page.textContent("#retractions"), /source\/DEMO_SAFETY_STUDY/);
  await page.waitForSelector('#rates[data-measured="true"]', { timeout: 10_000 });
  assert.match(await page.textContent("#rates"), /Ingest rate.*\/s/);
  await shot(page, "1-overview");
  // The key is in no URL and no cookie.
  assert.ok(!page.url().includes(server.adminKey));
  assert.deepEqual(await page.context().cookies(), []);
  assert.deepEqual(troubles, []);
  await page.close();
});

test("a wrong key is refused with the server's reason", async () => {
  const { page } = await newPage(browser);
  await page.goto(`${server.url}/console/`);
  await page.fill("#key", "sdb_not-a-key-at-all-0000000000000000000000");
  await page.click("#login button[type=submit]");
  const alert = await page.waitForSelector("#login .error");
  assert.match(await alert.textContent(), /key/i);
  await page.close();
});

test("explores the demo, compares every lens, and switches the ranking's lens", async () => {
  const { page, troubles } = await newPage(browser);
  await login(page, server, server.adminKey, "#explore?subject=drug%2F*");
  const groups = await page.textContent("#groups");
  assert.match(groups, /recommended_mg/);
  await page.click('#groups a:text-is("drug/aspirin/dosage") >> nth=0');
  await ready(page, "explore");
  await page.waitForSelector("#lenses");
  const lensRows = await page.$$eval("#lenses tbody tr", (rows) => rows.map((r) => r.cells[0].textContent));
  assert.deepEqual(lensRows, ["evidence", "recency", "authority", "consensus", "conflict", "layered"]);
  if (!(await page.textContent("#lenses")).includes("recommended_mg") && (await page.textContent("h3")).includes("major_bleeding_rate")) {
    await go(page, "#explore?subject=drug%2Faspirin%2Fdosage&predicate=recommended_mg", "explore");
  }
  const winners = await page.$$eval("#lenses tbody tr", (rows) => rows.map((r) => r.cells[1].textContent));
  assert.ok(new Set(winners).size >= 2, `the lenses give one winner only: ${winners}`);
  assert.equal(await page.getAttribute("#claims", "data-lens"), "evidence");
  await page.selectOption("#lens", "recency");
  await page.waitForSelector('#claims[data-lens="recency"]');
  await ready(page, "explore");
  const verdicts = await page.$$eval("#claims [data-verified]", (cells) => cells.map((c) => c.dataset.verified));
  assert.ok(verdicts.length >= 3 && verdicts.every((v) => v === "true"), `verdicts ${verdicts}`);
  await shot(page, "2-explore");
  await go(page, "#conflicts?subject=drug%2Faspirin%2Fdosage&predicate=recommended_mg", "conflicts");
  assert.match(await page.textContent("#skeptic"), /Conflict score/);
  assert.ok((await page.$$("#clusters tbody tr")).length >= 2);
  await shot(page, "3-conflicts");
  assert.deepEqual(troubles, []);
  await page.close();
});

test("follows a provenance chain and verifies its signatures in the page, and notices a forged one", async () => {
  const { page, troubles } = await newPage(browser);
  await login(page, server, server.adminKey, "#explore?subject=drug%2Fx%2Fsafety&predicate=adverse_event_rate");
  await page.click("#claims tbody tr:first-child a[href^='#provenance']");
  await ready(page, "provenance");
  const summary = await page.textContent("#verified-summary");
  const [, verified, total] = /(\d+) of (\d+) signatures verified/.exec(summary);
  assert.ok(Number(total) >= 2, `a chain of ${total}`);
  assert.equal(verified, total);
  assert.ok((await page.$$("#provenance .source")).length >= 1, "the chain reaches a source");
  await shot(page, "4-provenance");
  // The same chain with one value changed on the way: the page must see it, whatever the
  // server says about its own copy.
  const hash = new URL(page.url()).hash;
  await page.route("**/provenance*", async (route) => {
    const response = await route.fetch();
    const tree = await response.json();
    tree.assertion.value = 9999;
    await route.fulfill({ response, json: tree });
  });
  await page.reload();
  await ready(page, "provenance");
  assert.match(await page.textContent("#provenance .card"), /id does not match/);
  assert.match(await page.textContent("#verified-summary"), new RegExp(`${Number(total) - 1} of ${total}`));
  assert.ok(hash.startsWith("#provenance"));
  assert.deepEqual(troubles, []);
  await page.close();
});

test("moves the time slider back and sees an earlier winner and what changed", async () => {
  const { page, troubles } = await newPage(browser);
  await login(page, server, server.adminKey, "#time?subject=drug%2Faspirin%2Fdosage&predicate=recommended_mg");
  await page.waitForSelector("#time-compare");
  assert.equal(await page.textContent("#as-of-label"), "now");
  const nowWinner = await page.textContent("#winner-now");
  await page.selectOption("#time-lens", "recency");
  await page.waitForFunction(() => document.querySelector("#time-result"));
  await page.fill("#as-of", "0");
  await page.waitForFunction(() => document.querySelector("#time-result")?.dataset.asOf !== "now");
  const label = await page.textContent("#as-of-label");
  assert.match(label, /^\d{4}-\d{2}-\d{2}T/);
  await page.waitForFunction((l) => document.querySelector("#time-result")?.dataset.asOf === l, label);
  const thenWinner = await page.textContent("#winner-then");
  assert.notEqual(thenWinner, nowWinner, "the earliest valid time has another answer than now");
  assert.match(await page.textContent("#time-diff"), /claims count now that did not then/);
  await shot(page, "5-time-travel");
  assert.deepEqual(troubles, []);
  await page.close();
});

test("shows an agent's trust, path and earned accuracy", async () => {
  const { page, troubles } = await newPage(browser);
  await login(page, server, server.adminKey, "#explore?subject=drug%2Faspirin%2Fdosage&predicate=recommended_mg");
  await page.click("#lenses tbody tr:first-child a[href^='#agents']");
  await ready(page, "agents");
  const card = await page.textContent("#agent");
  assert.match(card, /Trust/);
  assert.match(card, /Accuracy \(evidence lens\)/);
  assert.ok(await page.$("#trust-path"));
  await shot(page, "6-agents");
  assert.deepEqual(troubles, []);
  await page.close();
});

test("a curator approves a quarantined claim", async () => {
  const { page, troubles } = await newPage(browser);
  await login(page, server, keys.curator, "#review");
  assert.match(await page.textContent("#queue"), /console\/troll/);
  await shot(page, "7-review");
  const row = page.locator("#queue tbody tr", { hasText: held.id.slice(0, 12) });
  await row.locator("button.approve").click();
  await row.locator(".status.ok").waitFor();
  assert.equal(await row.locator(".status").textContent(), "approved");
  const record = await call(server, server.adminKey, "GET", `/v1/assertions/${held.id}`);
  assert.equal(record.lifecycle_stage, "active");
  await go(page, "#overview", "overview");
  await go(page, "#review", "review");
  assert.ok(await page.$("#queue-empty"), "the queue is empty after the approval");
  assert.deepEqual(troubles, []);
  await page.close();
});

test("a reader sees no write control on any panel", async () => {
  const { page, troubles } = await newPage(browser);
  // Something to review, so that the queue is not empty.
  await call(server, keys.troll, "POST", "/v1/assert",
    { agent_id: TROLL, subject: "console/review", predicate: "answer", value: 8 });
  await login(page, server, keys.reader, "#review");
  assert.match(await page.textContent("#who"), /read/);
  assert.ok(await page.$("#queue"), "the reader sees the queue");
  const hashes = ["#review", "#overview", "#explore?subject=drug%2Faspirin%2Fdosage&predicate=recommended_mg",
    "#conflicts?subject=drug%2Faspirin%2Fdosage&predicate=recommended_mg", "#agents?id=demo%2Fclinic-north",
    "#time?subject=drug%2Faspirin%2Fdosage&predicate=recommended_mg"];
  for (const hash of hashes) {
    if (hash !== "#review") await go(page, hash, hash.slice(1).split("?")[0]);
    const buttons = await page.$$eval("main button", (bs) => bs.map((b) => b.textContent));
    assert.deepEqual(buttons.filter((b) => !["Explore", "Show", "Trace"].includes(b)), [], `write controls on ${hash}`);
  }
  await go(page, "#review?after=0", "review");
  await shot(page, "8-review-as-reader");
  assert.deepEqual(troubles, []);
  await page.close();
});

test("markup and script in subjects, values and predicates show as text and run nothing", async () => {
  const { page, troubles } = await newPage(browser);
  await login(page, server, server.adminKey, "#explore?subject=console%2Fhostile");
  await page.waitForSelector("#groups");
  await go(page, "#explore?subject=console%2Fhostile&predicate=note", "explore");
  const text = await page.textContent("#claims");
  assert.ok(text.includes(HOSTILE), "the value is shown as it was written");
  assert.equal(await page.$$eval("main img, main script", (els) => els.length), 0);
  await go(page, "#time?subject=console%2Fhostile&predicate=note", "time");
  await go(page, `#agents?id=${encodeURIComponent(TROLL)}`, "agents");
  await go(page, `#explore?subject=${encodeURIComponent(HOSTILE)}`, "explore");
  assert.ok((await page.inputValue("#subject")) === HOSTILE);
  await go(page, "#explore?subject=console%2Fhostile&predicate=note", "explore");
  // The layout holds: the table fits the page's width.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  await shot(page, "9-hostile-content");
  assert.deepEqual(troubles, []);
  await page.close();
});

test("the console's answers carry a strict Content-Security-Policy", async () => {
  for (const path of ["/console/", "/console/app.js", "/console/app.css"]) {
    const response = await fetch(`${server.url}${path}`);
    assert.equal(response.status, 200, path);
    const csp = response.headers.get("content-security-policy");
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe/);
  }
  const root = await fetch(`${server.url}/`, { redirect: "manual" });
  assert.equal(root.headers.get("location"), "/console/");
});
