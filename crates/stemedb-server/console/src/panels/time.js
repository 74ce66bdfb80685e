// Time travel: one group's answer as of a valid time and as known at a record time, moved
// with two sliders, and what changed between that moment and now.
import { h, link, number, show, table } from "../dom.js";
import { LENSES } from "./explore.js";
import { groupForm } from "./conflicts.js";
import { claimsTable } from "../records.js";

const HISTORY_MAX = 1000;

export async function timeTravel(api, who, params, view) {
  view.append(h("h2", {}, "Time travel"), groupForm("time", params));
  if (!params.subject || !params.predicate) {
    view.append(h("p", { class: "hint" }, "A subject and a predicate; Explore links here from each group."));
    return;
  }
  const base = { subject: params.subject, predicate: params.predicate };
  const history = await api.get("/v1/query", {
    ...base, lens: "recency", include_superseded: "true", include_retracted: "true", assertions_limit: HISTORY_MAX,
  });
  const records = history.groups[0]?.assertions ?? [];
  if (!records.length) {
    view.append(h("p", {}, "No claim in this group."));
    return;
  }
  const validTimes = distinct(records.map((r) => r.timestamp));
  const knownTimes = distinct(records.map((r) => r.recorded_at));
  const lens = h("select", { id: "time-lens" }, LENSES.map((l) => h("option", { value: l }, l)));
  const asOf = slider("as-of", validTimes);
  const knownAt = slider("known-at", knownTimes);
  const result = h("div", { id: "time-result" });
  const now = await answer(api, base, lens.value, {});
  let pending = 0;
  const update = async () => {
    const mine = ++pending;
    const bounds = { as_of: asOf.time(), known_at: knownAt.time() };
    const then = await answer(api, base, lens.value, bounds);
    const later = lens.value === now.lens ? now : await answer(api, base, lens.value, {});
    if (mine === pending) render(result, bounds, then, later);
  };
  for (const input of [asOf.input, knownAt.input, lens]) input.addEventListener("change", update);
  for (const s of [asOf, knownAt]) s.input.addEventListener("input", s.label.update);
  view.append(
    h("div", { class: "sliders" },
      h("label", {}, "Valid time (as_of) ", asOf.input, asOf.label),
      h("label", {}, "Known at (recorded by) ", knownAt.input, knownAt.label),
      h("label", {}, "Lens ", lens)),
    result);
  await update();
}

function distinct(times) {
  return [...new Set(times)].sort((a, b) => Date.parse(a) - Date.parse(b));
}

/** A range over `times` plus "now" at its right end. */
function slider(id, times) {
  const input = h("input", { type: "range", id, min: 0, max: times.length, step: 1, value: times.length });
  const time = () => (Number(input.value) >= times.length ? undefined : times[Number(input.value)]);
  const label = h("output", { for: id, id: `${id}-label` });
  label.update = () => { label.textContent = time() ?? "now"; };
  label.update();
  return { input, label, time };
}

async function answer(api, base, lens, bounds) {
  const reply = await api.get("/v1/query", { ...base, lens, ...bounds });
  return { lens, group: reply.groups[0] ?? null };
}

function render(el, bounds, then, now) {
  const ids = (a) => new Set((a.group?.assertions ?? []).map((r) => r.id));
  const [before, after] = [ids(then), ids(now)];
  const added = (now.group?.assertions ?? []).filter((r) => !before.has(r.id));
  const gone = (then.group?.assertions ?? []).filter((r) => !after.has(r.id));
  const winner = (a) => (a.group?.winner ? [show(a.group.winner.value), " by ", link("agents", { id: a.group.winner.agent_id }, a.group.winner.agent_id)] : "no claim is live");
  el.replaceChildren(
    table(["", "winner", "conflict"], [
      [`then (as of ${bounds.as_of ?? "now"}, known at ${bounds.known_at ?? "now"})`, h("span", { id: "winner-then" }, winner(then)), number(then.group?.conflict_score)],
      ["now", h("span", { id: "winner-now" }, winner(now)), number(now.group?.conflict_score)],
    ], { id: "time-compare" }),
    h("h3", {}, "Claims then"),
    then.group ? claimsTable(then.group.assertions, { id: "claims-then" }) : h("p", {}, "None."),
    h("h3", {}, "Changed since"),
    h("p", { id: "time-diff" }, `${added.length} claims count now that did not then; ${gone.length} counted then and do not now.`),
    added.length ? claimsTable(added, { id: "claims-added" }) : null,
    gone.length ? claimsTable(gone, { id: "claims-gone" }) : null);
  el.dataset.asOf = bounds.as_of ?? "now";
}
