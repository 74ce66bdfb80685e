// Agents and trust: an agent's key, trust, its path from a trust root, its earned accuracy
// and its write circuit.
import { segment } from "../api.js";
import { card as item, h, idForm, link, number } from "../dom.js";

export async function agents(api, who, params, view) {
  view.append(h("h2", {}, "Agents and trust"),
    idForm("agents", params, { id: "agent-id", placeholder: "agent id", size: 40 }, "Show"));
  if (!params.id) {
    view.append(h("p", { class: "hint" }, "An agent id: every claim links to its agent."));
    return;
  }
  const a = await api.get(`/v1/agents/${segment(params.id)}`);
  const r = a.reliability;
  view.append(
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
    trustPath(a));
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
