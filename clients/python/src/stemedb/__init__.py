"""StemeDB for Python: sign assertions locally, write and query them on a StemeDB server.

    from stemedb import Client, Key
    key = Key.generate()                      # or Key.load("alice.key"), a `stemedb keygen` file
    db = Client("http://127.0.0.1:18180", api_key_file="stemedb-data/admin.key")
    written = db.assert_(key, "agent/alice", "drug/aspirin/dosage", "recommended_mg", 81)
    group = db.query("drug/aspirin/dosage", lens="consensus").groups[0]

Signing follows docs/signing.md; records read back can be verified offline with
`verify_record`, and audit exports with `verify_export`. `AsyncClient` has the same methods.
"""
from .errors import StemeDBError, Unavailable
from .signing import Key, assertion_id, canonical, sign, verify_record
from .audit import AuditReport, verify_export
from .rules import RuleError, check_identifiers, loads_strict
from .models import BatchResult, Group, QueryResult, Record, WriteResult
from .client import Client
from .aio import AsyncClient

__all__ = [
    "AsyncClient", "AuditReport", "BatchResult", "Client", "Group", "Key", "QueryResult",
    "Record", "RuleError", "StemeDBError", "Unavailable", "WriteResult", "assertion_id", "canonical", "sign",
    "check_identifiers", "loads_strict", "verify_export", "verify_record",
]
__version__ = "0.1.0"
