// Runs in a real browser (tests/browser.sh): the published signing vectors and a round trip
// through a StemeDB server, with the SDK as a bundler would package it. The verdict goes into
// the page (`#result`), which the headless browser prints.
import { Client, Key, assertionId, canonical, fromHex, sign, verifyRecord } from "../../dist/index.js";

const out = document.getElementById("result");
const failures = [];
const check = (name, ok) => { if (!ok) failures.push(name); };

async function run() {
  const params = new URLSearchParams(location.search);
  const vectors = await (await fetch("vectors.json")).json();
  check("the vectors file holds vectors", vectors.vectors.length > 0);
  for (const v of vectors.vectors) {
    const key = await Key.fromSeed(fromHex(v.seed));
    check(`${v.name}: public_key`, key.publicKeyHex === v.public_key);
    check(`${v.name}: canonical`, new TextDecoder().decode(canonical(v.body)) === v.canonical);
    check(`${v.name}: id`, assertionId(v.body) === v.id);
    check(`${v.name}: signature`, (await sign(v.body, key)).signature === v.signature);
  }
  const db = new Client({ urls: params.get("server"), apiKey: params.get("key") });
  const key = await Key.generate();
  const written = await db.assert(key, "agent/browser", "drug/browser/dose", "mg", 81);
  const group = (await db.query("drug/browser/dose")).groups[0];
  check("round trip: winner", group.winner.id === written.id);
  check("round trip: verifies", await verifyRecord(group.winner));
  return vectors.vectors.length;
}

run().then(
  (n) => { out.textContent = failures.length ? `FAILED ${failures.join("; ")}` : `PASSED ${n} vectors and a round trip`; },
  (e) => { out.textContent = `FAILED ${e}`; },
);
