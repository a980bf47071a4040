"""Run checks in worker processes with a per-call timeout and a memory cap.

    verifier = Verifier()
    await verifier.start()                    # optional: warm the workers (imports take ~1 s)
    result = await verifier.verify(spec, timeout=10.0)
    await verifier.aclose()

`verify` always returns a verdict dict (see `tools.verify.result`), never raises for a bad
spec: a refused spec or expression is `{"verdict": "error", "reason": ...}`; a check that runs
out of time is `unknown`. The check itself gets most of the timeout as its budget and usually
answers `unknown` on its own; if it does not (a z3 or SymPy call that ignores its limit), the
worker is killed at the timeout and replaced on the next call, so a call returns within
timeout + ~0.1 s and leaves no process behind. The timeout covers a cold worker's start-up
(~0.6 s of imports): a call that runs out while one starts answers `unknown`, and the
worker joins the pool for the next call. Workers are `spawn`ed (no fork of the gateway's
threads and sockets) and cap their address space with RLIMIT_AS, so runaway memory is a
MemoryError in the worker, not in the gateway.

Our own small pool rather than `ProcessPoolExecutor`: the executor cannot kill one stuck task,
only break the whole pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import multiprocessing
import resource
import time
from multiprocessing.connection import Connection
from typing import Any

from tools.verify.result import verdict

DEFAULT_TARGET = "tools.verify.checks:run_check"
MAX_SPEC_BYTES = 200_000
# Workers import SymPy and z3 before they report ready; bounded, outside the call's timeout.
STARTUP_TIMEOUT = 60.0
# Share of the timeout the check gets as its own budget, leaving time to answer and send.
BUDGET_SHARE = 0.8


def _serve(conn: Connection, memory_bytes: int, target: str) -> None:
    """The worker: cap memory, import the check function, then answer jobs until told to stop."""
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    module, _, name = target.partition(":")
    function = getattr(importlib.import_module(module), name)
    conn.send("ready")
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return  # the gateway went away
        if job is None:
            return
        spec, budget = job
        start = time.monotonic()
        try:
            result = function(spec, budget)
        except MemoryError:
            result = verdict(
                "unknown", "the check hit the memory cap", "limits", time.monotonic() - start
            )
        except RecursionError:
            result = verdict(
                "unknown", "the check recursed too deeply", "limits", time.monotonic() - start
            )
        except Exception as exc:
            # A bug or a SymPy/z3 failure decides nothing: unknown, never valid.
            reason = f"internal error: {type(exc).__name__}: {exc}"[:500]
            result = verdict("unknown", reason, "error", time.monotonic() - start)
        conn.send(result)


class _Worker:
    def __init__(self, memory_bytes: int, target: str) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(child, memory_bytes, target), daemon=True, name="verify-worker"
        )
        self.process.start()
        child.close()

    def wait_ready(self) -> None:
        try:
            ready = self.conn.poll(STARTUP_TIMEOUT) and self.conn.recv() == "ready"
        except (EOFError, OSError):  # it died while starting (see its stderr)
            ready = False
        if not ready:
            self.kill()
            raise RuntimeError("verify worker did not start")

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(2.0)
        self.conn.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(None)
        self.process.join(1.0)
        self.kill()


class Verifier:
    """A small pool of check workers; at most `workers` checks run at once."""

    def __init__(
        self, workers: int = 2, memory_mb: int = 2048, target: str = DEFAULT_TARGET
    ) -> None:
        self._size = workers
        self._memory = memory_mb * 1024 * 1024
        self._target = target
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._slots = asyncio.Semaphore(workers)
        # Workers starting, and those among them whose call stopped waiting.
        self._starting: set[asyncio.Future[_Worker]] = set()
        self._orphans: set[asyncio.Future[_Worker]] = set()
        self._closed = False

    async def start(self) -> None:
        """Start and warm every worker now rather than on first use."""
        async with asyncio.timeout(STARTUP_TIMEOUT + 5):
            while len(self._idle) + len(self._busy) < self._size:
                self._idle.append(await self._spawn())

    @property
    def warm(self) -> int:
        """Workers started and idle."""
        return len(self._idle)

    def worker_pids(self) -> list[int]:
        return [w.process.pid for w in [*self._idle, *self._busy] if w.process.pid is not None]

    # `timeout` is the call's contract (the check's own budget derives from it), not a way of
    # cancelling the coroutine, hence not `asyncio.timeout`.
    async def verify(self, spec: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:  # noqa: ASYNC109
        if self._closed:
            raise RuntimeError("verifier is closed")
        try:
            size = len(json.dumps(spec))
        except (TypeError, ValueError):
            return verdict("error", "the spec must be JSON data", "validation", 0.0)
        if size > MAX_SPEC_BYTES:
            return verdict("error", f"spec larger than {MAX_SPEC_BYTES} bytes", "validation", 0.0)
        async with self._slots:
            # The timeout covers a cold worker's start-up too (SymPy and z3 imports, ~0.6 s):
            # what is left of it after the start is the check's.
            start = time.monotonic()
            worker = await self._acquire(timeout)
            left = timeout - (time.monotonic() - start)
            if worker is None or left <= 0:
                if worker is not None:
                    self._idle.append(worker)
                return verdict(
                    "unknown",
                    f"no decision within the {timeout:g} s timeout (the check's worker was "
                    "still starting; it will be warm for the next call)",
                    "timeout",
                    time.monotonic() - start,
                )
            self._busy.add(worker)
            try:
                worker.conn.send((spec, left * BUDGET_SHARE))
                answered = await asyncio.to_thread(worker.conn.poll, left)
                result: dict[str, Any] | None = worker.conn.recv() if answered else None
            except (EOFError, OSError):
                # Killed by the memory cap's fallout or a crash in z3: replaced on next use.
                self._busy.discard(worker)
                await asyncio.to_thread(worker.kill)
                return verdict(
                    "unknown", "the check's worker process died", "error", time.monotonic() - start
                )
            except BaseException:
                # Cancelled or the worker died mid-job: it may still be running, so it goes.
                self._busy.discard(worker)
                await asyncio.to_thread(worker.kill)
                raise
            self._busy.discard(worker)
            if result is None:
                await asyncio.to_thread(worker.kill)
                return verdict(
                    "unknown",
                    f"no decision within the {timeout:g} s timeout (check stopped)",
                    "timeout",
                    time.monotonic() - start,
                )
            self._idle.append(worker)
            return result

    async def drain(self, timeout: float) -> None:  # noqa: ASYNC109 - bounds the wait, then closes
        """Let the calls in flight finish (for at most `timeout` seconds), then close."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                for _ in range(self._size):
                    await self._slots.acquire()
        await self.aclose()

    async def aclose(self) -> None:
        self._closed = True
        for starting in list(self._starting):
            starting.cancel()  # `_spawn` kills a worker cancelled mid-start
        if self._starting:
            await asyncio.wait(self._starting, timeout=STARTUP_TIMEOUT)
        workers, self._idle = [*self._idle, *self._busy], []
        self._busy.clear()
        for worker in workers:
            await asyncio.to_thread(worker.stop)

    async def _acquire(self, timeout: float) -> _Worker | None:  # noqa: ASYNC109 - see verify
        """An idle worker, or one that starts within `timeout`; else None, and the one
        starting joins the pool when ready (a short timeout must not keep the pool cold)."""
        if self._idle:
            return self._idle.pop()
        if self._orphans:  # a start another call gave up on: this call claims it
            starting = self._orphans.pop()
        else:
            starting = asyncio.ensure_future(self._spawn())
            self._starting.add(starting)
            starting.add_done_callback(self._starting.discard)
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(starting)
        except TimeoutError:
            self._orphans.add(starting)
            starting.add_done_callback(self._adopt)
            return None

    def _adopt(self, starting: asyncio.Future[_Worker]) -> None:
        """A started worker no call claimed joins the pool (or goes, if it is full)."""
        if starting not in self._orphans:
            return
        self._orphans.discard(starting)
        if starting.cancelled() or starting.exception() is not None:
            return
        worker = starting.result()
        if self._closed or len(self._idle) + len(self._busy) >= self._size:
            worker.kill()
        else:
            self._idle.append(worker)

    async def _spawn(self) -> _Worker:
        def start() -> _Worker:
            worker = _Worker(self._memory, self._target)
            # Tracked from birth: a call cancelled mid-start still leaves it to `aclose`.
            self._busy.add(worker)
            return worker

        worker = await asyncio.to_thread(start)
        try:
            await asyncio.to_thread(worker.wait_ready)
        except BaseException:
            self._busy.discard(worker)
            worker.kill()  # SIGKILL and reap: quick, and safe to do while being cancelled
            raise
        self._busy.discard(worker)
        return worker
