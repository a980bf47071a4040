"""The verify tool end to end: `gateway verify FILE` (one spec with the exit status of its
verdict, a batch of JSON lines, files it cannot use), the endpoint of the embedded default,
and the generate -> verify -> repair loop through a real gateway, a loopback upstream
scripted as the prover, and the official `openai` SDK."""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.support import GATEWAY, ROOT, start_gateway, start_loopback

pytestmark = pytest.mark.e2e
PROBLEM: dict[str, Any] = {
    "check": "barrier",
    "variables": ["x", "y"],
    "dynamics": ["-x + y", "-y"],
    "initial": [["x**2 + y**2 <= 0.25"]],
    "unsafe": [["(x - 2)**2 + y**2 <= 0.25"], ["x >= 2.5"]],
}


def _verify(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GATEWAY, "verify", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        input=stdin,
    )


def test_one_spec_exit_status_follows_the_verdict(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({**PROBLEM, "certificate": "x**2 + y**2 - 1"}))
    valid = _verify(str(spec))
    assert valid.returncode == 0, valid.stderr
    assert json.loads(valid.stdout)["verdict"] == "valid"
    spec.write_text(json.dumps({**PROBLEM, "certificate": "x**2 + y**2 - 5"}))
    invalid = _verify(str(spec))
    assert invalid.returncode == 1
    cx = json.loads(invalid.stdout)["counterexample"]
    x, y = Fraction(cx["x"]), Fraction(cx["y"])
    assert cx["condition"] == "unsafe" and x**2 + y**2 - 5 <= 0
    refused = _verify("-", stdin=json.dumps({**PROBLEM, "certificate": "x.__class__"}))
    assert refused.returncode == 2
    assert json.loads(refused.stdout)["verdict"] == "error"


def test_a_batch_prints_one_verdict_per_item_in_order(tmp_path: Path) -> None:
    items = [
        {"id": "good", "spec": {**PROBLEM, "certificate": "x**2 + y**2 - 1"}},
        {"id": "bad", "spec": {**PROBLEM, "certificate": "x**2 + y**2 - 0.1"}},
        {**PROBLEM, "certificate": "lambda: 0"},
    ]
    batch = tmp_path / "batch.jsonl"
    batch.write_text("\n".join(json.dumps(i) for i in items) + "\n")
    done = _verify(str(batch), "--timeout", "20")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r.get("id"), r["verdict"]) for r in lines] == [
        ("good", "valid"),
        ("bad", "invalid"),
        (None, "error"),
    ]
    assert lines[1]["counterexample"]["condition"] == "initial"
    assert "3 checks: 1 valid, 1 invalid, 0 unknown, 1 error" in done.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "holds no spec"), ("{\n[1, 2\n", "not JSON"), ("[1]", "not a JSON object")],
)
def test_unusable_files_exit_2(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "f.json"
    path.write_text(content)
    done = _verify(str(path))
    assert done.returncode == 2 and message in done.stderr
    assert _verify(str(tmp_path / "missing.json")).returncode == 2


def test_the_embedded_default_serves_the_verify_endpoint(tmp_path: Path) -> None:
    proc, base = start_gateway(tmp_path, [], env={"GATEWAY_UPSTREAM_URL": ""})
    try:
        answer = httpx.post(
            f"{base}/v1/tools/verify",
            json={**PROBLEM, "certificate": "x**2 + y**2 - 1"},
            timeout=60,
        )
        assert answer.status_code == 200 and answer.json()["verdict"] == "valid"
    finally:
        proc.stop()


def test_the_loop_through_a_gateway_and_a_scripted_upstream(tmp_path: Path) -> None:
    loopback, upstream = start_loopback(tmp_path)
    config = tmp_path / "gateway.yaml"
    config.write_text(
        f"""
server: {{access_log: false}}
tools: {{max_rounds: 4, deadline_seconds: 60}}
backends:
  up: {{type: openai, base_url: "{upstream}"}}
models:
  - {{id: prover, backend: up, upstream_model: prover, tools: [verify]}}
"""
    )
    try:
        proc, base = start_gateway(tmp_path, ["--config", str(config)])
    except BaseException:
        loopback.stop()
        raise
    try:
        problem = {k: v for k, v in PROBLEM.items() if k != "check"}
        task = {"problem": problem, "candidates": ["x**2 + y**2 - 5", "x**2 + y**2 - 1"]}
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="none", max_retries=0)
        raw = client.chat.completions.with_raw_response.create(
            model="prover", messages=[{"role": "user", "content": json.dumps(task)}]
        )
        reply = raw.parse()
        assert reply.choices[0].message.content == (
            "Certificate: x**2 + y**2 - 1 (valid after 2 proposals; counterexamples: unsafe)"
        )
        assert [r.split(":")[:2] for r in raw.headers["x-gateway-tools"].split(",")] == [
            ["verify", "ok"],
            ["verify", "ok"],
        ]
        # The upstream saw the invalid verdict and its counterexample in the second round.
        calls = httpx.get(upstream.removesuffix("/v1") + "/_test/requests", timeout=5).json()
        second = calls[-2]["body"]["messages"][-1]
        verdict = json.loads(second["content"])
        assert second["role"] == "tool" and verdict["verdict"] == "invalid"
        assert verdict["counterexample"]["condition"] == "unsafe"
    finally:
        proc.stop()
        loopback.stop()
