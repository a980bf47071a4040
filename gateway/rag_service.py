"""The knowledge bases of a policy file (`rag:`) in the composition root: one store over
LanceDB, opened on first use (the embedder and LanceDB load then, not at start-up), shared
by the `search_knowledge` tool, `/v1/rag/*` and `gateway rag`, and kept across reloads
unless `rag:` changes where or how it stores (path, embedder, chunk size).

Who may use which collection is decided here, before the store is called: a collection
that lists `tenants` is visible to those tenants only (to anyone else it does not exist);
within a collection each tenant reads and writes only its own documents (the store puts the
tenant in every query).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from msgspec import UNSET, UnsetType

from gateway.errors import InvalidRequestError, NotFoundError, ServiceUnavailableError
from gateway.settings.rag_types import Rag
from gateway.settings.schema import Settings

log = logging.getLogger("gateway.rag")
T = TypeVar("T")

if TYPE_CHECKING:  # LanceDB and the embedder load on first use
    from tools.rag.async_store import AsyncKnowledgeStore
    from tools.rag.ingest import ProgressCallback
    from tools.rag.records import DocumentInfo, IngestSummary, SearchMode, SearchResult


class RagService:
    def __init__(self, settings: Settings, *, embed_threads: int | None = None) -> None:
        """`embed_threads`: the embedder's threads (None: its backend spec's); the CLI's
        bulk ingest uses the machine's cores, a serving gateway leaves them to requests."""
        self._settings = settings
        self._threads = embed_threads
        self._store: AsyncKnowledgeStore | None = None
        self._opening = asyncio.Lock()
        self._retired: list[AsyncKnowledgeStore] = []

    @property
    def spec(self) -> Rag | None:
        return self._settings.rag

    # --- scope ------------------------------------------------------------------------

    def visible(self, tenant: str | None) -> dict[str, str]:
        """The collections `tenant` may use, with their descriptions."""
        rag = self.spec
        if rag is None:
            return {}
        return {
            name: c.description
            for name, c in rag.collections.items()
            if not c.tenants or (tenant is not None and tenant in c.tenants)
        }

    def collection(self, name: str | None, tenant: str | None) -> str:
        """`name` if `tenant` may use it; with no name, the one collection it can see.
        Raises a 404 for a collection it may not see (never saying it exists) and a 400
        when it must choose."""
        if self.spec is None:
            raise NotFoundError("No knowledge bases are configured on this gateway (`rag:`).")
        visible = self.visible(tenant)
        if name is None:
            if len(visible) == 1:
                return next(iter(visible))
            raise InvalidRequestError(
                "Name a collection: "
                + (", ".join(sorted(visible)) if visible else "none is available to you"),
                param="collection",
            )
        if name not in visible:
            raise NotFoundError(f"Collection `{name}` not found.", code="collection_not_found")
        return name

    def clamp_k(self, k: int | None) -> int:
        rag = self.spec
        assert rag is not None
        return max(1, min(rag.max_k, rag.default_k if k is None else k))

    # --- the store --------------------------------------------------------------------

    async def store(self) -> AsyncKnowledgeStore:
        if self._store is None:
            async with self._opening:
                if self._store is None:
                    self._store = await _unavailable_as_503(
                        asyncio.to_thread(_open, self._settings, self._threads)
                    )
        return self._store

    async def search(
        self,
        query: str,
        collection: str,
        tenant: str | None,
        k: int | None = None,
        *,
        mode: SearchMode = "hybrid",
        min_score: float | UnsetType | None = UNSET,
    ) -> list[SearchResult]:
        """The caller's best passages; `min_score` unset: the file's `rag.min_score`."""
        rag = self.spec
        assert rag is not None
        store = await self.store()
        return await _unavailable_as_503(
            store.search(
                query,
                collection=collection,
                tenant=tenant,
                k=self.clamp_k(k),
                mode=mode,
                min_score=rag.min_score if min_score is UNSET else min_score,
            )
        )

    async def ingest_paths(
        self,
        paths: Iterable[str],
        collection: str,
        tenant: str | None,
        progress: ProgressCallback | None = None,
    ) -> IngestSummary:
        store = await self.store()
        return await _unavailable_as_503(
            store.ingest(paths, collection=collection, tenant=tenant, progress=progress)
        )

    async def ingest_bytes(
        self, name: str, data: bytes, collection: str, tenant: str | None
    ) -> IngestSummary:
        store = await self.store()
        return await _unavailable_as_503(
            store.ingest_bytes(name, data, collection=collection, tenant=tenant)
        )

    async def documents(self, collection: str, tenant: str | None) -> list[DocumentInfo]:
        store = await self.store()
        return await _unavailable_as_503(store.documents(collection, tenant))

    async def delete(self, collection: str, tenant: str | None, source: str) -> int:
        store = await self.store()
        return await _unavailable_as_503(store.delete(collection, tenant, source))

    # --- lifecycle --------------------------------------------------------------------

    def reconfigure(self, settings: Settings) -> None:
        """A reloaded file: collections and tenants apply at once; a new store only when
        where or how it stores changed (the old one closes with the gateway)."""
        if self._store is not None and _shape(settings.rag) != _shape(self.spec):
            self._retired.append(self._store)
            self._store = None
        self._settings = settings

    async def aclose(self) -> None:
        for store in [*self._retired, *([self._store] if self._store else [])]:
            await store.aclose()
        self._retired.clear()
        self._store = None


async def _unavailable_as_503(work: Awaitable[T]) -> T:
    """`await work`; a store it cannot open or write (a path that is not a directory, no
    permission, an object store out of reach) is a 503 to retry, never a 500."""
    try:
        return await work
    except OSError as exc:
        log.warning("the knowledge bases are unavailable", exc_info=True)
        raise ServiceUnavailableError(
            f"The knowledge bases are unavailable right now ({type(exc).__name__}); retry shortly.",
            code="rag_unavailable",
        ) from None


def _shape(rag: Rag | None) -> tuple[Any, ...] | None:
    if rag is None:
        return None
    return (rag.path, rag.embedder, rag.chunk_tokens, rag.max_file_mb)


def _open(settings: Settings, threads: int | None) -> AsyncKnowledgeStore:
    """The store of `settings.rag` (blocking: loads the embedder and LanceDB)."""
    from gateway.embeddings.onnx_minilm import OnnxMiniLM
    from tools.rag.async_store import AsyncKnowledgeStore
    from tools.rag.store import KnowledgeStore

    rag = settings.rag
    assert rag is not None
    spec = settings.onnx_embedder(rag.embedder)
    assert spec is not None  # the config check requires one
    embedder = OnnxMiniLM.from_spec(spec, threads=threads)
    store = KnowledgeStore(
        rag.path,
        embedder,
        chunk_tokens=rag.chunk_tokens,
        count_tokens=embedder.count_tokens,
        max_bytes=rag.max_file_mb * 1024 * 1024,
    )
    return AsyncKnowledgeStore(store, workers=2)
