"""What executes a step's work: the `StepRunners` protocol the gateway implements, and an
HTTP runner over httpx.

    class StepRunners(Protocol):
        async def model(self, route: str, prompt: str, ctx: StepContext) -> str
        async def tool(self, name: str, args: Any, ctx: StepContext) -> Any
        async def http(self, method, url, body, headers, timeout_seconds) -> dict
            # -> {"status": int, "headers": {...}, "body": parsed JSON or text}

A runner raises any exception to fail the attempt (the step's `retries` decide what follows);
the engine enforces `timeout_seconds` around the call by cancelling it, so a runner must be
cancellable. Outputs must be JSON-like (dict, list, str, numbers, bool, None): they are
checkpointed and returned by the REST API. Runners are always called on the event loop that
called `WorkflowEngine.start()`, even for runs DBOS recovers on its own background loop.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx


@dataclass(frozen=True)
class StepContext:
    run_id: str
    workflow: str
    step: str
    attempt: int  # 1-based
    tenant: str | None
    item_index: int | None = None  # a map item's index
    deadline: float | None = None  # the run's deadline (epoch seconds)


class StepRunners(Protocol):
    async def model(self, route: str, prompt: str, ctx: StepContext) -> str: ...

    async def tool(self, name: str, args: Any, ctx: StepContext) -> Any: ...

    async def http(
        self,
        method: str,
        url: str,
        body: Any,
        headers: Mapping[str, str],
        timeout_seconds: float,
    ) -> dict[str, Any]: ...


class HttpStatusError(RuntimeError):
    """An HTTP step's target answered 4xx/5xx: the attempt fails (and may be retried)."""


class HttpxHttp:
    """The `http` runner over an httpx.AsyncClient (owned unless one is passed in).

    A dict or list body is sent as JSON, anything else as text. The response body is parsed
    as JSON when it says so, else returned as text. A 4xx/5xx answer raises HttpStatusError.
    """

    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        self._client = client or httpx.AsyncClient(follow_redirects=False)
        self._owned = client is None

    async def __call__(
        self,
        method: str,
        url: str,
        body: Any,
        headers: Mapping[str, str],
        timeout_seconds: float,
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"headers": dict(headers), "timeout": timeout_seconds}
        if isinstance(body, dict | list):
            kwargs["json"] = body
        elif body is not None:
            kwargs["content"] = str(body).encode()
        response = await self._client.request(method, url, **kwargs)
        payload: Any = response.text
        if "json" in response.headers.get("content-type", ""):
            with contextlib.suppress(ValueError):
                payload = json.loads(payload)
        if response.status_code >= 400:
            raise HttpStatusError(
                f"{method} {url}: HTTP {response.status_code}: {response.text[:200]}"
            )
        return {"status": response.status_code, "headers": dict(response.headers), "body": payload}

    async def aclose(self) -> None:
        if self._owned:
            await self._client.aclose()


ModelFn = Callable[[str, str, StepContext], Awaitable[str]]
ToolFn = Callable[[str, Any, StepContext], Awaitable[Any]]
HttpFn = Callable[[str, str, Any, Mapping[str, str], float], Awaitable[dict[str, Any]]]


class FunctionRunners:
    """`StepRunners` from three callables (what the composition root and tests build)."""

    def __init__(self, *, model: ModelFn, tool: ToolFn, http: HttpFn) -> None:
        self._model, self._tool, self._http = model, tool, http

    async def model(self, route: str, prompt: str, ctx: StepContext) -> str:
        return await self._model(route, prompt, ctx)

    async def tool(self, name: str, args: Any, ctx: StepContext) -> Any:
        return await self._tool(name, args, ctx)

    async def http(
        self, method: str, url: str, body: Any, headers: Mapping[str, str], timeout_seconds: float
    ) -> dict[str, Any]:
        return await self._http(method, url, body, headers, timeout_seconds)
