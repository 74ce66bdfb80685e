"""Every operation of the API, defined once as a request and a conversion of its answer.
`Client` runs them synchronously and `AsyncClient` returns awaitables, through their own
`_op`; the servers tried, retries and errors are in `_Transport`, shared by both."""
import json
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterator, List, Optional, Sequence, Union

from .errors import StemeDBError, Unavailable
from .signing import Key, draft, sign
from .models import BatchResult, QueryResult, Record, WriteResult

DEFAULT_URL = "http://127.0.0.1:18180"
# Answers that mean "this node cannot serve now": try the next one.
RETRYABLE_STATUSES = (502, 503, 504)
# Pause before the next attempt after such an answer.
PAUSE_S = 0.2


@dataclass
class Request:
    method: str
    path: str
    params: Optional[dict] = None
    body: Any = None
    raw: bool = False  # the answer's bytes, not JSON
    not_found_is_none: bool = False


class _Transport:
    """The servers to try, in order (the last one that answered first), the key, and how an
    answer becomes a result or an error."""

    def __init__(self, urls, api_key, api_key_file, retries):
        urls = [urls] if isinstance(urls, str) else list(urls)
        if not urls:
            raise ValueError("no server URL")
        self.urls = [u if "://" in u else f"http://{u}" for u in (x.rstrip("/") for x in urls)]
        self.api_key = api_key or os.environ.get("STEMEDB_API_KEY") or _read_key(api_key_file)
        self.retries = max(0, retries)
        self.preferred = 0

    def headers(self) -> dict:
        return {"x-api-key": self.api_key} if self.api_key else {}

    def attempts(self) -> Iterator[int]:
        """Indexes of the servers to try: each in turn from the preferred, `retries` + 1 times.
        Writes are safe to send again: a record's id is its content, and the server answers a
        second copy as a duplicate."""
        n = len(self.urls)
        for _ in range(self.retries + 1):
            for i in range(n):
                yield (self.preferred + i) % n

    def plan(self, request: Request, convert: Callable):
        """The attempts of one call, free of I/O (a generator the clients drive): it yields
        `("call", url)`, to be sent back `(status, content)` or the transport's exception, and
        `("pause", seconds)`, to be sent back None; it returns the converted answer, or raises
        the server's problem, or `Unavailable` once every attempt is spent."""
        causes = []
        for index in self.attempts():
            url = self.urls[index]
            outcome = yield ("call", url)
            if isinstance(outcome, Exception):
                causes.append(f"{url}: {outcome!r}")
                continue
            status, content = outcome
            if status in RETRYABLE_STATUSES:
                causes.append(f"{url}: {status}")
                yield ("pause", PAUSE_S)
                continue
            self.preferred = index
            return convert(self.answer(request, status, content))
        raise Unavailable(self.urls, causes)

    def answer(self, request: Request, status: int, content: bytes):
        if request.not_found_is_none and status == 404:
            return None
        if status >= 400:
            try:
                problem = json.loads(content)
            except ValueError:
                problem = content.decode("utf-8", "replace")
            raise StemeDBError(status, problem)
        if request.raw:
            return content
        return json.loads(content) if content else {}


def tls_verify(verify):
    """httpx's `verify`: True (the system's CAs), False, or a path to CA certificates (PEM)
    turned into an SSL context that trusts them."""
    if isinstance(verify, (str, os.PathLike)):
        import ssl
        return ssl.create_default_context(cafile=os.fspath(verify))
    return verify


def _read_key(path) -> Optional[str]:
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            line = f.readline().strip()
            return line or None
    except FileNotFoundError:
        return None


def _params(**fields) -> dict:
    """Query parameters: absent (None, False) ones left out, booleans as `true`."""
    out = {}
    for name, value in fields.items():
        if value is None or value is False:
            continue
        out[name] = "true" if value is True else str(value)
    return out


