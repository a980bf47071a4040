"""Kill-and-resume: a child process runs the engine on a SQLite file, or on a Postgres server
the test starts; the test SIGKILLs it while one step's HTTP call is in flight (held by the
loopback target) and starts it again.

Every completed step ran exactly once (the target's counter), the in-flight one at most twice,
an approval wait survives a restart, and the result equals an uninterrupted run's.
Run as a child: `python -m tests.e2e.test_workflow_resume DB_URL URL WORKDIR [start]`.
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
from tests.integration.test_workflow_postgres import SKIP_REASON, PgServer, pg_binaries
from tests.support import ROOT

DAG = """
name: resume
inputs: {items: array}
steps:
  a: {http: {method: POST, url: "URL/hit/a"}}
  b: {http: {method: POST, url: "URL/hit/b"}}
  m: {map: "{{inputs.items}}", step: {http: {method: POST, url: "URL/hit/m{{item}}"}}, needs: [a]}
  gate: {approval: "go?", needs: [b, m]}
  z: {http: {method: POST, url: "URL/hit/z", body: "{{steps.m.output.2.body.name}}"}, needs: [gate]}
output:
  a: "{{steps.a.output.body}}"
  b: "{{steps.b.output.body}}"
  m: ["{{steps.m.output.0.body}}", "{{steps.m.output.1.body}}", "{{steps.m.output.2.body}}"]
  z: "{{steps.z.output.body}}"
  approved: "{{steps.gate.output.approved}}"
