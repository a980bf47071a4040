"""The inference log's writer: a bounded queue the request path puts records on without
waiting, and one thread that encodes, redacts, appends and flushes them.

The queue is bounded so that a slow disk (or a redaction pass slower than the traffic)
costs records, never memory or latency: a record that finds it full is dropped and counted
(`gateway_inference_log_dropped_total{reason="queue_full"}`). The file is opened at
startup, so a path that cannot be written fails the start, naming the key. Past
`max_bytes` it is renamed to `<path>.1` and a new one begins; another worker appending to
the same path notices the rename (the path names another file) and reopens it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import threading
import time
from typing import BinaryIO

from prometheus_client import CollectorRegistry, Counter

from gateway.observability.inference_record import PendingRecord, build_redactor, encode_record
from gateway.settings.inference_log_types import InferenceLog
from gateway.settings.loader import ConfigError

log = logging.getLogger("gateway.inference_log")
# Records encoded per write: one write and one flush for whatever has queued up.
_BATCH = 256


class InferenceLogWriter:
    def __init__(self, settings: InferenceLog, registry: CollectorRegistry) -> None:
        self._settings = settings
        self._path = settings.path
        self._queue: queue.Queue[PendingRecord | None] = queue.Queue(settings.queue_size)
        self._dropped = Counter(
            "gateway_inference_log_dropped",
            "Inference-log records not written: queue_full (the writer fell behind) or error.",
            ("reason",),
            registry=registry,
        )
        self._written = Counter(
            "gateway_inference_log_records", "Inference-log records written.", registry=registry
        )
        self._file = _open(self._path)
        # Built here, at startup (the PII engine takes a moment); used by the thread only.
        self._redactor = build_redactor(settings.redact)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, record: PendingRecord) -> None:
        """Queue one record; never waits, never raises."""
        if self._closed:
            return
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._dropped.labels("queue_full").inc()

    def start(self) -> None:
        with self._lock:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="inference-log", daemon=True)
                self._thread.start()

    def close(self) -> None:
        """Write what is queued (for at most `drain_seconds`), then stop (blocking)."""
        self.start()  # records queued before a start still get written
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is None:
            return
        deadline = time.monotonic() + self._settings.drain_seconds
        with contextlib.suppress(queue.Full):  # then the join below times out too
            self._queue.put(None, timeout=self._settings.drain_seconds)  # the stop mark
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            log.warning("inference log: records still queued at shutdown were not written")
            return  # a daemon thread still writing: the file closes with the process
        self._file.close()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < _BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            lines: list[bytes] = []
            for record in batch:
                if record is None:
                    continue
                try:
                    lines.append(
                        encode_record(record, self._redactor, self._settings.max_tool_result_chars)
                    )
                except Exception:
                    log.exception("inference log: a record could not be encoded")
                    self._dropped.labels("error").inc()
            if lines:
                self._write(lines)
            if None in batch:
                return

    def _write(self, lines: list[bytes]) -> None:
        """Append `lines`, flushed once; a file passes `max_bytes` only by a single line."""
        written = 0
        try:
            self._reopen_if_moved()
            size = os.fstat(self._file.fileno()).st_size
            for line in lines:
                if size and size + len(line) > self._settings.max_bytes:
                    self._rotate()
                    size = 0
                self._file.write(line)
                size += len(line)
                written += 1
            self._file.flush()
        except (OSError, ValueError):  # ValueError: a reopen failed, the file is closed
            log.exception("inference log: writing %s failed", self._path)
            self._dropped.labels("error").inc(len(lines) - written)
        self._written.inc(written)

    def _reopen_if_moved(self) -> None:
        try:
            moved = os.stat(self._path).st_ino != os.fstat(self._file.fileno()).st_ino
        except FileNotFoundError:
            moved = True
        if moved:
            self._file.close()
            self._file = open(self._path, "ab")  # noqa: SIM115 (kept open, closed by close)

    def _rotate(self) -> None:
        self._file.close()  # flushes what this batch wrote so far
        os.replace(self._path, f"{self._path}.1")
        self._file = open(self._path, "ab")  # noqa: SIM115


def _open(path: str) -> BinaryIO:
    try:
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        return open(path, "ab")  # closed by `close`
    except OSError as exc:
        raise ConfigError(
            "the inference log", [f"$.inference_log.path: cannot open `{path}`: {exc}"]
        ) from None
