"""Typed answers. Each keeps the server's JSON in `raw` too, so that nothing the server sends
is lost to a field this version does not know yet."""
from dataclasses import dataclass, field
from typing import Any, List, Optional


@dataclass
class Record:
    """A stored record: its signed body's fields and the server's envelope (docs/api.md)."""
    id: str
    sequence: int
    recorded_at: str
    lifecycle_stage: str
    agent_id: str
    subject: str
    predicate: str
    value: Any
    timestamp: str
    confidence: Optional[float] = None
    sources: List[str] = field(default_factory=list)
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, doc: dict) -> "Record":
        return cls(
            id=doc["id"], sequence=doc["sequence"], recorded_at=doc["recorded_at"],
            lifecycle_stage=doc["lifecycle_stage"], agent_id=doc["agent_id"],
            subject=doc["subject"], predicate=doc["predicate"], value=doc.get("value"),
            timestamp=doc["timestamp"], confidence=doc.get("confidence"),
            sources=list(doc.get("sources") or []), raw=doc,
        )


@dataclass
class WriteResult:
    """The answer to one write: its id, its log sequence, and whether it was stored before."""
    id: str
    sequence: int
    duplicate: bool = False
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, doc: dict) -> "WriteResult":
        return cls(id=doc["id"], sequence=doc["sequence"],
                   duplicate=bool(doc.get("duplicate", False)), raw=doc)


@dataclass
class BatchResult:
    accepted: int
    duplicates: int
    rejected: int
    results: List[dict]
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, doc: dict) -> "BatchResult":
        return cls(accepted=doc["accepted"], duplicates=doc["duplicates"],
                   rejected=doc["rejected"], results=doc["results"], raw=doc)


@dataclass
class Group:
    """One (subject, predicate) group through a lens: its winner, why, and its ranking."""
    subject: str
    predicate: str
    winner: Record
    conflict_score: float
    explanation: str
    assertions: List[Record]
    assertions_total: int
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, doc: dict) -> "Group":
        return cls(
            subject=doc["subject"], predicate=doc["predicate"],
            winner=Record.from_json(doc["winner"]), conflict_score=doc["conflict_score"],
            explanation=doc["explanation"],
            assertions=[Record.from_json(a) for a in doc.get("assertions", [])],
            assertions_total=doc.get("assertions_total", 0), raw=doc,
        )


@dataclass
class QueryResult:
    lens: str
    groups: List[Group]
    next_cursor: Optional[str]
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, doc: dict) -> "QueryResult":
        return cls(lens=doc["lens"], groups=[Group.from_json(g) for g in doc["groups"]],
                   next_cursor=doc.get("next_cursor"), raw=doc)
