"""SSE framing of a committed stream: the edge of the streaming contract.

Every event is `data: <json>\\n\\n`; a successful stream ends with `data: [DONE]\\n\\n`;
past the commit point a failure becomes one `data: {"error": ...}` event and the stream
ends (without `[DONE]`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from gateway.errors import GatewayError
from gateway.pipeline.response_chain import ChunkStream

DONE_FRAME = b"data: [DONE]\n\n"
log = logging.getLogger("gateway.stream")


def sse_frame(payload: bytes) -> bytes:
    return b"data: " + payload + b"\n\n"


def error_frame(exc: GatewayError) -> bytes:
    return sse_frame(exc.body())


async def sse_frames(chunks: ChunkStream) -> AsyncIterator[bytes]:
    """Frames for a committed stream; closing this iterator closes the stream of chunks."""
    try:
        async for chunk in chunks:
            yield sse_frame(chunk.encode())
        yield DONE_FRAME
    except GatewayError as exc:
        log.warning("stream failed after commit: %s", exc.message)
        yield error_frame(exc)
    except Exception:
        log.exception("stream failed after commit")
        yield error_frame(GatewayError("The gateway failed while streaming the reply."))
    finally:
        await chunks.aclose()
