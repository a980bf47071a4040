"""Access-log lines are written by a background thread, all of them, even at shutdown."""

from __future__ import annotations

import asyncio
import io
import json
import threading
from typing import Any

from middleware.access_log import AccessLogMiddleware
from middleware.background_writer import BackgroundWriter


class RecordingStream(io.BytesIO):
    """Remembers which threads wrote; `gate` (when set) makes writes block until released."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        super().__init__()
        self.gate = gate
        self.writers: set[int] = set()

    def write(self, data: Any) -> int:
        self.writers.add(threading.get_ident())
        if self.gate is not None:
            self.gate.wait(10)
        return super().write(data)


async def _ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}", "more_body": False})


async def _requests(middleware: AccessLogMiddleware, count: int) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    for i in range(count):
        scope = {"type": "http", "method": "GET", "path": f"/v1/models/m{i}", "headers": []}
        await middleware(scope, receive, send)


def test_lines_from_the_request_path_arrive_complete_after_shutdown() -> None:
    stream = RecordingStream()
    writer = BackgroundWriter(stream)
    middleware = AccessLogMiddleware(_ok, writer=writer)
    asyncio.run(_requests(middleware, 500))
    asyncio.run(writer.aclose())
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [e["path"] for e in entries] == [f"/v1/models/m{i}" for i in range(500)]
    assert all(e["status"] == 200 and e["event"] == "request" for e in entries)
    assert threading.get_ident() not in stream.writers and len(stream.writers) == 1


def test_a_blocked_stream_does_not_block_the_request_path() -> None:
    gate = threading.Event()
    stream = RecordingStream(gate)
    writer = BackgroundWriter(stream)
    middleware = AccessLogMiddleware(_ok, writer=writer)
    # The writer thread is stuck in write(); requests must still complete at once.
    asyncio.run(asyncio.wait_for(_requests(middleware, 50), 2))
    gate.set()
    writer.close()
    assert len(stream.getvalue().splitlines()) == 50


def test_a_closed_stream_never_fails_a_request_nor_shutdown() -> None:
    stream = io.BytesIO()
    stream.close()
    writer = BackgroundWriter(stream)
    middleware = AccessLogMiddleware(_ok, writer=writer)
    asyncio.run(_requests(middleware, 3))
    writer.close()
    asyncio.run(_requests(middleware, 2))  # after shutdown: written directly, still harmless
    writer.close()


def test_lines_after_shutdown_are_written_directly() -> None:
    stream = RecordingStream()
    writer = BackgroundWriter(stream)
    writer.write(b"before\n")
    writer.close()
    writer.write(b"after\n")
    assert stream.getvalue() == b"before\nafter\n"
    assert threading.get_ident() in stream.writers  # the late line, written on the caller's thread


def test_no_thread_is_started_when_nothing_is_written() -> None:
    before = threading.active_count()
    writer = BackgroundWriter(io.BytesIO())
    AccessLogMiddleware(_ok, writer=writer, enabled=False)
    assert threading.active_count() == before
    writer.close()
