// The console in a real browser against a real server: log in and out, explore the demo,
// switch lenses, check a provenance chain in the page (and catch three forgeries), move
// through time, see an agent's trust path, review the quarantine as a curator, see no write
// control as a reader, and show hostile content as text on every panel. A screenshot of every
// panel goes to SCREENSHOTS (default target/console-screenshots).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { call, finish, go, launch, login, newKey, newPage, ready, runDemo, startServer } from "./harness.mjs";
import { flipSignatureByte, resignWithAnotherKey } from "./forge.mjs";

const SHOTS = process.env.SCREENSHOTS ?? "target/console-screenshots";
const CURATOR = "console/curator";
const TROLL = "console/troll";
const ALLY = "console/ally";
const HOSTILE = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>"'&`;
const HOSTILE_AGENT = `console/${HOSTILE}`;
const ASPIRIN = "subject=drug%2Faspirin%2Fdosage&predicate=recommended_mg";
let server, browser, keys, held, hostileRetraction;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  // Quick refreshes so that the overview's disputed groups appear within the test.
  server = await startServer(["--reliability-refresh-ms", "200"]);
  runDemo(server);
  keys = {
    curator: await newKey(server, "curator", "write", [CURATOR]),
    troll: await newKey(server, "troll", "write", [TROLL]),
    ally: await newKey(server, "ally", "write", [ALLY]),
    hostile: await newKey(server, HOSTILE, "write", [HOSTILE_AGENT]),
    reader: await newKey(server, "reader", "read"),
  };
  const admin = (path, body) => call(server, server.adminKey, "POST", path, body);
  await admin("/v1/admin/curators", { agent_id: CURATOR });
  await admin("/v1/admin/trust-roots", { agent_id: CURATOR });
  const as = (key, agent, path, body) => call(server, key, "POST", path, { agent_id: agent, ...body });
  // A trust path: the curator (a root) trusts the ally.
  await as(keys.curator, CURATOR, "/v1/trust", { subject: `agent/${ALLY}`, weight: 0.9 });
  await as(keys.ally, ALLY, "/v1/assert", { subject: "console/review", predicate: "note", value: "hello" });
  // A gold answer, then a low-trust claim against it: held in quarantine for review.
  const gold = await as(keys.curator, CURATOR, "/v1/assert", { subject: "console/review", predicate: "answer", value: 42 });
  await as(keys.curator, CURATOR, "/v1/gold-standard", { subject: gold.id, value: true });
  held = await as(keys.troll, TROLL, "/v1/assert", { subject: "console/review", predicate: "answer", value: 7 });
  // Hostile strings in every field the server takes them in: key name, agent id, subject,
  // predicate, value, a retraction's reason; the group disputed so that the overview lists it.
  const hostileGroup = { subject: `console/${HOSTILE}`, predicate: HOSTILE };
  await as(keys.hostile, HOSTILE_AGENT, "/v1/assert", { ...hostileGroup, value: HOSTILE });
  await as(keys.troll, TROLL, "/v1/assert", { ...hostileGroup, value: { html: HOSTILE } });
  await as(keys.hostile, HOSTILE_AGENT, "/v1/assert", { subject: "console/hostile-gone", predicate: "p", value: 1 });
  hostileRetraction = (await as(keys.hostile, HOSTILE_AGENT, "/v1/retract",
    { subject: "console/hostile-gone", reason: HOSTILE, cascade: true })).id;
  const last = (await call(server, server.adminKey, "GET", "/v1/overview")).last_sequence;
  await waitFor(async () => (await call(server, server.adminKey, "GET", "/v1/overview")).disputed_sequence >= last);
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

