"""The values the knowledge store returns, and its one error type.

Frozen msgspec Structs, so the HTTP layer encodes them as they are: a `SearchResult`
encodes to exactly `{"text", "source", "location", "score", "chunk_id"}`.
"""

from __future__ import annotations

from typing import Literal

import msgspec

SearchMode = Literal["hybrid", "vector", "text"]
MODES: tuple[SearchMode, ...] = ("hybrid", "vector", "text")


class RagError(ValueError):
    """A bad argument (collection or tenant name, mode) or a store that does not match the
    embedder (another vector dimension)."""


class SearchResult(msgspec.Struct, frozen=True):
    text: str
    source: str
    location: str  # "page 3, Heading > Sub", "Heading > Sub", "line 12" or "part 2"
    # vector: cosine similarity; text: BM25; hybrid: reciprocal rank fusion scaled so that
    # 1.0 is "first in both lists" (see tools.rag.fusion).
    score: float
    chunk_id: str


class DocumentInfo(msgspec.Struct, frozen=True):
    source: str
    chunks: int
    hash: str  # sha256 of the file's bytes
    ingested_at: float  # unix seconds


class FileOutcome(msgspec.Struct, frozen=True):
    source: str
    status: Literal["ingested", "unchanged", "skipped", "failed"]
    chunks: int = 0
    # Why a file was skipped (bad input: the rest of the batch goes on) or failed (the
    # embedder or the store raised; nothing of that file was written).
    reason: str | None = None


class IngestSummary(msgspec.Struct, frozen=True):
    files: list[FileOutcome]
    chunks: int  # chunks written
    seconds: float

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def ingested(self) -> int:
        return self.count("ingested")

    @property
    def unchanged(self) -> int:
        return self.count("unchanged")

    @property
    def skipped(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status in ("skipped", "failed")]


class IngestProgress(msgspec.Struct, frozen=True):
    """Sent after each embedded batch and each finished file (what a tqdm bar shows)."""

    files_done: int
    files_total: int
    chunks: int  # embedded so far in this call
    embeddings_per_second: float
    current: str | None  # the source being embedded, None when between files
