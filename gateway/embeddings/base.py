"""The embedder seam: blocking calls (run them in a worker thread)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Embedder(Protocol):
    name: str
    dimensions: int
    # Longer inputs are truncated to this many tokens.
    max_tokens: int

    def embed(self, texts: Sequence[str]) -> tuple[list[list[float]], int]:
        """Unit-length vectors, one per text, and the number of tokens read."""
