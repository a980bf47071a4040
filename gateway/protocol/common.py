"""Types shared by several endpoints."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

NonNegInt = Annotated[int, Meta(ge=0)]
Penalty = Annotated[float, Meta(ge=-2.0, le=2.0)]
Temperature = Annotated[float, Meta(ge=0.0, le=2.0)]
TopP = Annotated[float, Meta(ge=0.0, le=1.0)]
ChoiceCount = Annotated[int, Meta(ge=1, le=128)]
TokenLimit = Annotated[int, Meta(ge=1)]
LogitBias = dict[str, Annotated[float, Meta(ge=-100.0, le=100.0)]]
# OpenAI allows up to four; self-hosted servers accept more, so the upstream decides.
StopSequences = str | list[str]


class StreamOptions(Struct, kw_only=True):
    include_usage: bool | UnsetType | None = UNSET
    include_obfuscation: bool | UnsetType | None = UNSET


class PromptTokensDetails(Struct, kw_only=True):
    cached_tokens: int | UnsetType = UNSET
    audio_tokens: int | UnsetType = UNSET


class CompletionTokensDetails(Struct, kw_only=True):
    reasoning_tokens: int | UnsetType = UNSET
    audio_tokens: int | UnsetType = UNSET
    accepted_prediction_tokens: int | UnsetType = UNSET
    rejected_prediction_tokens: int | UnsetType = UNSET


class Usage(Struct, kw_only=True):
    prompt_tokens: NonNegInt
    completion_tokens: NonNegInt
    total_tokens: NonNegInt
    prompt_tokens_details: PromptTokensDetails | UnsetType | None = UNSET
    completion_tokens_details: CompletionTokensDetails | UnsetType | None = UNSET


# Fields whose shape OpenAI keeps evolving: validated as JSON, carried through as-is.
Opaque = msgspec.Raw
