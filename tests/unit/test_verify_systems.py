"""The curated textbook systems (`tests/data/verify/systems.jsonl`) that the generate ->
verify -> repair loop poses to models: each known certificate verifies valid, and a
perturbed one (the level moved past the unsafe set) does not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tools.verify.checks import run_check

SYSTEMS = [
    json.loads(line)
    for line in (Path(__file__).parents[1] / "data/verify/systems.jsonl").read_text().splitlines()
    if line.strip()
]


@pytest.mark.parametrize("item", SYSTEMS, ids=[s["id"] for s in SYSTEMS])
def test_the_known_certificate_is_valid(item: dict[str, Any]) -> None:
    assert set(item) == {"id", "source", "problem", "certificate"}
    assert "certificate" not in item["problem"] and "check" not in item["problem"]
    spec = {"check": "barrier", **item["problem"], "certificate": item["certificate"]}
    result = run_check(spec, 10.0)
    assert result["verdict"] == "valid", result


@pytest.mark.parametrize("item", SYSTEMS, ids=[s["id"] for s in SYSTEMS])
def test_a_certificate_shifted_far_down_is_invalid(item: dict[str, Any]) -> None:
    # B - 100 is negative on every bounded part of the unsafe sets here.
    spec = {"check": "barrier", **item["problem"], "certificate": f"({item['certificate']}) - 100"}
    result = run_check(spec, 10.0)
    assert result["verdict"] == "invalid", result
    assert result["counterexample"]["condition"] == "unsafe"
