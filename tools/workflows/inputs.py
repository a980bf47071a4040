"""Run inputs checked against a workflow's declared `inputs` (missing, extra, wrong type)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tools.workflows.errors import WorkflowInputError
from tools.workflows.spec import WorkflowSpec


def _is(kind: str, value: Any) -> bool:
    # bool is an int subclass in Python, but never a number in JSON terms.
    if isinstance(value, bool):
        return kind == "boolean"
    checks: dict[str, Any] = {
        "string": str,
        "number": int | float,
        "integer": int,
        "object": dict,
        "array": list,
        "boolean": bool,
    }
    return isinstance(value, checks[kind])


def check_inputs(spec: WorkflowSpec, inputs: Any) -> dict[str, Any]:
    """The inputs as a plain dict, or WorkflowInputError listing every problem."""
    if not isinstance(inputs, Mapping):
        raise WorkflowInputError([f"{spec.name}: inputs must be an object"])
    problems: list[str] = []
    for name, kind in spec.inputs.items():
        if name not in inputs:
            problems.append(f"inputs.{name}: missing ({kind})")
        elif not _is(kind, inputs[name]):
            got = type(inputs[name]).__name__
            problems.append(f"inputs.{name}: expected {kind}, got {got}")
    problems.extend(
        f"inputs.{name}: unknown input (declared: {', '.join(spec.inputs) or 'none'})"
        for name in inputs
        if name not in spec.inputs
    )
    if problems:
        raise WorkflowInputError(problems)
    return dict(inputs)
