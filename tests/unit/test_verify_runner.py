"""The verify worker pool: answers, timeouts that kill the worker, refused specs."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import psutil
import pytest

from tools.verify.runner import Verifier

EXAMPLE = {
    "check": "barrier",
    "variables": ["x", "y"],
    "dynamics": ["-x + y", "-y"],
    "initial": [["x**2 + y**2 <= 0.25"]],
    "unsafe": [["(x - 2)**2 + y**2 <= 0.25"], ["x >= 2.5"]],
    "domain": {"box": {"x": [-3, 3], "y": [-3, 3]}, "constraints": [["x + y <= 4"]]},
    "certificate": "x**2 + y**2 - 1",
    "condition": "lie_domain",
}


def spin(spec: Any, budget: float) -> dict[str, Any]:
    """A check that ignores its budget (as a stuck z3 or SymPy call would)."""
    while True:
        time.sleep(0.01)


def hog(spec: Any, budget: float) -> dict[str, Any]:
    """A check that allocates without bound (as a huge expansion would)."""
    blocks = []
    while True:
        blocks.append(bytearray(64 * 1024 * 1024))


def die(spec: Any, budget: float) -> dict[str, Any]:
    """A check whose process crashes (as a native z3 failure would)."""
    os._exit(3)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_runs_a_check_in_a_worker() -> None:
    async def main() -> None:
        verifier = Verifier(workers=1)
        try:
            await verifier.start()
            result = await verifier.verify(EXAMPLE, timeout=10)
            assert result["verdict"] == "valid", result
            bad = await verifier.verify({**EXAMPLE, "certificate": "__import__('os')"}, timeout=5)
            assert bad["verdict"] == "error"
            assert "__import__" in bad["reason"]
        finally:
            await verifier.aclose()
        assert verifier.worker_pids() == []

    asyncio.run(main())


def test_timeout_kills_the_worker_and_answers_unknown() -> None:
    async def main() -> None:
        verifier = Verifier(workers=1, target="tests.unit.test_verify_runner:spin")
        try:
            await verifier.start()
            [pid] = verifier.worker_pids()
            start = time.monotonic()
            result = await verifier.verify(EXAMPLE, timeout=1.0)
            elapsed = time.monotonic() - start
            assert result["verdict"] == "unknown"
            assert result["method"] == "timeout"
            assert elapsed < 2.0
            assert _gone(pid)
            assert verifier.worker_pids() == []
            # The pool recovers: the next call gets a fresh worker (and is killed in turn).
            again = await verifier.verify(EXAMPLE, timeout=0.5)
            assert again["verdict"] == "unknown"
        finally:
            await verifier.aclose()

    asyncio.run(main())


def test_hard_real_check_times_out_within_a_second_of_its_timeout() -> None:
    # Sampling on non-polynomial dynamics runs until its budget: no answer but unknown.
    spec = {
        **EXAMPLE,
        "dynamics": ["-sin(x) + y*exp(x*y)", "-tanh(y)"],
        "certificate": "x**2 + y**2 - 1",
    }

    async def main() -> None:
        verifier = Verifier(workers=1)
        try:
            await verifier.start()
            start = time.monotonic()
            result = await verifier.verify(spec, timeout=1.0)
            assert time.monotonic() - start < 2.0
            assert result["verdict"] in ("unknown", "invalid")
        finally:
            await verifier.aclose()

    asyncio.run(main())


def test_cancelled_call_leaves_no_worker() -> None:
    async def main() -> None:
        verifier = Verifier(workers=1, target="tests.unit.test_verify_runner:spin")
        try:
            await verifier.start()
            [pid] = verifier.worker_pids()
            task = asyncio.create_task(verifier.verify(EXAMPLE, timeout=30))
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert _gone(pid)
        finally:
            await verifier.aclose()

    asyncio.run(main())


def test_non_json_spec_is_an_error() -> None:
    async def main() -> None:
        verifier = Verifier(workers=1)
        try:
            result = await verifier.verify({"check": object()})  # type: ignore[dict-item]
            assert result["verdict"] == "error"
        finally:
            await verifier.aclose()

    asyncio.run(main())


def test_memory_cap_turns_runaway_allocation_into_unknown() -> None:
    async def main() -> None:
        verifier = Verifier(workers=1, memory_mb=1024, target="tests.unit.test_verify_runner:hog")
        try:
            await verifier.start()
            [pid] = verifier.worker_pids()
            result = await verifier.verify(EXAMPLE, timeout=20)
            assert result["verdict"] == "unknown"
            assert "memory" in result["reason"]
            assert verifier.worker_pids() == [pid]  # the worker survives and is reused
        finally:
            await verifier.aclose()

    asyncio.run(main())


def test_crashed_worker_gives_unknown_and_is_replaced() -> None:
    async def main() -> None:
        verifier = Verifier(workers=1, target="tests.unit.test_verify_runner:die")
        try:
            await verifier.start()
            [pid] = verifier.worker_pids()
            result = await verifier.verify(EXAMPLE, timeout=5)
            assert result["verdict"] == "unknown"
            assert "died" in result["reason"]
            assert _gone(pid)
        finally:
            await verifier.aclose()

    asyncio.run(main())


def test_hard_z3_check_with_timeout_one_second() -> None:
    # A quartic-octic inequality in four variables that nlsat does not settle in seconds.
    spec = {
        "check": "inequality",
        "variables": ["x", "y", "z", "w"],
        "inequality": "(x**2+y**2+z**2+w**2)**4 - 0.5*x*y*z*w*(x+y+z+w)**4 + x**3*y**3*z - w**7*x >= -1",
    }

    async def main() -> None:
        verifier = Verifier(workers=1)
        try:
            await verifier.start()
            [pid] = verifier.worker_pids()
            start = time.monotonic()
            result = await verifier.verify(spec, timeout=1.0)
            assert time.monotonic() - start < 2.0
            assert result["verdict"] == "unknown", result
            if result["method"] == "timeout":  # z3 ignored its limit: the worker was killed
                assert _gone(pid)
            else:
                assert verifier.worker_pids() == [pid]
        finally:
            await verifier.aclose()
        assert _gone(pid)

    asyncio.run(main())


def _worker_children() -> list[psutil.Process]:
    out = []
    for child in psutil.Process().children(recursive=True):
        try:
            if any("spawn_main" in part for part in child.cmdline()) and not _gone(child.pid):
                out.append(child)
        except psutil.NoSuchProcess:
            pass
    return out


def test_cancelled_start_leaves_no_worker() -> None:
    async def main() -> None:
        verifier = Verifier(workers=2)
        task = asyncio.create_task(verifier.start())
        await asyncio.sleep(0.3)  # workers started, still importing SymPy and z3
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await verifier.aclose()
        await asyncio.sleep(0.2)
        assert _worker_children() == []

    asyncio.run(main())


def test_a_cold_start_counts_against_the_timeout_and_warms_the_pool() -> None:
    quick = {"check": "equivalent", "variables": ["x"], "left": "x + x", "right": "2*x"}

    async def main() -> None:
        verifier = Verifier(workers=1)
        try:
            start = time.monotonic()
            cold = await verifier.verify(quick, timeout=0.05)  # far less than the imports take
            assert time.monotonic() - start < 0.05 + 0.2
            assert cold["verdict"] == "unknown" and "still starting" in cold["reason"]
            deadline = time.monotonic() + 30
            while not verifier.warm and time.monotonic() < deadline:  # noqa: ASYNC110 - no event to wait on
                await asyncio.sleep(0.05)
            assert verifier.warm == 1  # the worker it started joined the pool
            assert len(verifier.worker_pids()) == 1
            warm = await verifier.verify(quick, timeout=5.0)
            assert warm["verdict"] == "valid"
        finally:
            await verifier.aclose()
        assert _worker_children() == []

    asyncio.run(main())
