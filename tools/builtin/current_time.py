"""The `current_time` tool: the time now in an IANA time zone."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from tools.base import ToolContext, ToolError


class CurrentTimeArgs(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    timezone: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=64,
            description="An IANA time zone name, e.g. `UTC`, `Europe/Paris`, `America/New_York`.",
        ),
    ] = "UTC"


class CurrentTimeResult(msgspec.Struct, frozen=True):
    # ISO 8601 with the zone's offset, e.g. `2026-03-12T15:04:05+01:00`.
    time: str
    timezone: str
    utc_offset: str
    unix_seconds: int
    weekday: str


class CurrentTime:
    name = "current_time"
    description = "The current date and time in an IANA time zone (default UTC)."
    Args: ClassVar[type[msgspec.Struct]] = CurrentTimeArgs

    def __init__(self, clock: type[datetime] = datetime) -> None:
        # A test passes a datetime subclass with a fixed `now`.
        self._clock = clock

    async def run(self, args: CurrentTimeArgs, ctx: ToolContext) -> CurrentTimeResult:
        zone = load_zone(args.timezone)
        now = self._clock.now(zone).replace(microsecond=0)
        return CurrentTimeResult(
            time=now.isoformat(),
            timezone=args.timezone,
            utc_offset=now.strftime("%z"),
            unix_seconds=int(now.timestamp()),
            weekday=now.strftime("%A"),
        )


def load_zone(name: str) -> ZoneInfo:
    # zoneinfo reads files by name: refuse path-like names before it does.
    if name.startswith(("/", ".")) or ".." in name or "\\" in name:
        raise ToolError(f"unknown time zone {name!r}; use an IANA name such as Europe/Paris")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ToolError(
            f"unknown time zone {name!r}; use an IANA name such as UTC or Europe/Paris"
        ) from None
