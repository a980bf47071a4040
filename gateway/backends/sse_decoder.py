"""Incremental Server-Sent Events decoder for upstream streams.

Bytes arrive in arbitrary pieces; `feed` returns the `data` payloads of every event completed
so far. Follows the WHATWG event-stream rules that matter here: lines end in LF, CRLF or CR;
`:` lines are comments; several `data:` lines join with LF; one space after the colon is
dropped; other fields (`event`, `id`, `retry`) are ignored. Work is linear in the input (each
byte is scanned once) and an event larger than `max_event_bytes` is an error, so a hostile or
broken upstream can neither stall the event loop nor exhaust memory.
"""

from __future__ import annotations


class EventTooLarge(Exception):
    """One SSE event (or line) exceeded the decoder's size limit."""


class SSEDecoder:
    __slots__ = ("_buffer", "_data", "_data_size", "_max", "_pending_cr")

    def __init__(self, max_event_bytes: int = 64 * 1024 * 1024) -> None:
        self._buffer = bytearray()
        self._data: list[bytes] = []
        self._data_size = 0
        self._max = max_event_bytes
        self._pending_cr = False

    def feed(self, chunk: bytes) -> list[bytes]:
        if self._pending_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]  # the LF of a CRLF split across two pieces
        self._pending_cr = False
        last = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
        if last < 0:
            self._buffer += chunk
            if len(self._buffer) + self._data_size > self._max:
                raise EventTooLarge(f"an event exceeded {self._max} bytes")
            return []
        complete = bytes(self._buffer) + chunk[: last + 1] if self._buffer else chunk[: last + 1]
        self._buffer = bytearray(chunk[last + 1 :])
        self._pending_cr = complete.endswith(b"\r")
        if b"\r" in complete:
            complete = complete.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        events: list[bytes] = []
        for line in complete.split(b"\n")[:-1]:
            if not line:
                if self._data:
                    events.append(b"\n".join(self._data))
                    self._data = []
                    self._data_size = 0
                continue
            if line.startswith(b"data"):
                if line == b"data":
                    value = b""
                elif line[4:5] == b":":
                    value = line[5:]
                    if value.startswith(b" "):
                        value = value[1:]
                else:
                    continue  # a field named e.g. `database`: not ours
                self._data.append(value)
                self._data_size += len(value) + 1
                if self._data_size > self._max:
                    raise EventTooLarge(f"an event exceeded {self._max} bytes")
        return events

    def finish(self) -> list[bytes]:
        """Events left when the stream ends without a final blank line."""
        events = self.feed(b"\n\n") if self._buffer or self._data else []
        self._buffer = bytearray()
        return events
