// Signing as docs/signing.md defines it: every published vector, and key files shared with the CLI.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, mkdtempSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { Key, assertionId, canonical, fromHex, sign, verifyRecord } from "../dist/index.js";
import { root, stemedbBin } from "./server.mjs";

const vectors = JSON.parse(readFileSync(join(root, "tests", "vectors", "signing.json"), "utf8"));

test("every published vector is reproduced", async () => {
  assert.ok(vectors.vectors.length > 0);
  for (const v of vectors.vectors) {
    const key = await Key.fromSeed(fromHex(v.seed));
    assert.equal(key.publicKeyHex, v.public_key, v.name);
    assert.equal(new TextDecoder().decode(canonical(v.body)), v.canonical, v.name);
    assert.equal(assertionId(v.body), v.id, v.name);
    assert.equal((await sign(v.body, key)).signature, v.signature, v.name);
  }
});

test("key files are the CLI's, both ways", async () => {
  const dir = mkdtempSync(join(tmpdir(), "stemedb-ts-keys-"));
  execFileSync(stemedbBin(), ["keygen", "--out", join(dir, "cli.key")], { stdio: "ignore" });
  const text = readFileSync(join(dir, "cli.key"), "utf8");
  const key = await Key.fromKeyFile(text);
  assert.equal(key.publicKeyHex, JSON.parse(text).public_key);
  const again = await Key.fromKeyFile((await Key.generate()).toKeyFile());
  assert.equal(again.publicKeyHex.length, 64);
  await assert.rejects(Key.fromKeyFile(JSON.stringify({ ...JSON.parse(text), public_key: "00".repeat(32) })));
});

test("a record verifies offline until a byte changes", async () => {
  const key = await Key.fromSeed(new Uint8Array(32).map((_, i) => i));
  const body = { agent_id: "agent/a", subject: "s/1", predicate: "p", value: 81, timestamp: "2026-01-01T00:00:00Z" };
  const wire = await sign(body, key);
  const record = { ...wire, id: assertionId({ ...body, public_key: key.publicKeyHex }), sequence: 1 };
  assert.ok(await verifyRecord(record));
  assert.ok(!(await verifyRecord({ ...record, value: 82 })));
  assert.ok(!(await verifyRecord({ ...record, signature: "00".repeat(64) })));
  await assert.rejects(sign(wire, key), /already signed/);
});
