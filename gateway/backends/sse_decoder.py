"""Incremental Server-Sent Events decoder for upstream streams.

Bytes arrive in arbitrary pieces; `feed` returns the `data` payloads of every event completed
so far. Follows the WHATWG event-stream rules that matter here: lines end in LF, CRLF or CR;
`:` lines are comments; several `data:` lines join with LF; one space after the colon is
dropped; other fields (`event`, `id`, `retry`) are ignored.
"""

from __future__ import annotations


class SSEDecoder:
    __slots__ = ("_buffer", "_data", "_pending_cr")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[bytes] = []
        self._pending_cr = False

    def feed(self, chunk: bytes) -> list[bytes]:
        if self._pending_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]  # the LF of a CRLF split across two pieces
        self._pending_cr = chunk.endswith(b"\r")
        buffer = self._buffer + chunk
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buffer.split(b"\n")
        self._buffer = lines.pop()
        events: list[bytes] = []
        for line in lines:
            if not line:
                if self._data:
                    events.append(b"\n".join(self._data))
                    self._data = []
                continue
            if line.startswith(b"data"):
                if line == b"data":
                    self._data.append(b"")
                elif line[4:5] == b":":
                    value = line[5:]
                    self._data.append(value[1:] if value.startswith(b" ") else value)
        return events

    def finish(self) -> list[bytes]:
        """Events left when the stream ends without a final blank line."""
        events = self.feed(b"\n\n") if self._buffer or self._data else []
        self._buffer = b""
        return events
