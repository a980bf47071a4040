"""A workflow file as frozen values, and the structural parse that builds them.

    name: review
    inputs: {topic: string}                 # string | number | integer | boolean | object | array
    steps:
      draft:   {model: assistant, prompt: "..."}
      check:   {tool: verify, args: {...}, needs: [draft], retries: 2, timeout_seconds: 30}
      approve: {approval: "Publish?", needs: [check]}
      publish: {http: {method: POST, url: "http://host/notes", body: ..., headers: {...}}}
      each:    {map: "{{steps.facts.output.results}}", step: {model: assistant, prompt: ...}}
      fix:     {model: assistant, prompt: ..., when: {equals: ["{{steps.check.output.verdict}}",
                                                              "invalid"]}}
    on_failure: fail_fast                   # or continue_independent
    deadline_seconds: 600                   # default 86400: approvals wait at most this long
    max_steps: 1000                         # step budget: units executed, map items included
    output: "{{steps.publish.output}}"      # optional: the run's result (default: every output;
                                            # a path into a skipped step's output gives null)

`parse_workflow` collects every structural problem (unknown keys, wrong types, step kinds) as
`file: key.path: message`; cross-references (needs, cycles, templates, known tools and models,
hosts) are `tools.workflows.validation`'s job. A template reference to `steps.s` makes `s` an
implicit `needs` of the step (so `each` above waits for `facts`); `StepSpec.needs` holds both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

INPUT_TYPES = ("string", "number", "integer", "boolean", "object", "array")
STEP_KINDS = ("model", "tool", "http", "approval", "map")
ON_FAILURE = ("fail_fast", "continue_independent")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
_TOP_KEYS = ("name", "description", "inputs", "steps", "on_failure", "deadline_seconds")
_TOP_KEYS_MORE = ("max_steps", "output")
_COMMON_KEYS = ("needs", "retries", "backoff_seconds", "timeout_seconds", "when", "description")
_KIND_KEYS = {
    "model": ("model", "prompt"),
    "tool": ("tool", "args"),
    "http": ("http",),
    "approval": ("approval",),
    "map": ("map", "step"),
}
_HTTP_KEYS = ("method", "url", "body", "headers")
DEFAULT_DEADLINE_SECONDS = 86_400.0
DEFAULT_MAX_STEPS = 1000
MAX_RETRIES = 10


@dataclass(frozen=True)
class StepSpec:
    name: str
    kind: str
    # The kind's own payload: model -> {"model", "prompt"}, tool -> {"tool", "args"},
    # http -> {"method", "url", "body", "headers"}, approval -> {"approval"}, map -> {"map"}.
    body: Mapping[str, Any]
    needs: tuple[str, ...] = ()
    explicit_needs: tuple[str, ...] = ()
    retries: int = 0
    backoff_seconds: float = 0.5
    timeout_seconds: float | None = None
    when: Any = None
    item_step: StepSpec | None = None  # a map's per-item step


@dataclass(frozen=True)
class WorkflowSpec:
    name: str
    file: str
    inputs: Mapping[str, str]
    steps: Mapping[str, StepSpec]
    order: tuple[str, ...] = ()  # a topological order (set by validation)
    on_failure: str = "fail_fast"
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS
    max_steps: int = DEFAULT_MAX_STEPS
    output: Any = None
    description: str = ""
    dependents: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


class _Problems:
    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[str] = []

    def add(self, key: str, message: str) -> None:
        self.items.append(f"{self.file}: {key}: {message}" if key else f"{self.file}: {message}")


def parse_workflow(data: Any, file: str) -> tuple[WorkflowSpec | None, list[str]]:
    """The spec of one decoded YAML document, or None, and every structural problem found."""
    problems = _Problems(file)
    if not isinstance(data, Mapping):
        problems.add("", "a workflow file must be a mapping")
        return None, problems.items
    for key in data:
        if key not in _TOP_KEYS + _TOP_KEYS_MORE:
            problems.add(
                str(key), f"unknown key (allowed: {', '.join(_TOP_KEYS + _TOP_KEYS_MORE)})"
            )
    stem = file.rsplit("/", 1)[-1].removesuffix(".yaml").removesuffix(".yml")
    name = data.get("name", stem)
    if not isinstance(name, str) or not name:
        problems.add("name", "must be a non-empty string")
        name = stem
    inputs = _parse_inputs(data.get("inputs", {}), problems)
    steps: dict[str, StepSpec] = {}
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, Mapping) or not raw_steps:
        problems.add("steps", "must be a non-empty mapping of step name to step")
    else:
        for step_name, raw in raw_steps.items():
            step = _parse_step(str(step_name), raw, f"steps.{step_name}", problems, in_map=False)
            if step is not None:
                steps[step.name] = step
    on_failure = data.get("on_failure", "fail_fast")
    if on_failure not in ON_FAILURE:
        problems.add("on_failure", f"must be one of {', '.join(ON_FAILURE)}")
    deadline = _positive(data, "deadline_seconds", DEFAULT_DEADLINE_SECONDS, "", problems)
    max_steps = data.get("max_steps", DEFAULT_MAX_STEPS)
    if not isinstance(max_steps, int) or isinstance(max_steps, bool) or max_steps < 1:
        problems.add("max_steps", "must be a positive integer")
        max_steps = DEFAULT_MAX_STEPS
    spec = WorkflowSpec(
        name=name,
        file=file,
        inputs=inputs,
        steps=steps,
        on_failure=str(on_failure),
        deadline_seconds=deadline or DEFAULT_DEADLINE_SECONDS,
        max_steps=max_steps,
        output=data.get("output"),
        description=str(data.get("description", "")),
    )
    return spec, problems.items


def _parse_inputs(raw: Any, problems: _Problems) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        problems.add("inputs", "must be a mapping of input name to type")
        return {}
    inputs: dict[str, str] = {}
    for key, kind in raw.items():
        if kind not in INPUT_TYPES:
            problems.add(
                f"inputs.{key}", f"unknown type {kind!r} (allowed: {', '.join(INPUT_TYPES)})"
            )
        inputs[str(key)] = str(kind)
    return inputs


def _parse_step(
    name: str, raw: Any, key: str, problems: _Problems, *, in_map: bool
) -> StepSpec | None:
    if not isinstance(raw, Mapping):
        problems.add(key, "a step must be a mapping")
        return None
    kinds = [kind for kind in STEP_KINDS if kind in raw]
    if len(kinds) != 1:
        found = f"found {', '.join(kinds)}" if kinds else "found none"
        problems.add(
            key, f"unknown step kind: a step has exactly one of {', '.join(STEP_KINDS)} ({found})"
        )
        return None
    kind = kinds[0]
    if in_map and kind in ("map", "approval"):
        problems.add(f"{key}.{kind}", "a map's step cannot be a map or an approval")
    allowed = _COMMON_KEYS + _KIND_KEYS[kind]
    for field_name in raw:
        if field_name not in allowed:
            problems.add(
                f"{key}.{field_name}",
                f"unknown key for a {kind} step (allowed: {', '.join(allowed)})",
            )
    body, item_step = _parse_body(kind, raw, key, problems)
    needs = raw.get("needs", [])
    if in_map and "needs" in raw:
        problems.add(f"{key}.needs", "a map's step takes its needs from the map")
    if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
        problems.add(f"{key}.needs", "must be a list of step names")
        needs = []
    retries = raw.get("retries", 0)
    if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= MAX_RETRIES:
        problems.add(f"{key}.retries", f"must be an integer from 0 to {MAX_RETRIES}")
        retries = 0
    when = raw.get("when")
    if when is not None and not _valid_condition(when):
        problems.add(
            f"{key}.when", "must be a template string or {equals: [a, b]} / {not_equals: [a, b]}"
        )
    return StepSpec(
        name=name,
        kind=kind,
        body=body,
        needs=tuple(needs),
        explicit_needs=tuple(needs),
        retries=retries,
        backoff_seconds=_positive(raw, "backoff_seconds", 0.5, key, problems, allow_zero=True)
        or 0.0,
        timeout_seconds=_positive(raw, "timeout_seconds", None, key, problems),
        when=when,
        item_step=item_step,
    )


def _parse_body(
    kind: str, raw: Mapping[str, Any], key: str, problems: _Problems
) -> tuple[dict[str, Any], StepSpec | None]:
    if kind == "model":
        if not isinstance(raw["model"], str):
            problems.add(f"{key}.model", "must be a model id")
        if not isinstance(raw.get("prompt"), str):
            problems.add(f"{key}.prompt", "a model step needs a prompt string")
        return {"model": raw["model"], "prompt": raw.get("prompt", "")}, None
    if kind == "tool":
        if not isinstance(raw["tool"], str):
            problems.add(f"{key}.tool", "must be a tool name")
        return {"tool": raw["tool"], "args": raw.get("args", {})}, None
    if kind == "approval":
        if not isinstance(raw["approval"], str):
            problems.add(f"{key}.approval", "must be the question put to the approver")
        return {"approval": raw["approval"]}, None
    if kind == "map":
        if not isinstance(raw["map"], str):
            problems.add(
                f"{key}.map", "must be a template giving a list, e.g. '{{steps.s.output}}'"
            )
        inner = _parse_step("step", raw.get("step"), f"{key}.step", problems, in_map=True)
        if inner is None and "step" not in raw:
            problems.add(f"{key}.step", "a map needs the step to run for each item")
        return {"map": raw["map"]}, inner
    http = raw["http"]
    if not isinstance(http, Mapping):
        problems.add(f"{key}.http", "must be a mapping with method and url")
        return {"method": "GET", "url": "", "body": None, "headers": {}}, None
    for field_name in http:
        if field_name not in _HTTP_KEYS:
            problems.add(
                f"{key}.http.{field_name}", f"unknown key (allowed: {', '.join(_HTTP_KEYS)})"
            )
    method = str(http.get("method", "GET")).upper()
    if method not in HTTP_METHODS:
        problems.add(f"{key}.http.method", f"must be one of {', '.join(HTTP_METHODS)}")
    if not isinstance(http.get("url"), str):
        problems.add(f"{key}.http.url", "must be a URL string")
    headers = http.get("headers", {})
    if not isinstance(headers, Mapping):
        problems.add(f"{key}.http.headers", "must be a mapping")
        headers = {}
    body = {
        "method": method,
        "url": http.get("url", ""),
        "body": http.get("body"),
        "headers": headers,
    }
    return body, None


def _valid_condition(when: Any) -> bool:
    if isinstance(when, str):
        return True
    if isinstance(when, Mapping) and len(when) == 1:
        ((op, operands),) = when.items()
        return op in ("equals", "not_equals") and isinstance(operands, list) and len(operands) == 2
    return False


def _positive(
    raw: Mapping[str, Any],
    name: str,
    default: float | None,
    key: str,
    problems: _Problems,
    *,
    allow_zero: bool = False,
) -> float | None:
    value = raw.get(name, default)
    if value is None:
        return None
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        problems.add(f"{key}.{name}" if key else name, "must be a positive number")
        return default
    return float(value)
