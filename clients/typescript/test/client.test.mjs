// The client against a real server: writes, every lens, time travel, retraction and
// reinstatement, votes, trust, provenance, the skeptic, the audit export verified offline,
// failover, and the server's problems as typed errors.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Client, Key, StemeDBError, Unavailable, draft, sign, verifyExport, verifyRecord } from "../dist/index.js";
import { startServer } from "./server.mjs";

const server = await startServer();
after(() => server.stop());
const db = new Client({ urls: server.url, apiKey: server.apiKey });

test("write, read, retract, reinstate and explain", async () => {
  const alice = await Key.generate(), bob = await Key.generate();
  const first = await db.assert(alice, "agent/alice", "drug/ts1/dose", "mg", 81, { confidence: 0.9, sources: ["source/TSTRIAL"] });
  assert.ok(!first.duplicate && first.sequence > 0);
  const beforeBob = new Date().toISOString();
  await new Promise((r) => setTimeout(r, 5));
  const second = await db.assert(bob, "agent/bob", "drug/ts1/dose", "mg", 100);
  for (const lens of ["recency", "authority", "consensus", "conflict", "layered", "evidence"]) {
    const group = (await db.query("drug/ts1/dose", { predicate: "mg", lens })).groups[0];
    assert.deepEqual(new Set(group.assertions.map((a) => a.id)), new Set([first.id, second.id]), lens);
    for (const a of group.assertions) assert.ok(await verifyRecord(a), lens);
  }
  assert.equal((await db.query("drug/ts1/dose", { lens: "recency" })).groups[0].winner.value, 100);
  assert.equal((await db.query("drug/ts1/dose", { known_at: beforeBob })).groups[0].winner.id, first.id);
  const only = (await db.query("drug/ts1/dose", { lens: "recency", winner_only: true })).groups[0];
  assert.equal(only.winner.id, second.id);
  assert.deepEqual(only.assertions, []);
  assert.deepEqual((await db.get(first.id)).sources, ["source/TSTRIAL"]);
  assert.equal(await db.get("ab".repeat(32)), null);
  assert.ok((await db.vote(bob, "agent/bob", first.id)).sequence > second.sequence);
  assert.ok((await db.trust(bob, "agent/bob", "agent/alice", 0.8)).id);
  const retraction = await db.retract(bob, "agent/bob", second.id, "typo");
  assert.equal(retraction.retracted_count, 1);
  assert.equal((await db.get(second.id)).lifecycle_stage, "retracted");
  assert.equal((await db.reinstate(bob, "agent/bob", retraction.id, "no typo")).reinstated_count, 1);
  const tree = await db.provenance(first.id);
  assert.deepEqual(tree.sources.map((s) => s.subject), ["source/TSTRIAL"]);
  assert.ok((await db.skeptic("drug/ts1/dose", "mg")).conflict_score > 0);
  const exported = await db.auditExport("drug/ts1/*");
  const report = await verifyExport(exported);
  assert.ok(report.ok, JSON.stringify(report));
  assert.equal(report.assertions, 2);
  const flipped = exported.replace("\"mg\"", "\"mh\"");
  assert.ok(!(await verifyExport(flipped)).ok, "a changed byte is noticed");
});

test("duplicates, batches and paging", async () => {
  const key = await Key.generate();
  const wire = await sign(draft("agent/tb", "drug/ts2/a", "mg", 1, { timestamp: "2026-01-01T00:00:00Z" }), key);
  assert.ok(!(await db.write(wire)).duplicate);
  assert.ok((await db.write(wire)).duplicate);
  const wires = await Promise.all([0, 1, 2, 3, 4].map((i) => sign(draft("agent/tb", `drug/ts2/${i}`, "mg", i), key)));
  const bad = { ...(await sign(draft("agent/tb", "drug/ts2/bad", "mg", 1), key)), value: 2 };
  const batch = await db.writeBatch([...wires, wire, bad]);
  assert.deepEqual([batch.accepted, batch.duplicates, batch.rejected], [5, 1, 1]);
  const page = await db.query("drug/ts2/*", { limit: 2 });
  assert.equal(page.groups.length, 2);
  assert.ok(page.next_cursor);
  const all = [];
  for await (const group of db.queryAll("drug/ts2/*", { limit: 2 })) all.push(group);
  assert.equal(all.length, 6);
});

test("problems are typed errors", async () => {
  const key = await Key.generate();
  const refused = await db.assert(key, "agent/e", "drug/ts3", "mg", 1, { confidence: 1.5 }).catch((e) => e);
  assert.ok(refused instanceof StemeDBError);
  assert.equal(refused.status, 422);
  assert.deepEqual([refused.field, refused.rule], ["confidence", "range_0_1"]);
  const missing = await db.retract(key, "agent/e", "ab".repeat(32), "nothing there").catch((e) => e);
  assert.equal(missing.rule, "target_exists");
  assert.throws(() => db.get("not-an-id"), /not a record id/);
});

test("failover to the next server, and a clear error when none answers", async () => {
  const two = new Client({ urls: ["http://127.0.0.1:9", server.url], apiKey: server.apiKey, retries: 0 });
  assert.equal((await two.health()).status, "ok");
  const written = await two.assert(await Key.generate(), "agent/f", "drug/ts4", "mg", 4);
  assert.equal((await two.get(written.id)).value, 4);
  const none = new Client({ urls: ["127.0.0.1:9", "http://127.0.0.1:10"], apiKey: server.apiKey, retries: 1 });
  const error = await none.health().catch((e) => e);
  assert.ok(error instanceof Unavailable);
  assert.equal(error.causes.length, 4, "two servers, tried twice each");
  assert.match(error.message, /127\.0\.0\.1:9/);
});
