"""Routes that pick another model per request: by intent (the last user turn against each
intent's examples) or by complexity (a cheap score). They return the picked model's own
decision, with the reason (`intent:<name>`, `intent:default`, `complexity:<simple|complex>`)
and the confidence, which the response reports in `x-gateway-intent`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Protocol

from gateway.context import RequestContext
from gateway.protocol.chat import ChatCompletionRequest, UserMessage
from gateway.protocol.completions import CompletionRequest
from routers.base import RouteDecision, RouteRequest
from routers.complexity import complexity_score
from routers.intent import IntentClassifier
from routers.static import StaticRouter


@dataclass(frozen=True, slots=True)
class Pick:
    model: str
    label: str  # the intent's name, `default`, `simple` or `complex`
    confidence: float


class RouteChooser(Protocol):
    kind: str

    def choose(self, request: RouteRequest) -> Pick: ...


class IntentChooser:
    kind = "intent"

    def __init__(
        self,
        classifier: IntentClassifier,
        models: Mapping[str, str],
        threshold: float,
        default: str,
    ) -> None:
        self._classifier = classifier
        self._models = dict(models)
        self._threshold = threshold
        self._default = default

    def choose(self, request: RouteRequest) -> Pick:
        text = last_user_text(request)
        if not text:
            return Pick(self._default, "default", 0.0)
        match = self._classifier.route(text, self._threshold)
        if match.name is None:
            return Pick(self._default, "default", match.confidence)
        return Pick(self._models[match.name], match.name, match.confidence)


class ComplexityChooser:
    kind = "complexity"

    def __init__(self, threshold: float, simple: str, complex_: str) -> None:
        self._threshold = threshold
        self._simple = simple
        self._complex = complex_

    def choose(self, request: RouteRequest) -> Pick:
        if not isinstance(request, ChatCompletionRequest | CompletionRequest):
            return Pick(self._simple, "simple", 0.0)
        score = complexity_score(request)
        if score >= self._threshold:
            return Pick(self._complex, "complex", score)
        return Pick(self._simple, "simple", score)


class ClassifyingRouter:
    """The static router, with some model ids resolved by a chooser first."""

    def __init__(self, inner: StaticRouter, choosers: Mapping[str, RouteChooser]) -> None:
        self._inner = inner
        self._choosers = dict(choosers)

    async def route(self, request: RouteRequest, ctx: RequestContext) -> RouteDecision:
        chooser = self._choosers.get(request.model)
        if chooser is None:
            return await self._inner.route(request, ctx)
        pick = chooser.choose(request)
        decision = await self._inner.route_to(pick.model)
        return replace(decision, reason=f"{chooser.kind}:{pick.label}", confidence=pick.confidence)


def last_user_text(request: RouteRequest) -> str:
    """The text of the last user turn (what the user is asking for now)."""
    if isinstance(request, CompletionRequest):
        return request.prompt if isinstance(request.prompt, str) else ""
    if not isinstance(request, ChatCompletionRequest):
        return ""
    for message in reversed(request.messages):
        if isinstance(message, UserMessage):
            content = message.content
            if isinstance(content, str):
                return content
            return " ".join(p.text for p in content if isinstance(p.text, str))
    return ""
