// Conflicts: the skeptic's view of one group (clusters, outliers, whether it is disputed,
// the weighted median).
import { add, card, h, link, number, route, show, table } from "../dom.js";

export async function conflicts(api, who, params, view) {
  add(view, h("h2", {}, "Conflicts"), groupForm("conflicts", params));
  if (!params.subject || !params.predicate) {
    add(view, h("p", { class: "hint" }, "A subject and a predicate; the overview lists the most disputed."));
    return;
  }
  const s = await api.get("/v1/skeptic", { subject: params.subject, predicate: params.predicate });
  add(view, 
    h("h3", {}, s.subject, " · ", s.predicate),
    h("dl", { class: "cards", id: "skeptic" },
      card("Conflict score", number(s.conflict_score)),
      card("Disputed", s.disputed ? `yes (score ≥ ${s.disputed_score_min})` : "no", { class: s.disputed ? "bad" : "ok" }),
      card("Weighted median", s.weighted_median === null ? "— (not all numbers)" : show(s.weighted_median))),
    h("h3", {}, "Clusters"),
    table(["value", "share", "weight", "agents"], s.clusters.map((c) => [
      show(c.value), `${(c.share * 100).toFixed(1)} %`, number(c.weight),
      c.agents.flatMap((a, i) => [i ? ", " : "", link("agents", { id: a }, a)])]), { id: "clusters" }),
    h("h3", {}, "Outliers (", s.outlier_rule, ")"),
    s.outliers.length
      ? table(["value", "agent", "distance", "id"], s.outliers.map((o) => [
        show(o.value), link("agents", { id: o.agent_id }, o.agent_id), number(o.distance), link("provenance", { id: o.id }, o.id.slice(0, 12))]), { id: "outliers" })
      : h("p", { class: "hint" }, "None."));
}

/** Subject and predicate for a panel about one group. */
export function groupForm(panel, params, extra = []) {
  const subject = h("input", { id: "subject", value: params.subject ?? "", placeholder: "subject", size: 36 });
  const predicate = h("input", { id: "predicate", value: params.predicate ?? "", placeholder: "predicate" });
  return h("form", { class: "search", onsubmit: (event) => {
    event.preventDefault();
    location.hash = route(panel, { subject: subject.value.trim(), predicate: predicate.value.trim() });
  } }, subject, predicate, extra, h("button", { type: "submit" }, "Show"));
}