class _Api:
    """The operations; subclasses define `_op(request, convert)`."""

    def _op(self, request: Request, convert: Callable):
        raise NotImplementedError

    def health(self):
        """`GET /v1/health` (needs no key)."""
        return self._op(Request("GET", "/v1/health"), dict)

    def write(self, wire: dict):
        """Posts one signed record (the body plus its `signature`): `WriteResult`."""
        return self._op(Request("POST", "/v1/assert", body=wire), WriteResult.from_json)

    def assert_(self, key: Key, agent: str, subject: str, predicate: str, value, **fields):
        """Signs an assertion with `key` here and posts it: `WriteResult`. Optional fields:
        confidence, timestamp (default now), sources, provenance, derived_from, and any other
        body field."""
        return self.write(sign(draft(agent, subject, predicate, value, **fields), key))

    def write_batch(self, wires: Sequence[dict]):
        """Posts signed records as one batch: `BatchResult`, one result per record."""
        request = Request("POST", "/v1/assert/batch", body={"assertions": list(wires)})
        return self._op(request, BatchResult.from_json)

    def query(self, subject: str, predicate: Optional[str] = None, lens: Optional[str] = None, *,
              as_of: Optional[str] = None, known_at: Optional[str] = None,
              at_sequence: Optional[int] = None, min_sequence: Optional[int] = None,
              include_retracted: bool = False, include_superseded: bool = False,
              winner_only: bool = False, limit: Optional[int] = None,
              cursor: Optional[str] = None):
        """`GET /v1/query` (docs/api.md): one page of groups, `QueryResult`. Without `lens`, the
        server's default (`evidence`)."""
        params = _params(subject=subject, predicate=predicate, lens=lens, as_of=as_of,
                         known_at=known_at, at_sequence=at_sequence, min_sequence=min_sequence,
                         include_retracted=include_retracted,
                         include_superseded=include_superseded, winner_only=winner_only,
                         limit=limit, cursor=cursor)
        return self._op(Request("GET", "/v1/query", params=params), QueryResult.from_json)

    def get(self, id: str):
        """The record with this id (`Record`), or None."""
        request = Request("GET", f"/v1/assertions/{_id(id)}", not_found_is_none=True)
        return self._op(request, lambda doc: None if doc is None else Record.from_json(doc))

    def _control(self, path, key, agent, subject, predicate, value):
        wire = sign(draft(agent, subject, predicate, value), key)
        return self._op(Request("POST", path, body=wire), dict)

    def retract(self, key: Key, agent: str, target: str, reason: str, cascade: bool = False):
        """Retracts an assertion id, or a subject such as `source/TRIAL` (everything citing
        it); `cascade` also what rests on it. The server's answer (`retracted_count`, …)."""
        value = {"reason": reason, **({"cascade": True} if cascade else {})}
        return self._control("/v1/retract", key, agent, target, "stemedb:retracts", value)

    def reinstate(self, key: Key, agent: str, retraction_id: str, reason: str):
        value = {"reason": reason}
        return self._control("/v1/retract", key, agent, _id(retraction_id), "stemedb:retracts",
                             value)

    def vote(self, key: Key, agent: str, id: str, up: bool = True):
        return self._control("/v1/vote", key, agent, _id(id), "stemedb:vote", 1 if up else -1)

    def trust(self, key: Key, agent: str, trustee: str, weight: float = 1.0):
        """`agent` trusts `trustee` (an agent id) with `weight` in [0, 1]."""
        return self._control("/v1/trust", key, agent, f"agent/{trustee}", "stemedb:trusts",
                             weight)

    def provenance(self, id: str, as_of: Optional[str] = None):
        """The provenance tree of an assertion (docs/truth.md), as JSON."""
        request = Request("GET", f"/v1/assertions/{_id(id)}/provenance", _params(as_of=as_of))
        return self._op(request, dict)

    def skeptic(self, subject: str, predicate: str, as_of: Optional[str] = None):
        """How much a group disagrees: clusters, outliers, conflict score (JSON)."""
        params = _params(subject=subject, predicate=predicate, as_of=as_of)
        return self._op(Request("GET", "/v1/skeptic", params), dict)

    def audit_export(self, subject: str, as_of: Optional[str] = None):
        """The audit export (JSON Lines bytes); check it offline with `verify_export`."""
        request = Request("GET", "/v1/audit/export", _params(subject=subject, as_of=as_of),
                          raw=True)
        return self._op(request, bytes)


def _id(text: str) -> str:
    if len(text) != 64 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise ValueError(f"{text!r} is not a record id (64 hex characters)")
    return text.lower()


Urls = Union[str, List[str]]
