"""RAG (tools/rag): retrieval quality per mode, ingest speed, search latency with and
without the ANN index.

(a) Quality: the 33 documents of `tests/data/rag/docs` ingested with the gateway's default
embedder (all-MiniLM-L6-v2 int8 ONNX, chunk_tokens 200); the 90 labelled queries of
`tests/data/rag/queries.jsonl` (kind: paraphrase, exact, mixed) searched in each mode. A
result is relevant when its source is the query's and its text holds the query's phrase.
Reports recall@5 and MRR@10 per mode and per kind; `--tune` adds a sweep of the hybrid
knobs (RRF k, candidate depth, text weight).
(b) Ingest: chunks/s and embeddings/s for the corpus copied `--copies` times (new sources).
(c) Latency: synthetic tables of 10k and 100k chunks (random unit 384-d vectors around 200
cluster centres, so the 100k table costs no embedding; text drawn from the corpus' words;
4 tenants), searched
through `KnowledgeStore.search` with a query embedder that costs ~0 (random vectors), with
the tenant prefilter, k=5, per mode, flat and with the ANN index; plus ANN recall@5 against
the flat answer. `--threshold` measures flat vs ANN vector search at 1k..20k rows: the
crossover sets `tools.rag.table.ANN_THRESHOLD`.

    .venv/bin/python bench/rag.py                       # all but --threshold, ~6 min, 2 cores
    .venv/bin/python bench/rag.py --skip-latency --tune # quality and ingest only, ~1 minute
    .venv/bin/python bench/rag.py --tune --threshold    # everything, ~10 minutes

JSON goes to bench/results/rag-<timestamp>.json. `bench/rag_variants.py` measures the
retrieval variants (sub-chunk vectors, BM25 options, fusion functions) on the same queries.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.embeddings.onnx_minilm import OnnxMiniLM  # noqa: E402
from gateway.settings.backend_types import OnnxEmbedderSpec  # noqa: E402
from tools.rag import table as tables  # noqa: E402
from tools.rag.records import MODES, SearchResult  # noqa: E402
from tools.rag.search import HybridTuning  # noqa: E402
from tools.rag.store import KnowledgeStore  # noqa: E402

DATA = ROOT / "tests" / "data" / "rag"
DOCS = DATA / "docs"
QUERIES = DATA / "queries.jsonl"
K = 5
DIMS = 384


def _table(header: list[str], rows: list[list[Any]]) -> None:
    """bench/_report.py's table layout (not imported: mypy would check that module too)."""
    cells = [[f"{c:.3f}" if isinstance(c, float) else str(c) for c in r] for r in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        rest = (c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))
        print("  " + "  ".join([row[0].ljust(widths[0]), *rest]))
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


def write_results(out_dir: Path, started: float, results: dict[str, Any]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(started))
    out = out_dir / f"rag-{stamp}.json"
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nJSON: {out}")


def load_queries() -> list[dict[str, str]]:
    return [json.loads(line) for line in QUERIES.read_text().splitlines() if line.strip()]


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).lower()


def relevant(result: SearchResult, query: dict[str, str]) -> bool:
    return result.source == query["source"] and _norm(query["phrase"]) in _norm(result.text)


def rank_of(results: Sequence[SearchResult], query: dict[str, str]) -> int | None:
    return next((i for i, r in enumerate(results, 1) if relevant(r, query)), None)


def score_mode(store: KnowledgeStore, queries: list[dict[str, str]], mode: str) -> dict[str, Any]:
    ranks = [
        rank_of(store.search(q["query"], collection="eval", tenant=None, k=10, mode=mode), q)  # type: ignore[arg-type]
        for q in queries
    ]

    def summary(sel: list[int | None]) -> dict[str, float]:
        n = len(sel) or 1
        return {
            "n": len(sel),
            "recall@5": round(sum(r is not None and r <= K for r in sel) / n, 3),
            "mrr@10": round(sum(1 / r for r in sel if r is not None) / n, 3),
        }

    out: dict[str, Any] = {"all": summary(ranks)}
    for kind in sorted({q["kind"] for q in queries}):
        out[kind] = summary([r for r, q in zip(ranks, queries, strict=True) if q["kind"] == kind])
    return out


def quality(model: OnnxMiniLM, tune: bool, work: Path) -> dict[str, Any]:
    # Chunked by the embedder's own token count, as the gateway does (`gateway.rag_service`).
    store = KnowledgeStore(work / "quality", model, count_tokens=model.count_tokens)
    started = time.perf_counter()
    summary = store.ingest([DOCS], collection="eval", tenant=None, base=DOCS)
    seconds = time.perf_counter() - started
    queries = load_queries()
    per_mode = {mode: score_mode(store, queries, mode) for mode in MODES}
    out: dict[str, Any] = {
        "documents": summary.ingested,
        "chunks": summary.chunks,
        "queries": len(queries),
        "ingest_seconds": round(seconds, 2),
        "modes": per_mode,
    }
    if tune:
        sweep = []
        for rrf_k in (10, 30, 60, 100):
            for candidates in (10, 20, 50):
                for text_weight in (0.7, 1.0, 1.3):
                    store.tuning = HybridTuning(candidates, rrf_k, 1.0, text_weight)
                    s = score_mode(store, queries, "hybrid")["all"]
                    sweep.append(
                        {"rrf_k": rrf_k, "candidates": candidates, "text_weight": text_weight, **s}
                    )
        store.tuning = HybridTuning()
        out["tune"] = sorted(sweep, key=lambda r: (-r["recall@5"], -r["mrr@10"]))
    return out


