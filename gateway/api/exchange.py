"""One pipeline call answered over raw ASGI: a JSON reply, or SSE frames past the commit
point, with the client's disconnect cancelling the work. The chat endpoints send the
pipeline's own encoding; other inbound APIs pass their translators as `frames` / `body`."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from gateway.api.asgi_io import DisconnectWatch, send_bytes, send_sse
from gateway.api.sse import sse_frames
from gateway.context import RequestContext
from gateway.pipeline.parsed import ParsedRequest
from gateway.pipeline.pipeline import Pipeline
from gateway.pipeline.response_chain import ChunkStream
from gateway.protocol.payload import Reply
from gateway.settings.schema import Server

Frames = Callable[[ChunkStream], AsyncIterator[bytes]]


async def exchange(
    pipeline: Pipeline,
    parsed: ParsedRequest,
    *,
    ctx: RequestContext,
    receive: Any,
    send: Any,
    server: Server,
    frames: Frames = sse_frames,
    body: Callable[[Reply], Awaitable[bytes]] | None = None,
) -> None:
    async with DisconnectWatch(receive) as watch:
        if parsed.is_stream:
            chunks = await pipeline.stream(parsed, ctx)
            try:
                await send_sse(
                    send,
                    frames(chunks),
                    server.sse_keepalive_seconds,
                    watch.finishing,
                    first_frame=lambda: _first_frame(ctx),
                )
            finally:
                # Also when the frames never started (the response could not begin).
                await chunks.aclose()
        else:
            reply = await pipeline.complete(parsed, ctx)
            data = reply.encode() if body is None else await body(reply)
            watch.finishing()
            await send_bytes(send, 200, data)
    if watch.disconnected:
        ctx.client_disconnected = True


def _first_frame(ctx: RequestContext) -> None:
    ctx.first_frame_seconds = time.perf_counter() - ctx.started
