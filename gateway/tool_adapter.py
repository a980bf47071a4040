"""The tool registry (`tools/`) as the tool loop's `GatewayTools`: the loop speaks the
pipeline's request context, the registry the little of it a tool may read."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.context import RequestContext
from tools.base import ToolContext, ToolResult
from tools.registry import ToolRegistry


class RegistryTools:
    def __init__(self, registry: ToolRegistry) -> None:
        self._registry = registry

    def definitions(self, names: Sequence[str]) -> list[dict[str, Any]]:
        return self._registry.definitions(self._registry.available(names))

    def label(self, name: str) -> str:
        entry = self._registry.lookup(name)
        return entry.name if entry is not None else "unknown"

    async def call(
        self, name: str, arguments: str, ctx: RequestContext, seconds: float
    ) -> ToolResult:
        return await self._registry.call(name, arguments, ToolContext.from_request(ctx), seconds)