"""
NAMES = ["a", "b", "m0", "m1", "m2", "z"]
STEP_SECONDS = 30.0


async def _child(db: str, url: str, workdir: Path, start: bool) -> None:
    from tools.workflows import FunctionRunners, HttpxHttp, WorkflowEngine, validate_workflow

    spec, problems = validate_workflow(yaml.safe_load(DAG.replace("URL", url)), "resume.yaml")
    assert spec is not None, problems

    async def unused(*args: Any) -> Any:
        raise AssertionError("no model or tool steps here")

    http = HttpxHttp()
    engine = WorkflowEngine(
        {"resume": spec}, db, FunctionRunners(model=unused, tool=unused, http=http)
    )
    await engine.start()
    if start:
        run_id = await engine.start_run("resume", {"items": [0, 1, 2]})
        (workdir / "run_id").write_text(run_id)
    run_id = (workdir / "run_id").read_text()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = await engine.get_run(run_id)
        (workdir / "state.tmp").write_text(json.dumps(state))
        (workdir / "state.tmp").replace(workdir / "state.json")
        if state["status"] == "waiting_for_approval" and (workdir / "approve").exists():
            await engine.approve(run_id, "gate", "ok")
        if state["status"] in ("succeeded", "failed", "cancelled", "rejected"):
            break
        await asyncio.sleep(0.05)
    await engine.aclose()
    await http.aclose()


def _spawn(db: str, server: CounterServer, workdir: Path, start: bool) -> subprocess.Popen[bytes]:
    args = [
        sys.executable,
        "-m",
        "tests.e2e.test_workflow_resume",
        db,
        server.url,
        str(workdir),
    ] + (["start"] if start else [])
    # One stable executor id, as a restarted replica under DBOS__VMID has: it resumes its own
    # runs at launch (a fresh id would wait for the takeover of the old one).
    env = {**os.environ, "DBOS__VMID": "resume-child"}
    with (workdir / "child.log").open("ab") as log:
        return subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def _state(workdir: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((workdir / "state.json").read_text()))
    except (OSError, ValueError):
        return {}


def _wait_for(predicate: Any, what: str, workdir: Path) -> None:
    deadline = time.monotonic() + STEP_SECONDS
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    log = (workdir / "child.log").read_text(errors="replace")
    raise AssertionError(f"timed out waiting for {what}; child log:\n{log[-3000:]}")


# What has succeeded (map: items done) while each held step is in flight.
SETTLED = {
    "a": ({"b"}, 0),
    "b": ({"a", "m"}, 3),
    "m1": ({"a", "b"}, 2),
    "z": ({"a", "b", "m", "gate"}, 3),
}


def _settled(workdir: Path, kill_at: str) -> bool:
    state = _state(workdir)
    if not state:
        return False
    steps, items = SETTLED[kill_at]
    done = {n for n, s in state["steps"].items() if s["state"] == "succeeded"}
    return steps <= done and state["steps"]["m"].get("items", {}).get("done", 0) >= items


def _finish(child: subprocess.Popen[bytes], workdir: Path) -> dict[str, Any]:
    try:
        child.wait(timeout=STEP_SECONDS)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=10)
    state = _state(workdir)
    assert state.get("status") == "succeeded", (workdir / "child.log").read_text()[-3000:]
    return state


def _run(
    tmp_path: Path, kill_at: str | None, pg: PgServer | None
) -> tuple[dict[str, Any], dict[str, int]]:
    workdir = tmp_path / (kill_at or "clean")
    workdir.mkdir()
    # A database per run: each starts from nothing, as a fresh deployment would.
    name = f"resume_{kill_at or 'clean'}"
    db = pg.url(name) if pg is not None else f"sqlite:///{workdir / 'runs.sqlite'}"
    server = CounterServer().start()
    try:
        if kill_at is None:
            (workdir / "approve").touch()
            return _finish(_spawn(db, server, workdir, True), workdir), dict(server.counts)
        if kill_at != "gate":
            (workdir / "approve").touch()
            server.block(kill_at)
        child = _spawn(db, server, workdir, True)
        if kill_at == "gate":
            _wait_for(
                lambda: _state(workdir).get("status") == "waiting_for_approval",
                "the approval wait",
                workdir,
            )
        else:
            # Kill only once every step that can finish without the held one has checkpointed,
            # so "completed" below means recorded, not merely sent.
            _wait_for(
                lambda: server.arrived(kill_at, 0.05) and _settled(workdir, kill_at),
                f"step {kill_at} in flight, the others settled",
                workdir,
            )
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        server.release(kill_at)
        (workdir / "state.json").unlink(missing_ok=True)
        child = _spawn(db, server, workdir, False)
        if kill_at == "gate":
            _wait_for(
                lambda: _state(workdir).get("status") == "waiting_for_approval",
                "the approval wait after the restart",
                workdir,
            )
            (workdir / "approve").touch()
        return _finish(child, workdir), dict(server.counts)
    finally:
        server.stop()


@pytest.mark.e2e
@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_killed_at_each_step_resumes_without_rerunning_completed_steps(
    tmp_path: Path, database: str
) -> None:
    if database == "postgres" and pg_binaries() is None:
        pytest.skip(SKIP_REASON)
    pg = PgServer().start() if database == "postgres" else None
    try:
        _kill_at_each_step(tmp_path, pg)
    finally:
        if pg is not None:
            pg.stop()


def _kill_at_each_step(tmp_path: Path, pg: PgServer | None) -> None:
    clean, clean_counts = _run(tmp_path, None, pg)
    assert clean_counts == dict.fromkeys(NAMES, 1)
    assert clean["result"]["approved"] is True
    for kill_at in ["a", "b", "m1", "gate", "z"]:
        state, counts = _run(tmp_path, kill_at, pg)
        assert state["result"] == clean["result"], kill_at
        for name in NAMES:
            if name == kill_at:
                # In flight at the kill: its answer never reached the dead child, so it ran
                # once more on resume, and only once.
                assert counts[name] == 2, (kill_at, counts)
            else:
                assert counts[name] == 1, (kill_at, counts)  # completed or later: exactly once


if __name__ == "__main__":
    asyncio.run(_child(sys.argv[1], sys.argv[2], Path(sys.argv[3]), "start" in sys.argv[4:]))
