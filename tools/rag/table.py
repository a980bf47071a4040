"""One LanceDB table per collection: its schema, names, filters and index upkeep.

Rows are chunks. `tenant` is a column, and every read names it in a `where` prefilter, so
the index search itself runs only over the caller's rows (tenant None is stored as ""; an
empty tenant name is refused so that it cannot alias the single-tenant scope). `search_text`
(heading path + passage) is what is embedded and what the full-text index covers; `text` is
the passage shown to the model.

Indexes, kept by `maintain` after each write: the native full-text (BM25) index on
`search_text` (no tantivy; stop words kept, see `FTS_OPTIONS`), a bitmap index on `tenant`
and a B-tree on `source` for the
prefilters, and the ANN vector index once the table has `ann_threshold` rows. Rows added
after an index was built are still searched (LanceDB scans unindexed fragments flat) until
`optimize` folds them into the indexes, which `maintain` also does.

ANN threshold: 2,000 rows, measured by `bench/rag.py --threshold` as the row count from which
a flat scan costs more than the index (figures at ANN_THRESHOLD below). The index is built
once when an ingest takes the table past it; later rows are folded in by `optimize`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from tools.rag.records import RagError

# Measured with `bench/rag.py --threshold` (2 cores, 384-d clustered unit vectors, 4
# tenants, tenant prefilter, k=5, p50 of 115 searches): flat scan vs IVF_HNSW_SQ (+ refine 5)
#   rows    1k    2k    5k    10k   20k   100k
#   flat   9.7  13.8  18.2   32.0  53.5  392 ms
#   ANN    9.3  11.2   8.9    7.7   9.2  8.4 ms   (build 0.1 / 0.3 / 1.0 / 3.3 / 4.6 / 65 s)
# The curves cross between 1k and 2k rows; from 2k the index is faster, cheap to build,
# and (refined) matched the flat top 5 exactly at 10k and 100k.
ANN_THRESHOLD = 2_000
# Old table versions kept this long after a write, so a search that started on the
# previous version (another thread, another replica) still finds its files.
KEEP_VERSIONS = timedelta(minutes=10)

_COLLECTION = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
TABLE_PREFIX = "rag_"
FTS_COLUMN = "search_text"
VECTOR_COLUMN = "vector"
# Lance's English stop list drops "not", "no", "all", "each", "other", "after", "over",
# "under", "more", "same", "can", "will": words that carry meaning in technical questions
# ("does not trip the breaker", "approach each other"). BM25's IDF already weights a word
# that is common in the collection near zero, so the list only removes evidence. Measured
# (`bench/rag_variants.py`, 90 queries): text recall@5 0.844 -> 0.856, hybrid 0.911 ->
# 0.922, hybrid MRR 0.778 -> 0.801. Stemming, lower-casing and ASCII folding stay on.
FTS_OPTIONS: dict[str, Any] = {"remove_stop_words": False}


def table_name(collection: str) -> str:
    if not isinstance(collection, str) or not _COLLECTION.fullmatch(collection):
        raise RagError(
            f"collection name {collection!r} must be 1-64 letters, digits, '_' or '-', "
            "starting with a letter or digit"
        )
    return TABLE_PREFIX + collection


def tenant_key(tenant: str | None) -> str:
    if tenant is None:
        return ""
    if not isinstance(tenant, str) or not tenant:
        raise RagError("tenant must be a non-empty string, or None for a single-tenant store")
    return tenant


def quoted(value: str) -> str:
    """A SQL string literal: a quote inside a tenant or source name must not end it."""
    return "'" + value.replace("'", "''") + "'"


def tenant_filter(tenant: str | None, source: str | None = None) -> str:
    where = f"tenant = {quoted(tenant_key(tenant))}"
    if source is not None:
        where += f" AND source = {quoted(source)}"
    return where


def schema(dimensions: int) -> Any:
    import pyarrow as pa  # type: ignore[import-untyped]

    return pa.schema(
        [
            pa.field("chunk_id", pa.string(), nullable=False),
            pa.field("tenant", pa.string(), nullable=False),
            pa.field("source", pa.string(), nullable=False),
            pa.field("ordinal", pa.int32()),
            pa.field("text", pa.string()),
            pa.field(FTS_COLUMN, pa.string()),
            pa.field("location", pa.string()),
            pa.field("headings", pa.list_(pa.string())),
            pa.field("page", pa.int32()),
            pa.field("line", pa.int32()),
            pa.field("content_sha256", pa.string()),
            # Chunker version, chunk size and embedder: a file re-ingested under other
            # settings is not "unchanged" even when its bytes are.
            pa.field("ingest_settings", pa.string()),
            pa.field("ingested_at", pa.float64()),
            pa.field(VECTOR_COLUMN, pa.list_(pa.float32(), dimensions)),
        ]
    )


def check_dimensions(table: Any, dimensions: int) -> None:
    field = table.schema.field(VECTOR_COLUMN)
    size = getattr(field.type, "list_size", None)
    if size != dimensions:
        raise RagError(
            f"table {table.name!r} holds {size}-d vectors but the embedder makes "
            f"{dimensions}-d ones: re-ingest into a new collection (or path)"
        )


def _indexed_columns(table: Any) -> dict[str, str]:
    return {cfg.columns[0]: str(cfg.index_type) for cfg in table.list_indices()}


def _fts_is_current(table: Any) -> bool:
    """Whether the full-text index exists and was built with `FTS_OPTIONS` (a table made
    before they changed still has the old tokenizer: `maintain` rebuilds it)."""
    for cfg in table.list_indices():
        if cfg.columns[0] == FTS_COLUMN:
            details = getattr(cfg, "index_details", None) or {}
            return all(details.get(key, value) == value for key, value in FTS_OPTIONS.items())
    return False


def maintain(table: Any, *, ann_threshold: int, ann_index: str = "IVF_HNSW_SQ") -> None:
    """Create missing indexes, fold new rows into existing ones, compact small fragments.

    Every ingest adds at least one fragment per file and a search opens them one by one,
    so compaction here keeps search latency flat as documents accumulate."""
    from lancedb.index import FTS, Bitmap, BTree, HnswSq, IvfPq

    rows = table.count_rows()
    if rows == 0:
        return
    indexed = _indexed_columns(table)
    if not _fts_is_current(table):
        # The native BM25 index: English stemming, lower-cased, ASCII-folded, stop words kept.
        table.create_index(FTS_COLUMN, config=FTS(**FTS_OPTIONS), replace=True)
    if "tenant" not in indexed:
        table.create_index("tenant", config=Bitmap(), replace=True)
    if "source" not in indexed:
        table.create_index("source", config=BTree(), replace=True)
    if VECTOR_COLUMN not in indexed and rows >= ann_threshold:
        config = HnswSq(distance_type="cosine") if ann_index == "IVF_HNSW_SQ" else IvfPq("cosine")
        table.create_index(VECTOR_COLUMN, config=config, replace=True)
    table.optimize(cleanup_older_than=KEEP_VERSIONS)


def has_vector_index(table: Any) -> bool:
    return VECTOR_COLUMN in _indexed_columns(table)
