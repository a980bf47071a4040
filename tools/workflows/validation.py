"""Checking workflow files before any run: every problem, each naming the file, step and key.

    result = load_workflows(Path("workflows"), tools={"verify"}, models={"assistant"},
                            http_allow_hosts={"127.0.0.1"})
    result.problems   # ["review.yaml: steps.check.needs: unknown step 'drfat'", ...]
    result.specs      # name -> WorkflowSpec, only when there are no problems at all

`validate_workflow(data, file, ...)` is the same for one decoded document. `tools`, `models` and
`http_allow_hosts` of None skip that check (tests of the engine alone); the gateway passes its
registry's tool names, its model ids and `workflows.http_allow_hosts`. An allow-list entry is
a host name or `host:port`; an HTTP step's scheme and host must be literal text, so that the
check means something (a templated host could point anywhere).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from tools.workflows.spec import StepSpec, WorkflowSpec, parse_workflow
from tools.workflows.templates import Reference, references


@dataclass(frozen=True)
class LoadResult:
    specs: dict[str, WorkflowSpec] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def load_workflows(
    directory: Path,
    *,
    tools: Iterable[str] | None = None,
    models: Iterable[str] | None = None,
    http_allow_hosts: Iterable[str] | None = None,
) -> LoadResult:
    """Every `*.yaml` workflow of a directory, validated; specs only when nothing is wrong."""
    if not directory.is_dir():
        return LoadResult(problems=[f"{directory}: workflows.dir is not a directory"])
    specs: dict[str, WorkflowSpec] = {}
    problems: list[str] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            problems.append(f"{path.name}: cannot read: {exc}")
            continue
        spec, found = validate_workflow(
            data, path.name, tools=tools, models=models, http_allow_hosts=http_allow_hosts
        )
        problems.extend(found)
        if spec is not None:
            if spec.name in specs:
                problems.append(f"{path.name}: name: {spec.name!r} is also {specs[spec.name].file}")
            specs[spec.name] = spec
    return LoadResult(specs={} if problems else specs, problems=problems)


def validate_workflow(
    data: Any,
    file: str,
    *,
    tools: Iterable[str] | None = None,
    models: Iterable[str] | None = None,
    http_allow_hosts: Iterable[str] | None = None,
) -> tuple[WorkflowSpec | None, list[str]]:
    """The validated spec (with implicit needs and a topological order) and every problem."""
    spec, problems = parse_workflow(data, file)
    if spec is None:
        return None, problems
    known = _Known(
        None if tools is None else set(tools),
        None if models is None else set(models),
        None if http_allow_hosts is None else {h.lower() for h in http_allow_hosts},
    )
    steps: dict[str, StepSpec] = {}
    for step in spec.steps.values():
        key = f"steps.{step.name}"
        for need in step.explicit_needs:
            if need not in spec.steps:
                problems.append(f"{file}: {key}.needs: unknown step {need!r}")
            elif need == step.name:
                problems.append(f"{file}: {key}.needs: a step cannot need itself")
        implied = _check_step_refs(spec, step, key, known, problems, in_map=False)
        needs = tuple(dict.fromkeys([*step.explicit_needs, *implied]))
        steps[step.name] = dataclasses.replace(
            step, needs=tuple(n for n in needs if n in spec.steps and n != step.name)
        )
    for ref in references(spec.output):
        _check_ref(spec, ref, "output", in_map=False, problems=problems)
    order, cycle_problems = _topological_order(steps, file)
    problems.extend(cycle_problems)
    dependents: dict[str, list[str]] = {name: [] for name in steps}
    for step in steps.values():
        for need in step.needs:
            dependents[need].append(step.name)
    validated = dataclasses.replace(
        spec,
        steps=steps,
        order=tuple(order),
        dependents={k: tuple(v) for k, v in dependents.items()},
    )
    return (None if problems else validated), problems


@dataclass(frozen=True)
class _Known:
    tools: set[str] | None
    models: set[str] | None
    hosts: set[str] | None


def _check_step_refs(
    spec: WorkflowSpec,
    step: StepSpec,
    key: str,
    known: _Known,
    problems: list[str],
    *,
    in_map: bool,
) -> list[str]:
    """Problems of one step's payload; returns the steps its templates refer to."""
    file = spec.file
    body = step.body
    if step.kind == "model" and known.models is not None and body["model"] not in known.models:
        problems.append(f"{file}: {key}.model: unknown model {body['model']!r}")
    if step.kind == "tool" and known.tools is not None and body["tool"] not in known.tools:
        problems.append(f"{file}: {key}.tool: unknown tool {body['tool']!r}")
    if step.kind == "http":
        _check_host(str(body["url"]), f"{file}: {key}.http.url", known.hosts, problems)
    implied: list[str] = []
    fields: dict[str, Any] = {k: v for k, v in body.items() if k not in ("model", "tool")}
    fields["when"] = step.when
    for field_name, value in fields.items():
        where = (
            f"{key}.{field_name}"
            if step.kind != "http" or field_name == "when"
            else (f"{key}.http.{field_name}")
        )
        for ref in references(value):
            # A map's source is rendered before its items exist: `item` is not in its scope.
            item_ok = in_map and field_name != "map"
            implied.extend(_check_ref(spec, ref, where, in_map=item_ok, problems=problems))
    if step.item_step is not None:
        implied.extend(
            _check_step_refs(spec, step.item_step, f"{key}.step", known, problems, in_map=True)
        )
    return implied


