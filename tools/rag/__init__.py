"""Retrieval-augmented generation over LanceDB (issue 15): ingest, chunk, embed, search.

    from tools.rag import KnowledgeStore, AsyncKnowledgeStore, render_passages
    store = KnowledgeStore("./data/lancedb", embedder, chunk_tokens=200, count_tokens=count)
    summary = store.ingest(["docs/"], collection="papers", tenant="team-a", progress=callback)
    summary = store.ingest_bytes("notes.md", data, collection="papers", tenant="team-a")
    results = store.search("query", collection="papers", tenant="team-a", k=5,
                           mode="hybrid", min_score=None)      # list[SearchResult]
    docs = store.documents("papers", "team-a")                 # list[DocumentInfo]
    store.delete("papers", "team-a", "docs/old.md")            # chunks deleted
    text = render_passages(results)                            # for the model, as data

Everything on `KnowledgeStore` blocks; from async code wrap it once in
`AsyncKnowledgeStore(store, workers=2)` (same methods, awaited, run on its own threads;
`aclose()` at shutdown). `embedder` is any `gateway.embeddings.base.Embedder`: vectors are
computed by us and stored (no LanceDB embedding function, so nothing is ever downloaded), and
the vector column's size is the embedder's `dimensions`. `count_tokens` should be the
embedder's tokenizer; `approx_tokens` is the default estimate.

Scoping: one table per collection (`rag_<collection>`); `tenant` is a column, and every
search, listing, hash check and delete puts `tenant = '<tenant>'` in the query's `where`
prefilter, so the vector and BM25 searches rank only the caller's rows. `tenant=None` is the
single-tenant scope (stored as ""). Which tenants may use which collection is the
gateway's check (the `rag.collections.*.tenants` setting), made before calling here.

Modules: `parsers` (Markdown, HTML, text, PDF -> blocks), `chunking` (blocks -> chunks),
`reading` (paths, source names, size cap), `ingest` (chunks -> rows with vectors),
`table` (schema, filters, indexes, the measured ANN threshold), `search` and `fusion`
(vector, BM25, reciprocal rank fusion), `store` and `async_store` (the API above),
`passages` (results rendered as untrusted data), `records` (the returned values).
"""

from tools.lazy import lazy_exports

# Loaded on first use: `import tools.rag` must not load lancedb, pyarrow or pypdf.
_HOMES = {
    "AsyncKnowledgeStore": "tools.rag.async_store",
    "Block": "tools.rag.chunking",
    "Chunk": "tools.rag.chunking",
    "approx_tokens": "tools.rag.chunking",
    "chunk_blocks": "tools.rag.chunking",
    "HybridTuning": "tools.rag.search",
    "IngestProgress": "tools.rag.records",
    "IngestSummary": "tools.rag.records",
    "DocumentInfo": "tools.rag.records",
    "FileOutcome": "tools.rag.records",
    "RagError": "tools.rag.records",
    "SearchMode": "tools.rag.records",
    "SearchResult": "tools.rag.records",
    "KnowledgeStore": "tools.rag.store",
    "UnreadableError": "tools.rag.parsers",
    "parse_document": "tools.rag.parsers",
    "passages_payload": "tools.rag.passages",
    "render_passages": "tools.rag.passages",
}


__getattr__ = lazy_exports(__name__, _HOMES)


__all__ = [
    "AsyncKnowledgeStore",
    "Block",
    "Chunk",
    "DocumentInfo",
    "FileOutcome",
    "HybridTuning",
    "IngestProgress",
    "IngestSummary",
    "KnowledgeStore",
    "RagError",
    "SearchMode",
    "SearchResult",
    "UnreadableError",
    "approx_tokens",
    "chunk_blocks",
    "parse_document",
    "passages_payload",
    "render_passages",
]
