"""`POST /v1/tools/verify` in the app, over real worker processes, and the generate ->
verify -> repair loop through `/v1/chat/completions` with the scripted `prover` model: a
wrong certificate comes back invalid with a counterexample, the repaired one valid."""

from __future__ import annotations

import json
import time
from typing import Any

import psutil
import pytest

from gateway.keys.records import sha256_hex
from tests.integration.conftest import served

pytestmark = pytest.mark.anyio
KEY = "sk-verify-0123456789abcdef"
PROBLEM: dict[str, Any] = {
    "check": "barrier",
    "variables": ["x", "y"],
    "dynamics": ["-x + y", "-y"],
    "initial": [["x**2 + y**2 <= 0.25"]],
    "unsafe": [["(x - 2)**2 + y**2 <= 0.25"], ["x >= 2.5"]],
    "domain": {"box": {"x": [-3, 3], "y": [-3, 3]}, "constraints": [["x + y <= 4"]]},
}
DOCUMENT: dict[str, Any] = {
    "server": {"access_log": False},
    "tools": {"max_rounds": 4, "deadline_seconds": 60, "verify": {"timeout_seconds": 10}},
    "backends": {"fake": {"type": "fake"}},
    "models": [
        {"id": "prover", "backend": "fake", "upstream_model": "prover", "tools": ["verify"]}
    ],
}


def _workers() -> list[psutil.Process]:
    """Live `spawn`ed worker processes of this test process."""
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            if "spawn_main" in " ".join(process.cmdline()) and process.status() != "zombie":
                found.append(process)
        except psutil.Error:
            continue
    return found


