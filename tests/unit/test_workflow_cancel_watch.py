"""`CancelWatcher` with the database faked: a run cancelled elsewhere has its live task
cancelled, a run resumed while the read was under way keeps its new task, reads that fail
cost only a tick."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from tools.workflows.cancel_watch import CancelWatcher


async def _forever() -> None:
    await asyncio.sleep(3600)


def test_cancels_the_live_tasks_of_cancelled_runs_only() -> None:
    async def scenario() -> tuple[list[str], bool, bool]:
        live: dict[str, asyncio.Task[Any]] = {
            "gone": asyncio.create_task(_forever()),
            "kept": asyncio.create_task(_forever()),
        }
        asked: list[list[str]] = []

        def cancelled(ids: list[str]) -> set[str]:
            asked.append(sorted(ids))
            return {"gone", "not-here"}

        watcher = CancelWatcher(live, every_seconds=0.01, cancelled=cancelled)
        stopped = await watcher.tick()
        await asyncio.wait([live["gone"]], timeout=5)  # the cancel is scheduled, then lands
        await watcher.aclose()
        result = (stopped, live["gone"].cancelled(), live["kept"].done())
        live["kept"].cancel()
        assert asked == [["gone", "kept"]]
        return result

    stopped, gone_cancelled, kept_done = asyncio.run(scenario())
    assert stopped == ["gone"] and gone_cancelled and not kept_done


def test_a_run_resumed_during_the_read_keeps_its_new_task() -> None:
    async def scenario() -> tuple[list[str], bool]:
        old = asyncio.create_task(_forever())
        live: dict[str, asyncio.Task[Any]] = {"r": old}
        new = asyncio.create_task(_forever())

        def cancelled(ids: list[str]) -> set[str]:
            live["r"] = new  # resumed (a fresh interpreter) while the stale read ran
            return {"r"}

        watcher = CancelWatcher(live, every_seconds=0.01, cancelled=cancelled)
        stopped = await watcher.tick()
        await asyncio.wait([new], timeout=0.2)  # long enough for a cancel to have landed
        await watcher.aclose()
        done = new.done()
        old.cancel()
        new.cancel()
        return stopped, done

    stopped, new_done = asyncio.run(scenario())
    assert stopped == [] and not new_done


def test_failing_reads_are_retried_and_nothing_reads_while_no_run_is_live() -> None:
    calls = 0
    ready = threading.Event()

    def cancelled(ids: list[str]) -> set[str]:
        nonlocal calls
        calls += 1
        if calls >= 3:
            ready.set()
        raise OSError("database unreachable")

    async def scenario() -> int:
        live: dict[str, asyncio.Task[Any]] = {}
        watcher = CancelWatcher(live, every_seconds=0.01, cancelled=cancelled)
        await watcher.start()
        await asyncio.sleep(0.1)
        idle_calls = calls
        live["r"] = asyncio.create_task(_forever())
        assert await asyncio.to_thread(ready.wait, 5)
        await watcher.aclose()
        live["r"].cancel()
        return idle_calls

    assert asyncio.run(scenario()) == 0
    assert calls >= 3
