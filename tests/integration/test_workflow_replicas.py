"""`ReplicaMonitor` on a real SQLite file with DBOS faked: heartbeat rows, a takeover and the
forgetting of the gone replica's row, and database trouble that only costs ticks."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from tools.workflows.heartbeats import HEARTBEAT_TABLE
from tools.workflows.replicas import PendingRun, ReplicaMonitor

V = "wf-1"


def _rows(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as c:
            rows = c.execute(sa.text(f"SELECT executor_id, last_seen_ms FROM {HEARTBEAT_TABLE}"))
            return {str(r[0]): int(r[1]) for r in rows}
    finally:
        engine.dispose()


async def _until(predicate: Callable[[], bool], seconds: float) -> None:
    for _ in range(int(seconds / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)


def test_beats_then_takes_over_a_silent_replica_and_forgets_its_row(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.sqlite'}"
    pending = [PendingRun("r1", "a", V, 0)]
    recovered: list[list[str]] = []

    def recover(ids: list[str]) -> int:
        recovered.append(ids)
        pending.clear()  # a live replica claimed it: the row now carries its id
        return 1

    def monitor(name: str) -> ReplicaMonitor:
        return ReplicaMonitor(
            url,
            executor_id=name,
            app_version=V,
            heartbeat_seconds=0.1,
            takeover_after_seconds=0.5,
            pending=lambda: list(pending),
            recover=recover,
        )

    async def scenario() -> None:
        a, b = monitor("a"), monitor("b")
        await a.tick()
        await b.tick()
        assert recovered == [] and set(_rows(url)) == {"a", "b"}
        await a.aclose()  # a stops beating, its run still pending under its id
        await b.start()
        await _until(lambda: bool(recovered) and "a" not in _rows(url), seconds=5)
        await b.aclose()

    asyncio.run(scenario())
    assert recovered == [["a"]]
    assert set(_rows(url)) == {"b"}


def test_an_unreachable_database_is_logged_and_retried_never_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = 0

    def pending() -> list[PendingRun]:
        nonlocal calls
        calls += 1
        return []

    async def scenario() -> int:
        # Port 1 on loopback refuses at once; every tick fails at the heartbeat write.
        watcher = ReplicaMonitor(
            "postgresql://postgres@127.0.0.1:1/none",
            executor_id="me",
            app_version=V,
            heartbeat_seconds=0.05,
            takeover_after_seconds=0.5,
            pending=pending,
            call_timeout_seconds=1.0,
        )
        await watcher.start()
        await asyncio.sleep(0.5)
        await watcher.aclose()
        return watcher.ticks

    with caplog.at_level(logging.DEBUG, logger="tools.workflows.replicas"):
        ticks = asyncio.run(scenario())
    assert ticks == 0 and calls == 0
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) >= 2 and failures[0].levelno == logging.WARNING
    assert all(r.levelno == logging.DEBUG for r in failures[1:])  # one warning a streak


def test_a_hung_call_times_out_and_the_heartbeat_goes_on(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.sqlite'}"

    def hang() -> list[PendingRun]:
        time.sleep(0.6)  # a DBOS query stuck past the call bound
        return []

    async def scenario() -> tuple[int, int]:
        watcher = ReplicaMonitor(
            url,
            executor_id="me",
            app_version=V,
            heartbeat_seconds=0.05,
            takeover_after_seconds=0.5,
            pending=hang,
            call_timeout_seconds=0.2,
        )
        await watcher.start()
        await asyncio.sleep(0.1)
        first = _rows(url)["me"]
        await asyncio.sleep(0.8)
        second = _rows(url)["me"]
        await watcher.aclose()
        return first, second

    first, second = asyncio.run(scenario())
    assert second > first  # the heartbeat kept beating while the DBOS call hung
