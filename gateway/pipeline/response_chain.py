"""Runs a request's response stages over its reply: each chunk of a stream, its end, or the
whole JSON reply. What one stage returns is what the next one sees; framing (SSE, JSON
bytes) happens only at the HTTP edge.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Any

from gateway.pipeline.executor import OpenedStream
from gateway.protocol.payload import Chunk, Kind, Reply
from policies.base import ResponseFilter, StreamOutcome

log = logging.getLogger("gateway.stream")


class ResponseChain:
    __slots__ = ("_filters", "_steps")

    def __init__(self, filters: Sequence[ResponseFilter]) -> None:
        self._filters = tuple(filters)
        # Per chunk, each filter's inline form where it has one (no coroutine per chunk).
        # Looked up by name: a runtime Protocol check costs microseconds per filter.
        steps: list[tuple[Callable[[Chunk], Any], bool]] = []
        for f in self._filters:
            inline = getattr(f, "chunk_inline", None)
            steps.append((inline, False) if inline is not None else (f.chunk, True))
        self._steps = tuple(steps)

    async def push(self, chunk: Chunk) -> Sequence[Chunk]:
        chunks: Sequence[Chunk] = (chunk,)
        for step, waits in self._steps:  # this runs for every chunk: kept lean
            if len(chunks) == 1:
                chunks = await step(chunks[0]) if waits else step(chunks[0])
            else:
                chunks = [
                    out for chunk in chunks for out in (await step(chunk) if waits else step(chunk))
                ]
            if not chunks:
                break
        return chunks

    async def finish(self, outcome: StreamOutcome) -> list[Chunk]:
        """Each stage's closing chunks, passed through the stages after it; on success they
        go out before `[DONE]`. Every stage hears the outcome, even when one before it
        fails (those after a failure hear that the stream failed)."""
        out: list[Chunk] = []
        failure: Exception | None = None
        for i, stage in enumerate(self._filters):
            try:
                closing = await stage.finish(outcome)
                if closing and outcome is StreamOutcome.COMPLETED:
                    out.extend(await self._through(self._filters[i + 1 :], closing))
            except Exception as exc:
                log.exception("a response stage failed at the end of the stream")
                failure = failure or exc
                if outcome is StreamOutcome.COMPLETED:
                    outcome = StreamOutcome.FAILED
        if failure is not None:
            raise failure
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


class ChunkStream:
    """A committed stream's chunks after every stage. A failure past the commit point is
    raised to the consumer (the edge turns it into one error event) once every stage has
    heard the outcome. `aclose` ends it (closing the backend's stream) whether or not
    iteration ever began."""

    __slots__ = ("_chain", "_iterating", "_kind", "_opened", "_told")

    def __init__(self, opened: OpenedStream, chain: ResponseChain, kind: Kind) -> None:
        self._opened = opened
        self._chain = chain
        self._kind = kind
        self._iterating: AsyncGenerator[Chunk, None] | None = None
        self._told = False  # every stage hears the outcome exactly once

    def __aiter__(self) -> AsyncGenerator[Chunk, None]:
        if self._iterating is None:
            self._iterating = self._run()
        return self._iterating

    async def aclose(self) -> None:
        if self._iterating is not None:
            await self._iterating.aclose()
        await self._end(StreamOutcome.CANCELLED)  # a no-op once the stream has ended

    async def _run(self) -> AsyncGenerator[Chunk, None]:
        outcome = StreamOutcome.FAILED
        chain, kind, opened = self._chain, self._kind, self._opened
        try:
            if opened.first is not None:
                for chunk in await chain.push(Chunk(opened.first, kind)):
                    yield chunk
            async for fields in opened.rest:
                for chunk in await chain.push(Chunk(fields, kind)):
                    yield chunk
            self._told = True
            for chunk in await chain.finish(StreamOutcome.COMPLETED):
                yield chunk
        except (GeneratorExit, asyncio.CancelledError):
            outcome = StreamOutcome.CANCELLED
            raise
        finally:
            await self._end(outcome)

    async def _end(self, outcome: StreamOutcome) -> None:
        try:
            if not self._told:
                self._told = True
                await self._chain.finish(outcome)
        except Exception:
            log.exception("a response stage failed while the stream ended")
        finally:
            await self._opened.aclose()
