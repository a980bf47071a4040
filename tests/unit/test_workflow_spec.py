"""Workflow validation (every error kind, naming file, step and key), templates, run inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.workflows import (
    TemplateError,
    WorkflowInputError,
    check_inputs,
    load_workflows,
    render,
    validate_workflow,
)
from tools.workflows.templates import truthy

KNOWN = {
    "tools": {"verify", "search_knowledge", "calculator"},
    "models": {"assistant"},
    "http_allow_hosts": {"127.0.0.1", "notes.example:8443"},
}
ROOT = Path(__file__).resolve().parents[2]


def problems_of(text: str, **known: Any) -> list[str]:
    spec, problems = validate_workflow(yaml.safe_load(text), "review.yaml", **{**KNOWN, **known})
    assert (spec is None) == bool(problems)
    return problems


def test_the_issue_example_is_valid_with_implicit_needs() -> None:
    text = """
name: review
inputs: {topic: string}
steps:
  draft:   {model: assistant, prompt: "Write a short note on {{inputs.topic}}"}
  check:   {tool: verify, args: {text: "{{steps.draft.output}}"}, needs: [draft], retries: 2, timeout_seconds: 30}
  facts:   {tool: search_knowledge, args: {query: "{{inputs.topic}}"}}
  approve: {approval: "Publish the note?", needs: [check, facts]}
  publish: {http: {method: POST, url: "http://127.0.0.1:9400/notes", body: "{{steps.draft.output}}"}, needs: [approve]}
  each:    {map: "{{steps.facts.output.results}}", step: {model: assistant, prompt: "Summarise {{item.text}}"}}
on_failure: fail_fast
deadline_seconds: 600
"""
    spec, problems = validate_workflow(yaml.safe_load(text), "review.yaml", **KNOWN)
    assert problems == [] and spec is not None
    assert spec.steps["each"].needs == ("facts",)  # from its template
    assert spec.order.index("facts") < spec.order.index("each")
    assert spec.order.index("approve") < spec.order.index("publish")
    assert spec.dependents["draft"] == ("check", "publish")  # publish uses its output


def test_unknown_needs_kinds_and_keys_are_named() -> None:
    problems = problems_of("""
steps:
  draft: {model: assistant, prompt: hi}
  check: {tool: verify, needs: [drfat], retrys: 2}
  odd: {shell: "rm -rf /"}
  both: {tool: verify, model: assistant}
on_failure: sometimes
extra: 1
""")
    assert "review.yaml: steps.check.needs: unknown step 'drfat'" in problems
    assert any(p.startswith("review.yaml: steps.check.retrys: unknown key") for p in problems)
    assert any(p.startswith("review.yaml: steps.odd: unknown step kind") for p in problems)
    assert any(
        p.startswith("review.yaml: steps.both: unknown step kind") and "found model, tool" in p
        for p in problems
    )
    assert any(p.startswith("review.yaml: on_failure: must be one of") for p in problems)
    assert any(p.startswith("review.yaml: extra: unknown key") for p in problems)


def test_cycles_are_reported_with_their_members() -> None:
    problems = problems_of("""
steps:
  a: {tool: verify, needs: [c]}
  b: {tool: verify, needs: [a]}
  c: {tool: verify, needs: [b]}
  d: {tool: verify, args: {x: "{{steps.e.output}}"}}
  e: {tool: verify, needs: [d]}
  fine: {tool: verify}
""")
    cycles = [p for p in problems if "cycle" in p]
    assert len(cycles) == 2
    assert "review.yaml: steps: cycle a -> c -> b -> a" in cycles
    assert "review.yaml: steps: cycle d -> e -> d" in cycles  # an implicit need closes it


def test_template_references_must_resolve() -> None:
    problems = problems_of("""
inputs: {topic: string}
steps:
  a: {model: assistant, prompt: "{{inputs.topc}} {{steps.nope.output}} {{steps.b.result}}"}
  b: {tool: verify, args: {x: "{{item.text}}", y: "{{ 1 + 2 }}"}}
  m: {map: "{{item}}", step: {tool: verify, args: {q: "{{item.q}}"}}}
""")
    assert "review.yaml: steps.a.prompt: unknown input 'topc' in {{inputs.topc}}" in problems
    assert "review.yaml: steps.a.prompt: unknown step 'nope' in {{steps.nope.output}}" in problems
    assert any(
        p.startswith("review.yaml: steps.a.prompt: {{steps.b.result}} must be") for p in problems
    )
    assert (
        "review.yaml: steps.b.args: {{item.text}} is only allowed inside a map's step" in problems
    )
    assert any(
        p.startswith("review.yaml: steps.b.args: unsupported template '{{ 1 + 2 }}'")
        for p in problems
    )
    assert "review.yaml: steps.m.map: {{item}} is only allowed inside a map's step" in problems
    assert not any("item.q" in p for p in problems)  # inside the map's step it is fine


def test_unknown_tools_models_and_hosts() -> None:
    problems = problems_of("""
steps:
  a: {model: gpt-9, prompt: hi}
  b: {tool: rm_rf}
  c: {http: {method: POST, url: "http://evil.example/x"}}
  d: {http: {method: GET, url: "https://notes.example:8443/n/{{steps.a.output}}"}}
  e: {http: {method: GET, url: "http://{{steps.a.output}}/x"}}
  f: {http: {method: BREW, url: "ftp://127.0.0.1/x"}}
