"""The last few error responses, for the status page: status, error code, route, model,
target, time and request id. Fed by the access log's observe hook, so every error is seen
(those the middleware answers too) and nothing more is read: never bodies, headers or keys.

The code is the one the error response carried (`circuit_open`, `context_length_exceeded`,
an upstream's own), which the exception handler stamps on the request context; an error
answered before the app ran (the middleware's 401, 413, 429) has none, and shows the error
tree's code for its status (`invalid_api_key`'s 401 as `authentication_error`, ...).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from gateway.context import RequestContext
from gateway.errors import error_from_status

Observer = Callable[[str, int, float, RequestContext | None], None]
# What the page shows; old errors fall off (one process's view, bounded).
DEFAULT_SIZE = 50
# Client-chosen names (a prefix route's upstream model) are cut to this in the buffer.
_MAX_NAME = 128


@dataclass(frozen=True, slots=True)
class RecentError:
    time: float
    status: int
    code: str
    route: str
    model: str
    target: str
    request_id: str


class RecentErrors:
    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self._entries: deque[RecentError] = deque(maxlen=size)
        self._codes: dict[int, str] = {}

    def observe(self, route: str, status: int, seconds: float, ctx: RequestContext | None) -> None:
        if status < 400:
            return
        target = ""
        if ctx is not None and ctx.backend_name is not None:
            target = f"{ctx.backend_name}/{ctx.upstream_model or ''}"[:_MAX_NAME]
        self._entries.append(
            RecentError(
                time=time.time(),
                status=status,
                code=(ctx.error_code if ctx is not None else None) or self._code(status),
                route=route,
                # The catalog entry (a bounded label), not the id the client sent.
                model=ctx.route_id if ctx is not None else "",
                target=target,
                request_id=ctx.request_id if ctx is not None else "",
            )
        )

    def entries(self) -> list[RecentError]:
        """Newest first."""
        return list(reversed(self._entries))

    def chained(self, first: Observer) -> Observer:
        """An observer that calls `first` (the metrics), then records."""

        def observe(route: str, status: int, seconds: float, ctx: RequestContext | None) -> None:
            first(route, status, seconds, ctx)
            self.observe(route, status, seconds, ctx)

        return observe

    def _code(self, status: int) -> str:
        code = self._codes.get(status)
        if code is None:
            if status == 499:
                code = "client_closed"  # the access log's status for a client that left
            else:
                error = error_from_status(status, "")
                code = error.error_code or error.error_type
            self._codes[status] = code
        return code
