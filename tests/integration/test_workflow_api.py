"""`/v1/workflows/*` and the `run_workflow` tool in the app, over a real DBOS engine on a
SQLite file: model steps through the gateway's own pipeline (the fake echo backend), tool
steps through its registry (`calculator`), an approval gate approved and rejected over
HTTP, SSE progress, cancel, tenant scoping, bad requests, and validation at start-up."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.container import Container
from gateway.keys.records import sha256_hex
from gateway.settings.loader import ConfigError, parse_settings
from tests.integration.conftest import served

pytestmark = pytest.mark.anyio
KEYS = {"a": "sk-wf-team-a-0123456789", "b": "sk-wf-team-b-0123456789"}
REVIEW = """
name: review
inputs: {topic: string}
steps:
  draft: {model: echo, prompt: "Note on {{inputs.topic}}"}
  sum: {tool: calculator, args: {expression: "2 + 3"}}
  approve: {approval: "Publish?", needs: [draft, sum]}
  publish: {model: echo, prompt: "Published: {{steps.draft.output}}", needs: [approve]}
output: {note: "{{steps.publish.output}}", total: "{{steps.sum.output.exact}}"}
"""
QUICK = """
name: quick
inputs: {}
steps:
  only: {tool: calculator, args: {expression: "6 * 7"}}