test("logs in, shows the overview with counts, rates, disputed groups and retractions, and logs out", async () => {
  const tab = await newPage(browser);
  const { page } = tab;
  await login(page, server, server.adminKey);
  assert.equal(await page.getAttribute("main#view", "data-panel"), "overview");
  const count = (await call(server, server.adminKey, "GET", "/v1/health")).assertion_count;
  assert.match(await page.textContent("#counts"), new RegExp(`Assertions${count.toLocaleString("en-US")}`));
  assert.match(await page.textContent("#disputed"), /drug\/aspirin\/dosage/);
  assert.match(await page.textContent("#retractions"), /source\/DEMO_SAFETY_STUDY/);
  await page.waitForSelector('#rates[data-measured="true"]', { timeout: 10_000 });
  assert.match(await page.textContent("#rates"), /Ingest rate\d+\.\d \/sQuery rate\d+\.\d \/s/);
  await shot(page, "1-overview");
  assert.deepEqual(await page.context().cookies(), [], "no cookie");
  assert.equal(await page.evaluate(() => sessionStorage.length), 1);
  await page.click("#logout");
  await page.waitForSelector("#login");
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, "logging out forgets the key");
  await finish(tab, server.adminKey);
});

test("a wrong key is refused with the server's reason", async () => {
  const tab = await newPage(browser);
  await tab.page.goto(`${server.url}/console/`);
  await tab.page.fill("#key", "sdb_not-a-key-at-all-0000000000000000000000");
  await tab.page.click("#login button[type=submit]");
  const alert = await tab.page.waitForSelector("#login .error");
  assert.match(await alert.textContent(), /malformed API key/);
  assert.equal(await tab.page.$("nav"), null);
  tab.troubles.length = 0; // the 401 the browser logs is the point here
  await finish(tab, "sdb_not-a-key");
});

test("explores the demo, compares every lens, and switches the ranking's lens", async () => {
  const tab = await newPage(browser);
  const { page } = tab;
  await login(page, server, server.adminKey, "#explore?subject=drug%2F*");
  assert.match(await page.textContent("#groups"), /recommended_mg/);
  await go(page, `#explore?${ASPIRIN}`, "explore");
  const rows = await page.$$eval("#lenses tbody tr", (trs) => trs.map((r) => [r.cells[0].textContent, r.cells[1].textContent]));
  assert.deepEqual(rows.map((r) => r[0]), ["evidence", "recency", "authority", "consensus", "conflict", "layered"]);
  // The demo's third moment: three lenses, three winners.
  const winner = Object.fromEntries(rows);
  assert.deepEqual([winner.recency, winner.authority, winner.consensus], ["325", "81", "160"]);
  assert.equal(await page.getAttribute("#claims", "data-lens"), "evidence");
  await page.selectOption("#lens", "recency");
  await page.waitForSelector('#claims[data-lens="recency"]');
  await ready(page, "explore");
  const values = await page.$$eval("#claims tbody tr", (trs) => trs.map((r) => r.cells[1].textContent));
  assert.equal(values[0], "325", "recency ranks the newest claim first");
  const verdicts = await page.$$eval("#claims [data-verified]", (cells) => cells.map((c) => c.dataset.verified));
  assert.ok(verdicts.length === values.length && verdicts.every((v) => v === "true"), `verdicts ${verdicts}`);
  await shot(page, "2-explore");
  await go(page, `#conflicts?${ASPIRIN}`, "conflicts");
  assert.match(await page.textContent("#skeptic"), /Conflict score0\.546/);
  assert.equal((await page.$$("#clusters tbody tr")).length, 3);
  await shot(page, "3-conflicts");
  await finish(tab, server.adminKey);
});

/** Opens the demo's audited claim's provenance, with `forge` changing the first record. */
async function provenanceWith(forge) {
  const tab = await newPage(browser);
  const { page } = tab;
  if (forge) {
    await page.route("**/provenance", async (route) => {
      const response = await route.fetch();
      const tree = await response.json();
      tree.assertion = await forge(tree.assertion);
      await route.fulfill({ response, json: tree });
    });
  }
  await login(page, server, server.adminKey, "#explore?subject=drug%2Fx%2Fsafety&predicate=adverse_event_rate");
  await page.click("#claims tbody tr:first-child a[href^='#provenance']");
  await ready(page, "provenance");
  const [, verified, total] = /(\d+) of (\d+) records verified/.exec(await page.textContent("#verified-summary"));
  return { tab, verified: Number(verified), total: Number(total), first: await page.textContent("#provenance .card") };
}

