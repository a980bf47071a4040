"""Backend types: how a `backends.<name>` entry of the policy file becomes a `Backend`.

Every type, built-in or third-party, is one `BackendType`: the msgspec Struct that validates
its configuration, a builder, and whether its models list themselves. Third-party packages
register theirs under the `switchyard.backends` entry-point group (the entry point's name is
the `type:` users write; its object a `BackendType`); they are looked up only when a policy
file names a type the gateway does not have built in (`gateway.settings.plugins`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.backends.base import Backend
from gateway.backends.http_pool import HTTPPool
from gateway.settings.upstream_types import TimeoutOverrides, Timeouts


@dataclass(slots=True)
class BuildContext:
    """What a builder gets besides its spec: the backend's name, the environment its
    secrets come from, the shared HTTP pool and the default timeouts. Problems (an unset
    key variable) are collected, so that `gateway check` reports them all at once."""

    name: str
    env: Mapping[str, str]
    pool: HTTPPool
    default_timeouts: Timeouts
    problems: list[str] = field(default_factory=list)

    def secret(self, variable: str | None, where: str) -> str | None:
        """The value of environment variable `variable` (None when `variable` is None);
        unset or empty is a problem reported at `$.backends.<name>.<where>`."""
        if not variable:
            return None
        value = self.env.get(variable)
        if not value:
            self.problems.append(
                f"$.backends.{self.name}.{where}: environment variable `{variable}` is not set"
            )
            return None
        return value

    def secret_headers(self, headers_env: Mapping[str, str]) -> dict[str, str]:
        """`{header: value}` for a spec's `headers_env` (header -> variable name)."""
        found: dict[str, str] = {}
        for header, variable in headers_env.items():
            value = self.secret(variable, f"headers_env.{header}")
            if value:
                found[header] = value
        return found

    def timeouts(self, overrides: TimeoutOverrides | None) -> Timeouts:
        return overrides.over(self.default_timeouts) if overrides else self.default_timeouts


def _never(_spec: Any) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class BackendType:
    """`spec` is the configuration Struct; `build(spec, ctx)` makes the backend (or records
    problems on `ctx` and returns None); `discovers(spec)` says whether the backend's
    models are listed on `/v1/models` without a route naming them."""

    spec: type[Any]
    build: Callable[[Any, BuildContext], Backend | None]
    discovers: Callable[[Any], bool] = _never
