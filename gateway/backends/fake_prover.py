"""The `prover` script of the fake backends: a model in the generate -> verify -> repair loop,
for tests and demos of the `verify` tool through chat.

The last user message holds a JSON object `{"problem": {...}, "candidates": ["B1", ...]}`:
a barrier spec without its certificate, and the certificates to try in order. Each turn it
reads the last `verify` result: `valid` ends the loop with `Certificate: B (valid ...)`;
anything else (invalid with a counterexample, unknown) proposes the next candidate, the
repair; when none is left it gives up in text.
"""

from __future__ import annotations

import json
from typing import Any

from gateway.protocol.chat import AssistantMessage, ChatCompletionRequest, ToolMessage, UserMessage


def prover_turn(request: ChatCompletionRequest) -> list[tuple[str, str]] | str:
    task = _task(request)
    if task is None:
        return 'Send {"problem": {...}, "candidates": [...]} as the user message.'
    problem, candidates = task
    proposed: list[str] = []
    for message in request.messages:
        if isinstance(message, AssistantMessage) and message.tool_calls:
            for call in message.tool_calls:
                if call.function.name == "verify":
                    arguments = json.loads(call.function.arguments or "{}")
                    proposed.append(str(arguments.get("certificate", "")))
    verdicts = [_json(m.content) for m in request.messages if isinstance(m, ToolMessage)]
    if proposed and verdicts and verdicts[-1].get("verdict") == "valid":
        # The counterexamples it repaired, to show what came back through the loop.
        repaired = [
            v["counterexample"]["condition"]
            for v in verdicts
            if isinstance(v.get("counterexample"), dict) and "condition" in v["counterexample"]
        ]
        return (
            f"Certificate: {proposed[-1]} (valid after {len(proposed)} proposals; "
            f"counterexamples: {', '.join(repaired) or 'none'})"
        )
    if len(proposed) >= len(candidates):
        return f"No certificate found after {len(proposed)} proposals."
    spec = {**problem, "check": "barrier", "certificate": candidates[len(proposed)]}
    return [("verify", json.dumps(spec))]


def _task(request: ChatCompletionRequest) -> tuple[dict[str, Any], list[str]] | None:
    for message in reversed(request.messages):
        if isinstance(message, UserMessage):
            task = _json(message.content)
            problem, candidates = task.get("problem"), task.get("candidates")
            if isinstance(problem, dict) and isinstance(candidates, list):
                return problem, [str(c) for c in candidates]
            return None
    return None


def _json(content: Any) -> dict[str, Any]:
    text = content if isinstance(content, str) else ""
    if not isinstance(content, str):
        text = "".join(getattr(p, "text", "") or "" for p in content or ())
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
