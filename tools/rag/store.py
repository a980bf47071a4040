"""`KnowledgeStore`: ingest, search, list and delete documents in LanceDB collections.

Blocking (LanceDB and the embedder block): call it from a worker thread in async code
(`tools.rag.async_store.AsyncKnowledgeStore` does). Safe to share between threads: searches
run concurrently; writes (ingest, delete, index upkeep) take one lock per store, so two
ingests of the same file in one process cannot interleave their commits.

A document's chunks are replaced in ONE LanceDB commit: a `merge_insert` that inserts the new
chunks and, in the same transaction, deletes every other row of that (tenant, source). A
reader sees the old chunks or the new ones, never a mix and never neither; a failure before
the commit (the embedder raising mid-file, a crash) leaves the old chunks as they were. The
price: one document's vectors are held in memory until its commit (~1.6 KB a chunk at 384-d).

`path` may be a local directory or an object-store URI (`s3://bucket/kb`, `gs://...`,
`az://...`) with `storage_options` passed to `lancedb.connect`; nothing here assumes a local
filesystem except `ingest(paths)` reading the files to ingest. Replicas sharing one URI
should set `read_consistency_interval` so they see each other's writes.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from gateway.embeddings.base import Embedder
from tools.rag import table as tables
from tools.rag.chunking import CountTokens, approx_tokens
from tools.rag.ingest import (
    IngestOptions,
    ProgressCallback,
    ProgressTracker,
    chunk_document,
    chunk_rows,
    content_hash,
    embed_texts,
    search_text,
    settings_key,
)
from tools.rag.parsers import UnreadableError
from tools.rag.reading import (
    DEFAULT_MAX_BYTES,
    FoundFile,
    TooLargeError,
    check_size,
    find_files,
    read_capped,
)
from tools.rag.records import DocumentInfo, FileOutcome, IngestSummary, SearchMode, SearchResult
from tools.rag.search import HybridTuning, search_table


class KnowledgeStore:
    def __init__(
        self,
        path: str | os.PathLike[str],
        embedder: Embedder,
        *,
        chunk_tokens: int = 200,
        count_tokens: CountTokens = approx_tokens,
        overlap_tokens: int | None = None,
        batch_size: int = 32,
        max_bytes: int = DEFAULT_MAX_BYTES,
        ann_threshold: int = tables.ANN_THRESHOLD,
        tuning: HybridTuning | None = None,
        storage_options: dict[str, str] | None = None,
        read_consistency_interval: timedelta | None = None,
    ) -> None:
        if chunk_tokens > embedder.max_tokens:
            raise ValueError(
                f"chunk_tokens {chunk_tokens} is over the embedder's {embedder.max_tokens}: "
                "the rest of each chunk would not be embedded"
            )
        self.embedder = embedder
        self.options = IngestOptions(chunk_tokens, count_tokens, overlap_tokens, batch_size)
        self.max_bytes = max_bytes
        self.ann_threshold = ann_threshold
        self.tuning = tuning or HybridTuning()
        self._uri = os.fspath(path)
        self._storage_options = storage_options
        self._consistency = read_consistency_interval
        self._settings = settings_key(self.options, embedder)
        self._write_lock = threading.Lock()
        self._open_lock = threading.Lock()
        self._db: Any = None
        self._tables: dict[str, Any] = {}

    # --- search ---------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        collection: str,
        tenant: str | None,
        k: int = 5,
        mode: SearchMode = "hybrid",
        min_score: float | None = None,
    ) -> list[SearchResult]:
        """The caller's best `k` chunks; [] for a collection nothing was ingested into."""
        where = tables.tenant_filter(tenant)
        table = self._table(collection, create=False)
        if table is None:
            return []
        return search_table(
            table,
            query,
            self._embed_query,
            where=where,
            k=k,
            mode=mode,
            min_score=min_score,
            tuning=self.tuning,
        )

    def _embed_query(self, text: str) -> list[float]:
        vectors, _ = self.embedder.embed([text])
        return vectors[0]

    # --- ingest ---------------------------------------------------------------------------

    def ingest(
        self,
        paths: Iterable[str | os.PathLike[str]],
        *,
        collection: str,
        tenant: str | None,
        progress: ProgressCallback | None = None,
        base: str | os.PathLike[str] | None = None,
    ) -> IngestSummary:
        """Files and directories (recursive); see `tools.rag.reading` for source names."""
        started = time.perf_counter()
        self._check(collection, tenant)
        found, refused = find_files(paths, base)
        tracker = ProgressTracker(progress, files_total=len(found))
        outcomes = list(refused)
        tracker.report(None)
        for file in found:
            outcomes.append(self._ingest_found(file, collection, tenant, tracker))
        return self._finish(collection, outcomes, started)

    def ingest_bytes(
        self,
        name: str,
        data: bytes,
        *,
        collection: str,
        tenant: str | None,
        progress: ProgressCallback | None = None,
    ) -> IngestSummary:
        """One upload (an HTTP file part): `name` is its source and picks its parser."""
        started = time.perf_counter()
        self._check(collection, tenant)
        tracker = ProgressTracker(progress, files_total=1)
        try:
            check_size(len(data), self.max_bytes)
            outcome = self._ingest_document(name, data, collection, tenant, tracker)
        except TooLargeError as exc:
            outcome = FileOutcome(name, "skipped", reason=str(exc))
        return self._finish(collection, [outcome], started)

    def _check(self, collection: str, tenant: str | None) -> None:
        """Bad names and a store of another vector size fail the call, not each file."""
        tables.tenant_key(tenant)
        self._table(collection, create=False)

    def _ingest_found(
        self, file: FoundFile, collection: str, tenant: str | None, tracker: ProgressTracker
    ) -> FileOutcome:
        try:
            data = read_capped(file.path, self.max_bytes)
        except TooLargeError as exc:
            return FileOutcome(file.source, "skipped", reason=str(exc))
        except OSError as exc:
            return FileOutcome(file.source, "skipped", reason=f"cannot read: {exc.strerror}")
        return self._ingest_document(file.source, data, collection, tenant, tracker)

    def _ingest_document(
        self,
        source: str,
        data: bytes,
        collection: str,
        tenant: str | None,
        tracker: ProgressTracker,
    ) -> FileOutcome:
        key = tables.tenant_key(tenant)
        digest = content_hash(data)
        try:
            if self._stored_hash(collection, tenant, source) == (digest, self._settings):
                return FileOutcome(source, "unchanged")
            try:
                chunks = chunk_document(source, data, self.options)
            except UnreadableError as exc:
                return FileOutcome(source, "skipped", reason=str(exc))
            if not chunks:
                # Stored chunks of an earlier version stay: delete them explicitly.
                return FileOutcome(source, "skipped", reason="no text to index")
            texts = [search_text(c) for c in chunks]
            vectors = embed_texts(
                self.embedder,
                texts,
                batch_size=self.options.batch_size,
                progress=tracker,
                source=source,
            )
            rows = chunk_rows(
                chunks,
                vectors,
                tenant=key,
                source=source,
                digest=digest,
                settings=self._settings,
                dimensions=self.embedder.dimensions,
            )
            self._replace(collection, tenant, source, rows)
        except Exception as exc:
            # The embedder or the store failed; nothing of this file was committed, and the
            # rest of the batch goes on (the summary names the file and the error).
            return FileOutcome(source, "failed", reason=f"{type(exc).__name__}: {exc}")
        finally:
            tracker.files_done += 1
            tracker.report(None)
        return FileOutcome(source, "ingested", chunks=len(chunks))

    def _replace(self, collection: str, tenant: str | None, source: str, rows: Any) -> None:
        """One commit: the new rows in, every other row of (tenant, source) out."""
        with self._write_lock:
            table = self._table(collection, create=True)
            (
                table.merge_insert("chunk_id")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .when_not_matched_by_source_delete(tables.tenant_filter(tenant, source))
                .execute(rows)
            )

    def _finish(
        self, collection: str, outcomes: list[FileOutcome], started: float
    ) -> IngestSummary:
        written = sum(o.chunks for o in outcomes if o.status == "ingested")
        if written:
            self.maintain(collection)
        return IngestSummary(outcomes, written, round(time.perf_counter() - started, 3))

    def maintain(self, collection: str) -> None:
        """Index upkeep (see `tools.rag.table.maintain`); run after every write."""
        with self._write_lock:
            table = self._table(collection, create=False)
            if table is not None:
                tables.maintain(table, ann_threshold=self.ann_threshold)

    # --- documents ------------------------------------------------------------------------

    def documents(self, collection: str, tenant: str | None) -> list[DocumentInfo]:
        rows = self._rows(collection, tenant, ["source", "content_sha256", "ingested_at"])
        docs: dict[str, list[Any]] = {}
        for row in rows:
            entry = docs.setdefault(row["source"], [0, row["content_sha256"], row["ingested_at"]])
            entry[0] += 1
        return [DocumentInfo(src, n, sha, at) for src, (n, sha, at) in sorted(docs.items())]

    def delete(self, collection: str, tenant: str | None, source: str) -> int:
        """Chunks deleted (0 when the source is not stored for this tenant)."""
        where = tables.tenant_filter(tenant, source)
        with self._write_lock:
            table = self._table(collection, create=False)
            if table is None:
                return 0
            deleted = int(table.delete(where).num_deleted_rows)
        if deleted:
            self.maintain(collection)
        return deleted

    def collections(self) -> list[str]:
        names = self._connect().list_tables().tables
        prefix = tables.TABLE_PREFIX
        return sorted(n[len(prefix) :] for n in names if n.startswith(prefix))

    # --- tables ---------------------------------------------------------------------------

    def _stored_hash(
        self, collection: str, tenant: str | None, source: str
    ) -> tuple[str, str] | None:
        rows = self._rows(collection, tenant, ["content_sha256", "ingest_settings"], source, 1)
        return (rows[0]["content_sha256"], rows[0]["ingest_settings"]) if rows else None

    def _rows(
        self,
        collection: str,
        tenant: str | None,
        columns: Sequence[str],
        source: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        where = tables.tenant_filter(tenant, source)
        table = self._table(collection, create=False)
        if table is None:
            return []
        query = table.search().where(where).select(list(columns)).limit(limit)
        rows: list[dict[str, Any]] = query.to_arrow().to_pylist()
        return rows

    def _connect(self) -> Any:
        with self._open_lock:
            if self._db is None:
                import lancedb  # its native runtime loads only when RAG is used

                self._db = lancedb.connect(
                    self._uri,
                    storage_options=self._storage_options,
                    read_consistency_interval=self._consistency,
                )
            return self._db

    def _table(self, collection: str, *, create: bool) -> Any:
        name = tables.table_name(collection)
        db = self._connect()
        with self._open_lock:
            table = self._tables.get(name)
            if table is not None:
                return table
            if name in db.list_tables().tables:
                table = db.open_table(name)
                tables.check_dimensions(table, self.embedder.dimensions)
            elif create:
                schema = tables.schema(self.embedder.dimensions)
                table = db.create_table(name, schema=schema, exist_ok=True)
            else:
                return None
            self._tables[name] = table
            return table