def _check_ref(
    spec: WorkflowSpec, ref: Reference | str, where: str, *, in_map: bool, problems: list[str]
) -> list[str]:
    file = spec.file
    if isinstance(ref, str):
        problems.append(
            f"{file}: {where}: unsupported template {ref!r} (only inputs.x, steps.s.output..., "
            "item... paths)"
        )
        return []
    parts = ref.parts
    if ref.root == "inputs":
        if len(parts) < 2 or parts[1] not in spec.inputs:
            name = parts[1] if len(parts) > 1 else ""
            problems.append(f"{file}: {where}: unknown input {name!r} in {ref.text}")
        return []
    if ref.root == "item":
        if not in_map:
            problems.append(f"{file}: {where}: {ref.text} is only allowed inside a map's step")
        return []
    if len(parts) < 3 or parts[2] != "output":
        problems.append(f"{file}: {where}: {ref.text} must be steps.<step>.output[.path]")
        return []
    if parts[1] not in spec.steps:
        problems.append(f"{file}: {where}: unknown step {parts[1]!r} in {ref.text}")
        return []
    return [parts[1]]


def _check_host(url: str, where: str, hosts: set[str] | None, problems: list[str]) -> None:
    literal = url.split("{{", 1)[0]
    parts = urlsplit(literal)
    if parts.scheme not in ("http", "https"):
        problems.append(f"{where}: must start with a literal http:// or https:// URL")
        return
    netloc = parts.netloc.rsplit("@", 1)[-1].lower()
    if "{{" in url and "/" not in literal.split("://", 1)[-1]:
        problems.append(f"{where}: the host must be written literally, not templated")
        return
    if hosts is None:
        return
    host = parts.hostname or ""
    if host not in hosts and netloc not in hosts:
        problems.append(f"{where}: host {host!r} is not in workflows.http_allow_hosts")


def _topological_order(steps: Mapping[str, StepSpec], file: str) -> tuple[list[str], list[str]]:
    """A deterministic topological order (file order among equals), or the cycles found."""
    position = {name: index for index, name in enumerate(steps)}
    remaining = {name: {n for n in step.needs if n in steps} for name, step in steps.items()}
    order: list[str] = []
    while True:
        ready = sorted((n for n, needs in remaining.items() if not needs), key=position.__getitem__)
        if not ready:
            break
        for name in ready:
            order.append(name)
            del remaining[name]
        for needs in remaining.values():
            needs.difference_update(ready)
    if not remaining:
        return order, []
    return order, [f"{file}: steps: cycle {' -> '.join(c)}" for c in _cycles(remaining, position)]


def _cycles(remaining: Mapping[str, set[str]], position: Mapping[str, int]) -> list[list[str]]:
    """One cycle through each group of stuck steps, each written from its first member back."""
    found: list[list[str]] = []
    seen: set[str] = set()
    for start in sorted(remaining, key=position.__getitem__):
        if start in seen:
            continue
        path: list[str] = []
        node = start
        while node not in path:
            path.append(node)
            node = min(remaining[node], key=position.__getitem__)
        cycle = path[path.index(node) :]
        seen.update(path)
        if not any(set(cycle) == set(c) for c in found):
            found.append([*cycle, cycle[0]])
    return found