test("follows a provenance chain to its sources and verifies every record in the page", async () => {
  const { tab, verified, total } = await provenanceWith(null);
  assert.equal(total, 5, "the claim and the four records describing its trial");
  assert.equal(verified, total);
  assert.ok((await tab.page.$$("#provenance .source")).length >= 1, "the chain reaches a source");
  await shot(tab.page, "4-provenance");
  await finish(tab, server.adminKey);
});

test("the page catches a changed value, a flipped signature byte and another agent's key", async () => {
  const cases = [
    [(r) => ({ ...r, value: 9999 }), /id does not match the body/],
    [flipSignatureByte, /signature fails/],
    [resignWithAnotherKey, /not the key bound to this agent/],
  ];
  for (const [forge, shown] of cases) {
    const { tab, verified, total, first } = await provenanceWith(forge);
    assert.match(first, shown);
    assert.equal(verified, total - 1, `${shown}: ${verified} of ${total}`);
    tab.troubles.length = 0;
    await finish(tab, server.adminKey);
  }
});

test("moves the time sliders and sees an earlier winner and what changed", async () => {
  const tab = await newPage(browser);
  const { page } = tab;
  await login(page, server, server.adminKey, `#time?${ASPIRIN}`);
  await page.waitForSelector("#time-compare");
  assert.equal(await page.textContent("#as-of-label"), "now");
  await page.selectOption("#time-lens", "recency");
  await page.waitForFunction(() => document.querySelector("#winner-b")?.textContent.startsWith("325"));
  // A at the earliest valid time: only the 2019 guideline counted then.
  await page.fill("#as-of", "0");
  await page.waitForFunction(() => document.querySelector("#time-result")?.dataset.moments.startsWith("2019"));
  assert.match(await page.textContent("#as-of-label"), /^2019-06-01T/);
  assert.match(await page.textContent("#winner-a"), /^81 by demo\/cardiology-board/);
  assert.match(await page.textContent("#winner-b"), /^325 by demo\/preprint-bot/);
  assert.equal(await page.getAttribute("#time-diff", "data-added"), "4");
  // Known at the first record's time: what the store knew then, whatever it learnt later.
  await page.fill("#as-of", await page.getAttribute("#as-of", "max"));
  await page.fill("#known-at", "0");
  await page.waitForFunction(() => /^now\|\d{4}-/.test(document.querySelector("#time-result")?.dataset.moments));
  assert.equal((await page.$$("#claims-a tbody tr")).length, 1, "only the first record was known then");
  assert.match(await page.textContent("#winner-a"), /^81 by demo\/cardiology-board/);
  assert.doesNotMatch(await page.textContent("#time-result"), /null|undefined/);
  await shot(page, "5-time-travel");
  await finish(tab, server.adminKey);
});

test("shows an agent's trust path from a root and its earned accuracy", async () => {
  const tab = await newPage(browser);
  const { page } = tab;
  await login(page, server, server.adminKey, `#agents?id=${encodeURIComponent(ALLY)}`);
  const path = await page.$$eval("#trust-path li a", (as) => as.map((a) => a.textContent));
  assert.deepEqual(path, [CURATOR, ALLY]);
  assert.match(await page.textContent("#agent"), /Trust0\.810/);
  assert.match(await page.textContent("#agent"), /Accuracy \(evidence lens\)\d\.\d{3}/);
  assert.match(await page.textContent("#agent-records"), /claimconsole\/review/);
  await go(page, `#agents?id=${encodeURIComponent(CURATOR)}`, "agents");
  assert.match(await page.textContent("#trusts"), new RegExp(`${ALLY} with weight 0.9`));
  const kinds = await page.$$eval("#agent-records tbody tr", (trs) => trs.map((r) => r.cells[0].textContent));
  for (const kind of ["trust", "gold mark", "claim"]) assert.ok(kinds.includes(kind), `${kind} in ${kinds}`);
  await shot(page, "6-agents");
  await go(page, `#agents?id=${encodeURIComponent("demo/clinic-north")}`, "agents");
  assert.match(await page.textContent("#trust-path"), /No chain from a trust root/);
  // ".." would be resolved away in the URL and reach another route: refused in the page.
  await go(page, "#agents?id=..", "agents");
  assert.match(await page.textContent("main .error"), /cannot be asked for/);
  await finish(tab, server.adminKey);
});

