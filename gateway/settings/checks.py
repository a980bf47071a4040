"""Checks that span sections of a decoded policy file: references between models and
backends, fallbacks (unknown, prefix, cycles), targets, and classifying routes. Each problem
names its key path."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

from gateway.settings.backend_types import OnnxEmbedderSpec
from gateway.settings.content_policies import NER_ENTITIES
from gateway.settings.schema import Settings

# all-MiniLM-L6-v2's window, the one `onnx_embedder` model family (see its module).
MINILM_WINDOW = 256


def cross_check(settings: Settings) -> list[str]:
    """Checks that span sections: references between backends and models."""
    problems: list[str] = []
    model_ids = [m.id for m in settings.models]
    seen: set[str] = set()
    for i, route in enumerate(settings.models):
        where = f"$.models[{i}]"
        if route.id in seen:
            problems.append(f"{where}.id: duplicate model id `{route.id}`")
        seen.add(route.id)
        problems.extend(_target_problems(settings, route, where))
        if route.id.endswith("/*") is False and "*" in route.id:
            problems.append(f"{where}.id: `*` is only allowed as a trailing `/*`")
        for j, fallback in enumerate(route.fallbacks):
            if fallback.endswith("/*"):
                problems.append(
                    f"{where}.fallbacks[{j}]: `{fallback}` is a prefix route; a fallback "
                    "must be an exact model id"
                )
            elif fallback not in model_ids:
                problems.append(
                    f"{where}.fallbacks[{j}]: unknown model `{fallback}` "
                    f"(it must be the id of another entry in `models`)"
                )
    problems.extend(_fallback_cycles(settings))
    problems.extend(_policy_problems(settings))
    for name, server in settings.tools.mcp_servers.items():
        if (server.command is None) == (server.url is None):
            problems.append(
                f"$.tools.mcp_servers.{name}: set exactly one of `command` (stdio) or `url`"
            )
    problems.extend(_rag_problems(settings))
    problems.extend(_workflow_problems(settings))
    verify = settings.tools.verify
    if verify.timeout_seconds > verify.max_timeout_seconds:
        problems.append(
            f"$.tools.verify.timeout_seconds: {verify.timeout_seconds:g} is above "
            f"`max_timeout_seconds` ({verify.max_timeout_seconds:g})"
        )
    embedder = settings.cache.embedder
    if settings.onnx_embedder(embedder) is None:
        problems.append(
            f"$.cache.embedder: no `onnx_embedder` backend serves `{embedder}` (unset: the "
            "built-in all-minilm-l6-v2)"
        )
    if settings.cache.backend == "redis" and settings.state.redis_url_env is None:
        problems.append(
            "$.cache.backend: `redis` keeps answers in the shared Redis: set "
            "`state.redis_url_env` (or use `memory`)"
        )
    return problems


def _workflow_problems(settings: Settings) -> list[str]:
    spec = settings.workflows
    if spec is None or spec.takeover_after_seconds > 2 * spec.heartbeat_seconds:
        return []
    return [
        f"$.workflows.takeover_after_seconds: {spec.takeover_after_seconds:g} must exceed twice "
        f"`heartbeat_seconds` ({spec.heartbeat_seconds:g}), or one late heartbeat would hand a "
        "live replica's runs to another"
    ]


def _rag_problems(settings: Settings) -> list[str]:
    """`search_knowledge` needs knowledge bases, and they need an embedder the gateway has."""
    problems: list[str] = []
    rag = settings.rag
    if rag is None:
        problems += [
            f"$.models[{i}].tools: `search_knowledge` needs a `rag:` section (knowledge bases)"
            for i, m in enumerate(settings.models)
            if "search_knowledge" in m.tools
        ]
        return problems
    if settings.onnx_embedder(rag.embedder) is None:
        problems.append(
            f"$.rag.embedder: no `onnx_embedder` backend serves `{rag.embedder}` (the "
            f"built-in is `{OnnxEmbedderSpec().model}`)"
        )
    if rag.chunk_tokens > MINILM_WINDOW:
        problems.append(
            f"$.rag.chunk_tokens: {rag.chunk_tokens} is over the embedder's window "
            f"({MINILM_WINDOW} tokens): the rest of each chunk would not be embedded"
        )
    if rag.default_k > rag.max_k:
        problems.append(f"$.rag.default_k: {rag.default_k} is above `max_k` ({rag.max_k})")
    return problems


def _policy_problems(settings: Settings) -> list[str]:
    """Routes and keys name defined policy sets; custom entities compile and say what to
    match."""
    problems: list[str] = []
    known = ", ".join(sorted(settings.policies)) or "none are defined"
    named = [(f"$.models[{i}].policy", m.policy) for i, m in enumerate(settings.models)]
    named += [(f"$.keys[{i}].policy", k.policy) for i, k in enumerate(settings.keys)]
    for path, name in named:
        if name is not None and name not in settings.policies:
            problems.append(f"{path}: unknown policy set `{name}` (defined: {known})")
    for name, policy in settings.policies.items():
        if policy.pii is None:
            continue
        model = policy.pii.spacy_model
        if model is not None and not _spacy_model_installed(model):
            problems.append(
                f"$.policies.{name}.pii.spacy_model: `{model}` is not an installed Python "
                "package or a model directory (install it, e.g. `pip install "
                f"{model}`; it is never downloaded)"
            )
        for j, custom in enumerate(policy.pii.custom):
            where = f"$.policies.{name}.pii.custom[{j}]"
            if (custom.regex is None) == (not custom.deny_list):
                problems.append(f"{where}: set exactly one of `regex` or `deny_list`")
            elif custom.regex is not None:
                try:
                    re.compile(custom.regex)
                except re.error as exc:
                    problems.append(f"{where}.regex: not a valid regular expression ({exc})")
    return problems


def policy_warnings(settings: Settings) -> list[str]:
    """What a policy file asks for that will not happen, though it is not an error."""
    warnings = []
    for name, policy in settings.policies.items():
        pii = policy.pii
        if pii is None or pii.spacy_model is not None:
            continue
        ner = [e for e in pii.entities if e in NER_ENTITIES]
        if ner:
            warnings.append(
                f"$.policies.{name}.pii.entities: {', '.join(ner)} need a NER model "
                "(`pii.spacy_model`); without one they are not detected"
            )
    return warnings


def _spacy_model_installed(model: str) -> bool:
    if Path(model).is_dir():
        return True
    try:
        return importlib.util.find_spec(model) is not None
    except (ImportError, ValueError):
        return False


def _classifier_problems(route: Any, model_ids: list[str], where: str) -> list[str]:
    """A `route_by` route names other model ids; each must exist (and not be itself)."""
    if route.backend is not None or route.targets:
        return [f"{where}: a `route_by` route picks other models: drop `backend` / `targets`"]
    for name in ("max_concurrency", "limits"):
        if getattr(route, name) is not None:
            return [
                f"{where}.{name}: set it on the models a `route_by` route picks "
                "(their limits apply)"
            ]
    named: list[tuple[str, str | None]] = []
    if route.route_by == "intent":
        if not route.intents:
            return [f"{where}.intents: a `route_by: intent` route needs at least one intent"]
        named.append((f"{where}.default", route.default))
        named += [(f"{where}.intents[{k}].model", i.model) for k, i in enumerate(route.intents)]
        names = [i.name for i in route.intents]
        if len(set(names)) != len(names):
            return [f"{where}.intents: intent names must be unique"]
    else:
        named += [(f"{where}.simple", route.simple), (f"{where}.complex", route.complex)]
    problems = []
    for path, model in named:
        if model is None:
            problems.append(f"{path}: required for `route_by: {route.route_by}`")
        elif model == route.id or model not in model_ids:
            problems.append(
                f"{path}: unknown model `{model}` (it must be the id of another entry in `models`)"
            )
    return problems


def _target_problems(settings: Settings, route: Any, where: str) -> list[str]:
    if route.route_by is not None:
        return _classifier_problems(route, [m.id for m in settings.models], where)
    if route.backend is not None and route.targets:
        return [f"{where}: set either `backend` (one target) or `targets`, not both"]
    if route.backend is None and not route.targets:
        return [f"{where}: set `backend` (one target) or `targets`"]
    known = ", ".join(sorted(settings.backends)) or "none are defined"
    problems = []
    named = (
        [(f"{where}.backend", route.backend)]
        if route.backend is not None
        else [(f"{where}.targets[{k}].backend", t.backend) for k, t in enumerate(route.targets)]
    )
    for path, backend in named:
        if backend not in settings.backends:
            problems.append(f"{path}: unknown backend `{backend}` (defined: {known})")
    return problems


def _fallback_cycles(settings: Settings) -> list[str]:
    """A route whose fallbacks lead back to itself would try the same targets forever."""
    fallbacks = {m.id: list(m.fallbacks) for m in settings.models}
    index = {m.id: i for i, m in enumerate(settings.models)}
    problems: list[str] = []
    for start, first in fallbacks.items():
        path = [start]
        stack = [(start, iter(first))]
        on_path = {start}
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                on_path.discard(node)
                path.pop()
                continue
            if child == start:
                chain = " -> ".join([*path, start])
                problems.append(
                    f"$.models[{index[start]}].fallbacks: fallbacks form a cycle ({chain})"
                )
                stack.clear()
                break
            if child in fallbacks and child not in on_path:
                on_path.add(child)
                path.append(child)
                stack.append((child, iter(fallbacks[child])))
    return problems
