"""`POST /v1/embeddings`."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

TokenId = Annotated[int, Meta(ge=0)]
# A string, a batch of strings, one token array, or a batch of token arrays (msgspec allows
# one array type per union, so the item union is checked for homogeneity below).
EmbeddingInput = str | Annotated[list[str | TokenId | list[TokenId]], Meta(min_length=1)]


class EmbeddingRequest(Struct, kw_only=True):
    model: Annotated[str, Meta(min_length=1, max_length=256)]
    input: EmbeddingInput
    encoding_format: Literal["float", "base64"] | UnsetType = UNSET
    dimensions: Annotated[int, Meta(ge=1)] | UnsetType = UNSET
    user: str | UnsetType | None = UNSET

    def __post_init__(self) -> None:
        if isinstance(self.input, list):
            if len({type(item) for item in self.input}) > 1:
                raise ValueError(
                    "`input` must be a string, a list of strings, a list of token ids or a "
                    "list of token-id lists, not a mixture"
                )
            if any(item in ("", []) for item in self.input):
                raise ValueError("`input` must not contain empty strings or empty token lists")
        elif self.input == "":
            raise ValueError("`input` must not be empty")

    # The pipeline treats every request alike: an embedding request never streams.
    is_stream = False
    wants_usage_chunk = False
    n = UNSET
