// Time travel: one group's answer at a moment A (as of a valid time, as known at a record
// time) and at a moment B, each moved with sliders over the times the group's records carry,
// and what changed from A to B.
import { add, fill, h, link, number, show, table } from "../dom.js";
import { LENSES } from "./explore.js";
import { groupForm } from "./conflicts.js";
import { claimsTable } from "../records.js";

/** Pages of the group's history read at most (each of the server's default size). */
const HISTORY_PAGES_MAX = 50;

export async function timeTravel(api, who, params, view) {
  add(view, h("h2", {}, "Time travel"), groupForm("time", params));
  if (!params.subject || !params.predicate) {
    add(view, h("p", { class: "hint" }, "A subject and a predicate; Explore links here from each group."));
    return;
  }
  const base = { subject: params.subject, predicate: params.predicate };
  const records = await history(api, base);
  if (!records.length) {
    add(view, h("p", {}, "No claim in this group."));
    return;
  }
  const validTimes = distinct(records.map((r) => r.timestamp));
  const knownTimes = distinct(records.map((r) => r.recorded_at));
  const lens = h("select", { id: "time-lens" }, LENSES.map((l) => h("option", { value: l }, l)));
  const moments = {
    a: { asOf: slider("as-of", validTimes), knownAt: slider("known-at", knownTimes) },
    b: { asOf: slider("as-of-b", validTimes), knownAt: slider("known-at-b", knownTimes) },
  };
  const result = h("div", { id: "time-result" });
  let pending = 0;
  const update = async () => {
    const mine = ++pending;
    const bounds = (m) => ({ as_of: m.asOf.time(), known_at: m.knownAt.time() });
    const [a, b] = [bounds(moments.a), bounds(moments.b)];
    try {
      const [then, later] = await Promise.all([answer(api, base, lens.value, a), answer(api, base, lens.value, b)]);
      if (mine === pending) render(result, a, b, then, later);
    } catch (error) {
      if (mine === pending) result.replaceChildren(h("p", { class: "error", role: "alert" }, error.message));
    }
  };
  const sliders = [moments.a.asOf, moments.a.knownAt, moments.b.asOf, moments.b.knownAt];
  for (const s of sliders) {
    s.input.addEventListener("input", s.label.update);
    s.input.addEventListener("change", update);
  }
  lens.addEventListener("change", update);
  add(view, 
    h("div", { class: "sliders" },
      h("strong", {}, "A"),
      h("label", {}, "valid time (as_of) ", moments.a.asOf.input, moments.a.asOf.label),
      h("label", {}, "known at (recorded by) ", moments.a.knownAt.input, moments.a.knownAt.label),
      h("strong", {}, "B"),
      h("label", {}, "valid time (as_of) ", moments.b.asOf.input, moments.b.asOf.label),
      h("label", {}, "known at (recorded by) ", moments.b.knownAt.input, moments.b.knownAt.label),
      h("label", {}, "Lens ", lens)),
    result);
  await update();
}

/** Every record of the group, retracted and superseded too, page after page. */
async function history(api, base) {
  const first = await api.get("/v1/query", { ...base, lens: "recency", include_superseded: "true", include_retracted: "true" });
  const group = first.groups[0];
  const records = [...(group?.assertions ?? [])];
  let cursor = group?.assertions_cursor;
  for (let page = 1; cursor && page < HISTORY_PAGES_MAX; page++) {
    const next = await api.get("/v1/query", { ...base, lens: "recency", include_superseded: "true", include_retracted: "true", assertions_cursor: cursor });
    records.push(...(next.groups[0]?.assertions ?? []));
    cursor = next.groups[0]?.assertions_cursor;
  }
  return records;
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
  return reply.groups[0] ?? null;
}

function moment(bounds) {
  return `as of ${bounds.as_of ?? "now"}, known at ${bounds.known_at ?? "now"}`;
}

function render(el, a, b, then, later) {
  const ids = (g) => new Set((g?.assertions ?? []).map((r) => r.id));
  const [before, after] = [ids(then), ids(later)];
  const added = (later?.assertions ?? []).filter((r) => !before.has(r.id));
  const gone = (then?.assertions ?? []).filter((r) => !after.has(r.id));
  const winner = (g) => (g?.winner ? [show(g.winner.value), " by ", link("agents", { id: g.winner.agent_id }, g.winner.agent_id)] : "no claim is live");
  fill(el,
    table(["", "moment", "winner", "conflict"], [
      ["A", moment(a), h("span", { id: "winner-a" }, winner(then)), number(then?.conflict_score)],
      ["B", moment(b), h("span", { id: "winner-b" }, winner(later)), number(later?.conflict_score)],
    ], { id: "time-compare" }),
    h("h3", {}, "Claims at A"),
    then ? claimsTable(then.assertions, { id: "claims-a" }) : h("p", {}, "None."),
    h("h3", {}, "From A to B"),
    h("p", { id: "time-diff", "data-added": added.length, "data-gone": gone.length },
      `${added.length} claims count at B and not at A; ${gone.length} count at A and not at B.`),
    added.length ? claimsTable(added, { id: "claims-added" }) : null,
    gone.length ? claimsTable(gone, { id: "claims-gone" }) : null);
  el.dataset.moments = `${a.as_of ?? "now"}|${a.known_at ?? "now"}|${b.as_of ?? "now"}|${b.known_at ?? "now"}`;
}
