from __future__ import annotations

from datetime import datetime, tzinfo

import pytest

from tools.base import ToolContext, ToolError
from tools.builtin.current_time import CurrentTime, CurrentTimeArgs


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"


class _FixedClock(datetime):
    @classmethod
    def now(cls, tz: tzinfo | None = None) -> _FixedClock:
        moment = datetime.fromisoformat("2026-03-12T14:04:05.123456+00:00")
        return cls.fromtimestamp(moment.timestamp(), tz)


@pytest.mark.anyio
async def test_utc_by_default() -> None:
    result = await CurrentTime(_FixedClock).run(CurrentTimeArgs(), ToolContext())
    assert result.time == "2026-03-12T14:04:05+00:00"
    assert result.timezone == "UTC"
    assert result.unix_seconds == 1773324245
    assert result.weekday == "Thursday"


@pytest.mark.anyio
async def test_iana_zone_with_its_offset() -> None:
    result = await CurrentTime(_FixedClock).run(CurrentTimeArgs("Europe/Paris"), ToolContext())
    assert result.time == "2026-03-12T15:04:05+01:00"
    assert result.utc_offset == "+0100"
    assert result.unix_seconds == 1773324245


@pytest.mark.anyio
async def test_real_clock_is_now() -> None:
    result = await CurrentTime().run(CurrentTimeArgs("Asia/Tokyo"), ToolContext())
    assert abs(result.unix_seconds - datetime.now().timestamp()) < 5
    assert result.time.endswith("+09:00")


@pytest.mark.anyio
@pytest.mark.parametrize("zone", ["Mars/Olympus", "../../etc/passwd", "/etc/localtime", "UTC+25"])
async def test_unknown_zone_is_a_clear_error(zone: str) -> None:
    with pytest.raises(ToolError, match="unknown time zone"):
        await CurrentTime().run(CurrentTimeArgs(zone), ToolContext())
