// Pieces shared by the panels that list records: the claims table and the in-page signature
// check of each row.
import { h, link, number, shortId, show, table } from "./dom.js";
import { verify } from "./verify.js";

/** A verdict cell: the id and signature checked here, in the browser. What it proves: the
 * record is exactly what the key in it signed. Whose key that is, is a separate question
 * (the provenance panel compares it with the agent's bound key); the fingerprint lets a
 * reader compare it with a key they know. */
export function verdict(record) {
  const { id, signature } = verify(record);
  const ok = id && signature;
  const key = String(record.public_key ?? "").slice(0, 8);
  return h("span", { class: ok ? "ok" : "bad", "data-verified": String(ok), title: `public key ${record.public_key}` },
    ok ? `✓ signed by key ${key}…` : id ? "✗ signature fails" : "✗ id does not match the body");
}

/** The claims of a group, ranked, each with its agent, stage and in-page check. */
export function claimsTable(records, attrs = {}) {
  return table(["#", "value", "agent", "confidence", "valid time", "stage", "sources", "id", "check"],
    records.map((r, i) => [
      i + 1,
      show(r.value),
      link("agents", { id: r.agent_id }, r.agent_id),
      number(r.confidence ?? 1, 2),
      r.timestamp,
      r.lifecycle_stage,
      (r.sources ?? []).flatMap((s, k) => [k ? ", " : "", link("explore", { subject: s, include_retracted: "true" }, s)]),
      link("provenance", { id: r.id }, shortId(r.id)),
      verdict(r)]), { class: "claims", ...attrs });
}
