"""Workflows through a real gateway process: `gateway check` names a bad file's step and
key; `gateway workflow run|status|approve` against `gateway serve`; a run waiting for its
approval survives the gateway being killed (SIGKILL) and restarted, then finishes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support import GATEWAY, ROOT, start_gateway

pytestmark = pytest.mark.e2e
REVIEW = """
name: review
inputs: {topic: string}
steps:
  draft: {model: echo, prompt: "Note on {{inputs.topic}}"}
  sum: {tool: calculator, args: {expression: "2 + 3"}}
  approve: {approval: "Publish?", needs: [draft, sum]}
  publish: {model: echo, prompt: "Published {{steps.draft.output}}", needs: [approve]}
output: "{{steps.publish.output}}"
"""


def _config(tmp: Path) -> Path:
    flows = tmp / "workflows"
    flows.mkdir()
    (flows / "review.yaml").write_text(REVIEW)
    config = tmp / "gateway.yaml"
    config.write_text(
        f"""
server: {{access_log: false}}
workflows: {{dir: {flows}, data_dir: {tmp / "data"}, database_url_env: UNSET_WF_DB_E2E}}
backends: {{fake: {{type: fake}}}}
models: [{{id: echo, backend: fake}}]
"""
    )
    return config


def _cli(base: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GATEWAY, "workflow", *args, "--url", base],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def _status(base: str, run_id: str) -> dict[str, object]:
    done = _cli(base, "status", run_id)
    assert done.returncode in (0, 1), done.stderr
    state: dict[str, object] = json.loads(done.stdout)
    return state


def _until(base: str, run_id: str, status: str, timeout: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    state: dict[str, object] = {}
    while time.monotonic() < deadline:
        state = httpx.get(f"{base}/v1/workflows/runs/{run_id}", timeout=10).json()
        if state.get("status") == status:
            return state
        time.sleep(0.1)
    raise AssertionError(f"never {status}: {state}")


def test_check_names_the_bad_step(tmp_path: Path) -> None:
    config = _config(tmp_path)
    (tmp_path / "workflows" / "bad.yaml").write_text(
        "name: bad\nsteps:\n  a: {tool: calculator, args: {}, needs: [ghost]}\n"
    )
    done = subprocess.run(
        [*GATEWAY, "check", str(config)], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 1
    assert "bad.yaml: steps.a.needs: unknown step 'ghost'" in done.stderr


def test_an_approval_survives_a_killed_gateway(tmp_path: Path) -> None:
    config = _config(tmp_path)
    proc, base = start_gateway(tmp_path, ["--config", str(config)])
    try:
        started = _cli(base, "run", "review", "--input", "topic=breakers", "--wait")
        assert started.returncode == 0, started.stderr
        run_id = started.stdout.strip()
        assert "waiting for approval" in started.stderr
        state = _status(base, run_id)
        assert state["status"] == "waiting_for_approval"
    finally:
        os.killpg(proc.proc.pid, signal.SIGKILL)  # no graceful shutdown
        proc.proc.wait(10)
        proc.stop()
    proc, base = start_gateway(tmp_path, ["--config", str(config)])
    try:
        assert _status(base, run_id)["status"] == "waiting_for_approval"
        approved = _cli(base, "approve", run_id, "--step", "approve", "--comment", "ok")
        assert approved.returncode == 0, approved.stderr
        done = _until(base, run_id, "succeeded")
        assert done["result"] == "Published Note on breakers"
        steps = done["steps"]
        assert isinstance(steps, dict) and steps["draft"]["attempts"] == 1  # not re-run
        assert _cli(base, "cancel", run_id).returncode == 1  # already ended: refused
    finally:
        proc.stop()
