"""The asynchronous client: the same methods as `Client`, each awaited."""
import asyncio
from typing import AsyncIterator, Callable, Optional

import httpx

from ._api import DEFAULT_URL, Request, Urls, _Api, _Transport, tls_verify
from .models import Group


class AsyncClient(_Api):
    """As `Client`, for asyncio: `async with AsyncClient(...) as db: await db.query(...)`."""

    def __init__(self, urls: Urls = DEFAULT_URL, *, api_key: Optional[str] = None,
                 api_key_file: Optional[str] = "./stemedb-data/admin.key", verify=True,
                 timeout: float = 30.0, retries: int = 2):
        self._transport = _Transport(urls, api_key, api_key_file, retries)
        self._http = httpx.AsyncClient(verify=tls_verify(verify), timeout=timeout)

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    async def _op(self, request: Request, convert: Callable):
        plan = self._transport.plan(request, convert)
        try:
            step = next(plan)
            while True:
                step = plan.send(await self._step(request, *step))
        except StopIteration as done:
            return done.value

    async def _step(self, request: Request, kind: str, arg):
        if kind == "pause":
            return await asyncio.sleep(arg)
        try:
            response = await self._http.request(request.method, arg + request.path,
                                                params=request.params, json=request.body,
                                                headers=self._transport.headers())
        except httpx.TransportError as e:
            return e
        return response.status_code, response.content

    async def query_all(self, subject: str, **query) -> AsyncIterator[Group]:
        cursor = None
        while True:
            page = await self.query(subject, cursor=cursor, **query)
            for group in page.groups:
                yield group
            cursor = page.next_cursor
            if cursor is None:
                return