def ingest_speed(model: OnnxMiniLM, copies: int, work: Path) -> dict[str, Any]:
    corpus = work / "copies"
    for i in range(copies):
        shutil.copytree(DOCS, corpus / f"copy{i}")
        # Different bytes per copy, so that no copy is "unchanged" and every chunk is new.
        for path in (corpus / f"copy{i}").iterdir():
            path.write_text(path.read_text() + f"\n\nCopy {i}.\n")
    store = KnowledgeStore(work / "ingest", model, count_tokens=model.count_tokens)
    last: dict[str, float] = {}
    started = time.perf_counter()
    summary = store.ingest(
        [corpus],
        collection="speed",
        tenant="t",
        progress=lambda p: last.update(rate=p.embeddings_per_second),
    )
    seconds = time.perf_counter() - started
    return {
        "files": summary.ingested,
        "chunks": summary.chunks,
        "seconds": round(seconds, 2),
        "chunks_per_second": round(summary.chunks / seconds, 1),
        "embeddings_per_second": round(last.get("rate", 0.0), 1),
    }


def _centres() -> np.ndarray:
    # Real embeddings cluster by topic; uniform random vectors have no near neighbours at
    # all (every distance alike), which makes any ANN recall figure meaningless.
    centres: np.ndarray = np.random.default_rng(384).normal(size=(200, DIMS))
    return centres


def clustered(rng: np.random.Generator, n: int) -> np.ndarray:
    v = _centres()[rng.integers(0, 200, n)] + rng.normal(size=(n, DIMS)) * 0.8
    unit: np.ndarray = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
    return unit


class RandomEmbedder:
    """Clustered unit vectors from a hash of the text: costs ~0, so latency is the store's."""

    name = "random-unit"
    dimensions = DIMS
    max_tokens = 512

    def embed(self, texts: Sequence[str]) -> tuple[list[list[float]], int]:
        out = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            out.append(clustered(np.random.default_rng(seed), 1)[0].tolist())
        return out, 0


def synthetic_rows(n: int, start: int, words: list[str], rng: np.random.Generator) -> Any:
    import pyarrow as pa  # type: ignore[import-untyped]

    vectors = clustered(rng, n)
    texts = [" ".join(rng.choice(words, 60)) for _ in range(n)]
    ids = [f"c{start + i}" for i in range(n)]
    cols = {
        "chunk_id": ids,
        "tenant": [f"tenant-{(start + i) % 4}" for i in range(n)],
        "source": [f"doc{(start + i) // 20}.md" for i in range(n)],
        "ordinal": [(start + i) % 20 for i in range(n)],
        "text": texts,
        "search_text": texts,
        "location": ["Section"] * n,
        "headings": [["Section"]] * n,
        "page": [None] * n,
        "line": [None] * n,
        "content_sha256": ["0" * 64] * n,
        "ingest_settings": ["synthetic"] * n,
        "ingested_at": [0.0] * n,
        "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), DIMS),
    }
    return pa.Table.from_pydict(cols, schema=tables.schema(DIMS))


def build_table(store: KnowledgeStore, rows: int, words: list[str]) -> Any:
    rng = np.random.default_rng(rows)
    table = store._table("synthetic", create=True)
    for start in range(0, rows, 20_000):
        table.add(synthetic_rows(min(20_000, rows - start), start, words, rng))
    tables.maintain(table, ann_threshold=10**12)  # FTS + scalar indexes, compaction; no ANN
    return table


def time_searches(store: KnowledgeStore, queries: list[str], mode: str) -> dict[str, float]:
    times = []
    for i, q in enumerate(queries):
        began = time.perf_counter()
        store.search(q, collection="synthetic", tenant=f"tenant-{i % 4}", k=K, mode=mode)  # type: ignore[arg-type]
        times.append(time.perf_counter() - began)
    times = sorted(times[5:])  # the first few warm caches
    return {
        "p50_ms": round(1000 * statistics.median(times), 2),
        "p99_ms": round(1000 * float(np.quantile(times, 0.99)), 2),
    }


