"""What a workflow's steps call inside the gateway: model steps go through the live pipeline
(routing, policies, cache, metering; no HTTP hop), tool steps through the tool registry,
HTTP steps to an allow-listed host with a timeout. A failure raises, so the step's
`retries` apply; the message is what the run's state shows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import msgspec

from gateway.context import RequestContext
from gateway.errors import GatewayError
from gateway.pipeline.parsed import ParsedRequest
from gateway.pipeline.pipeline import Pipeline
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.raw import decode_fields
from tools.base import ToolContext
from tools.registry import ToolRegistry
from tools.workflows.runners import HttpxHttp, StepContext

_decode = msgspec.json.Decoder()
_chat = msgspec.json.Decoder(ChatCompletionRequest)


class StepFailed(RuntimeError):
    """A step's call failed: the message names why (retried per the step's `retries`)."""


class GatewayRunners:
    def __init__(
        self,
        pipeline: Callable[[], Pipeline],
        registry: Callable[[], ToolRegistry],
        allow_hosts: Callable[[], list[str]],
        deadline_seconds: Callable[[], float | None],
    ) -> None:
        self._pipeline = pipeline
        self._registry = registry
        self._allow = allow_hosts
        self._deadline = deadline_seconds
        self._http = HttpxHttp()

    async def model(self, route: str, prompt: str, ctx: StepContext) -> str:
        body = msgspec.json.encode(
            {"model": route, "messages": [{"role": "user", "content": prompt}]}
        )
        parsed = ParsedRequest("chat/completions", _chat.decode(body), decode_fields(body))
        request_ctx = RequestContext(
            request_id=f"{ctx.run_id}.{ctx.step}.{ctx.attempt}",
            endpoint="chat/completions",
            tenant=ctx.tenant,
        )
        seconds = self._deadline()
        if seconds is not None:
            request_ctx.deadline = time.monotonic() + seconds
        try:
            reply = await self._pipeline().complete(parsed, request_ctx)
        except GatewayError as exc:
            raise StepFailed(f"model `{route}`: {exc.status_code} {exc.message}") from None
        message = _decode.decode(reply.encode())["choices"][0]["message"]
        return str(message.get("content") or "")

    async def tool(self, name: str, args: Any, ctx: StepContext) -> Any:
        tool_ctx = ToolContext(request_id=f"{ctx.run_id}.{ctx.step}", tenant=ctx.tenant)
        arguments = args if isinstance(args, Mapping) else {}
        result = await self._registry().call(name, arguments, tool_ctx)
        if not result.ok:
            raise StepFailed(f"tool `{name}` {result.outcome}: {result.content}")
        try:
            return json.loads(result.content)  # a tool's JSON result stays data for templates
        except ValueError:
            return result.content

    async def http(
        self,
        method: str,
        url: str,
        body: Any,
        headers: Mapping[str, str],
        timeout_seconds: float,
    ) -> dict[str, Any]:
        # Checked again here: a templated URL can name another host than the file shows.
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        allowed = {h.lower() for h in self._allow()}
        with_port = f"{host}:{parts.port}" if parts.port else host
        if parts.scheme not in ("http", "https") or not (host in allowed or with_port in allowed):
            raise StepFailed(f"HTTP step to `{with_port or url}`: host not in http_allow_hosts")
        return await self._http(method, url, body, headers, timeout_seconds)

    async def aclose(self) -> None:
        await self._http.aclose()
