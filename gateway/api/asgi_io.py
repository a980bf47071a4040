"""Raw ASGI plumbing for the completion endpoints: body, JSON and SSE replies, disconnects."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from types import TracebackType
from typing import Any

from gateway.body_drain import drain_body, payload_too_large
from gateway.errors import RequestTimeoutError

Scope = dict[str, Any]
Message = dict[str, Any]
Headers = list[tuple[bytes, bytes]]

JSON_HEADERS: Headers = [(b"content-type", b"application/json")]
SSE_HEADERS: Headers = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    # Tell nginx-style proxies not to buffer the stream.
    (b"x-accel-buffering", b"no"),
]
KEEPALIVE_FRAME = b": keep-alive\n\n"


class ClientGone(Exception):
    """The client disconnected before its request was complete: nobody to answer."""


async def read_body(receive: Any, limit: int, seconds: float) -> bytes:
    """The whole request body; 413 past `limit` bytes, 408 if it takes over `seconds`.

    A body over the limit is read to its end (bounded, discarded) before the 413 is raised,
    so the client finishes sending and reads the answer (see `gateway.body_drain`)."""
    try:
        async with asyncio.timeout(seconds):
            body = await _read_body(receive, limit)
    except TimeoutError:
        raise RequestTimeoutError(
            f"The request body did not arrive within {seconds:g} seconds."
        ) from None
    if body is None:
        await drain_body(receive)
        raise payload_too_large(limit)
    return body


async def _read_body(receive: Any, limit: int) -> bytes | None:
    """The body, or None once it passes `limit` (the rest is still unread)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        more = message.get("more_body", False)
        if chunk:
            size += len(chunk)
            if size > limit:
                if more:
                    return None
                raise payload_too_large(limit)
            chunks.append(chunk)
        if not more:
            return b"".join(chunks) if len(chunks) != 1 else chunks[0]


async def send_bytes(
    send: Any, status: int, body: bytes, headers: Iterable[tuple[bytes, bytes]] = JSON_HEADERS
) -> None:
    start_headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": start_headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def send_sse(
    send: Any,
    frames: AsyncIterator[bytes],
    keepalive: float,
    before_final: Callable[[], None] | None = None,
    first_frame: Callable[[], None] | None = None,
) -> None:
    """Stream SSE frames; while idle, `: keep-alive` comments keep proxies from timing out.
    Closing `frames` (always, whatever happens here) closes the upstream stream.

    The headers go out with the first frame, or with the first keep-alive when no frame
    came within `keepalive` (gateway tool rounds before the answer): headers sent late
    carry what the request did by then (`x-gateway-tools`)."""
    loop = asyncio.get_running_loop()
    last_sent = [loop.time()]
    start = _Start(send)
    ticker: asyncio.Task[None] | None = None
    try:
        if keepalive:
            ticker = asyncio.create_task(_keepalive(send, keepalive, last_sent, start))
        async for frame in frames:
            if not start.done:
                await start()
            await send({"type": "http.response.body", "body": frame, "more_body": True})
            if first_frame is not None:
                first_frame()  # time to first token: a frame, never a keep-alive
                first_frame = None
            last_sent[0] = loop.time()
        if not start.done:
            await start()
        if before_final is not None:
            before_final()
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        if ticker is not None:
            ticker.cancel()
        aclose = getattr(frames, "aclose", None)
        if aclose is not None:
            await aclose()


class _Start:
    """Sends the SSE response's start once, whoever asks first (a frame or a keep-alive)."""

    __slots__ = ("_lock", "_send", "done")

    def __init__(self, send: Any) -> None:
        self._send = send
        self._lock = asyncio.Lock()
        self.done = False

    async def __call__(self) -> None:
        async with self._lock:
            if not self.done:
                await self._send(
                    {"type": "http.response.start", "status": 200, "headers": SSE_HEADERS}
                )
                self.done = True


async def _keepalive(send: Any, interval: float, last_sent: list[float], start: _Start) -> None:
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(max(0.0, last_sent[0] + interval - loop.time()))
        if loop.time() - last_sent[0] >= interval:
            try:
                if not start.done:
                    await start()
                await send(
                    {"type": "http.response.body", "body": KEEPALIVE_FRAME, "more_body": True}
                )
            except Exception:
                return  # the connection is gone; the stream itself will notice and clean up
            last_sent[0] = loop.time()


class DisconnectWatch:
    """Cancels the handler's task when the client goes away, so upstream work stops with it.

    Enter only after the body has been read: from then on `receive` reports nothing but the
    disconnect. The watching task starts only after `start_after` seconds (a timer costs far
    less than a task, and most replies are done by then), so a client that leaves is noticed
    within `start_after` plus one loop turn. Leaving the block stops the watch before the
    task can be cancelled spuriously.
    """

    __slots__ = (
        "_finishing",
        "_receive",
        "_start_after",
        "_task",
        "_timer",
        "_watcher",
        "disconnected",
    )

    def __init__(self, receive: Any, start_after: float = 0.1) -> None:
        self._receive = receive
        self._start_after = start_after
        self._task: asyncio.Task[Any] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._finishing = False
        self.disconnected = False

    def finishing(self) -> None:
        """The reply is complete and about to go out: from now on nothing is cancelled (a
        server reports `http.disconnect` as soon as the response is complete)."""
        self._finishing = True

    async def __aenter__(self) -> DisconnectWatch:
        self._task = asyncio.current_task()
        self._timer = asyncio.get_running_loop().call_later(self._start_after, self._start)
        return self

    def _start(self) -> None:
        self._timer = None
        self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                if self._finishing:
                    return
                self.disconnected = True
                if self._task is not None:
                    self._task.cancel("client disconnected")
                return

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if self._timer is not None:
            self._timer.cancel()
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        if self.disconnected and exc_type is asyncio.CancelledError and self._task is not None:
            self._task.uncancel()
            return True  # the client left: nothing more to send, nobody to tell
        return False
