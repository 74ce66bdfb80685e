// Explore: groups under a subject or prefix; one group with every lens side by side and the
// claims behind the lens picked.
import { add, h, link, number, route, show, table } from "../dom.js";
import { claimsTable } from "../records.js";

export const LENSES = ["evidence", "recency", "authority", "consensus", "conflict", "layered"];
const GROUPS_PER_PAGE = 50;

export async function explore(api, who, params, view) {
  add(view, h("h2", {}, "Explore"), searchForm(params));
  if (!params.subject) {
    add(view, h("p", { class: "hint" }, "A subject (drug/aspirin/dosage) or a prefix ending in /* (drug/*)."));
    return;
  }
  if (params.predicate) return group(api, params, view);
  const answer = await api.get("/v1/query", {
    subject: params.subject, winner_only: "true", limit: GROUPS_PER_PAGE,
    cursor: params.cursor, include_retracted: params.include_retracted,
  });
  if (!answer.groups.length) {
    add(view, h("p", { class: "hint" }, "No group here.", params.subject.endsWith("*") ? "" : " For every subject under it, end it with /*."));
    return;
  }
  add(view, table(["subject", "predicate", "winner (evidence)", "by", "conflict", "claims"],
    answer.groups.map((g) => [
      link("explore", { subject: g.subject, predicate: g.predicate, include_retracted: params.include_retracted }, g.subject),
      g.predicate,
      g.winner ? show(g.winner.value) : "—",
      g.winner ? link("agents", { id: g.winner.agent_id }, g.winner.agent_id) : "—",
      number(g.conflict_score),
      g.assertions_total]), { id: "groups" }),
  answer.next_cursor ? h("a", { href: route("explore", { ...params, cursor: answer.next_cursor }) }, "Next page") : null);
}

function searchForm(params) {
  const subject = h("input", { name: "subject", id: "subject", value: params.subject ?? "", placeholder: "drug/* or drug/aspirin/dosage", size: 40 });
  const predicate = h("input", { name: "predicate", id: "predicate", value: params.predicate ?? "", placeholder: "predicate (optional)" });
  const retracted = h("input", { type: "checkbox", id: "include_retracted", checked: params.include_retracted === "true" });
  return h("form", { class: "search", onsubmit: (event) => {
    event.preventDefault();
    location.hash = route("explore", {
      subject: subject.value.trim(),
      ...(predicate.value.trim() ? { predicate: predicate.value.trim() } : {}),
      ...(retracted.checked ? { include_retracted: "true" } : {}),
    });
  } }, subject, predicate, h("label", {}, retracted, " retracted too"), h("button", { type: "submit" }, "Explore"));
}

async function group(api, params, view) {
  const base = { subject: params.subject, predicate: params.predicate, include_retracted: params.include_retracted };
  const answers = await Promise.all(LENSES.map((lens) => api.get("/v1/query", { ...base, lens })
    .then((a) => a.groups[0] ?? null)));
  const picked = LENSES.includes(params.lens) ? params.lens : "evidence";
  add(view, 
    h("h3", {}, params.subject, " · ", params.predicate),
    h("p", {}, link("conflicts", base, "The skeptic's view"), " · ", link("time", base, "Through time")),
    table(["lens", "winner", "by", "conflict", "explanation"],
      LENSES.map((lens, i) => {
        const g = answers[i];
        return [lens, g?.winner ? show(g.winner.value) : "—",
          g?.winner ? link("agents", { id: g.winner.agent_id }, g.winner.agent_id) : "—",
          number(g?.conflict_score), g?.explanation ?? "no claim is live"];
      }), { id: "lenses" }),
    h("h3", {}, "Claims, as ranked by ", lensPicker(params, picked)));
  const chosen = answers[LENSES.indexOf(picked)];
  if (!chosen) return add(view, h("p", {}, "No claim is live."));
  add(view, claimsTable(chosen.assertions, { id: "claims", "data-lens": picked }));
  if (chosen.assertions_total > chosen.assertions.length) {
    add(view, h("p", { class: "hint" }, `The first ${chosen.assertions.length} of ${chosen.assertions_total} claims; the rest through the API (assertions_cursor).`));
  }
}

function lensPicker(params, picked) {
  return h("select", { id: "lens", onchange: (event) => {
    location.hash = route("explore", { ...params, lens: event.target.value });
  } }, LENSES.map((lens) => h("option", { value: lens, selected: lens === picked }, lens)));
}
