"""One remote upstream's HTTP calls under its timeouts, shared by every HTTP backend type
(OpenAI-compatible, Anthropic, Gemini): the wire format is theirs, the plumbing is this.

- `reply`: POST, then the whole body, within `first_byte` for the headers and `idle` for
  the body, capped at `max_reply_bytes`; a status >= 300 is the backend's own error.
- `events`: POST, then the SSE `data:` payloads as they come. Until the caller says the
  stream has started (`started()` true after an event), everything must arrive within
  `first_byte` of the call; after that each read within `idle`.

A half-read reply is closed, never returned to the pool: closing the connection is also
what tells the upstream to stop generating when the client leaves.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping

import aiohttp

from gateway.backends.http_pool import HTTPPool
from gateway.backends.sse_decoder import SSEDecoder
from gateway.backends.upstream_errors import malformed, upstream_errors
from gateway.context import RequestContext
from gateway.errors import GatewayError
from gateway.settings.upstream_types import Timeouts

StatusError = Callable[[aiohttp.ClientResponse], Awaitable[GatewayError]]


def _always() -> bool:
    return True


class UpstreamHTTP:
    def __init__(
        self,
        name: str,
        pool: HTTPPool,
        timeouts: Timeouts,
        max_reply_bytes: int,
        status_error: StatusError,
    ) -> None:
        self.name = name
        self.pool = pool
        self.timeouts = timeouts
        self._limit = max_reply_bytes
        self._status_error = status_error
        self._connect_timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=timeouts.connect, connect=timeouts.connect
        )

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str]
    ) -> aiohttp.ClientResponse:
        # A ready-made payload skips aiohttp's per-request payload-type lookup.
        payload = aiohttp.BytesPayload(body, content_type="application/json")
        # Redirects are not followed: configured headers may hold secrets for this origin only.
        return await self.pool.session.post(
            url,
            data=payload,
            headers=headers,
            timeout=self._connect_timeout,
            allow_redirects=False,
        )

    async def reply(
        self, url: str, body: bytes, headers: Mapping[str, str], ctx: RequestContext
    ) -> bytes:
        started = time.perf_counter()
        try:
            with upstream_errors(self.name, "waiting for the reply"):
                async with asyncio.timeout(self.timeouts.first_byte) as deadline:
                    response = await self.post(url, body, headers)
                    try:
                        if response.status >= 300:
                            raise await self._status_error(response)
                        deadline.reschedule(_after(self.timeouts.idle))
                        data = await self._read_capped(response)
                    except BaseException:
                        response.close()
                        raise
                    response.release()
        finally:
            ctx.backend_seconds += time.perf_counter() - started
        return data

    async def _read_capped(self, response: aiohttp.ClientResponse) -> bytes:
        limit = self._limit
        if (response.content_length or 0) > limit:
            raise malformed(self.name, f"a reply over the {limit}-byte limit")
        data = bytearray()
        while piece := await response.content.readany():
            data += piece
            if len(data) > limit:
                raise malformed(self.name, f"a reply over the {limit}-byte limit")
        return bytes(data)

    async def events(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        ctx: RequestContext,
        started: Callable[[], bool] = _always,
    ) -> AsyncGenerator[bytes, None]:
        """The stream's `data:` payloads until the upstream closes it (the caller decides
        whether that end was complete). Close the generator to close the connection."""
        waited_from = time.perf_counter()
        response: aiohttp.ClientResponse | None = None
        # The first event, not just the headers, must arrive within `first_byte`.
        deadline: float | None = _after(self.timeouts.first_byte)
        try:
            with upstream_errors(self.name, "before the first byte"):
                async with asyncio.timeout_at(deadline):
                    response = await self.post(url, body, headers)
                    if response.status >= 300:
                        raise await self._status_error(response)
                    ctype = response.headers.get("content-type", "")
                    if not ctype.startswith("text/event-stream"):
                        raise malformed(self.name, f"`{ctype or 'no content type'}` to a stream")
            decoder = SSEDecoder(max_event_bytes=self._limit)
            reader = response.content
            idle = self.timeouts.idle
            while True:
                phase = "before the first byte" if deadline else "between stream chunks"
                with upstream_errors(self.name, phase):
                    async with asyncio.timeout_at(deadline or _after(idle)):
                        piece = await reader.readany()
                ctx.backend_seconds += time.perf_counter() - waited_from
                with upstream_errors(self.name, "between stream chunks"):
                    events = decoder.feed(piece) if piece else decoder.finish()
                for data in events:
                    yield data
                    if deadline is not None and started():
                        deadline = None
                if not piece:
                    return
                waited_from = time.perf_counter()
        finally:
            if response is not None:
                # close(), not release(): an unfinished stream must not go back to the pool.
                response.close()


def with_extra(headers: dict[str, str], extra: Mapping[str, str] | None) -> Mapping[str, str]:
    return {**headers, **extra} if extra else headers


def _after(seconds: float) -> float:
    return asyncio.get_running_loop().time() + seconds
