"""`AsyncKnowledgeStore`: the blocking `KnowledgeStore` on a small pool of worker threads.

The event loop never waits on LanceDB or the embedder: each call runs in the pool and is
awaited. Several searches run at once (LanceDB reads are thread-safe and the ONNX embedder
serialises only its tokenizer); writes still take the store's one write lock. An ingest's
progress callback runs on the worker thread (tqdm is fine with that; an asyncio consumer
should hop back with `loop.call_soon_threadsafe`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

from tools.rag.ingest import ProgressCallback
from tools.rag.records import DocumentInfo, IngestSummary, SearchMode, SearchResult
from tools.rag.store import KnowledgeStore

T = TypeVar("T")


class AsyncKnowledgeStore:
    def __init__(self, store: KnowledgeStore, *, workers: int = 2) -> None:
        self.store = store
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rag")
        self._closed = False

    async def _run(self, fn: Callable[..., T], /, *args: object, **kwargs: object) -> T:
        if self._closed:
            raise RuntimeError("the knowledge store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(fn, *args, **kwargs))

    async def search(
        self,
        query: str,
        *,
        collection: str,
        tenant: str | None,
        k: int = 5,
        mode: SearchMode = "hybrid",
        min_score: float | None = None,
    ) -> list[SearchResult]:
        return await self._run(
            self.store.search,
            query,
            collection=collection,
            tenant=tenant,
            k=k,
            mode=mode,
            min_score=min_score,
        )

    async def ingest(
        self,
        paths: Iterable[str | os.PathLike[str]],
        *,
        collection: str,
        tenant: str | None,
        progress: ProgressCallback | None = None,
    ) -> IngestSummary:
        return await self._run(
            self.store.ingest, list(paths), collection=collection, tenant=tenant, progress=progress
        )

    async def ingest_bytes(
        self, name: str, data: bytes, *, collection: str, tenant: str | None
    ) -> IngestSummary:
        return await self._run(
            self.store.ingest_bytes, name, data, collection=collection, tenant=tenant
        )

    async def documents(self, collection: str, tenant: str | None) -> list[DocumentInfo]:
        return await self._run(self.store.documents, collection, tenant)

    async def delete(self, collection: str, tenant: str | None, source: str) -> int:
        return await self._run(self.store.delete, collection, tenant, source)

    async def aclose(self) -> None:
        """Waits for the calls in flight (a write is never cut mid-commit)."""
        if not self._closed:
            self._closed = True
            await asyncio.to_thread(self._executor.shutdown, wait=True)
