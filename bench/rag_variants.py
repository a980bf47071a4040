"""RAG retrieval variants (issue 15): which change to chunk vectors, the BM25 index or the
fusion function moves hybrid recall@5 past the better single mode + 5 points?

The corpus, queries and relevance rule are `bench/rag.py`'s (33 documents of
`tests/data/rag/docs`, 90 labelled queries; relevant = same source and the query's phrase
in the chunk's text), ingested through `KnowledgeStore` as the gateway does. Text rankings
come from the store's own BM25 query (`tools.rag.search.text_rows`, 50 deep); vector
rankings are exact cosine over numpy copies of the stored vectors (the 122-row table has
no ANN index, so this is what LanceDB's flat scan returns) plus, per variant, extra vectors
that map back to their chunk, a chunk scoring the max similarity over its vectors.

    .venv/bin/python bench/rag_variants.py          # ~1 minute on 2 cores

`union@5` is the share of queries whose relevant chunk is in the top 5 of the vector OR the
text list: no fusion of those two lists can put more queries in its top 5 except by lifting
a chunk ranked below 5 in both. JSON goes to bench/results/rag-variants-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.embeddings.onnx_minilm import OnnxMiniLM  # noqa: E402
from gateway.settings.backend_types import OnnxEmbedderSpec  # noqa: E402
from tools.rag.chunking import split_sentences  # noqa: E402
from tools.rag.search import text_rows  # noqa: E402
from tools.rag.store import KnowledgeStore  # noqa: E402
from tools.rag.table import FTS_OPTIONS  # noqa: E402

DOCS = ROOT / "tests" / "data" / "rag" / "docs"
QUERIES = ROOT / "tests" / "data" / "rag" / "queries.jsonl"
K, DEPTH = 5, 50
Ranking = list[int]


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).lower()


class Eval:
    """The ingested corpus, the queries, and the relevance of every (query, chunk) pair."""

    def __init__(self, model: OnnxMiniLM, work: Path) -> None:
        self.model = model
        store = KnowledgeStore(work, model, count_tokens=model.count_tokens)
        store.ingest([DOCS], collection="eval", tenant=None, base=DOCS)
        self.table = store._table("eval", create=False)
        columns = ["chunk_id", "text", "search_text", "source", "headings", "vector"]
        self.rows = self.table.search().select(columns).limit(None).to_arrow().to_pylist()
        self.index = {r["chunk_id"]: i for i, r in enumerate(self.rows)}
        lines = QUERIES.read_text().splitlines()
        self.queries = [json.loads(line) for line in lines if line.strip()]
        self.rel = np.array(
            [
                [
                    r["source"] == q["source"] and _norm(q["phrase"]) in _norm(r["text"])
                    for r in self.rows
                ]
                for q in self.queries
            ]
        )
        self.q = self.embed([q["query"] for q in self.queries])
        self.chunk_vectors = np.array([r["vector"] for r in self.rows], dtype=np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out: list[list[float]] = []
        for start in range(0, len(texts), 32):
            out += self.model.embed(list(texts[start : start + 32]))[0]
        return np.array(out, dtype=np.float32)

    def first(self, ranking: Sequence[int], qi: int) -> int | None:
        return next((n for n, j in enumerate(ranking, 1) if self.rel[qi, j]), None)

    def scores(self, rankings: Sequence[Sequence[int]]) -> dict[str, float]:
        firsts = [self.first(r, qi) for qi, r in enumerate(rankings)]
        n = len(firsts)
        return {
            "recall@5": round(sum(f is not None and f <= K for f in firsts) / n, 3),
            "mrr@10": round(sum(1 / f for f in firsts if f is not None and f <= 10) / n, 3),
        }

    def text(self, column: str = "search_text") -> list[tuple[Ranking, np.ndarray]]:
        out = []
        for q in self.queries:
            rows = text_rows(self.table, q["query"], "tenant = ''", DEPTH) if column else []
            out.append(
                ([self.index[r["chunk_id"]] for r in rows], np.array([r["_score"] for r in rows]))
            )
        return out

    def max_sim(self, extra: list[tuple[int, str]] | None, chunk: np.ndarray) -> np.ndarray:
        """Query x chunk similarity: max over the chunk's vector and its extra vectors."""
        sim = self.q @ chunk.T
        if extra:
            owners = np.array([o for o, _ in extra])
            ext = self.q @ self.embed([t for _, t in extra]).T
            for j in range(len(self.rows)):
                mine = owners == j
                if mine.any():
                    sim[:, j] = np.maximum(sim[:, j], ext[:, mine].max(axis=1))
        out: np.ndarray = sim
        return out


def sentences(text: str) -> list[str]:
    return [s for p in text.split("\n\n") if p.strip() for s in split_sentences(p)]


def windows(text: str, budget: int, count: Callable[[str], int]) -> list[str]:
    """Sliding windows of whole sentences, one starting at each sentence, <= budget tokens."""
    sents = sentences(text)
    out = []
    for i in range(len(sents)):
        picked: list[str] = []
        for s in sents[i:]:
            if picked and count(" ".join([*picked, s])) > budget:
                break
            picked.append(s)
        out.append(" ".join(picked))
        if i + len(picked) >= len(sents):
            break
    return out


def rrf(lists: Sequence[Sequence[int]], k: int = 10) -> Ranking:
    scores: dict[int, float] = {}
    for ranking in lists:
        for n, j in enumerate(ranking[:DEPTH], 1):
            scores[j] = scores.get(j, 0.0) + 1 / (k + n)
    return sorted(scores, key=lambda j: -scores[j])


