// Overview: counts, rates and latency (from /metrics, read twice for rates), the most
// disputed groups, the quarantine backlog, recent retractions and, in a cluster, the nodes.
import { add, card, h, link, number, shortId, show, table } from "../dom.js";
import { buckets, bucketsBetween, parseMetrics, quantile, total } from "../metrics.js";

const RATE_WINDOW_MS = 2000;

export async function overview(api, who, params, view) {
  // The overview's own answer is the panel; the metrics and the cluster add to it, and a
  // failure of either shows as a gap, not as a lost panel.
  const [summary, metricsText] = await Promise.all([api.get("/v1/overview"), api.text("/metrics").catch(() => null)]);
  const cluster = summary.clustered ? await api.get("/v1/cluster/members").catch((e) => e) : null;
  const first = metricsText === null ? null : parseMetrics(metricsText);
  const rates = h("dl", { class: "cards", id: "rates" });
  add(view, 
    h("h2", {}, "Overview"),
    h("dl", { class: "cards", id: "counts" },
      card("Assertions", summary.assertion_count.toLocaleString()),
      card("Quarantine backlog", link("review", {}, backlog(summary))),
      card("Query latency p50 / p99 (since start)", first ? latency(buckets(first, "stemedb_query_latency_seconds")) : "— (metrics unreadable)"),
      card("Disputed groups as of sequence", summary.disputed_sequence.toLocaleString())),
    rates,
    h("h3", {}, "Most disputed"),
    summary.disputed.length
      ? table(["subject", "predicate", "claims", "dissenting", "values"],
        summary.disputed.map((g) => [
          link("explore", { subject: g.subject, predicate: g.predicate }, g.subject),
          g.predicate, g.claims, g.dissenting, g.values]), { id: "disputed" })
      : h("p", { class: "hint" }, summary.disputed_sequence
        ? "No group has agents that disagree."
        : "The reliability table has not been made yet; disputed groups appear after it is."),
    h("h3", {}, "Recent retractions"),
    retractionsTable(summary),
    clusterNodes(cluster));
  if (!first) return;
  fillRates(rates, [card("Ingest rate", "measuring…"), card("Query rate", "measuring…")]);
  // The page is usable now; the rates arrive a moment later from a second read.
  setTimeout(() => measureRates(api, first, rates), RATE_WINDOW_MS);
}

function backlog(summary) {
  const n = summary.quarantine_backlog.toLocaleString();
  return summary.quarantine_backlog >= summary.quarantine_backlog_max ? `${n}+` : n;
}

function fillRates(el, cards) {
  el.replaceChildren(...cards);
}

async function measureRates(api, first, el) {
  // Left, or logged out: nothing to show it on, and the key may be gone.
  if (!el.isConnected) return;
  const text = await api.text("/metrics").catch(() => null);
  if (text === null) {
    fillRates(el, [card("Ingest rate", "— (metrics unreadable)"), card("Query rate", "—")]);
    return;
  }
  const second = parseMetrics(text);
  const seconds = RATE_WINDOW_MS / 1000;
  const rate = (name) => `${((total(second, name) - total(first, name)) / seconds).toFixed(1)} /s`;
  const recent = bucketsBetween(buckets(first, "stemedb_query_latency_seconds"), buckets(second, "stemedb_query_latency_seconds"));
  fillRates(el, [
    card("Ingest rate", rate("stemedb_assertions_ingested_total")),
    card("Query rate", rate("stemedb_queries_total")),
    card("Query latency p50 / p99 (last 2 s)", latency(recent)),
  ]);
  el.dataset.measured = "true";
}

function latency(cumulative) {
  const ms = (s) => (s === null ? "—" : s === Infinity ? "> last bucket" : `≤ ${(s * 1000).toPrecision(2)} ms`);
  return `${ms(quantile(cumulative, 0.5))} / ${ms(quantile(cumulative, 0.99))}`;
}

/** The recent retractions: each with its target, signer, reason, whether it cascades to
 * what cites its target, and its own stage. */
export function retractionsTable(summary) {
  if (!summary.retractions.length) {
    return h("p", { class: "hint" }, `None among the last ${summary.retractions_scanned.toLocaleString()} records.`);
  }
  return table(["retraction", "of", "by", "reason", "cascade", "stage", "recorded", ""],
    summary.retractions.map((r) => [
      link("provenance", { id: r.id }, shortId(r.id)),
      retractionTarget(r.subject),
      link("agents", { id: r.agent_id }, r.agent_id),
      show(r.value?.reason ?? r.value),
      r.value?.cascade ? "to what cites it" : "no",
      r.lifecycle_stage,
      r.recorded_at,
      link("review", { retraction: r.id }, "what it retracted")]), { id: "retractions" });
}

/** A retraction's target: an assertion id (its provenance) or a subject (explored). */
export function retractionTarget(target) {
  return /^[0-9a-f]{64}$/.test(target)
    ? link("provenance", { id: target }, shortId(target))
    : link("explore", { subject: target, include_retracted: "true" }, target);
}

function clusterNodes(cluster) {
  if (!cluster) return h("p", { class: "hint" }, "A single node (no cluster).");
  if (cluster instanceof Error) return h("p", { class: "error" }, "Cluster nodes unreadable: ", cluster.message);
  return [h("h3", {}, "Cluster nodes"),
    table(["node", "status", "applied sequence", "lag (entries)", "lag (s)", "heartbeat age (ms)"],
      cluster.members.map((m) => [m.node_id, m.status, m.applied_sequence, m.lag_sequences, number(m.lag_seconds, 3), m.heartbeat_age_ms]),
      { id: "cluster" })];
}
