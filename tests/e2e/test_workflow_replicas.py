"""Replica takeover on Postgres: child processes with their own executor ids share a server the
test starts; one is SIGKILLed and the live ones take its runs over (`tools.workflows.replicas`).

Each child beats every 0.5 s and takes over after 2 s of silence. A run waiting for an approval
resumes on the survivor and completes when approved through it; with two survivors racing for
the same takeover (their monitors, plus duplicate requests forced from both), every step of
every run ran once (a step in flight at the kill: once more,
by one replica only: the loopback target's counters).
Run as a child: `python -m tests.e2e.test_workflow_replicas DB_URL URL WORKDIR NAME [start N]`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.test_workflow_loopback import CounterServer
from tests.integration.test_workflow_postgres import SKIP_REASON, PgServer, pg_binaries
from tests.support import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(pg_binaries() is None, reason=SKIP_REASON)]

DAG = """
name: takeover
inputs: {n: integer}
steps:
  a: {http: {method: POST, url: "URL/hit/a{{inputs.n}}"}}
  s: {http: {method: POST, url: "URL/hit/s{{inputs.n}}"}, needs: [a]}
  gate: {approval: "go?", needs: [s]}
  z: {http: {method: POST, url: "URL/hit/z{{inputs.n}}"}, needs: [gate]}
