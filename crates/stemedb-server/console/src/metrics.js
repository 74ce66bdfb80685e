// Reads the Prometheus text of /metrics into numbers: counters summed over their labels, and
// latency quantiles estimated from a histogram's cumulative buckets.

/** `{name → [{labels, value}]}` from Prometheus text format. */
export function parseMetrics(text) {
  const out = new Map();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels = Object.fromEntries(
      [...(match[3] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    const list = out.get(match[1]) ?? [];
    list.push({ labels, value: Number(match[4]) });
    out.set(match[1], list);
  }
  return out;
}

/** The sum of a metric over all its label sets (0 when absent). */
export function total(metrics, name) {
  return (metrics.get(name) ?? []).reduce((sum, m) => sum + (Number.isFinite(m.value) ? m.value : 0), 0);
}

/** Cumulative bucket counts of a histogram, summed over labels: `[[le, count]…]` by `le`. */
export function buckets(metrics, name) {
  const byBound = new Map();
  for (const m of metrics.get(`${name}_bucket`) ?? []) {
    const le = m.labels.le === "+Inf" ? Infinity : Number(m.labels.le);
    byBound.set(le, (byBound.get(le) ?? 0) + m.value);
  }
  return [...byBound.entries()].sort((a, b) => a[0] - b[0]);
}

/** The upper bound of the bucket holding quantile `q` (null with no samples). */
export function quantile(cumulative, q) {
  const count = cumulative.length ? cumulative[cumulative.length - 1][1] : 0;
  if (!count) return null;
  const rank = q * count;
  const found = cumulative.find(([, c]) => c >= rank);
  return found ? found[0] : null;
}

/** `later − earlier`, bucket by bucket (the samples recorded between two reads). */
export function bucketsBetween(earlier, later) {
  const before = new Map(earlier);
  return later.map(([le, c]) => [le, c - (before.get(le) ?? 0)]);
}
