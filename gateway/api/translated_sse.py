"""SSE for inbound APIs other than chat completions: the pipeline's chat chunks through a
translator (`gateway.translate`) into that API's named events (`event: <type>` lines).

Past the commit point a failure is the translator's own closing events (the Responses
API's `response.failed`, the Messages API's `error` event), never a dropped connection.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import msgspec

from gateway.errors import GatewayError
from gateway.pipeline.response_chain import ChunkStream

Json = dict[str, Any]
log = logging.getLogger("gateway.stream")
_encoder = msgspec.json.Encoder()
_chunk_decoder = msgspec.json.Decoder(dict[str, Any])


class EventTranslator(Protocol):
    def feed(self, chunk: Json) -> list[Json]: ...

    def finish(self, error: GatewayError | None = None) -> list[Json]: ...


def event_frame(event: Json) -> bytes:
    return b"event: " + str(event["type"]).encode() + b"\ndata: " + _encoder.encode(event) + b"\n\n"


async def translated_frames(
    chunks: ChunkStream,
    translator: EventTranslator,
    opening: list[Json],
    before_close: Callable[[list[Json]], Awaitable[None]] | None = None,
) -> AsyncIterator[bytes]:
    """`opening` goes out first (the stream has committed: its first chunk is in hand);
    `before_close` sees the closing events of a stream that ended well before they go out
    (the Responses API stores the response there, so a chained request can find it)."""
    try:
        for event in opening:
            yield event_frame(event)
        async for chunk in chunks:
            for event in translator.feed(_chunk_decoder.decode(chunk.encode())):
                yield event_frame(event)
        closing = translator.finish()
        if before_close is not None:
            await before_close(closing)
        for event in closing:
            yield event_frame(event)
    except GatewayError as exc:
        log.warning("stream failed after commit: %s", exc.message)
        for event in translator.finish(exc):
            yield event_frame(event)
    except Exception:
        log.exception("stream failed after commit")
        failure = GatewayError("The gateway failed while streaming the reply.")
        for event in translator.finish(failure):
            yield event_frame(event)
    finally:
        await chunks.aclose()
