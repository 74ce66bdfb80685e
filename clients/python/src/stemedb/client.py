"""The synchronous client."""
import time
from typing import Callable, Iterator, Optional

import httpx

from ._api import DEFAULT_URL, Request, Urls, _Api, _Transport, tls_verify
from .models import Group


class Client(_Api):
    """A StemeDB client. `urls`: one server or several (tried in turn: the first that answers
    is used until it stops answering). `api_key`, else `STEMEDB_API_KEY`, else the first line
    of `api_key_file`. `verify`: True (the system's CAs), a path to a CA bundle (a self-signed
    server), or False. Writes are retried on another server when one does not answer: a
    record sent twice is stored once."""

    def __init__(self, urls: Urls = DEFAULT_URL, *, api_key: Optional[str] = None,
                 api_key_file: Optional[str] = "./stemedb-data/admin.key", verify=True,
                 timeout: float = 30.0, retries: int = 2):
        self._transport = _Transport(urls, api_key, api_key_file, retries)
        self._http = httpx.Client(verify=tls_verify(verify), timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _op(self, request: Request, convert: Callable):
        plan = self._transport.plan(request, convert)
        try:
            step = next(plan)
            while True:
                step = plan.send(self._step(request, *step))
        except StopIteration as done:
            return done.value

    def _step(self, request: Request, kind: str, arg):
        if kind == "pause":
            return time.sleep(arg)
        try:
            response = self._http.request(request.method, arg + request.path,
                                          params=request.params, json=request.body,
                                          headers=self._transport.headers())
        except httpx.TransportError as e:
            return e
        return response.status_code, response.content

    def query_all(self, subject: str, **query) -> Iterator[Group]:
        """Every group of a query, following `next_cursor` page by page."""
        cursor = None
        while True:
            page = self.query(subject, cursor=cursor, **query)
            yield from page.groups
            cursor = page.next_cursor
            if cursor is None:
                return