output: {z: "{{steps.z.output.body.name}}"}
"""
HEARTBEAT = 0.5
TAKEOVER = 2.0
WAIT_SECONDS = 30.0


async def _child(db: str, url: str, workdir: Path, name: str, runs: int) -> None:
    from dbos import DBOS

    from tools.workflows import FunctionRunners, HttpxHttp, WorkflowEngine, validate_workflow
    from tools.workflows.replicas import dbos_recover

    spec, problems = validate_workflow(yaml.safe_load(DAG.replace("URL", url)), "t.yaml")
    assert spec is not None, problems

    async def unused(*args: Any) -> Any:
        raise AssertionError("no model or tool steps here")

    http = HttpxHttp()
    engine = WorkflowEngine(
        {"takeover": spec},
        db,
        FunctionRunners(model=unused, tool=unused, http=http),
        heartbeat_seconds=HEARTBEAT,
        takeover_after_seconds=TAKEOVER,
    )
    await engine.start()
    if runs:
        ids = [await engine.start_run("takeover", {"n": n}) for n in range(runs)]
        (workdir / "runs.json").write_text(json.dumps(ids))
    recovered: int | None = None  # runs this child's forced recovery calls re-enqueued
    seen: dict[str, float] = {}  # executor id taken over -> when this child first saw it
    while not (workdir / "stop").exists():
        listed = workdir / "runs.json"
        ids = json.loads(listed.read_text()) if listed.exists() else []
        report: dict[str, Any] = {"executor_id": engine.executor_id, "runs": {}}
        for run_id in ids:
            state = await engine.get_run(run_id)
            status = await DBOS.get_workflow_status_async(run_id)
            report["runs"][run_id] = {
                "status": state["status"],
                "executor": status.executor_id if status else None,
            }
            approver = workdir / "approve"
            if (
                state["status"] == "waiting_for_approval"
                and approver.exists()
                and approver.read_text() == name
            ):
                await engine.approve(run_id, "gate", f"by {name}")
        ask = workdir / "recover"
        if ask.exists() and recovered is None:
            # Duplicate requests on purpose, racing the other survivor's and the monitors'.
            calls = [asyncio.to_thread(dbos_recover, [ask.read_text()]) for _ in range(3)]
            recovered = sum(await asyncio.gather(*calls))
        report["recovered"] = recovered
        assert engine.replicas is not None
        for gone in engine.replicas.taken_over:
            seen.setdefault(gone, time.time())
        report["ticks"] = engine.replicas.ticks
        report["taken_over"] = seen
        (workdir / f"{name}.tmp").write_text(json.dumps(report))
        (workdir / f"{name}.tmp").replace(workdir / f"{name}.json")
        await asyncio.sleep(0.05)
    await engine.aclose()
    await http.aclose()


class Replicas:
    """The child processes of one test, by name, and what each last reported."""

    def __init__(self, db: str, server: CounterServer, workdir: Path) -> None:
        self.db, self.server, self.workdir = db, server, workdir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(self, name: str, runs: int = 0) -> None:
        env = {k: v for k, v in os.environ.items() if k != "DBOS__VMID"}  # ids of their own
        args = [sys.executable, "-m", "tests.e2e.test_workflow_replicas", self.db]
        args += [self.server.url, str(self.workdir), name] + (["start", str(runs)] if runs else [])
        with (self.workdir / f"{name}.log").open("ab") as log:
            self.procs[name] = subprocess.Popen(
                args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self.wait(lambda: self.report(name).get("ticks", 0) >= 1, f"{name} beating")

    def report(self, name: str) -> dict[str, Any]:
        try:
            return dict(json.loads((self.workdir / f"{name}.json").read_text()))
        except (OSError, ValueError):
            return {}

    def kill(self, name: str) -> float:
        self.procs[name].send_signal(signal.SIGKILL)
        self.procs[name].wait(timeout=10)
        return time.time()

    def wait(self, predicate: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        logs = {p.name: p.read_text(errors="replace")[-2000:] for p in self.workdir.glob("*.log")}
        raise AssertionError(f"timed out waiting for {what}; logs: {logs}")

    def close(self) -> None:
        (self.workdir / "stop").touch()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    server = PgServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def server() -> Iterator[CounterServer]:
    target = CounterServer().start()
    try:
        yield target
    finally:
        target.stop()


def _states(replicas: Replicas, name: str) -> dict[str, dict[str, Any]]:
    return dict(replicas.report(name).get("runs", {}))


def test_a_survivor_takes_over_a_dead_replicas_run_within_the_bound(
    pg: PgServer, server: CounterServer, tmp_path: Path
) -> None:
    replicas = Replicas(pg.url("takeover_one"), server, tmp_path)
    try:
        replicas.spawn("a", runs=1)
        replicas.wait(
            lambda: (
                [r["status"] for r in _states(replicas, "a").values()] == ["waiting_for_approval"]
            ),
            "the run at its approval gate",
        )
        replicas.spawn("b")
        dead = replicas.report("a")["executor_id"]
        assert replicas.report("b")["executor_id"] != dead
        killed = replicas.kill("a")
        replicas.wait(lambda: dead in replicas.report("b")["taken_over"], "b's takeover")
        took = replicas.report("b")["taken_over"][dead] - killed
        print(f"takeover after the kill: {took:.2f} s")  # the figure, with -s
        # Not before a's last heartbeat (at most a tick before the kill, a slow tick on a loaded
        # machine: two) went stale, and within a tick of that, plus a loaded machine's slack.
        assert TAKEOVER - 2 * HEARTBEAT <= took <= TAKEOVER + 2 * HEARTBEAT + 1.5, took
        mine = replicas.report("b")["executor_id"]
        replicas.wait(
            lambda: [r["executor"] for r in _states(replicas, "b").values()] == [mine],
            "the run claimed by b",
        )
        (tmp_path / "approve").write_text("b")
        replicas.wait(
            lambda: [r["status"] for r in _states(replicas, "b").values()] == ["succeeded"],
            "the run finished through b",
        )
    finally:
        replicas.close()
    assert dict(server.counts) == {"a0": 1, "s0": 1, "z0": 1}


def test_two_survivors_never_both_run_a_taken_over_run(
    pg: PgServer, server: CounterServer, tmp_path: Path
) -> None:
    runs = 4
    replicas = Replicas(pg.url("takeover_race"), server, tmp_path)
    # Run 3's step s is in flight when a dies: its answer never reached a.
    server.block("s3")
    try:
        replicas.spawn("a", runs=runs)
        replicas.wait(
            lambda: (
                sorted(r["status"] for r in _states(replicas, "a").values())
                == ["running"] + ["waiting_for_approval"] * (runs - 1)
                and server.arrived("s3", 0.01)
            ),
            "three runs at their gate, one in flight",
        )
        replicas.spawn("b")
        replicas.spawn("c")
        dead = replicas.report("a")["executor_id"]
        replicas.kill("a")
        server.release("s3")
        # Both survivors also ask for the takeover at once, three times each.
        (tmp_path / "recover").write_text(dead)
        live = {replicas.report(n)["executor_id"] for n in ("b", "c")}
        replicas.wait(
            lambda: {r["executor"] for r in _states(replicas, "b").values()} <= live,
            "every run claimed by a survivor",
        )
        (tmp_path / "approve").write_text("b")
        replicas.wait(
            lambda: [r["status"] for r in _states(replicas, "b").values()] == ["succeeded"] * runs,
            "every run finished",
        )
        replicas.wait(
            lambda: all(replicas.report(n).get("recovered") is not None for n in ("b", "c")),
            "both survivors' forced recovery requests",
        )
    finally:
        replicas.close()
    expected = {f"{step}{n}": 1 for step in ("a", "s", "z") for n in range(runs)}
    expected["s3"] = 2  # a's call, then exactly one survivor's
    assert dict(server.counts) == expected


if __name__ == "__main__":
    _, db_url, target, workdir, child, *rest = sys.argv
    count = int(rest[1]) if rest[:1] == ["start"] else 0
    asyncio.run(_child(db_url, target, Path(workdir), child, count))
