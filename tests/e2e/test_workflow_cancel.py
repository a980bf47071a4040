"""Cancel from another process: a child runs the engine with runs whose first step is in flight;
the test cancels each through a `DBOSClient` of its own (what another replica's `cancel`, or an
operator's DBOS tooling, does to the shared database) and times how soon the child stops the
step. Nothing wakes the child but its engine's cancel watcher (`tools.workflows.cancel_watch`),
or DBOS's own preemptible-step poll, once a second: the cancels go out 0.137 s apart, at every
phase of that second, so some would wait most of it for DBOS alone. The step after never runs.

Run as a child: `python -m tests.e2e.test_workflow_cancel DB_URL URL WORKDIR RUNS`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.test_workflow_loopback import CounterServer
from tests.integration.test_workflow_postgres import workflow_db
from tests.support import ROOT

DAG = """
name: cancel
inputs: {n: integer}
steps:
  hold: {tool: hold, args: {n: "{{inputs.n}}"}}
  next: {http: {method: POST, url: "URL/hit/next{{inputs.n}}"}, needs: [hold]}
"""
RUNS = 8
SPACING_SECONDS = 0.137  # 8 cancels spread over one DBOS poll period, not in step with ticks
BOUND_SECONDS = 0.6  # the acceptance's 1 s, with room for a loaded machine
WAIT_SECONDS = 30.0


async def _child(db: str, url: str, workdir: Path, runs: int) -> None:
    from tools.workflows import FunctionRunners, HttpxHttp, WorkflowEngine, validate_workflow

    spec, problems = validate_workflow(yaml.safe_load(DAG.replace("URL", url)), "cancel.yaml")
    assert spec is not None, problems

    async def unused(*args: Any) -> Any:
        raise AssertionError("no model steps here")

    async def hold(name: str, args: Any, ctx: Any) -> Any:
        n = args["n"]
        (workdir / f"arrived{n}").write_text(repr(time.time()))
        try:
            await asyncio.sleep(WAIT_SECONDS)
        except asyncio.CancelledError:
            (workdir / f"stopped{n}").write_text(repr(time.time()))
            raise
        return "held to the end"

    http = HttpxHttp()
    engine = WorkflowEngine(
        {"cancel": spec}, db, FunctionRunners(model=unused, tool=hold, http=http)
    )
    await engine.start()
    ids = [await engine.start_run("cancel", {"n": n}) for n in range(runs)]
    (workdir / "runs.tmp").write_text(json.dumps(ids))
    (workdir / "runs.tmp").replace(workdir / "runs.json")
    while not (workdir / "stop").exists():  # noqa: ASYNC110 - the test's file, not an event here
        await asyncio.sleep(0.05)
    await engine.aclose()
    await http.aclose()


def _read(path: Path) -> str | None:
    try:
        return path.read_text() or None
    except OSError:
        return None


def _wait(predicate: Any, what: str, workdir: Path) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.005)
    log = (workdir / "child.log").read_text(errors="replace")[-3000:]
    raise AssertionError(f"timed out waiting for {what}; child log:\n{log}")


@pytest.mark.e2e
@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_a_cancel_from_another_process_stops_the_step_in_flight_within_the_bound(
    tmp_path: Path, database: str
) -> None:
    from dbos import DBOSClient

    pg, db = workflow_db(database, tmp_path, "cancel")
    server = CounterServer().start()
    args = [sys.executable, "-m", "tests.e2e.test_workflow_cancel", db, server.url]
    args += [str(tmp_path), str(RUNS)]
    with (tmp_path / "child.log").open("ab") as log:
        child = subprocess.Popen(
            args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    latencies: list[float] = []
    try:
        _wait(lambda: _read(tmp_path / "runs.json"), "the runs", tmp_path)
        ids = json.loads((tmp_path / "runs.json").read_text())
        client = DBOSClient(system_database_url=db)
        try:
            for n in range(RUNS):
                _wait(
                    lambda n=n: _read(tmp_path / f"arrived{n}"), f"step hold of run {n}", tmp_path
                )
            start = time.time()
            sent = []
            for n in range(RUNS):
                time.sleep(max(0.0, start + n * SPACING_SECONDS - time.time()))
                sent.append(time.time())
                client.cancel_workflow(ids[n])
            for n in range(RUNS):
                _wait(lambda n=n: _read(tmp_path / f"stopped{n}"), f"run {n} stopped", tmp_path)
                latencies.append(float((tmp_path / f"stopped{n}").read_text()) - sent[n])
            time.sleep(0.5)  # a step after a cancelled one would have hit the target by now
            statuses = [client.retrieve_workflow(i).get_status().status for i in ids]
        finally:
            client.destroy()
    finally:
        (tmp_path / "stop").touch()
        try:
            child.wait(timeout=WAIT_SECONDS)
        finally:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait(timeout=10)
            server.stop()
            if pg is not None:
                pg.stop()
    print(f"cancel to step stopped ({database}): " + ", ".join(f"{t:.3f}" for t in latencies))
    assert max(latencies) < BOUND_SECONDS, latencies
    assert statuses == ["CANCELLED"] * RUNS
    assert dict(server.counts) == {}  # no step after a cancelled one ran


if __name__ == "__main__":
    _, db_url, target, workdir, runs = sys.argv
    asyncio.run(_child(db_url, target, Path(workdir), int(runs)))
