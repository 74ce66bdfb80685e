// Pieces shared by the panels that list records: the claims table and the in-page signature
// check of each row.
import { h, link, number, shortId, show, table } from "./dom.js";
import { verify } from "./verify.js";

/** A verdict cell: the id and signature checked here, in the browser. */
export function verdict(record) {
  const { id, signature } = verify(record);
  const ok = id && signature;
  return h("span", { class: ok ? "ok" : "bad", "data-verified": String(ok) },
    ok ? "✓ verified here" : id ? "✗ signature fails" : "✗ id does not match the body");
}

/** The claims of a group, ranked, each with its agent, stage and in-page check. */
export function claimsTable(records, attrs = {}) {
  return table(["#", "value", "agent", "confidence", "valid time", "stage", "id", "check"],
    records.map((r, i) => [
      i + 1,
      show(r.value),
      link("agents", { id: r.agent_id }, r.agent_id),
      number(r.confidence ?? 1, 2),
      r.timestamp,
      r.lifecycle_stage,
      link("provenance", { id: r.id }, shortId(r.id)),
      verdict(r)]), { class: "claims", ...attrs });
}
