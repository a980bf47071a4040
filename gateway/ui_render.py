"""The status page's HTML: Jinja2 templates in `gateway/ui_templates/`, autoescaped.

Everything shown (route ids, target names, workflow questions, tenants) comes from policy
files, upstream listings or clients, so every value is escaped by the engine, never by hand;
undefined names fail loudly instead of rendering as empty text.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined

# The page reloads itself with a meta refresh: no JavaScript at all, so the CSP forbids it.
REFRESH_SECONDS = 10
HEADERS: Mapping[str, str] = MappingProxyType(
    {
        "cache-control": "no-store",
        "content-security-policy": (
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
        # Approve buttons must not be clickable inside someone else's frame.
        "x-frame-options": "DENY",
        "referrer-policy": "no-referrer",
        "x-content-type-options": "nosniff",
    }
)


class PageRenderer:
    """Built once per app: templates are compiled on first use and kept."""

    def __init__(self) -> None:
        self._env = Environment(
            loader=FileSystemLoader(Path(__file__).parent / "ui_templates"),
            autoescape=True,
            undefined=StrictUndefined,
            auto_reload=False,  # templates ship with the code: no stat per page
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.filters.update(ms=_ms, percent=_percent, clock=_clock, segment=_segment)

    def render(self, template: str, **values: Any) -> str:
        values.setdefault("refresh_seconds", 0)
        return self._env.get_template(template).render(**values)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def _clock(value: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(value))


def _segment(value: str) -> str:
    """One URL path segment (a `/` in a run id must not make a different path)."""
    return quote(value, safe="")
