// Agents and trust: an agent's key, trust, its path from a trust root, whom it trusts, its
// earned accuracy, its write circuit, and what it signed (claims, votes, trust, retractions,
// reviews), newest first.
import { segment } from "../api.js";
import { add, card as item, h, idForm, link, number, route, shortId, show, table } from "../dom.js";
import { verdict } from "../records.js";

const RECORDS_PER_PAGE = 50;
/** What each control predicate is, for a person. */
const KINDS = {
  "stemedb:vote": "vote", "stemedb:trusts": "trust", "stemedb:retracts": "retraction",
  "stemedb:review": "review", "stemedb:gold-standard": "gold mark", "stemedb:epoch": "epoch",
  "stemedb:grants-role": "role grant",
};

export async function agents(api, who, params, view) {
  add(view, h("h2", {}, "Agents and trust"),
    idForm("agents", params, { id: "agent-id", placeholder: "agent id", size: 40 }, "Show"));
  if (!params.id) {
    add(view, h("p", { class: "hint" }, "An agent id: every claim links to its agent."));
    return;
  }
  const [a, signed] = await Promise.all([
    api.get(`/v1/agents/${segment(params.id)}`),
    api.get(`/v1/agents/${segment(params.id)}/records`, { limit: RECORDS_PER_PAGE, before: params.before }),
  ]);
  const r = a.reliability;
  add(view, 
    h("h3", {}, a.agent_id),
    h("dl", { class: "cards", id: "agent" },
      item("Trust", number(a.trust)),
      item("Roles", [a.trust_root ? "trust root" : "", a.curator ? "curator" : ""].filter(Boolean).join(", ") || "none"),
      item("Records signed", a.record_count.toLocaleString()),
      item("Accuracy (evidence lens)", `${number(r.accuracy)} — agreed on ${r.agreed} of ${r.claims} facts${r.anchored ? ", floor from its trust chain" : ""}`),
      item("Repeats", r.copy_of ? link("agents", { id: r.copy_of }, r.copy_of) : "nobody"),
      item("Write circuit", a.circuit.state),
      item("Public key", h("code", {}, a.public_key ?? "none yet"))),
    h("h3", {}, "Trust path"),
    trustPath(a),
    h("h3", {}, "Trusts (in the records below)"),
    trusts(signed.records),
    h("h3", {}, "What it signed, newest first"),
    recordsTable(signed.records),
    signed.next_before !== null ? h("a", { href: route("agents", { id: params.id, before: signed.next_before }) }, "Older") : null);
}

function trusts(records) {
  const statements = records.filter((x) => x.predicate === "stemedb:trusts");
  if (!statements.length) return h("p", { class: "hint", id: "trusts" }, "No trust statement here.");
  return h("ul", { id: "trusts" }, statements.map((x) => {
    const trustee = String(x.subject).replace(/^agent\//, "");
    return h("li", {}, link("agents", { id: trustee }, trustee), ` with weight ${show(x.value?.weight ?? x.value)}`);
  }));
}

function recordsTable(records) {
  if (!records.length) return h("p", { class: "hint", id: "agent-records" }, "Nothing signed yet.");
  return table(["kind", "subject or target", "predicate", "value", "stage", "valid time", "id", "check"],
    records.map((x) => {
      const kind = KINDS[x.predicate];
      const about = kind
        ? /^[0-9a-f]{64}$/.test(x.subject) ? link("provenance", { id: x.subject }, shortId(x.subject)) : x.subject
        : link("explore", { subject: x.subject, predicate: x.predicate }, x.subject);
      return [kind ?? "claim", about, x.predicate, show(x.value), x.lifecycle_stage, x.timestamp,
        link("provenance", { id: x.id }, shortId(x.id)), verdict(x)];
    }), { id: "agent-records" });
}

/** Root first, this agent last, each hop an arrow: the chain its trust comes through. */
function trustPath(a) {
  if (!a.trust_path.length) {
    return h("p", { class: "hint", id: "trust-path" }, "No chain from a trust root: the default trust applies.");
  }
  return h("ol", { class: "chain", id: "trust-path" },
    a.trust_path.map((id, i) => h("li", {}, link("agents", { id }, id),
      i === 0 ? h("span", { class: "hint" }, " (trust root)") : null)));
}
