"""The router seam: a `RouteDecision` is an ordered list of targets and the reason for it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gateway.context import RequestContext


@dataclass(frozen=True, slots=True)
class Target:
    backend: str
    upstream_model: str
    # The catalog entry that produced this target (a fallback has its own).
    model_id: str
    # What a backend does with a prompt longer than the model's window: `error` (a 400
    # context_length_exceeded) or `trim_oldest` (drop the oldest turns, keep the system).
    context_overflow: str = "error"


@dataclass(frozen=True, slots=True)
class RouteDecision:
    targets: tuple[Target, ...]
    reason: str
    # Gateway-owned tools to offer the model (filled by later routers).
    tools: tuple[str, ...] = ()


class Router(Protocol):
    def route(self, model: str, ctx: RequestContext) -> RouteDecision:
        """Raise `gateway.errors.ModelNotFoundError` for a model nobody serves."""