test("a curator approves a quarantined claim", async () => {
  const tab = await newPage(browser);
  const { page } = tab;
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
  // The demo's retraction of its safety study, and the records it took along.
  const retraction = page.locator("#retractions tbody tr", { hasText: "source/DEMO_SAFETY_STUDY" });
  await retraction.locator("a", { hasText: "what it retracted" }).click();
  // The panel was ready before the click (it is still #review), so wait for the reach table
  // itself: reading it at once raced its render (0 rows seen in one CI run).
  await page.waitForFunction(() => document.querySelectorAll("#reach tbody tr").length === 100);
  await ready(page, "review");
  // The demo retracts the study and its 110 dependents: the first page of 100, then the rest.
  const stages = await page.$$eval("#reach tbody tr", (trs) => trs.map((r) => r.cells[5].textContent));
  assert.equal(stages.length, 100);
  assert.ok(stages.every((s) => s === "retracted"), `${stages}`);
  assert.match(await page.textContent("#reach-summary"), /100 records reached, 100 still retracted by it/);
  await page.click("text=Next page");
  await page.waitForFunction(() => document.querySelectorAll("#reach tbody tr").length === 11);
  await ready(page, "review");
  await shot(page, "7b-retraction-reach");
  await finish(tab, keys.curator);
});

test("a write key bound to an agent that is no curator gets no review controls", async () => {
  await call(server, keys.troll, "POST", "/v1/assert", { agent_id: TROLL, subject: "console/review", predicate: "answer", value: 8 });
  const tab = await newPage(browser);
  await login(tab.page, server, keys.troll, "#review");
  assert.ok(await tab.page.$("#queue"));
  assert.ok(await tab.page.$("#no-reviewer"));
  assert.equal((await tab.page.$$("button.approve, button.reject")).length, 0);
  await finish(tab, keys.troll);
});

test("a reader sees no write control on any panel", async () => {
  const tab = await newPage(browser);
  const { page } = tab;
  await login(page, server, keys.reader, "#review");
  assert.match(await page.textContent("#who"), /read/);
  assert.ok(await page.$("#queue"), "the reader sees the queue");
  const hashes = ["#review", "#overview", `#explore?${ASPIRIN}`, `#conflicts?${ASPIRIN}`,
    "#agents?id=demo%2Fclinic-north", `#time?${ASPIRIN}`, "#provenance"];
  for (const hash of hashes) {
    if (hash !== "#review") await go(page, hash, hash.slice(1).split("?")[0]);
    const buttons = await page.$$eval("main button", (bs) => bs.map((b) => b.textContent));
    assert.deepEqual(buttons.filter((b) => !["Explore", "Show", "Trace"].includes(b)), [], `write controls on ${hash}`);
  }
  await go(page, "#review?after=0", "review");
  await shot(page, "8-review-as-reader");
  await finish(tab, keys.reader);
});

