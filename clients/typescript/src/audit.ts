/** Offline verification of an audit export (`stemedb-audit/1`, docs/truth.md): every record's
 *  id and signature, every reference, the manifest's count, the closing BLAKE3. */
import { blake3 } from "@noble/hashes/blake3.js";
import { toHex, verifyRecord } from "./signing.js";

export interface AuditReport { records: number; assertions: number; valid: number; invalid: number; missingReferences: number; intact: boolean; ok: boolean }

export async function verifyExport(text: string): Promise<AuditReport> {
  const report: AuditReport = { records: 0, assertions: 0, valid: 0, invalid: 0, missingReferences: 0, intact: false, ok: false };
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const closing = lines.pop();
  if (closing === undefined || lines.length === 0) return report;
  const before = new TextEncoder().encode(lines.map((l) => l + "\n").join(""));
  try { report.intact = JSON.parse(closing).blake3 === toHex(blake3(before)); } catch { report.intact = false; }
  const ids = new Set<string>();
  const references: string[] = [];
  let manifest: { records?: number } | undefined;
  for (const [index, line] of lines.entries()) {
    let entry;
    try { entry = JSON.parse(line); } catch { report.invalid++; continue; }
    if (entry.kind === "manifest") {
      // The manifest is the line before the closing hash, and names the format.
      if (index === lines.length - 1 && entry.format === "stemedb-audit/1") manifest = entry;
      continue;
    }
    const record = entry.record ?? {};
    report.records++;
    if (entry.kind === "assertion") report.assertions++;
    if (await verifyRecord(record)) report.valid++; else report.invalid++;
    ids.add(record.id);
    references.push(...(entry.depends_on ?? []));
    for (const field of ["retracted_by", "superseded_by"]) if (record[field]) references.push(record[field]);
  }
  report.missingReferences = references.filter((r) => !ids.has(r)).length;
  if (manifest?.records !== report.records) report.intact = false;
  report.ok = report.intact && report.invalid === 0 && report.missingReferences === 0 && report.records > 0;
  return report;
}
