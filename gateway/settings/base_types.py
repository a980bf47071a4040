"""What every policy-file type shares: strict decoding (unknown keys are errors) and the
common value constraints."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

PositiveSeconds = Annotated[float, Meta(gt=0, le=86_400)]
Port = Annotated[int, Meta(ge=0, le=65_535)]
EnvVarName = Annotated[str, Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
Name = Annotated[str, Meta(min_length=1, max_length=128)]
Share = Annotated[float, Meta(ge=0, le=1)]


class Config(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of every policy-file type."""