test("markup and script in every field show as text on every panel and run nothing", async () => {
  // Held for review, so that the queue shows hostile strings too.
  const quarantined = await call(server, keys.hostile, "POST", "/v1/assert",
    { agent_id: HOSTILE_AGENT, subject: "console/review", predicate: "answer", value: HOSTILE });
  // Without the page's CSP, so that escaping alone is tested.
  const tab = await newPage(browser, { bypassCSP: true });
  const { page } = tab;
  const group = `subject=${encodeURIComponent(`console/${HOSTILE}`)}&predicate=${encodeURIComponent(HOSTILE)}`;
  await login(page, server, keys.hostile, "#overview");
  const visits = [
    ["#overview", "overview"], ["#explore?subject=console%2F*", "explore"], [`#explore?${group}`, "explore"],
    [`#conflicts?${group}`, "conflicts"], [`#provenance?id=${quarantined.id}`, "provenance"], [`#time?${group}`, "time"],
    [`#agents?id=${encodeURIComponent(HOSTILE_AGENT)}`, "agents"], ["#review", "review"],
    [`#review?retraction=${hostileRetraction}`, "review"],
  ];
  for (const [hash, panel] of visits) {
    if (hash !== "#overview") await go(page, hash, panel);
    // In the panel itself: the navigation shows the key's (hostile) name on every page.
    const text = await page.textContent("main#view");
    assert.ok(text.includes(HOSTILE), `${hash}: the hostile string is shown as written`);
    assert.equal(await page.$$eval("img, script:not([src])", (els) => els.length), 0, `${hash}: markup was made`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `${hash}: the page scrolls sideways by ${overflow}px`);
  }
  assert.match(await page.textContent("nav"), /<img src=x/, "the key's name shown as text");
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  await go(page, `#explore?${group}`, "explore");
  await shot(page, "9-hostile-content");
  await finish(tab, keys.hostile);
});

test("the console's answers carry a strict Content-Security-Policy", async () => {
  for (const path of ["/console/", "/console/app.js", "/console/app.css"]) {
    const response = await fetch(`${server.url}${path}`);
    assert.equal(response.status, 200, path);
    const csp = response.headers.get("content-security-policy");
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self';/);
    assert.match(csp, /trusted-types 'none'/);
    assert.doesNotMatch(csp, /unsafe/);
  }
  const root = await fetch(`${server.url}/`, { redirect: "manual" });
  assert.equal(root.headers.get("location"), "/console/");
});

test("the API docs at /docs render under a strict Content-Security-Policy", async () => {
  for (const path of ["/docs/", "/docs/swagger-ui-bundle.js", "/docs/swagger-initializer.js"]) {
    const response = await fetch(`${server.url}${path}`);
    assert.equal(response.status, 200, path);
    const csp = response.headers.get("content-security-policy");
    assert.match(csp, /default-src 'none'/, path);
    assert.match(csp, /script-src 'self';/, path);
    assert.doesNotMatch(csp, /unsafe/, path);
    assert.equal(response.headers.get("x-frame-options"), "DENY", path);
  }
  // Swagger UI itself, in the browser: it loads, reads /openapi.json and lists the operations
  // with no violation of the policy (each is a console error, which fails `finish`).
  const opened = await newPage(browser);
  await opened.page.goto(`${server.url}/docs/`);
  await opened.page.waitForSelector(".opblock-summary", { timeout: 30_000 });
  const operations = await opened.page.locator(".opblock-summary").count();
  assert.ok(operations > 20, `operations listed: ${operations}`);
  // A person authorizes with a key and runs a keyed read: the request goes out and answers.
  const page = opened.page;
  await page.click("button.authorize");
  await page.locator(".modal-ux input").first().fill(server.adminKey);
  await page.locator(".modal-ux button.authorize").first().click();
  await page.locator(".modal-ux button.btn-done").first().click();
  const whoami = page.locator(".opblock-get").filter({ has: page.locator('[data-path="/v1/whoami"]') }).first();
  await whoami.locator(".opblock-summary").click();
  await whoami.locator("button.try-out__btn").click();
  await whoami.locator("button.execute").click();
  await whoami.locator(".live-responses-table tr.response .response-col_status").first().waitFor({ timeout: 10_000 });
  const status = (await whoami.locator(".live-responses-table tr.response .response-col_status").first().innerText()).trim();
  assert.equal(status, "200", "GET /v1/whoami from the docs page, with the key");
  await finish(opened, server.adminKey);
});