output: "{{steps.only.output.exact}}"
"""


def document(tmp_path: Path, *, auth: bool = False) -> dict[str, Any]:
    flows = tmp_path / "workflows"
    flows.mkdir(exist_ok=True)
    (flows / "review.yaml").write_text(REVIEW)
    (flows / "quick.yaml").write_text(QUICK)
    doc: dict[str, Any] = {
        "server": {"access_log": False},
        "tools": {"max_rounds": 3, "deadline_seconds": 60},
        "workflows": {
            "dir": str(flows),
            "data_dir": str(tmp_path / "data"),
            "database_url_env": "UNSET_WORKFLOW_DB_FOR_TESTS",
            "tool_wait_seconds": 20,
        },
        "backends": {"fake": {"type": "fake"}},
        "models": [
            {"id": "echo", "backend": "fake"},
            {
                "id": "runner",
                "backend": "fake",
                "upstream_model": "agent",
                "tools": ["run_workflow"],
            },
        ],
    }
    if auth:
        doc["auth"] = {"required": True}
        doc["keys"] = [
            {"id": "a", "sha256": sha256_hex(KEYS["a"]), "tenant": "team-a"},
            {"id": "b", "sha256": sha256_hex(KEYS["b"]), "tenant": "team-b"},
        ]
    return doc


async def _until(http: httpx.AsyncClient, run_id: str, status: str, **kw: Any) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for _ in range(200):
        state = (await http.get(f"/v1/workflows/runs/{run_id}", **kw)).json()
        if state.get("status") == status:
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"run never reached {status}: {state}")


async def test_a_run_pauses_for_approval_then_finishes(tmp_path: Path) -> None:
    async with served(document(tmp_path)) as http:
        listed = (await http.get("/v1/workflows")).json()["data"]
        assert {w["name"] for w in listed} == {"review", "quick"}
        started = await http.post(
            "/v1/workflows/review/runs", json={"inputs": {"topic": "breakers"}}
        )
        assert started.status_code == 200, started.text
        run_id = started.json()["run_id"]
        paused = await _until(http, run_id, "waiting_for_approval")
        steps = paused["steps"]
        assert (
            steps["draft"]["state"] == "succeeded"
            and "Note on breakers" in steps["draft"]["output"]
        )
        assert steps["sum"]["output"]["exact"] == "5" and steps["sum"]["attempts"] == 1
        assert steps["publish"]["state"] == "pending"
        approved = await http.post(
            f"/v1/workflows/runs/{run_id}/approve", json={"step": "approve", "comment": "ok"}
        )
        assert approved.status_code == 200, approved.text
        done = await _until(http, run_id, "succeeded")
        assert done["result"]["total"] == "5" and "Published:" in done["result"]["note"]
        # The event stream replays the whole run and ends with it.
        async with http.stream("GET", f"/v1/workflows/runs/{run_id}/events") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            kinds = [
                json.loads(line[6:])["type"]
                async for line in stream.aiter_lines()
                if line.startswith("data: ")
            ]
        assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
        assert "approval_requested" in kinds and "approval_decided" in kinds


async def test_reject_cancel_and_bad_requests(tmp_path: Path) -> None:
    async with served(document(tmp_path)) as http:
        run_id = (
            await http.post("/v1/workflows/review/runs", json={"inputs": {"topic": "x"}})
        ).json()["run_id"]
        await _until(http, run_id, "waiting_for_approval")
        rejected = await http.post(
            f"/v1/workflows/runs/{run_id}/reject", json={"step": "approve", "comment": "no"}
        )
        assert rejected.status_code == 200
        ended = await _until(http, run_id, "rejected")
        assert ended["steps"]["publish"]["state"] in ("blocked", "pending", "cancelled")
        other = (
            await http.post("/v1/workflows/review/runs", json={"inputs": {"topic": "y"}})
        ).json()["run_id"]
        await _until(http, other, "waiting_for_approval")
        cancelled = await http.post(f"/v1/workflows/runs/{other}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        cases = [
            ("/v1/workflows/nope/runs", {"inputs": {}}, 404),
            ("/v1/workflows/review/runs", {"inputs": {}}, 400),
            ("/v1/workflows/review/runs", {"inputs": {"topic": 3}}, 400),
            ("/v1/workflows/review/runs", {"input": {}}, 400),
            (f"/v1/workflows/runs/{run_id}/approve", {"step": "approve"}, 400),  # already ended
            ("/v1/workflows/runs/wf-missing/approve", {"step": "approve"}, 404),
        ]
        for path, body, status in cases:
            answer = await http.post(path, json=body)
            assert answer.status_code == status, (path, body, answer.text)
            assert answer.json()["error"]["message"]
        assert (await http.get("/v1/workflows/runs/wf-missing")).status_code == 404


async def test_runs_are_scoped_by_tenant(tmp_path: Path) -> None:
    a = {"authorization": f"Bearer {KEYS['a']}"}
    b = {"authorization": f"Bearer {KEYS['b']}"}
    async with served(document(tmp_path, auth=True)) as http:
        run_id = (await http.post("/v1/workflows/quick/runs", json={}, headers=a)).json()["run_id"]
        assert (await _until(http, run_id, "succeeded", headers=a))["result"] == "42"
        assert (await http.get(f"/v1/workflows/runs/{run_id}", headers=b)).status_code == 404
        assert (
            await http.post(f"/v1/workflows/runs/{run_id}/cancel", headers=b)
        ).status_code == 404
        assert (await http.get("/v1/workflows")).status_code == 401


async def test_the_run_workflow_tool_through_the_tool_loop(tmp_path: Path) -> None:
    async with served(document(tmp_path)) as http:
        answer = await http.post(
            "/v1/chat/completions",
            json={"model": "runner", "messages": [{"role": "user", "content": "quick"}]},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        text = answer.json()["choices"][0]["message"]["content"]
        result = json.loads(text.removeprefix("Result: "))
        assert result["status"] == "succeeded" and result["result"] == "42"
        assert answer.headers["x-gateway-tools"].startswith("run_workflow:ok:")


def test_invalid_workflows_stop_start_up_naming_file_step_and_key(tmp_path: Path) -> None:
    doc = document(tmp_path)
    (tmp_path / "workflows" / "bad.yaml").write_text(
        "name: bad\nsteps:\n  a: {tool: nope, needs: [b]}\n  b: {model: missing, needs: [a]}\n"
    )
    with pytest.raises(ConfigError) as caught:
        Container(parse_settings(doc, "test", {}), env={})
    text = str(caught.value)
    assert "bad.yaml: steps.a" in text and "nope" in text and "missing" in text
    assert "cycle" in text