async def test_valid_invalid_and_refused_specs() -> None:
    async with served(DOCUMENT) as http:
        valid = await http.post(
            "/v1/tools/verify", json={**PROBLEM, "certificate": "x**2 + y**2 - 1"}
        )
        assert valid.status_code == 200, valid.text
        assert valid.json()["verdict"] == "valid" and valid.json()["counterexample"] is None
        # B = x^2 + y^2 - 5 is <= 0 on the first unsafe disc: a point there, re-checked.
        invalid = await http.post(
            "/v1/tools/verify", json={**PROBLEM, "certificate": "x**2 + y**2 - 5"}
        )
        body = invalid.json()
        assert invalid.status_code == 200 and body["verdict"] == "invalid", body
        cx = body["counterexample"]
        assert cx["condition"] == "unsafe"
        from fractions import Fraction

        x, y = Fraction(cx["x"]), Fraction(cx["y"])
        assert (x - 2) ** 2 + y**2 <= Fraction(1, 4) or x >= Fraction(5, 2)
        assert x**2 + y**2 - 5 <= 0
        refused = await http.post(
            "/v1/tools/verify",
            json={**PROBLEM, "certificate": "__import__('os').system('touch /tmp/pwned')"},
        )
        assert refused.status_code == 400
        assert refused.headers["x-should-retry"] == "false"
        error = refused.json()
        assert error["error"]["code"] == "invalid_spec" and error["verdict"] == "error"
        assert error["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"", None),
        (b"{not json", None),
        (b'{"check": "barrier"}', "variables"),
        (b'{"check": "prove", "variables": ["x"]}', "check"),
        (b'{"check": "equivalent", "variables": ["x"], "left": "x", "right": "x", "zap": 1}', None),
    ],
)
async def test_bad_bodies_are_400s(body: bytes, param: str | None) -> None:
    async with served(DOCUMENT) as http:
        answer = await http.post(
            "/v1/tools/verify", content=body, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["type"] == "invalid_request_error" and error["message"]
        if param is not None:
            assert error["param"] == param


async def test_off_is_a_404_and_keys_are_required_when_auth_is() -> None:
    off = {**DOCUMENT, "tools": {"verify": {"endpoint": False}}}
    async with served(off) as http:
        answer = await http.post("/v1/tools/verify", json={**PROBLEM, "certificate": "x"})
        assert answer.status_code == 404 and answer.json()["error"]["message"]
    keyed = {
        **DOCUMENT,
        "auth": {"required": True},
        "keys": [{"id": "k", "sha256": sha256_hex(KEY)}],
    }
    async with served(keyed) as http:
        spec = {
            "check": "equivalent",
            "variables": ["x"],
            "left": "(x+1)**2",
            "right": "x**2+2*x+1",
        }
        assert (await http.post("/v1/tools/verify", json=spec)).status_code == 401
        ok = await http.post(
            "/v1/tools/verify", json=spec, headers={"authorization": f"Bearer {KEY}"}
        )
        assert ok.status_code == 200 and ok.json()["verdict"] == "valid"


async def test_a_check_past_its_timeout_is_unknown_and_leaves_no_worker() -> None:
    # A high-degree certificate in four variables: z3 cannot settle it in half a second.
    hard = {
        "check": "barrier",
        "variables": ["a", "b", "c", "d"],
        "dynamics": ["-a + b*c*d", "-b + a*c*d", "-c + a*b*d", "-d + a*b*c"],
        "initial": [["a**2 + b**2 + c**2 + d**2 <= 0.1"]],
        "unsafe": [["a**4 + b**4 + c**4 + d**4 >= 3"]],
        "certificate": "a**6 + b**6 + c**6 + d**6 + a*b*c*d*(a + b + c + d)**2 - 1",
        "timeout_seconds": 0.5,
    }
    async with served(DOCUMENT) as http:
        warm = {"check": "equivalent", "variables": ["x"], "left": "x", "right": "x"}
        assert (await http.post("/v1/tools/verify", json=warm)).json()["verdict"] == "valid"
        started = time.monotonic()
        answer = await http.post("/v1/tools/verify", json=hard, timeout=30)
        elapsed = time.monotonic() - started
        assert answer.status_code == 200
        assert answer.json()["verdict"] == "unknown", answer.json()
        assert elapsed < 0.5 + 1.0
    # The killed worker is reaped at once; the warm one stops with the gateway.
    assert _workers() == []


async def test_the_loop_repairs_a_certificate_through_chat() -> None:
    task = {
        "problem": {k: v for k, v in PROBLEM.items() if k != "check"},
        "candidates": ["x**2 + y**2 - 5", "x**2 + y**2 - 1"],
    }
    async with served(DOCUMENT) as http:
        answer = await http.post(
            "/v1/chat/completions",
            json={"model": "prover", "messages": [{"role": "user", "content": json.dumps(task)}]},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        message = answer.json()["choices"][0]["message"]
        assert (
            message["content"]
            == "Certificate: x**2 + y**2 - 1 (valid after 2 proposals; counterexamples: unsafe)"
        )
        runs = answer.headers["x-gateway-tools"].split(",")
        assert [r.split(":")[:2] for r in runs] == [["verify", "ok"], ["verify", "ok"]]


async def test_the_loop_streams_the_same_answer() -> None:
    task = {
        "problem": {k: v for k, v in PROBLEM.items() if k != "check"},
        "candidates": ["x**2 + y**2 - 0.1", "x**2 + y**2 - 1"],
    }
    async with served(DOCUMENT) as http:
        text = ""
        async with http.stream(
            "POST",
            "/v1/chat/completions",
            json={
                "model": "prover",
                "stream": True,
                "messages": [{"role": "user", "content": json.dumps(task)}],
            },
            timeout=60,
        ) as stream:
            assert stream.status_code == 200
            async for line in stream.aiter_lines():
                if line.startswith("data: {"):
                    for choice in json.loads(line[6:])["choices"]:
                        text += choice["delta"].get("content") or ""
        # B = x^2 + y^2 - 0.1 is positive on part of the initial disc.
        assert text == (
            "Certificate: x**2 + y**2 - 1 (valid after 2 proposals; counterexamples: initial)"
        )
