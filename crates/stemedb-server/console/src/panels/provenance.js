// Provenance: the chain from an assertion down to its sources, each record checked in the page
// (id and signature) beside the server's own verdict.
import { segment } from "../api.js";
import { add, h, idForm, link, shortId, show } from "../dom.js";
import { verdict } from "../records.js";

export async function provenance(api, who, params, view) {
  add(view, h("h2", {}, "Provenance"),
    idForm("provenance", params, { id: "assertion-id", placeholder: "assertion id (64 hex digits)", size: 70 }, "Trace"));
  if (!params.id) {
    add(view, h("p", { class: "hint" }, "An assertion's id: every claim in Explore links here."));
    return;
  }
  const tree = await api.get(`/v1/assertions/${segment(params.id)}/provenance`);
  const keys = await boundKeys(api, tree);
  const checks = { total: 0, verified: 0, keys };
  const graph = h("ul", { class: "tree", id: "provenance" }, node(tree, checks));
  add(view, 
    h("p", { id: "verified-summary", class: checks.verified === checks.total ? "ok" : "bad" },
      `${checks.verified} of ${checks.total} records verified in this page: BLAKE3 id and Ed25519 signature `,
      "computed here from the records, and the signing key the one bound to the agent."),
    graph);
}

/** Each agent's bound key, as the server reports it (`GET /v1/agents/{id}`). */
async function boundKeys(api, tree) {
  const agents = new Set();
  const walk = (n) => {
    agents.add(n.assertion.agent_id);
    for (const s of n.sources ?? []) for (const leaf of s.assertions) agents.add(leaf.assertion.agent_id);
    for (const d of n.derived_from ?? []) walk(d);
  };
  walk(tree);
  const entries = await Promise.all([...agents].map(async (id) => {
    const agent = await api.get(`/v1/agents/${segment(id)}`).catch(() => null);
    return [id, agent?.public_key ?? null];
  }));
  return new Map(entries);
}

function node(n, checks) {
  const record = n.assertion;
  return h("li", { class: "node" },
    recordCard(record, n.signature_valid, checks),
    n.cycle ? h("p", { class: "hint" }, "already shown above (a cycle)") : null,
    n.truncated ? h("p", { class: "hint" }, "the depth limit stopped here") : null,
    n.missing?.length ? h("p", { class: "bad" }, "not stored here: ", n.missing.join(", ")) : null,
    (n.sources ?? []).length || (n.derived_from ?? []).length
      ? h("ul", {},
        (n.sources ?? []).map((s) => source(s, checks)),
        (n.derived_from ?? []).map((d) => node(d, checks)))
      : null);
}

function source(s, checks) {
  return h("li", { class: "source" },
    h("div", { class: "card" },
      h("strong", {}, "source "), link("explore", { subject: s.subject, include_retracted: "true" }, s.subject),
      s.retracted_by.length
        ? h("p", { class: "bad" }, "retracted by ", s.retracted_by.flatMap((id, i) => [i ? ", " : "", shortId(id)]))
        : null),
    s.assertions.length ? h("ul", {}, s.assertions.map((leaf) => h("li", {}, recordCard(leaf.assertion, leaf.signature_valid, checks)))) : null);
}

function recordCard(record, serverValid, checks) {
  const mine = verdict(record);
  const bound = checks.keys.get(record.agent_id);
  const keyMatches = bound === record.public_key;
  checks.total += 1;
  if (mine.dataset.verified === "true" && keyMatches) checks.verified += 1;
  return h("div", { class: `card stage-${record.lifecycle_stage}` },
    h("div", {}, h("strong", {}, record.subject), " · ", record.predicate, " = ", h("span", { class: "value" }, show(record.value))),
    h("div", { class: "meta" },
      link("agents", { id: record.agent_id }, record.agent_id), " · ", record.lifecycle_stage, " · ",
      link("provenance", { id: record.id }, shortId(record.id)),
      record.retracted_by ? [" · retracted: ", show(record.retraction_reason ?? "")] : null),
    h("div", { class: "checks" }, mine,
      keyMatches ? " · the agent's bound key" : h("span", { class: "bad", "data-key-mismatch": "true" }, " · ✗ not the key bound to this agent"),
      ` · server: ${serverValid ? "valid" : "INVALID"}`));
}
