// Review: the quarantine queue, with approve and reject for a key that can sign reviews
// through the server, and the recent retractions. A read key sees no write control at all.
import { segment } from "../api.js";
import { add, h, link, shortId, show, table } from "../dom.js";
import { retractionTarget, retractionsTable } from "./overview.js";
import { claimsTable, verdict } from "../records.js";

const QUEUE_PAGE = 100;

export async function review(api, who, params, view) {
  if (params.retraction) return reach(api, params, view);
  const [queue, summary] = await Promise.all([
    api.get("/v1/quarantine", { limit: QUEUE_PAGE, after: params.after }),
    api.get("/v1/overview", { disputed: 1 }),
  ]);
  const reviewer = await curatorOf(api, who);
  add(view, h("h2", {}, "Review"), h("h3", {}, "Quarantine"));
  if (who.role !== "read" && !reviewer) {
    add(view, h("p", { class: "hint", id: "no-reviewer" }, "This key signs for no curator, so it cannot review here; ",
      "a write key bound to a curator's agent can (stemedb api-key create --role write --agent-id …), or post a signed stemedb:review record to POST /v1/quarantine/{id}/approve (docs/truth.md)."));
  } else if (reviewer) {
    add(view, h("p", { class: "hint" }, "Reviews are signed by the server for the curator ", reviewer, "."));
  }
  if (!queue.items.length) add(view, h("p", { id: "queue-empty" }, "Nothing is held."));
  else add(view, queueTable(api, queue.items, reviewer));
  if (queue.next_after !== null) add(view, link("review", { after: queue.next_after }, "Next page"));
  add(view, h("h3", {}, "Recent retractions"), retractionsTable(summary));
}

/** One retraction and a page of the records it reached, each with its stage now. */
async function reach(api, params, view) {
  const answer = await api.get(`/v1/retractions/${segment(params.retraction)}`, { after: params.after });
  const r = answer.retraction;
  const still = answer.reached.filter((x) => x.retracted_by === r.id).length;
  add(view, h("h2", {}, "Review"), h("h3", {}, "What a retraction reached"),
    h("p", { id: "reach-summary" }, link("agents", { id: r.agent_id }, r.agent_id), " retracted ", retractionTarget(r.subject),
      `: ${show(r.value?.reason ?? r.value)}${r.value?.cascade ? " (cascading to what cites or derives from it)" : ""}. `,
      `On this page ${answer.reached.length} records reached, ${still} still retracted by it `,
      "(the others reinstated, or held by another retraction). ", link("review", {}, "Back to the queue")),
    answer.reached.length ? claimsTable(answer.reached, { id: "reach" }) : h("p", { class: "hint", id: "reach" }, "It reached no record (a dispute only)."),
    answer.next_after !== null ? link("review", { retraction: params.retraction, after: answer.next_after }, "Next page") : null);
}

/** The first agent this key signs for that is a curator (only a curator's review counts). */
async function curatorOf(api, who) {
  if (who.role === "read") return null;
  for (const id of who.agent_ids) {
    const agent = await api.get(`/v1/agents/${segment(id)}`).catch(() => null);
    if (agent?.curator) return id;
  }
  return null;
}

function queueTable(api, items, reviewer) {
  const headers = ["subject", "predicate", "value", "agent", "rule", "id", "check"];
  return table(reviewer ? [...headers, "decision"] : headers, items.map(({ record, rule }) => {
    const cells = [record.subject, record.predicate, show(record.value),
      link("agents", { id: record.agent_id }, record.agent_id), rule,
      link("provenance", { id: record.id }, shortId(record.id)), verdict(record)];
    return reviewer ? [...cells, decide(api, record.id, reviewer)] : cells;
  }), { id: "queue" });
}

function decide(api, id, reviewer) {
  const status = h("span", { class: "status" });
  const send = (decision) => async () => {
    for (const b of buttons) b.disabled = true;
    try {
      const answer = await api.post(`/v1/quarantine/${segment(id)}/${decision}`, { agent_id: reviewer });
      status.textContent = answer.effective ? `${decision}d` : `${decision} recorded, not effective (${reviewer} is no longer a curator?)`;
      status.className = `status ${answer.effective ? "ok" : "bad"}`;
    } catch (error) {
      status.textContent = error.message;
      status.className = "status bad";
      for (const b of buttons) b.disabled = false;
    }
  };
  const buttons = [
    h("button", { class: "approve", onclick: send("approve") }, "Approve"),
    h("button", { class: "reject", onclick: send("reject") }, "Reject"),
  ];
  return h("span", { class: "decide" }, buttons, status);
}
