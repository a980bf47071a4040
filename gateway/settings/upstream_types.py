"""Upstream settings shared by every remote backend type: timeouts and declared capabilities.

They live below `backend_types` so that backend-type modules of their own (e.g.
`gemini_types`) can use them while `backend_types` imports those modules for its union.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from gateway.settings.base_types import Config, PositiveSeconds


class Timeouts(Config, frozen=True):
    """Every upstream call is bounded: nothing waits forever."""

    # Seconds to open a connection to the upstream.
    connect: PositiveSeconds = 5.0
    # Until the upstream's first byte (a stall here is a 504, before the commit point).
    first_byte: PositiveSeconds = 120.0
    # Between two chunks once streaming (a stall here ends the stream with an error event).
    idle: PositiveSeconds = 60.0


class TimeoutOverrides(Config, frozen=True):
    """A backend's own timeouts; unset fields come from `defaults.timeouts`."""

    # Seconds to open a connection (unset: `defaults.timeouts.connect`).
    connect: PositiveSeconds | None = None
    # Until the upstream's first byte (unset: `defaults.timeouts.first_byte`).
    first_byte: PositiveSeconds | None = None
    # Between two stream chunks (unset: `defaults.timeouts.idle`).
    idle: PositiveSeconds | None = None

    def over(self, base: Timeouts) -> Timeouts:
        return Timeouts(
            connect=self.connect or base.connect,
            first_byte=self.first_byte or base.first_byte,
            idle=self.idle or base.idle,
        )


class CapabilitiesSpec(Config, frozen=True):
    """What a backend's (or one target's) models can do; a request that needs more goes
    only to targets that can (none left: a 400 naming what is missing). Unset: assumed."""

    # Function calling (`tools`); false: requests with tools skip these targets.
    tools: bool | None = None
    # `response_format` json_schema; false: such requests skip these targets.
    json_schema: bool | None = None
    # Image inputs (`image_url` parts); false: requests with images skip these targets.
    images: bool | None = None
    # The context window: a prompt surely longer than this skips the target.
    context_tokens: Annotated[int, Meta(ge=1)] | None = None
