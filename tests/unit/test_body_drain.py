"""Oversized bodies: read to their end (within bounds) before the 413, rendered one way."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from gateway.api.asgi_io import read_body
from gateway.body_drain import drain_body
from gateway.error_response import render_error_response
from gateway.errors import PayloadTooLargeError, RateLimitError
from middleware.body_limit import BodyLimitMiddleware

MiB = 1024 * 1024


class Client:
    """An ASGI receive that hands out `chunks` body messages and records what it gave."""

    def __init__(self, chunks: int, size: int = MiB, *, hang: bool = False) -> None:
        self.left = chunks
        self.size = size
        self.hang = hang
        self.received = 0
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        if self.left == 0:
            if self.hang:
                await asyncio.Event().wait()
            return {"type": "http.disconnect"}
        self.left -= 1
        self.received += self.size
        more = self.left > 0 or self.hang
        return {"type": "http.request", "body": b"x" * self.size, "more_body": more}

    async def send(self, message: dict[str, Any]) -> None:
        # The refusal must come after the whole body was read.
        assert self.left == 0 or message["type"] != "http.response.start"
        self.sent.append(message)


def _scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": headers}


async def _never_called(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("the app must not see an oversized request")


def test_the_renderer_carries_status_type_and_the_errors_own_headers() -> None:
    rendered = render_error_response(RateLimitError("slow down", retry_after=3))
    headers = dict(rendered.headers)
    assert rendered.status == 429
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"retry-after"] == b"3"
    assert headers[b"content-length"] == str(len(rendered.body)).encode()
    assert msgspec.json.decode(rendered.body)["error"]["code"] == "rate_limit_exceeded"


def test_the_middleware_drains_a_declared_body_then_answers() -> None:
    async def run() -> None:
        client = Client(chunks=20)
        middleware = BodyLimitMiddleware(_never_called, max_bytes=MiB)
        await middleware(
            _scope([(b"content-length", str(20 * MiB).encode())]), client.receive, client.send
        )
        assert client.received == 20 * MiB
        start, body = client.sent
        assert start["status"] == 413
        expected = render_error_response(PayloadTooLargeError("x"))
        headers = dict(start["headers"])
        assert headers[b"connection"] == b"close"
        assert headers[b"x-should-retry"] == b"false"
        assert headers[b"content-type"] == dict(expected.headers)[b"content-type"]
        error = msgspec.json.decode(body["body"])["error"]
        assert error["code"] == "request_too_large" and str(MiB) in error["message"]

    asyncio.run(run())


def test_the_middleware_reads_nothing_past_the_drain_bound_or_before_100_continue() -> None:
    async def run() -> None:
        for headers, drain_max in (
            ([(b"content-length", str(100 * MiB).encode())], 64 * MiB),
            ([(b"content-length", str(20 * MiB).encode()), (b"expect", b"100-Continue")], 64 * MiB),
        ):
            client = Client(chunks=0, hang=True)
            middleware = BodyLimitMiddleware(
                _never_called, max_bytes=MiB, drain_max_bytes=drain_max
            )
            await asyncio.wait_for(middleware(_scope(headers), client.receive, client.send), 2)
            assert client.received == 0 and client.sent[0]["status"] == 413

    asyncio.run(run())


def test_a_chunked_body_over_the_limit_is_read_to_its_end_before_the_413() -> None:
    async def run() -> None:
        client = Client(chunks=30)
        with pytest.raises(PayloadTooLargeError) as caught:
            await read_body(client.receive, limit=4 * MiB, seconds=5)
        assert client.received == 30 * MiB and client.left == 0
        assert (b"connection", b"close") in caught.value.headers()

    asyncio.run(run())


def test_draining_is_bounded_in_bytes_and_seconds() -> None:
    async def run() -> None:
        endless = Client(chunks=1000, hang=True)
        assert not await drain_body(endless.receive, max_bytes=8 * MiB, max_seconds=5)
        assert 8 * MiB < endless.received <= 9 * MiB
        stalled = Client(chunks=1, hang=True)
        started = asyncio.get_running_loop().time()
        assert not await drain_body(stalled.receive, max_bytes=8 * MiB, max_seconds=0.2)
        assert asyncio.get_running_loop().time() - started < 1
        assert await drain_body(Client(chunks=3).receive)

    asyncio.run(run())