def latency(sizes: Sequence[int], searches: int, work: Path, words: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    queries = [" ".join(words[(7 * i + j) % len(words)] for j in range(6)) for i in range(searches)]
    for rows in sizes:
        store = KnowledgeStore(work / f"latency-{rows}", RandomEmbedder(), ann_threshold=10**12)
        build_table(store, rows, words)
        entry: dict[str, Any] = {"flat": {m: time_searches(store, queries, m) for m in MODES}}
        flat_ids = [
            [
                r.chunk_id
                for r in store.search(
                    q, collection="synthetic", tenant="tenant-1", k=K, mode="vector"
                )
            ]
            for q in queries[:50]
        ]
        table = store._table("synthetic", create=False)
        began = time.perf_counter()
        tables.maintain(table, ann_threshold=1)
        entry["index_build_seconds"] = round(time.perf_counter() - began, 1)
        entry["ann"] = {m: time_searches(store, queries, m) for m in MODES}
        ann_ids = [
            [
                r.chunk_id
                for r in store.search(
                    q, collection="synthetic", tenant="tenant-1", k=K, mode="vector"
                )
            ]
            for q in queries[:50]
        ]
        hits = sum(len(set(a) & set(f)) for a, f in zip(ann_ids, flat_ids, strict=True))
        entry["ann_recall@5_vs_flat"] = round(hits / (K * len(flat_ids)), 3)
        out[str(rows)] = entry
        print(f"  latency {rows}: {entry}", file=sys.stderr)
    return out


def threshold(work: Path, words: list[str]) -> list[dict[str, Any]]:
    rows_out = []
    for rows in (1_000, 2_000, 5_000, 10_000, 20_000):
        lat = latency([rows], 120, work / f"thr-{rows}", words)[str(rows)]
        rows_out.append(
            {
                "rows": rows,
                "flat_p50_ms": lat["flat"]["vector"]["p50_ms"],
                "ann_p50_ms": lat["ann"]["vector"]["p50_ms"],
                "build_s": lat["index_build_seconds"],
            }
        )
    return rows_out


def report(results: dict[str, Any]) -> None:
    q = results["quality"]
    print(f"\n=== RAG retrieval quality: {q['documents']} documents, {q['chunks']} chunks,", end="")
    print(f" {q['queries']} queries")
    rows = []
    for mode, per in q["modes"].items():
        for kind, s in per.items():
            rows.append([mode, kind, s["n"], s["recall@5"], s["mrr@10"]])
    _table(["mode", "queries", "n", "recall@5", "mrr@10"], rows)
    best_single = max(
        q["modes"]["vector"]["all"]["recall@5"], q["modes"]["text"]["all"]["recall@5"]
    )
    gain = q["modes"]["hybrid"]["all"]["recall@5"] - best_single
    verdict = "PASS" if gain >= 0.05 else "MISS"
    print(f"  hybrid recall@5 - best single mode = {gain * 100:+.1f} points (target +5: {verdict})")
    if "tune" in q:
        print("\n-- hybrid sweep (best 8)")
        _table(
            ["rrf_k", "candidates", "text_weight", "recall@5", "mrr@10"],
            [
                [r["rrf_k"], r["candidates"], r["text_weight"], r["recall@5"], r["mrr@10"]]
                for r in q["tune"][:8]
            ],
        )
    i = results["ingest"]
    print(
        f"\n=== ingest: {i['files']} files, {i['chunks']} chunks in {i['seconds']} s: "
        f"{i['chunks_per_second']} chunks/s end to end, "
        f"{i['embeddings_per_second']} embeddings/s"
    )
    if "latency" in results:
        print("\n=== search latency (ms, k=5, tenant prefilter, query embedding excluded)")
        rows = []
        for size, e in results["latency"].items():
            for index in ("flat", "ann"):
                rows.append(
                    [size, index, *(e[index][m][p] for m in MODES for p in ("p50_ms", "p99_ms"))]
                )
            print(
                f"  {size} rows: ANN build {e['index_build_seconds']} s, "
                f"ANN recall@5 vs flat {e['ann_recall@5_vs_flat']}"
            )
        _table(["rows", "index", *(f"{m} {p}" for m in MODES for p in ("p50", "p99"))], rows)
    if "threshold" in results:
        print("\n=== ANN threshold: flat vs IVF_HNSW_SQ vector search p50 (ms)")
        _table(
            ["rows", "flat p50", "ann p50", "build s"],
            [
                [r["rows"], r["flat_p50_ms"], r["ann_p50_ms"], r["build_s"]]
                for r in results["threshold"]
            ],
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tune", action="store_true")
    parser.add_argument("--copies", type=int, default=5)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--searches", type=int, default=300)
    parser.add_argument("--threshold", action="store_true")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    started = time.time()
    model = OnnxMiniLM.from_spec(OnnxEmbedderSpec())
    work = Path(tempfile.mkdtemp(prefix="rag-bench-"))
    words = sorted(
        {w.lower() for p in DOCS.iterdir() for w in re.findall(r"[A-Za-z]{4,}", p.read_text())}
    )
    try:
        results: dict[str, Any] = {"embedder": model.name, "ann_threshold": tables.ANN_THRESHOLD}
        results["quality"] = quality(model, args.tune, work)
        results["ingest"] = ingest_speed(model, args.copies, work)
        if not args.skip_latency:
            sizes = [int(s) for s in args.sizes.split(",")]
            results["latency"] = latency(sizes, args.searches, work, words)
        if args.threshold:
            results["threshold"] = threshold(work, words)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["elapsed_seconds"] = round(time.time() - started, 1)
    report(results)
    write_results(args.out_dir, started, results)


if __name__ == "__main__":
    main()
