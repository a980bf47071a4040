"""A retry's backoff survives a restart: a child process runs a step whose first attempt fails
and is SIGKILLed during the backoff; restarted, it makes the second attempt when the backoff
counted from the first attempt's checkpointed end is over: not at once, nor a whole backoff
after the restart.

Run as a child: `python -m tests.e2e.test_workflow_backoff DB_URL URL WORKDIR [start]`.
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

BACKOFF_SECONDS = 6.0
KILL_AFTER_SECONDS = 1.0
DAG = f"""
name: backoff
steps:
  flaky: {{http: {{method: POST, url: "URL/hit/flaky"}}, retries: 1, backoff_seconds: {BACKOFF_SECONDS}}}
"""
WAIT_SECONDS = 30.0


async def _child(db: str, url: str, workdir: Path, start: bool) -> None:
    from tools.workflows import FunctionRunners, HttpxHttp, WorkflowEngine, validate_workflow

    spec, problems = validate_workflow(yaml.safe_load(DAG.replace("URL", url)), "backoff.yaml")
    assert spec is not None, problems

    async def unused(*args: Any) -> Any:
        raise AssertionError("no model or tool steps here")

    http = HttpxHttp()
    engine = WorkflowEngine(
        {"backoff": spec}, db, FunctionRunners(model=unused, tool=unused, http=http)
    )
    await engine.start()
    if start:
        (workdir / "run_id").write_text(await engine.start_run("backoff", {}))
    run_id = (workdir / "run_id").read_text()
    state = await engine.wait(run_id, WAIT_SECONDS)
    (workdir / "state.json").write_text(json.dumps(state))
    await engine.aclose()
    await http.aclose()


def _spawn(db: str, server: CounterServer, workdir: Path, start: bool) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "tests.e2e.test_workflow_backoff", db, server.url, str(workdir)]
    # A stable executor id: the restarted child resumes its own run at launch.
    env = {**os.environ, "DBOS__VMID": "backoff-child"}
    with (workdir / "child.log").open("ab") as log:
        return subprocess.Popen(
            args + (["start"] if start else []),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _until(predicate: Any, what: str, workdir: Path) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.01)
    log = (workdir / "child.log").read_text(errors="replace")[-3000:]
    raise AssertionError(f"timed out waiting for {what}; child log:\n{log}")


def _first_attempt_end(client: Any, workdir: Path) -> float | None:
    """When attempt 1 ended, once its checkpoint is written (what a resumed run replays)."""
    try:
        run_id = (workdir / "run_id").read_text()
    except OSError:
        return None
    for step in client.list_workflow_steps(run_id):
        if step["function_name"] == "flaky#1":
            return float(step["output"]["finished"])
    return None


@pytest.mark.e2e
@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_a_backoff_interrupted_by_a_restart_is_waited_out_from_its_start(
    tmp_path: Path, database: str
) -> None:
    from dbos import DBOSClient

    pg, db = workflow_db(database, tmp_path, "backoff")
    server = CounterServer().start()
    server.fail("flaky", 1)
    children = [_spawn(db, server, tmp_path, True)]
    try:
        _until(lambda: server.counts["flaky"] == 1, "the first attempt", tmp_path)
        client = DBOSClient(system_database_url=db)
        try:
            failed = _until(
                lambda: _first_attempt_end(client, tmp_path), "its checkpoint", tmp_path
            )
        finally:
            client.destroy()
        time.sleep(max(0.0, failed + KILL_AFTER_SECONDS - time.time()))
        os.killpg(children[0].pid, signal.SIGKILL)
        children[0].wait(timeout=10)
        assert server.counts["flaky"] == 1  # killed during the backoff
        children.append(_spawn(db, server, tmp_path, False))
        _until(lambda: server.counts["flaky"] == 2, "the second attempt", tmp_path)
        second = time.time()
        children[1].wait(timeout=WAIT_SECONDS)
    finally:
        for child in children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait(timeout=10)
        server.stop()
        if pg is not None:
            pg.stop()
    gap = second - failed
    print(f"first attempt's end to the second attempt across the restart: {gap:.2f} s")
    # A backoff begun anew at the restart (the replayed failure, then a whole pause: what an
    # in-memory sleep did) comes after more than KILL_AFTER_SECONDS + BACKOFF_SECONDS.
    assert BACKOFF_SECONDS - 0.05 <= gap < BACKOFF_SECONDS + KILL_AFTER_SECONDS, gap
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["status"] == "succeeded", state["error"]
    assert state["steps"]["flaky"]["attempts"] == 2


if __name__ == "__main__":
    asyncio.run(_child(sys.argv[1], sys.argv[2], Path(sys.argv[3]), "start" in sys.argv[4:]))