def convex(vr: Ranking, vs: np.ndarray, tr: Ranking, ts: np.ndarray, norm: str) -> Ranking:
    """0.5 * normalised cosine + 0.5 * normalised BM25; a chunk missing from a list gets
    that list's floor (0 after min-max and max scaling, the list's minimum z)."""

    def scale(s: np.ndarray) -> np.ndarray:
        out: np.ndarray = s
        if len(s) and norm == "minmax":
            out = (s - s.min()) / (np.ptp(s) or 1.0)
        elif len(s) and norm == "max":  # theoretical minimum 0 (cosine, BM25), observed max
            out = np.clip(s, 0, None) / (s.max() or 1.0)
        elif len(s):
            out = (s - s.mean()) / (s.std() or 1.0)
        return out

    nv, nt = scale(vs[:DEPTH]), scale(ts[:DEPTH])
    floor_v = float(nv.min()) if norm == "z" and len(nv) else 0.0
    floor_t = float(nt.min()) if norm == "z" and len(nt) else 0.0
    by_v, by_t = dict(zip(vr[:DEPTH], nv, strict=True)), dict(zip(tr[:DEPTH], nt, strict=True))
    keys = list(dict.fromkeys([*vr[:DEPTH], *tr[:DEPTH]]))
    fused = {j: 0.5 * by_v.get(j, floor_v) + 0.5 * by_t.get(j, floor_t) for j in keys}
    return sorted(fused, key=lambda j: -fused[j])


def evaluate(
    ev: Eval, name: str, sim: np.ndarray, text: list[tuple[Ranking, np.ndarray]], fusion: str
) -> dict[str, Any]:
    vr = [list(np.argsort(-sim[qi], kind="stable")) for qi in range(len(ev.queries))]
    tr = [t[0] for t in text]
    if fusion.startswith("rrf"):
        k = int(fusion[3:] or 10)
        hybrid = [rrf([v, t], k) for v, t in zip(vr, tr, strict=True)]
    else:
        hybrid = [
            convex(v, sim[qi][v], t, s, fusion)
            for qi, (v, (t, s)) in enumerate(zip(vr, text, strict=True))
        ]
    union = np.mean(
        [
            min(ev.first(v, qi) or 999, ev.first(t, qi) or 999) <= K
            for qi, (v, t) in enumerate(zip(vr, tr, strict=True))
        ]
    )
    out: dict[str, Any] = {"variant": name, "fusion": fusion}
    out["vector"], out["text"] = ev.scores(vr), ev.scores(tr)
    out["hybrid"] = ev.scores(hybrid)
    best = max(out["vector"]["recall@5"], out["text"]["recall@5"])
    out["gain_points"] = round(100 * (out["hybrid"]["recall@5"] - best), 1)
    out["union@5"] = round(float(union), 3)
    print(
        f"  {name:44s} {fusion:7s} vec {out['vector']['recall@5']:.3f} "
        f"text {out['text']['recall@5']:.3f} hyb {out['hybrid']['recall@5']:.3f} "
        f"({out['gain_points']:+.1f}) mrr {out['hybrid']['mrr@10']:.3f} union@5 {union:.3f}",
        flush=True,
    )
    return out


def reindex_fts(ev: Eval, **options: Any) -> None:
    from lancedb.index import FTS

    ev.table.create_index("search_text", config=FTS(**options), replace=True)


# BM25 index options: Lance's defaults (what tools/rag used before) and the production ones.
BM25 = {
    "BM25 stop words removed (Lance default; before)": {},
    "BM25 stop words kept (production)": dict(FTS_OPTIONS),
}
BM25_MORE = {
    "(c) BM25 no stemming, stop words kept": {**FTS_OPTIONS, "stem": False},
    "(c) BM25 with_position, stop words kept": {**FTS_OPTIONS, "with_position": True},
    "(c) BM25 ngram 3-3 tokenizer": {"base_tokenizer": "ngram"},
}


def dense_variants(ev: Eval) -> dict[str, np.ndarray]:
    heads = [" > ".join(r["headings"]) for r in ev.rows]
    sents = [(j, s) for j, r in enumerate(ev.rows) for s in sentences(r["text"])]
    extras = {
        "(a) + sentence vectors": sents,
        "(a) + sentence vectors with heading path": [
            (j, f"{heads[j]}\n{s}" if heads[j] else s) for j, s in sents
        ],
        "(a) + ~60-token sentence windows": [
            (j, w)
            for j, r in enumerate(ev.rows)
            for w in windows(r["text"], 60, ev.model.count_tokens)
        ],
    }
    out = {
        "chunk vector: heading path + text (production)": ev.max_sim(None, ev.chunk_vectors),
        "(b) chunk vector: text only": ev.max_sim(None, ev.embed([r["text"] for r in ev.rows])),
    }
    for name, extra in extras.items():
        out[f"{name} (n={len(extra)})"] = ev.max_sim(extra, ev.chunk_vectors)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    started = time.time()
    model = OnnxMiniLM.from_spec(OnnxEmbedderSpec())
    work = Path(tempfile.mkdtemp(prefix="rag-variants-"))
    results: list[dict[str, Any]] = []
    try:
        ev = Eval(model, work)
        dense = dense_variants(ev)
        production = dense["chunk vector: heading path + text (production)"]
        for bm25, options in BM25.items():
            print(f"== {bm25}")
            reindex_fts(ev, **options)
            text = ev.text()
            for name, sim in dense.items():
                for fusion in ("rrf10", "rrf60", "minmax", "max", "z"):
                    results.append({"bm25": bm25, **evaluate(ev, name, sim, text, fusion)})
        print("== (c) other BM25 options, production chunk vectors")
        for bm25, options in BM25_MORE.items():
            reindex_fts(ev, **options)
            results.append({"bm25": bm25, **evaluate(ev, bm25, production, ev.text(), "rrf10")})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(started))
    out = args.out_dir / f"rag-variants-{stamp}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nJSON: {out} ({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
