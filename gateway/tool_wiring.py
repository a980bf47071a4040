"""The gateway's tools in the composition root: the registry of a policy file's built-ins
and MCP servers, checked against what routes name, started and stopped with the gateway,
and rebuilt when a reload changes `tools:` (a new server set starts before the old stops).
The `verify` tool's worker pool (`VerifyService`) and the knowledge bases behind
`search_knowledge` (`RagService`) live here too, across reloads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from gateway.observability.tool_metrics import ToolMetrics
from gateway.rag_service import RagService
from gateway.settings.loader import ConfigError
from gateway.settings.rag_types import Rag
from gateway.settings.schema import Settings
from gateway.settings.tool_types import Tools, VerifySettings
from gateway.settings.workflow_types import Workflows
from gateway.tool_adapter import RegistryTools
from gateway.verify_service import VerifyService
from gateway.workflow_service import WorkflowService, load_specs, tool_names
from tools.base import Tool
from tools.builtin import builtin_tools
from tools.rag.tool import search_knowledge_tool
from tools.registry import ToolRegistry, UnknownToolsError
from tools.sources import build_registry
from tools.verify.tool import VerifyTool
from tools.workflows.tool import RunWorkflowTool

if TYPE_CHECKING:
    from gateway.pipeline.pipeline import Pipeline
    from tools.workflows.spec import WorkflowSpec

log = logging.getLogger("gateway.tools")
_READY_TIMEOUT = 10.0


@dataclass(frozen=True)
class Prepared:
    """A reloaded file's tools, checked and not yet live: a new registry (None: the
    running one stays) and the workflows validated against the registry they will use."""

    registry: ToolRegistry | None
    workflows: dict[str, WorkflowSpec]


class GatewayToolSet:
    def __init__(
        self,
        settings: Settings,
        env: Mapping[str, str],
        metrics: ToolMetrics,
        pipeline: Callable[[], Pipeline],
    ) -> None:
        self._env = env
        self._metrics = metrics
        self._spec = _registry_spec(settings)
        self.verify = VerifyService(settings)
        self.rag = RagService(settings)
        self.workflows = WorkflowService(settings, lambda: self.registry, pipeline, env)
        self.registry, self.workflows.specs = _registry(settings, env, self._services())
        self._started = False

    def _services(self) -> _Services:
        return _Services(self.verify, self.rag, self.workflows)

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

    def prepare(self, settings: Settings) -> Prepared:
        """For a reload: the new file's registry when `tools:` changed (not yet started),
        checked against its routes, and its workflows; raises `ConfigError`."""
        if _registry_spec(settings) != self._spec:
            return Prepared(*_registry(settings, self._env, self._services()))
        _check(self.registry, settings)
        return Prepared(None, load_specs(settings, tool_names(settings, self.registry)))

    async def install(self, settings: Settings, prepared: Prepared) -> None:
        self.verify.reconfigure(settings)
        self.rag.reconfigure(settings)
        self.workflows.install(settings, prepared.workflows)
        fresh = prepared.registry
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
        await self.workflows.start()  # interrupted runs resume: their tools must be up
        self._started = True

    async def aclose(self) -> None:
        await self.workflows.aclose()  # its runs stop (and resume at the next start) first
        await self.registry.aclose()
        await self.verify.aclose()
        await self.rag.aclose()

    def status(self) -> dict[str, str]:
        return dict(self.registry.status())


def check_tools(settings: Settings, env: Mapping[str, str]) -> None:
    """Raise `ConfigError` for tools routes name that no built-in or server provides (or
    a server entry that cannot be used); nothing is started."""
    # Opens nothing: no worker, no store, no database.
    workflows = WorkflowService(settings, _no_registry, _no_pipeline, env)
    _registry(settings, env, _Services(VerifyService(settings), RagService(settings), workflows))


def _no_registry() -> ToolRegistry:
    raise RuntimeError("`gateway check` runs no workflow")


def _no_pipeline() -> Pipeline:
    raise RuntimeError("`gateway check` runs no workflow")


@dataclass(frozen=True)
class _Services:
    verify: VerifyService
    rag: RagService
    workflows: WorkflowService


def _registry(
    settings: Settings, env: Mapping[str, str], services: _Services
) -> tuple[ToolRegistry, dict[str, WorkflowSpec]]:
    """The registry of `settings`, checked against its routes, and its workflows, checked
    against the registry's tools (each file read once); raises `ConfigError`."""
    extra: list[Tool] = [VerifyTool(services.verify)]
    if settings.rag is not None:
        collections = {name: c.description for name, c in settings.rag.collections.items()}
        extra.append(search_knowledge_tool(services.rag, collections))
    specs: dict[str, WorkflowSpec] = {}
    if settings.workflows is not None:
        # The tools steps may name, known before the registry is: it holds these and MCP's.
        names = [t.name for t in (*builtin_tools(), *extra)] + [RunWorkflowTool.name]
        specs = load_specs(settings, None if settings.tools.mcp_servers else names)
        listed = {name: dict(s.inputs) for name, s in specs.items()}
        spec = settings.workflows
        extra.append(
            RunWorkflowTool(services.workflows.require, listed, lambda: spec.tool_wait_seconds)
        )
    try:
        registry = build_registry(settings.tools, env, extra)
    except ValueError as exc:  # a server entry that cannot be used (a missing variable)
        raise ConfigError("the tools", [f"$.tools.mcp_servers: {exc}"]) from None
    _check(registry, settings)
    return registry, specs


def _registry_spec(settings: Settings) -> tuple[Tools, Rag | None, Workflows | None]:
    """What the registry is built from: `tools:` less `verify` (the pool's own business),
    `rag:` (the collections `search_knowledge` describes) and `workflows:` (those
    `run_workflow` lists)."""
    tools = msgspec.structs.replace(settings.tools, verify=VerifySettings())
    return tools, settings.rag, settings.workflows


def _check(registry: ToolRegistry, settings: Settings) -> None:
    problems = []
    for i, route in enumerate(settings.models):
        try:
            registry.resolve_static(route.tools)
        except UnknownToolsError as exc:
            problems.append(f"$.models[{i}].tools: {exc}")
    if problems:
        raise ConfigError("the tools", problems)