""")
    assert "review.yaml: steps.a.model: unknown model 'gpt-9'" in problems
    assert "review.yaml: steps.b.tool: unknown tool 'rm_rf'" in problems
    assert (
        "review.yaml: steps.c.http.url: host 'evil.example' is not in workflows.http_allow_hosts"
    ) in problems
    assert not any("steps.d" in p for p in problems)  # host:port entry, templated path
    assert any(
        p.startswith("review.yaml: steps.e.http.url: must start with a literal") or "templated" in p
        for p in problems
        if "steps.e" in p
    )
    assert any(p.startswith("review.yaml: steps.f.http.method") for p in problems)
    assert any(p.startswith("review.yaml: steps.f.http.url: must start") for p in problems)


def test_types_and_numbers_are_checked() -> None:
    problems = problems_of("""
inputs: {a: text, b: integer}
deadline_seconds: -1
max_steps: 0
steps:
  s: {tool: verify, retries: 99, timeout_seconds: 0, when: {greater: [1, 2]}}
  m: {map: "{{inputs.b}}", step: {approval: "no"}}
""")
    for key in (
        "inputs.a",
        "deadline_seconds",
        "max_steps",
        "steps.s.retries",
        "steps.s.timeout_seconds",
        "steps.s.when",
        "steps.m.step.approval",
    ):
        assert any(p.startswith(f"review.yaml: {key}:") for p in problems), key


def test_load_workflows_reads_a_directory_and_reports_duplicates(tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text("name: x\nsteps:\n  a: {tool: verify}\n")
    (tmp_path / "two.yaml").write_text("name: x\nsteps:\n  a: {tool: verify}\n")
    (tmp_path / "bad.yaml").write_text("steps: [")
    result = load_workflows(tmp_path, **KNOWN)
    assert result.specs == {}
    assert any(p.startswith("bad.yaml: cannot read") for p in result.problems)
    assert "two.yaml: name: 'x' is also one.yaml" in result.problems
    (tmp_path / "two.yaml").unlink()
    (tmp_path / "bad.yaml").unlink()
    assert list(load_workflows(tmp_path, **KNOWN).specs) == ["x"]


def test_shipped_examples_validate() -> None:
    result = load_workflows(ROOT / "deploy" / "workflows", **KNOWN)
    assert result.problems == []
    assert {"barrier_repair", "research_publish"} <= set(result.specs)


SCOPE = {
    "inputs": {"topic": "cats", "n": 3, "flag": False},
    "steps": {
        "facts": {"output": {"results": [{"text": "a"}, {"text": "b"}]}},
        "draft": {"output": "hello"},
    },
    "item": {"text": "t1"},
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{inputs.topic}}", "cats"),
        ("{{ inputs.n }}", 3),
        ("{{inputs.flag}}", False),
        ("{{steps.facts.output.results}}", [{"text": "a"}, {"text": "b"}]),
        ("{{steps.facts.output.results.1.text}}", "b"),
        ("n={{inputs.n}} on {{inputs.topic}}", "n=3 on cats"),
        ("got {{steps.facts.output.results.0}}", 'got {"text":"a"}'),
        ("{{item}}", {"text": "t1"}),
        ("Summarise {{item.text}}", "Summarise t1"),
        ({"q": ["{{inputs.topic}}", "{{inputs.n}}"]}, {"q": ["cats", 3]}),
        ("no template", "no template"),
    ],
)
def test_render_keeps_types_when_whole_and_stringifies_inside(template: Any, expected: Any) -> None:
    assert render(template, SCOPE) == expected


def test_render_refuses_missing_paths_unless_lenient() -> None:
    with pytest.raises(TemplateError, match=r"steps\.facts\.output has no member 'nope'"):
        render("{{steps.facts.output.nope}}", SCOPE)
    with pytest.raises(TemplateError):
        render("{{steps.facts.output.results.7}}", SCOPE)
    assert render("{{steps.gone.output.x}}", SCOPE, lenient=True) is None
    assert render("{{__import__}}", SCOPE, lenient=True) is None


def test_inputs_are_checked_against_declared_types() -> None:
    spec, _ = validate_workflow(
        yaml.safe_load("""
inputs: {s: string, x: number, i: integer, b: boolean, o: object, a: array}
steps: {t: {tool: verify}}
"""),
        "in.yaml",
    )
    assert spec is not None
    good = {"s": "a", "x": 1.5, "i": 2, "b": True, "o": {}, "a": []}
    assert check_inputs(spec, good) == good
    assert check_inputs(spec, {**good, "x": 3})["x"] == 3
    with pytest.raises(WorkflowInputError) as info:
        check_inputs(spec, {"s": 1, "x": True, "i": 2.0, "b": "yes", "o": [], "zz": 1})
    assert info.value.problems == [
        "inputs.s: expected string, got int",
        "inputs.x: expected number, got bool",
        "inputs.i: expected integer, got float",
        "inputs.b: expected boolean, got str",
        "inputs.o: expected object, got list",
        "inputs.a: missing (array)",
        "inputs.zz: unknown input (declared: s, x, i, b, o, a)",
    ]
    with pytest.raises(WorkflowInputError):
        check_inputs(spec, ["not", "an", "object"])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("yes", True),
        ("False", False),
        (" 0 ", False),
        ("null", False),
        ("", False),
        (0, False),
        (2, True),
        ([], False),
        ({"a": 1}, True),
        (None, False),
    ],
)
def test_when_truthiness(value: Any, expected: bool) -> None:
    assert truthy(value) is expected
