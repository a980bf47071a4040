"""Per-request state read by every stage: lives low so that stages never import upward."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from gateway.protocol.common import Usage

# Where the request-id middleware leaves the context in the ASGI scope.
CONTEXT_SCOPE_KEY = "gateway.context"


@dataclass(slots=True)
class RequestContext:
    request_id: str
    endpoint: str
    started: float = field(default_factory=time.perf_counter)
    principal: str | None = None
    tenant: str | None = None
    # The model id the client asked for; replies carry it back whatever the upstream said.
    model: str = ""
    # The catalog entry that served it (`openai/*` for a prefix route): a bounded label for
    # metrics, unlike `model`, which a client can set to anything.
    route_id: str = ""
    deadline: float | None = None
    # Queue priority at a busy local model: lower runs sooner (from `x-priority`).
    priority: int = 0
    # Seconds spent waiting on backends: total time minus this is the gateway's overhead.
    backend_seconds: float = 0.0
    attempts: int = 0
    target: str | None = None
    usage: Usage | None = None
    client_disconnected: bool = False

    def overhead_seconds(self) -> float:
        return max(0.0, time.perf_counter() - self.started - self.backend_seconds)
