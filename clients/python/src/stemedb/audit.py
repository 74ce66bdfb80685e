"""Offline verification of an audit export (`stemedb-audit/1`, docs/truth.md), no server
needed: every record's id and signature, every reference, the manifest's count and the closing
BLAKE3 over every byte before it."""
from dataclasses import dataclass

import blake3

from .rules import RuleError, loads_strict
from .signing import verify_record

FORMAT = "stemedb-audit/1"


@dataclass
class AuditReport:
    records: int = 0
    assertions: int = 0
    valid: int = 0
    invalid: int = 0
    missing_references: int = 0
    intact: bool = False

    @property
    def ok(self) -> bool:
        return (self.intact and self.invalid == 0 and self.missing_references == 0
                and self.records > 0)


def verify_export(data: bytes) -> AuditReport:
    report = AuditReport()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if len(lines) < 2:
        return report
    closing = lines[-1]
    body = data[: len(data) - len(closing) - (1 if data.endswith(b"\n") else 0)]
    try:
        report.intact = loads_strict(closing.decode("utf-8")).get("blake3") == blake3.blake3(body).hexdigest()
    except (ValueError, RuleError):
        report.intact = False
    ids, references, manifest = set(), [], None
    for number, line in enumerate(lines[:-1]):
        try:
            # A key repeated in one object makes the line invalid (docs/signing.md §1).
            entry = loads_strict(line.decode("utf-8"))
        except (ValueError, RuleError):
            report.invalid += 1
            continue
        if entry.get("kind") == "manifest":
            # The manifest is the line before the closing hash, and names the format.
            if number == len(lines) - 2 and entry.get("format") == FORMAT:
                manifest = entry
            continue
        record = entry.get("record", {})
        report.records += 1
        report.assertions += entry.get("kind") == "assertion"
        if verify_record(record):
            report.valid += 1
        else:
            report.invalid += 1
        ids.add(record.get("id"))
        references += entry.get("depends_on") or []
        references += [record[f] for f in ("retracted_by", "superseded_by") if record.get(f)]
    report.missing_references = sum(1 for r in references if r not in ids)
    if manifest is None or manifest.get("records") != report.records:
        report.intact = False
    return report
