"""The takeover decision (`tools.workflows.replicas.decide`), executor ids and the timing
check: which replicas are gone, which runs move, which heartbeat rows are forgotten."""

from __future__ import annotations

import pytest

from gateway.settings import ConfigError, parse_settings
from tools.workflows.replicas import PendingRun, check_timing, decide, executor_id

V = "wf-1"
AFTER = 30_000
NOW = 1_000_000


def run(executor: str, updated: int | None = NOW, version: str | None = V) -> PendingRun:
    return PendingRun(f"run-{executor}-{updated}", executor, version, updated)


def test_a_stale_heartbeat_hands_its_runs_over_and_a_fresh_one_does_not() -> None:
    beats = {"me": NOW, "fresh": NOW - AFTER, "stale": NOW - AFTER - 1}
    got = decide(
        beats,
        [run("fresh", NOW - 10 * AFTER), run("stale"), run("me", 0)],
        me="me",
        app_version=V,
        now_ms=NOW,
        takeover_after_ms=AFTER,
    )
    # Exactly the bound is still alive; old runs of a live replica (an approval wait) stay.
    assert got.recover == ("stale",)
    assert got.forget == ()  # it still has a pending run: its row stays until that moves


def test_pending_runs_without_a_heartbeat_row_move_only_once_quiet_for_the_bound() -> None:
    got = decide(
        {"me": NOW},
        [run("old", NOW - AFTER - 1), run("old", None), run("busy", NOW - AFTER - 1), run("busy")],
        me="me",
        app_version=V,
        now_ms=NOW,
        takeover_after_ms=AFTER,
    )
    # `busy` updated a run within the bound (it may be starting up, before its first beat).
    assert got.recover == ("old",)


def test_only_this_versions_runs_move_and_any_pending_run_keeps_a_row() -> None:
    beats = {"me": NOW, "gone-old": 0, "gone-empty": 0}
    got = decide(
        beats,
        [run("gone-old", 0, version="wf-0"), run("no-row-old", 0, version="wf-0")],
        me="me",
        app_version=V,
        now_ms=NOW,
        takeover_after_ms=AFTER,
    )
    assert got.recover == ()  # another version's replicas replay those
    assert got.forget == ("gone-empty",)


def test_never_itself_even_when_its_own_row_looks_stale() -> None:
    got = decide(
        {"me": 0}, [run("me", 0)], me="me", app_version=V, now_ms=NOW, takeover_after_ms=AFTER
    )
    assert got.recover == () and got.forget == ()


def test_executor_ids_stable_by_vmid_local_on_sqlite_else_unique() -> None:
    pg = "postgresql://u@h/db"
    assert executor_id({"DBOS__VMID": "pod-3"}, pg) == "pod-3"
    assert executor_id({"DBOS__VMID": "pod-3"}, "sqlite:///x.db") == "pod-3"
    assert executor_id({}, "sqlite:///x.db") == "local"
    first, second = executor_id({}, pg), executor_id({"DBOS__VMID": " "}, pg)
    assert first != second and first.startswith("sy-")


def test_takeover_must_exceed_twice_the_heartbeat() -> None:
    check_timing(5, 10.5)
    with pytest.raises(ValueError, match="must exceed twice"):
        check_timing(5, 10)
    with pytest.raises(ConfigError) as caught:
        parse_settings(
            {"workflows": {"heartbeat_seconds": 5, "takeover_after_seconds": 10}}, "test", {}
        )
    assert caught.value.problems == [
        "$.workflows.takeover_after_seconds: 10 must exceed twice `heartbeat_seconds` (5), or "
        "one late heartbeat would hand a live replica's runs to another"
    ]
