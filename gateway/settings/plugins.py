"""Backend types from installed packages: the `switchyard.backends` entry points.

An entry point's name is the `type:` a policy file writes; its object is a
`gateway.backends.registry.BackendType` (checked here by shape: `spec`, a msgspec Struct
type, and a callable `build`, so that the settings layer does not import the backends).
Plugins are imported only when a policy file names a type that is not built in.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

import msgspec

ENTRY_POINT_GROUP = "switchyard.backends"


class PluginError(Exception):
    """An entry point that cannot be used; the message names it and says why."""


def load_plugin(name: str) -> Any | None:
    """The `BackendType` an installed package registers as `name`, or None when none does."""
    for point in entry_points(group=ENTRY_POINT_GROUP, name=name):
        try:
            loaded = point.load()
        except Exception as exc:  # a broken plugin must still give a readable error
            raise PluginError(
                f"the backend plugin `{name}` ({point.value}) failed to import: {exc}"
            ) from exc
        spec = getattr(loaded, "spec", None)
        if not (
            isinstance(spec, type)
            and issubclass(spec, msgspec.Struct)
            and callable(getattr(loaded, "build", None))
        ):
            raise PluginError(
                f"the backend plugin `{name}` ({point.value}) is not a "
                "gateway.backends.registry.BackendType (a `spec` Struct and a `build`)"
            )
        return loaded
    return None


def installed_plugins() -> list[str]:
    return sorted({point.name for point in entry_points(group=ENTRY_POINT_GROUP)})
