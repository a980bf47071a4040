"""The gateway's tools in the composition root: the registry of a policy file's built-ins
and MCP servers, checked against what routes name, started and stopped with the gateway,
and rebuilt when a reload changes `tools:` (a new server set starts before the old stops).
The `verify` tool's worker pool (`VerifyService`) and the knowledge bases behind
`search_knowledge` (`RagService`) live here too, across reloads.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import msgspec

from gateway.observability.tool_metrics import ToolMetrics
from gateway.rag_service import RagService
from gateway.settings.loader import ConfigError
from gateway.settings.rag_types import Rag
from gateway.settings.schema import Settings
from gateway.settings.tool_types import Tools, VerifySettings
from gateway.tool_adapter import RegistryTools
from gateway.verify_service import VerifyService
from tools.base import Tool
from tools.rag.tool import search_knowledge_tool
from tools.registry import ToolRegistry, UnknownToolsError
from tools.sources import build_registry
from tools.verify.tool import VerifyTool

log = logging.getLogger("gateway.tools")
_READY_TIMEOUT = 10.0


class GatewayToolSet:
    def __init__(self, settings: Settings, env: Mapping[str, str], metrics: ToolMetrics) -> None:
        self._env = env
        self._metrics = metrics
        self._spec = _registry_spec(settings)
        self.verify = VerifyService(settings)
        self.rag = RagService(settings)
        self.registry = _registry(settings, env, self.verify, self.rag)
        self._started = False

    def pipeline_args(self, settings: Settings) -> dict[str, Any]:
        """What the pipeline needs to run the routes' tools (nothing when no route has any)."""
        routes = {m.id: list(m.tools) for m in settings.models if m.tools}
        if not routes:
            return {}
        return {
            "tools": RegistryTools(self.registry),
            "tool_settings": settings.tools,
            "route_tools": routes,
            "record_tool": self._metrics.record,
        }

    def prepare(self, settings: Settings) -> ToolRegistry | None:
        """For a reload: the new file's registry when `tools:` changed (not yet started),
        checked against its routes; None when the running one stays."""
        if _registry_spec(settings) == self._spec:
            _check(self.registry, settings)
            return None
        return _registry(settings, self._env, self.verify, self.rag)

    async def install(self, settings: Settings, fresh: ToolRegistry | None) -> None:
        self.verify.reconfigure(settings)
        self.rag.reconfigure(settings)
        if fresh is None:
            return
        if self._started:
            await fresh.start(ready_timeout=_READY_TIMEOUT)
        old, self.registry = self.registry, fresh
        self._spec = _registry_spec(settings)
        await old.aclose()

    async def start(self) -> None:
        await self.registry.start(ready_timeout=_READY_TIMEOUT)
        self.verify.start()
        self._started = True

    async def aclose(self) -> None:
        await self.registry.aclose()
        await self.verify.aclose()
        await self.rag.aclose()

    def status(self) -> dict[str, str]:
        return dict(self.registry.status())


def check_tools(settings: Settings, env: Mapping[str, str]) -> None:
    """Raise `ConfigError` for tools routes name that no built-in or server provides (or
    a server entry that cannot be used); nothing is started."""
    _registry(settings, env, VerifyService(settings), RagService(settings))  # opens nothing


def _registry(
    settings: Settings, env: Mapping[str, str], verify: VerifyService, rag: RagService
) -> ToolRegistry:
    extra: list[Tool] = [VerifyTool(verify)]
    if settings.rag is not None:
        collections = {name: c.description for name, c in settings.rag.collections.items()}
        extra.append(search_knowledge_tool(rag, collections))
    try:
        registry = build_registry(settings.tools, env, extra)
    except ValueError as exc:  # a server entry that cannot be used (a missing variable)
        raise ConfigError("the tools", [f"$.tools.mcp_servers: {exc}"]) from None
    _check(registry, settings)
    return registry


def _registry_spec(settings: Settings) -> tuple[Tools, Rag | None]:
    """What the registry is built from: `tools:` less `verify` (the pool's own business),
    and `rag:` (the collections `search_knowledge` describes)."""
    return msgspec.structs.replace(settings.tools, verify=VerifySettings()), settings.rag


def _check(registry: ToolRegistry, settings: Settings) -> None:
    problems = []
    for i, route in enumerate(settings.models):
        try:
            registry.resolve_static(route.tools)
        except UnknownToolsError as exc:
            problems.append(f"$.models[{i}].tools: {exc}")
    if problems:
        raise ConfigError("the tools", problems)
