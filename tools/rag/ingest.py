"""One document's bytes -> chunk rows with vectors, ready for one atomic write.

Embedding is batched (`batch_size` texts a call) and reports progress after every batch.
Everything here is blocking: `KnowledgeStore` runs it on the caller's thread, and async code
calls the store from a worker thread (`tools.rag.async_store`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.embeddings.base import Embedder
from tools.rag.chunking import Chunk, CountTokens, approx_tokens, chunk_blocks
from tools.rag.parsers import parse_document
from tools.rag.records import IngestProgress
from tools.rag.table import schema

# Bumped when chunking changes what a file turns into: stored files then re-ingest.
CHUNKER_VERSION = 1

ProgressCallback = Callable[[IngestProgress], None]


@dataclass(frozen=True)
class IngestOptions:
    chunk_tokens: int = 200
    count_tokens: CountTokens = approx_tokens
    overlap_tokens: int | None = None
    batch_size: int = 32


@dataclass
class ProgressTracker:
    """Counts for the progress callback across one `ingest` call."""

    callback: ProgressCallback | None
    files_total: int
    files_done: int = 0
    chunks: int = 0
    embed_seconds: float = 0.0
    started: float = field(default_factory=time.perf_counter)

    def report(self, current: str | None) -> None:
        if self.callback is not None:
            rate = self.chunks / self.embed_seconds if self.embed_seconds > 0 else 0.0
            self.callback(
                IngestProgress(self.files_done, self.files_total, self.chunks, rate, current)
            )


def settings_key(options: IngestOptions, embedder: Embedder) -> str:
    overlap = "default" if options.overlap_tokens is None else options.overlap_tokens
    return (
        f"chunker={CHUNKER_VERSION};tokens={options.chunk_tokens};overlap={overlap};"
        f"embedder={embedder.name}"
    )


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def chunk_document(name: str, data: bytes, options: IngestOptions) -> list[Chunk]:
    """Raises `UnreadableError` for a document without readable text."""
    return chunk_blocks(
        parse_document(name, data),
        chunk_tokens=options.chunk_tokens,
        count_tokens=options.count_tokens,
        overlap_tokens=options.overlap_tokens,
    )


def search_text(chunk: Chunk) -> str:
    """What is embedded and full-text indexed: the heading path gives a passage the
    context its own words often leave out ("Setup" under "Redis > Setup")."""
    if not chunk.headings:
        return chunk.text
    return " > ".join(chunk.headings) + "\n" + chunk.text


def embed_texts(
    embedder: Embedder,
    texts: Sequence[str],
    *,
    batch_size: int,
    progress: ProgressTracker,
    source: str,
) -> list[list[float]]:
    # Batches of similar length: the embedder pads each batch to its longest text, and
    # a chunk's length varies from a heading's few tokens to `chunk_tokens`.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vectors: list[list[float]] = [[] for _ in texts]
    for start in range(0, len(order), batch_size):
        picked = order[start : start + batch_size]
        batch = [texts[i] for i in picked]
        began = time.perf_counter()
        out, _ = embedder.embed(batch)
        progress.embed_seconds += time.perf_counter() - began
        if len(out) != len(batch) or any(len(v) != embedder.dimensions for v in out):
            raise ValueError(
                f"the embedder returned {len(out)} vectors for {len(batch)} texts, "
                f"or not {embedder.dimensions}-d ones"
            )
        for i, vector in zip(picked, out, strict=True):
            vectors[i] = vector
        progress.chunks += len(batch)
        progress.report(source)
    return vectors


def chunk_id(tenant: str, source: str, digest: str, settings: str, ordinal: int) -> str:
    """Stable for the same bytes under the same settings, new for anything else: a changed
    file's chunks never collide with the ones they replace."""
    key = "\x00".join([tenant, source, digest, settings, str(ordinal)])
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def chunk_rows(
    chunks: Sequence[Chunk],
    vectors: Sequence[Sequence[float]],
    *,
    tenant: str,
    source: str,
    digest: str,
    settings: str,
    dimensions: int,
) -> Any:
    """The rows of one document as a pyarrow table in the collection's schema."""
    import pyarrow as pa  # type: ignore[import-untyped]

    now = time.time()
    texts = [search_text(c) for c in chunks]
    columns = {
        "chunk_id": [chunk_id(tenant, source, digest, settings, c.ordinal) for c in chunks],
        "tenant": [tenant] * len(chunks),
        "source": [source] * len(chunks),
        "ordinal": [c.ordinal for c in chunks],
        "text": [c.text for c in chunks],
        "search_text": texts,
        "location": [c.location for c in chunks],
        "headings": [list(c.headings) for c in chunks],
        "page": [c.page for c in chunks],
        "line": [c.line for c in chunks],
        "content_sha256": [digest] * len(chunks),
        "ingest_settings": [settings] * len(chunks),
        "ingested_at": [now] * len(chunks),
        "vector": [list(v) for v in vectors],
    }
    return pa.Table.from_pydict(columns, schema=schema(dimensions))
