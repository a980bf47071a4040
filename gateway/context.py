"""Per-request state read by every stage: lives low so that stages never import upward.

Each field has one writer, named beside it; everything else only reads.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from gateway.protocol.common import Usage

# Where the request-id middleware leaves the context in the ASGI scope.
CONTEXT_SCOPE_KEY = "gateway.context"
# The id of the request being handled, for log lines (set by the request-id middleware;
# tasks and `asyncio.to_thread` calls started while handling it inherit it).
REQUEST_ID: ContextVar[str | None] = ContextVar("gateway_request_id", default=None)


@dataclass(frozen=True, slots=True)
class ToolTrace:
    """One gateway tool call of a request, for the inference log."""

    name: str
    arguments: str
    # What went back to the model: the result, or the error message (`outcome` not ok).
    content: str
    outcome: str  # ok | error | invalid | timeout
    seconds: float


@dataclass(slots=True)
class RequestContext:
    request_id: str
    endpoint: str
    started: float = field(default_factory=time.perf_counter)
    # Who is calling (the key's id), for which tenant, and the models the key may use
    # (None: all) (written by authentication).
    principal: str | None = None
    tenant: str | None = None
    allowed_models: tuple[str, ...] | None = None
    # The model id the client asked for; replies carry it back whatever the upstream said
    # (written by the pipeline).
    model: str = ""
    # The catalog entry that served it (`openai/*` for a prefix route): a bounded label for
    # metrics, unlike `model`, which a client can set to anything (written by the pipeline).
    route_id: str = ""
    # Why the router chose it (`alias`, `intent:code`, `complexity:simple`, ...) and how sure
    # a classifying route was (written by the pipeline from the route decision).
    route_reason: str = ""
    route_confidence: float | None = None
    # `time.monotonic()` by which the reply must have reached its commit point, or None
    # (written by the HTTP handler, from the settings and the client's own timeout).
    deadline: float | None = None
    # Queue priority at a busy local model: lower runs sooner (from `x-priority`).
    priority: int = 0
    # The caller's key record (`middleware.auth.KeyRecord`: limits, budget), or None when
    # auth is off (written by authentication; typed loosely: the context sits below it).
    key: Any = None
    # Rate-limit state for the `x-ratelimit-*` headers, or None (written by admission).
    rate_limits: Any = None
    # Content-policy stages that flagged the request (`x-gateway-flagged`), and the
    # request's pseudonym table (`policies.pseudonyms.Pseudonyms`), if one pseudonymised
    # (written by the policy stages).
    flags: list[str] | None = None
    pseudonyms: Any = None
    # The client's cache directives (written by the HTTP handler): `Cache-Control:
    # no-cache` skips the lookup, `no-store` the lookup and the store;
    # `x-gateway-cache-ttl: <s>` shortens the entry's lifetime.
    cache_lookup: bool = True
    cache_store: bool = True
    cache_ttl: float | None = None
    # `x-gateway-cache` (hit, semantic-hit, miss, bypass), and whether the answer came
    # without a model call of this request's own (a hit, a coalesced waiter), which is
    # then metered at no cost (written by the response cache and the coalescer).
    cache_status: str | None = None
    cached: bool = False
    # The gateway tools this request ran, with their arguments and results (written by the
    # tool loop): `x-gateway-tools` and the inference log read them.
    tool_traces: list[ToolTrace] | None = None
    # Seconds spent waiting on backends: total time minus this is the gateway's overhead
    # (added to by backends).
    backend_seconds: float = 0.0
    # The code of the error the request was answered with (stamped by the exception
    # handler): the status page shows it, where the status alone says only `bad_gateway`.
    error_code: str | None = None
    # Backend calls made, retries and fallbacks included, and the backend and model name of
    # the last one (written by the executor).
    attempts: int = 0
    backend_name: str | None = None
    upstream_model: str | None = None
    # Tokens of every model call this request made, summed (see `add_usage`).
    usage: Usage | None = None
    # Its cost in nano-USD at the policy file's prices (written when the quota settles).
    cost_nano: int = 0
    # Streams: seconds from the start to the first event sent (written by the SSE sender).
    first_frame_seconds: float | None = None
    client_disconnected: bool = False
    # The response's status once it started (written by the request-id middleware).
    status: int = 0

    def overhead_seconds(self) -> float:
        return max(0.0, time.perf_counter() - self.started - self.backend_seconds)

    def remaining(self) -> float | None:
        """Seconds left before the deadline (never negative), or None without one."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    def flag(self, stage: str) -> None:
        if self.flags is None:
            self.flags = [stage]
        elif stage not in self.flags:
            self.flags.append(stage)

    @property
    def tool_runs(self) -> list[str] | None:
        """The tools run, `name:outcome:12ms` each (`x-gateway-tools`); None if none ran."""
        if self.tool_traces is None:
            return None
        return [f"{t.name}:{t.outcome}:{round(t.seconds * 1000)}ms" for t in self.tool_traces]

    def tool_run(
        self, name: str, outcome: str, seconds: float, arguments: str = "", content: str = ""
    ) -> None:
        trace = ToolTrace(name, arguments, content, outcome, seconds)
        if self.tool_traces is None:
            self.tool_traces = [trace]
        else:
            self.tool_traces.append(trace)

    def add_usage(self, usage: Usage) -> None:
        """Count one model call's tokens (a tool loop makes several)."""
        current = self.usage
        if current is None:
            self.usage = Usage(
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                total_tokens=usage.total_tokens,
            )
            return
        current.prompt_tokens += usage.prompt_tokens
        current.completion_tokens += usage.completion_tokens
        current.total_tokens += usage.total_tokens
