"""The tools the gateway ships: small, exact, and safe to expose to any model."""

from __future__ import annotations

from tools.base import Tool
from tools.builtin.calculator import Calculator
from tools.builtin.current_time import CurrentTime

__all__ = ["Calculator", "CurrentTime", "builtin_tools"]


def builtin_tools() -> list[Tool]:
    return [Calculator(), CurrentTime()]
