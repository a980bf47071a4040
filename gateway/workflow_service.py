"""The policy file's workflows (`workflows:`) in the composition root: their files loaded
and validated against the routes and tools this gateway has, the DBOS engine started with
the gateway (it resumes interrupted runs by itself, and takes over those of replicas that
stopped: `tools.workflows.replicas`) and closed with it.

DBOS is a process-wide singleton: one engine per process. A reload that changes the files
swaps the specs new runs start from (runs in flight keep the definition they started
with); a new database URL takes effect at the next start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.pipeline.pipeline import Pipeline
from gateway.settings.loader import ConfigError
from gateway.settings.schema import Settings
from gateway.settings.workflow_types import Workflows
from gateway.workflow_runners import GatewayRunners
from tools.registry import ToolRegistry

if TYPE_CHECKING:
    from tools.workflows.engine import WorkflowEngine
    from tools.workflows.spec import WorkflowSpec

log = logging.getLogger("gateway.workflows")


def load_specs(settings: Settings, tool_names: Iterable[str] | None) -> dict[str, WorkflowSpec]:
    """The validated workflows of `settings` (none without `workflows:`); `ConfigError`
    naming every problem (file, step, key) otherwise. `tool_names` None: tools unchecked
    (MCP servers' tools are known only once listed)."""
    spec = settings.workflows
    if spec is None:
        return {}
    from tools.workflows.validation import load_workflows

    if not Path(spec.dir).is_dir():
        raise ConfigError("the workflows", [f"$.workflows.dir: `{spec.dir}` is not a directory"])
    found = load_workflows(
        Path(spec.dir),
        tools=tool_names,
        models=[m.id for m in settings.models],
        http_allow_hosts=spec.http_allow_hosts,
    )
    if found.problems:
        raise ConfigError("the workflows", [f"$.workflows: {p}" for p in found.problems])
    return dict(found.specs)


def tool_names(settings: Settings, registry: ToolRegistry) -> list[str] | None:
    """The tool names workflow steps may use, or None when MCP servers make that open."""
    if settings.tools.mcp_servers:
        return None
    return [entry.name for entry in registry.all_available()]


class WorkflowService:
    def __init__(
        self,
        settings: Settings,
        registry: Callable[[], ToolRegistry],
        pipeline: Callable[[], Pipeline],
        env: Mapping[str, str],
    ) -> None:
        """Loads nothing: `specs` are set by whoever builds the registry (their steps name
        its tools: `gateway.tool_wiring`)."""
        self._settings = settings
        self._env = env
        self._registry = registry
        self.specs: dict[str, WorkflowSpec] = {}
        self._runners = GatewayRunners(
            pipeline,
            registry,
            lambda: self._spec().http_allow_hosts if self._settings.workflows else [],
            lambda: self._settings.defaults.deadline_seconds,
        )
        self.engine: WorkflowEngine | None = None

    @property
    def enabled(self) -> bool:
        return self._settings.workflows is not None

    def _spec(self) -> Workflows:
        spec = self._settings.workflows
        assert spec is not None
        return spec

    async def start(self) -> None:
        if not self.enabled:
            return
        from tools.workflows.engine import WorkflowEngine, database_url
        from tools.workflows.replicas import executor_id

        spec = self._spec()
        url = database_url(self._env, spec.database_url_env, Path(spec.data_dir))
        self.engine = WorkflowEngine(
            self.specs,
            url,
            self._runners,
            max_parallel_steps=spec.max_parallel_steps,
            executor_id=executor_id(self._env, url),
            heartbeat_seconds=spec.heartbeat_seconds,
            takeover_after_seconds=spec.takeover_after_seconds,
        )
        await self.engine.start()
        log.info(
            "workflows ready",
            extra={"workflows": sorted(self.specs), "executor_id": self.engine.executor_id},
        )

    def install(self, settings: Settings, specs: dict[str, WorkflowSpec]) -> None:
        old = self._settings.workflows
        self._settings = settings
        self.specs = specs
        if self.engine is not None:
            self.engine.specs = dict(specs)
            new = settings.workflows
            if new is None or (
                old is not None
                and (old.database_url_env, old.data_dir)
                != (
                    new.database_url_env,
                    new.data_dir,
                )
            ):
                log.warning("workflows: a new database or removing workflows applies at restart")

    def require(self) -> WorkflowEngine:
        from gateway.errors import NotFoundError

        if self.engine is None:
            raise NotFoundError("No workflows are configured on this gateway (`workflows:`).")
        return self.engine

    def describe(self) -> list[dict[str, Any]]:
        return [
            {"name": s.name, "inputs": dict(s.inputs), "steps": list(s.steps)}
            for s in self.specs.values()
        ]

    async def aclose(self) -> None:
        if self.engine is not None:
            await self.engine.aclose()
            self.engine = None
        await self._runners.aclose()
