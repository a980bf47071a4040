"""An upgrade across an approval: a child process runs the engine until its run waits at the
gate and stops; a second child runs the engine from a copy of `tools/` whose workflow package
differs byte for byte (an upgrade that keeps the durable contract, `tools.workflows.contract`)
and loads a changed workflow file. It resumes the run, takes the approval and finishes it with
the definition the run started with; no step that completed before the upgrade runs again.

Run as a child: `python -m tests.e2e.test_workflow_upgrade DB URL WORKDIR CODE_ROOT VARIANT
[start]`; this module imports nothing of `tools` before putting CODE_ROOT first on sys.path.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
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
name: upgrade
steps:
  a: {http: {method: POST, url: "URL/hit/a"}}
  s: {http: {method: POST, url: "URL/hit/s"}, needs: [a]}
  gate: {approval: "go?", needs: [s]}
  z: {http: {method: POST, url: "URL/hit/z"}, needs: [gate]}
output: {z: "{{steps.z.output.body.name}}", approved: "{{steps.gate.output.approved}}"}
"""
# The file as edited during the upgrade: z renamed and moved, a step added before the gate.
CHANGED_DAG = """
name: upgrade
steps:
  a: {http: {method: POST, url: "URL/hit/a"}}
  extra: {http: {method: POST, url: "URL/hit/extra"}, needs: [a]}
  gate: {approval: "go?", needs: [extra]}
  z2: {http: {method: POST, url: "URL/hit/z2"}, needs: [gate]}
"""
WAIT_SECONDS = 30.0


def _package_digest(package: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(package.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


async def _child(db: str, url: str, workdir: Path, code_root: Path, variant: str) -> None:
    sys.path.insert(0, str(code_root))
    from tools.workflows import FunctionRunners, HttpxHttp, WorkflowEngine, validate_workflow

    package = Path(str(sys.modules["tools.workflows"].__file__)).parent
    assert package.is_relative_to(code_root), package  # this child runs the copy it was given
    text = (DAG if variant == "v1" else CHANGED_DAG).replace("URL", url)
    spec, problems = validate_workflow(yaml.safe_load(text), "upgrade.yaml")
    assert spec is not None, problems

    async def unused(*args: Any) -> Any:
        raise AssertionError("no model or tool steps here")

    http = HttpxHttp()
    engine = WorkflowEngine(
        {"upgrade": spec}, db, FunctionRunners(model=unused, tool=unused, http=http)
    )
    await engine.start()
    if not (workdir / "run_id").exists():
        (workdir / "run_id").write_text(await engine.start_run("upgrade", {}))
    run_id = (workdir / "run_id").read_text()
    report = {"code": _package_digest(package), "app_version": engine.app_version}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (workdir / "stop").exists():
        state = await engine.get_run(run_id)
        (workdir / "state.tmp").write_text(json.dumps({**report, "state": state}))
        (workdir / "state.tmp").replace(workdir / f"{variant}.json")
        if state["status"] == "waiting_for_approval" and variant == "v2":
            await engine.approve(run_id, "gate", "after the upgrade")
        if state["status"] in ("succeeded", "failed", "cancelled", "rejected"):
            break
        await asyncio.sleep(0.05)
    await engine.aclose()
    await http.aclose()


def _upgraded_copy(tmp_path: Path) -> Path:
    """`tools/` as a later release: every workflow module's bytes differ, the contract not."""
    root = tmp_path / "v2"
    shutil.copytree(ROOT / "tools", root / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    for module in (root / "tools" / "workflows").glob("*.py"):
        module.write_text(module.read_text() + "\n# a later release: same durable contract\n")
    return root


class Children:
    def __init__(self, db: str, server: CounterServer, workdir: Path) -> None:
        self.db, self.server, self.workdir = db, server, workdir

    def spawn(self, code_root: Path, variant: str) -> subprocess.Popen[bytes]:
        args = [sys.executable, "-m", "tests.e2e.test_workflow_upgrade", self.db]
        args += [self.server.url, str(self.workdir), str(code_root), variant]
        # One stable executor id (a StatefulSet pod's): the restarted gateway resumes its own
        # runs at launch; the upgrade, not the takeover, is under test.
        env = {**os.environ, "DBOS__VMID": "upgrade-child"}
        with (self.workdir / "child.log").open("ab") as log:
            return subprocess.Popen(
                args,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def report(self, variant: str) -> dict[str, Any]:
        try:
            return dict(json.loads((self.workdir / f"{variant}.json").read_text()))
        except (OSError, ValueError):
            return {}

    def status(self, variant: str) -> str | None:
        return self.report(variant).get("state", {}).get("status")

    def wait(self, variant: str, status: str) -> None:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            if self.status(variant) == status:
                return
            time.sleep(0.05)
        log = (self.workdir / "child.log").read_text(errors="replace")[-3000:]
        raise AssertionError(f"{variant} never {status}: {self.report(variant)}\n{log}")

    def end(self, child: subprocess.Popen[bytes]) -> None:
        try:
            child.wait(timeout=WAIT_SECONDS)
        finally:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait(timeout=10)


@pytest.mark.e2e
@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_a_run_paused_at_an_approval_resumes_on_upgraded_code(
    tmp_path: Path, database: str
) -> None:
    pg, db = workflow_db(database, tmp_path, "upgrade")
    server = CounterServer().start()
    try:
        children = Children(db, server, tmp_path)
        old = children.spawn(ROOT, "v1")
        children.wait("v1", "waiting_for_approval")
        (tmp_path / "stop").touch()  # a graceful restart, as a deployment's rollout does
        children.end(old)
        (tmp_path / "stop").unlink()
        new = children.spawn(_upgraded_copy(tmp_path), "v2")
        children.wait("v2", "succeeded")
        children.end(new)
    finally:
        server.stop()
        if pg is not None:
            pg.stop()
    before, after = children.report("v1"), children.report("v2")
    assert before["code"] != after["code"]  # the bytes changed: a code hash would strand the run
    assert before["app_version"] == after["app_version"]
    state = after["state"]
    assert set(state["steps"]) == {"a", "s", "gate", "z"}  # the definition it started with
    assert state["result"] == {"z": "z", "approved": True}
    assert state["steps"]["gate"]["output"] == {"approved": True, "comment": "after the upgrade"}
    # Completed before the upgrade: not run again; the changed file's steps: never run.
    assert dict(server.counts) == {"a": 1, "s": 1, "z": 1}


if __name__ == "__main__":
    _, db_url, target, workdir, code_root, variant, *_ = sys.argv
    asyncio.run(_child(db_url, target, Path(workdir), Path(code_root), variant))
