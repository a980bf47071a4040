"""Runs a request's response stages over its reply: each chunk of a stream, its end, or the
whole JSON reply. What one stage returns is what the next one sees; framing (SSE, JSON
bytes) happens only at the HTTP edge.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Sequence

from gateway.pipeline.executor import OpenedStream
from gateway.protocol.payload import Chunk, Kind, Reply
from policies.base import ResponseFilter, StreamOutcome

log = logging.getLogger("gateway.stream")


class ResponseChain:
    __slots__ = ("_filters",)

    def __init__(self, filters: Sequence[ResponseFilter]) -> None:
        self._filters = tuple(filters)

    async def push(self, chunk: Chunk) -> Sequence[Chunk]:
        return await self._through(self._filters, (chunk,))

    async def finish(self, outcome: StreamOutcome) -> list[Chunk]:
        """Each stage's closing chunks, passed through the stages after it; on success they
        go out before `[DONE]`. Every stage hears the outcome, whatever it is."""
        out: list[Chunk] = []
        for i, stage in enumerate(self._filters):
            closing = await stage.finish(outcome)
            if closing and outcome is StreamOutcome.COMPLETED:
                out.extend(await self._through(self._filters[i + 1 :], closing))
        return out

    async def reply(self, reply: Reply) -> Reply:
        for stage in self._filters:
            reply = await stage.reply(reply)
        return reply

    @staticmethod
    async def _through(
        stages: Sequence[ResponseFilter], chunks: Sequence[Chunk]
    ) -> Sequence[Chunk]:
        for stage in stages:
            if len(chunks) == 1:
                chunks = await stage.chunk(chunks[0])
            else:
                chunks = [out for chunk in chunks for out in await stage.chunk(chunk)]
            if not chunks:
                break
        return chunks


async def stream_chunks(
    opened: OpenedStream, chain: ResponseChain, kind: Kind
) -> AsyncGenerator[Chunk, None]:
    """The committed stream's chunks after every stage. A failure past the commit point is
    raised to the caller (the edge turns it into one error event) once every stage has seen
    the outcome; closing this generator closes the backend's stream."""
    outcome = StreamOutcome.FAILED
    told = False  # every stage hears the outcome exactly once
    try:
        if opened.first is not None:
            for chunk in await chain.push(Chunk(opened.first, kind)):
                yield chunk
        async for fields in opened.rest:
            for chunk in await chain.push(Chunk(fields, kind)):
                yield chunk
        told = True
        for chunk in await chain.finish(StreamOutcome.COMPLETED):
            yield chunk
    except (GeneratorExit, asyncio.CancelledError):
        outcome = StreamOutcome.CANCELLED
        raise
    finally:
        try:
            if not told:
                await chain.finish(outcome)
        except Exception:
            log.exception("a response stage failed while the stream ended")
        finally:
            await opened.aclose()
