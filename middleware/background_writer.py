"""Log lines written by a background thread, so the request path never waits on the stream.

A write to stderr can block (a full pipe, a slow terminal or log shipper); on the event loop
that would stall every request in the process. Here the request path only enqueues; one
thread writes whatever has queued up with one write and one flush. `close()` (the app's
shutdown hook) writes what is still queued before returning, so no line is lost at shutdown;
a line that arrives after it is written directly.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Sequence
from typing import BinaryIO


class BackgroundWriter:
    def __init__(self, stream: BinaryIO, *, name: str = "log-writer") -> None:
        self._stream = stream
        self._name = name
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        # Guards starting and stopping the thread, so no line is queued behind the stop mark.
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def write(self, line: bytes) -> None:
        """Queue one line (with its newline); never blocks on the stream, never raises."""
        with self._lock:
            if not self._closed:
                if self._thread is None:
                    # Started lazily: in the process (worker) that serves, not the one that
                    # built the app, and not at all when nothing is logged.
                    self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                    self._thread.start()
                self._queue.put(line)
                return
        self._write_now([line])

    def close(self, timeout: float = 5.0) -> None:
        """Write every queued line, then stop the thread (blocking: at shutdown only)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._queue.put(None)  # the stop mark
        if thread is not None:
            # Bounded: a stream that stays blocked must not hold up the process's exit.
            thread.join(timeout)

    async def aclose(self) -> None:
        """`close()` off the event loop, for the app's shutdown hooks."""
        await asyncio.to_thread(self.close)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._write_now([line for line in batch if line is not None])
            if None in batch:
                return

    def _write_now(self, lines: Sequence[bytes]) -> None:
        if not lines:
            return
        try:
            self._stream.write(b"".join(lines))
            self._stream.flush()
        except (OSError, ValueError):
            pass  # a closed or broken log stream must never fail a request or the writer
