"""`POST /v1/completions`: the legacy text endpoint, including fill-in-the-middle (`suffix`)."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

from gateway.protocol.common import (
    ChoiceCount,
    LogitBias,
    Opaque,
    Penalty,
    StopSequences,
    StreamOptions,
    Temperature,
    TopP,
    Usage,
)

TokenId = Annotated[int, Meta(ge=0)]
# One string, a batch of strings, one token array, or a batch of token arrays. msgspec
# allows one array type per union, so the item union is checked for homogeneity below.
Prompt = str | list[str | TokenId | list[TokenId]]


class CompletionRequest(Struct, kw_only=True):
    model: Annotated[str, Meta(min_length=1, max_length=256)]
    prompt: Prompt | None = None
    suffix: str | UnsetType | None = UNSET
    max_tokens: Annotated[int, Meta(ge=0)] | UnsetType | None = UNSET
    temperature: Temperature | UnsetType | None = UNSET
    top_p: TopP | UnsetType | None = UNSET
    n: ChoiceCount | UnsetType | None = UNSET
    best_of: ChoiceCount | UnsetType | None = UNSET
    stream: bool | UnsetType | None = UNSET
    stream_options: StreamOptions | UnsetType | None = UNSET
    logprobs: Annotated[int, Meta(ge=0, le=5)] | UnsetType | None = UNSET
    echo: bool | UnsetType | None = UNSET
    stop: StopSequences | UnsetType | None = UNSET
    presence_penalty: Penalty | UnsetType | None = UNSET
    frequency_penalty: Penalty | UnsetType | None = UNSET
    logit_bias: LogitBias | UnsetType | None = UNSET
    seed: int | UnsetType | None = UNSET
    user: str | UnsetType | None = UNSET

    def __post_init__(self) -> None:
        prompt = self.prompt
        if isinstance(prompt, list) and prompt:
            kinds = {type(item) for item in prompt}
            if len(kinds) > 1:
                raise ValueError(
                    "`prompt` must be a string, a list of strings, a list of token ids "
                    "or a list of token-id lists, not a mixture"
                )

    @property
    def is_stream(self) -> bool:
        return self.stream is True

    @property
    def wants_usage_chunk(self) -> bool:
        opts = self.stream_options
        return isinstance(opts, StreamOptions) and opts.include_usage is True

    @property
    def output_token_limit(self) -> int | None:
        # The legacy endpoint's documented default.
        return self.max_tokens if isinstance(self.max_tokens, int) else 16


class CompletionChoice(Struct, kw_only=True):
    index: int
    text: str
    finish_reason: str | None = None
    logprobs: Opaque | None = None


class Completion(Struct, kw_only=True):
    """Both the JSON response and, with `object` unchanged, each stream chunk."""

    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | UnsetType | None = UNSET
    system_fingerprint: str | UnsetType | None = UNSET
