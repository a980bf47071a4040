"""Semantic cache: paraphrase hit rate and near-miss false-hit rate, with and without the
lexical guard, and lookup latency through a real `SemanticIndex`.

Data: `tests/data/semantic_cache/pairs.jsonl`, pairs of last user turns labelled `same`
(a true paraphrase: one answer serves both) or not (a near-miss that needs another answer:
a number, a negation, an entity, a direction, a format; or unrelated), split by `group`:
crc32(group) % 2 decides `tune` or `heldout`, so a paraphrase and the near-misses built on
the same question never straddle the split. Embedder: the gateway's default
(all-MiniLM-L6-v2 int8 ONNX, `OnnxEmbedderSpec()` defaults).

Reports, per split and per kind: the cosine distribution; at thresholds 0.80..0.95 the hit
rate on paraphrases and the false-hit rate on near-misses, with and without the guard; the
threshold chosen on `tune` (the lowest whose guarded false-hit rate is <= 1 %) and its
figures on `heldout`. Then lookup latency p50/p99 over an index of `--entries` rows (whole
lookup: embed + search + guard; and search + guard alone). JSON goes to
bench/results/semantic_cache-<timestamp>.json.

    .venv/bin/python bench/semantic_cache.py [--entries 5000] [--lookups 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.cache.semantic import SemanticIndex, threaded  # noqa: E402
from gateway.cache.semantic_guard import compatible, normalise  # noqa: E402
from gateway.embeddings.onnx_minilm import OnnxMiniLM  # noqa: E402
from gateway.settings.backend_types import OnnxEmbedderSpec  # noqa: E402

DATA = ROOT / "tests" / "data" / "semantic_cache" / "pairs.jsonl"
THRESHOLDS = [round(0.80 + 0.01 * i, 2) for i in range(16)]
MAX_FALSE_HITS = 0.01


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    same: bool
    kind: str
    group: str

    @property
    def split(self) -> str:
        return "heldout" if zlib.crc32(self.group.encode()) % 2 else "tune"


def load(split: str | None = None) -> list[Pair]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    pairs = [Pair(r["a"], r["b"], r["same"], r["kind"], r["group"]) for r in rows]
    return [p for p in pairs if split is None or p.split == split]


def embedder(threads: int = 1) -> OnnxMiniLM:
    return OnnxMiniLM.from_spec(OnnxEmbedderSpec(), threads=threads)


def score(model: OnnxMiniLM, pairs: Sequence[Pair]) -> list[tuple[Pair, float, bool]]:
    """Each pair with its cosine (of the normalised turns, as the index embeds them) and
    the guard's verdict (on the raw turns, as the index stores them)."""
    texts = sorted({normalise(t) for p in pairs for t in (p.a, p.b)})
    vectors: dict[str, np.ndarray] = {}
    for start in range(0, len(texts), 64):
        batch = texts[start : start + 64]
        out, _ = model.embed(batch)
        vectors.update(zip(batch, np.asarray(out, dtype=np.float32), strict=True))
    return [
        (p, float(vectors[normalise(p.a)] @ vectors[normalise(p.b)]), compatible(p.a, p.b))
        for p in pairs
    ]


def rates(scored: Sequence[tuple[Pair, float, bool]], threshold: float) -> dict[str, Any]:
    same = [(c, g) for p, c, g in scored if p.same]
    diff = [(c, g) for p, c, g in scored if not p.same]

    def share(rows: list[tuple[float, bool]], guarded: bool) -> float | None:
        if not rows:
            return None
        return round(sum(c >= threshold and (g or not guarded) for c, g in rows) / len(rows), 4)

    return {
        "threshold": threshold,
        "paraphrases": len(same),
        "near_misses": len(diff),
        "hit_rate": share(same, False),
        "false_hit_rate": share(diff, False),
        "hit_rate_guarded": share(same, True),
        "false_hit_rate_guarded": share(diff, True),
    }


def distribution(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    q = np.quantile(values, [0.0, 0.25, 0.5, 0.75, 1.0])
    keys = ("min", "p25", "median", "p75", "max")
    return {"n": len(values), "mean": round(statistics.fmean(values), 3)} | {
        k: round(float(v), 3) for k, v in zip(keys, q, strict=True)
    }


def by_kind(scored: Sequence[tuple[Pair, float, bool]], threshold: float) -> dict[str, Any]:
    kinds = sorted({p.kind for p, _, _ in scored})
    out: dict[str, Any] = {}
    for kind in kinds:
        rows = [r for r in scored if r[0].kind == kind]
        hits = [c >= threshold for _, c, _ in rows]
        guarded = [c >= threshold and g for _, c, g in rows]
        out[kind] = {
            "cosine": distribution([c for _, c, _ in rows]),
            "guard_accepts": round(sum(g for _, _, g in rows) / len(rows), 3),
            f"hits_at_{threshold}": sum(hits),
            f"hits_at_{threshold}_guarded": sum(guarded),
        }
    return out


def choose(tune: Sequence[tuple[Pair, float, bool]]) -> float:
    for threshold in THRESHOLDS:
        if (rates(tune, threshold)["false_hit_rate_guarded"] or 0.0) <= MAX_FALSE_HITS:
            return threshold
    return THRESHOLDS[-1]


async def latency(model: OnnxMiniLM, entries: int, lookups: int) -> dict[str, Any]:
    """Lookups over an index filled with `entries` rows: generated questions (one tenant,
    route and scope, the worst case for the prefilter), then dataset turns as queries."""
    subjects = [f"{w} {n}" for w in _SUBJECTS for n in range(1 + entries // len(_SUBJECTS))]
    texts = [f"{_TEMPLATES[i % len(_TEMPLATES)]} {s}" for i, s in enumerate(subjects)][:entries]
    vectors: dict[str, list[float]] = {}
    for start in range(0, len(texts), 64):
        batch = texts[start : start + 64]
        vectors.update(zip(batch, model.embed(batch)[0], strict=True))

    async def cached(batch: list[str]) -> list[list[float]]:
        return [vectors[t] for t in batch]

    real = threaded(model)
    queries = [normalise(p.a) for p in load()][:lookups]
    query_vectors = dict(zip(queries, (await real(queries)), strict=True))
    vectors.update(query_vectors)
    index = SemanticIndex(cached, dimensions=model.dimensions, max_entries=entries + 1)
    started = time.perf_counter()
    for i, text in enumerate(texts):
        await index.add(
            tenant="t", route="r", scope="s", text=text, raw=text, entry_key=str(i),
            ttl_seconds=3600, timeout=30,
        )  # fmt: skip
    fill = time.perf_counter() - started
    search_only = await _timed(index, queries)
    index._embed = real  # the whole lookup: the query is embedded too
    whole = await _timed(index, queries)
    rows = await index.count()
    await index.aclose()
    return {
        "entries": rows,
        "fill_seconds": round(fill, 1),
        "add_ms_mean": round(1000 * fill / len(texts), 2),
        "lookup_ms": whole,
        "search_and_guard_ms": search_only,
    }


async def _timed(index: SemanticIndex, queries: Sequence[str]) -> dict[str, float]:
    times = []
    for text in queries:
        started = time.perf_counter()
        await index.lookup(
            tenant="t", route="r", scope="s", text=text, raw=text, threshold=0.9, timeout=30
        )
        times.append(1000 * (time.perf_counter() - started))
    q = np.quantile(times, [0.5, 0.99])
    return {"p50": round(float(q[0]), 2), "p99": round(float(q[1]), 2), "n": len(times)}


_TEMPLATES = [
    "how do i configure",
    "what is the difference between",
    "explain in simple terms",
    "write a short example of",
    "what are common problems with",
    "how much does it cost to run",
    "is it safe to use",
    "give me three tips about",
]
_SUBJECTS = (  # noqa: SIM905 - one line of topics reads better than a list
    "kafka consumer groups|postgres vacuum|react hooks|terraform state|rust lifetimes|"
    "sourdough starter|tomato plants|marathon training|tax returns|flight delays|"
    "espresso grind|cat allergies|solar panels|credit scores|jet lag|python decorators|"
    "docker volumes|git rebase|css grid|tcp handshake|sleep hygiene|knee pain|home loans|"
    "electric cars|vacuum cleaners|wedding speeches|job interviews|rental deposits"
).split("|")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--entries", type=int, default=5000)
    parser.add_argument("--lookups", type=int, default=300)
    parser.add_argument("--out-dir", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    started = time.time()
    model = embedder()
    splits = {name: score(model, load(name)) for name in ("tune", "heldout")}
    chosen = choose(splits["tune"])
    results: dict[str, Any] = {
        "data": str(DATA.relative_to(ROOT)),
        "embedder": model.name,
        "max_false_hit_rate": MAX_FALSE_HITS,
        "chosen_threshold": chosen,
        "chosen_on_heldout": rates(splits["heldout"], chosen),
        "default_threshold_0.92_on_heldout": rates(splits["heldout"], 0.92),
    }
    for name, scored in splits.items():
        results[name] = {
            "cosine_paraphrase": distribution([c for p, c, _ in scored if p.same]),
            "cosine_near_miss": distribution([c for p, c, _ in scored if not p.same]),
            "by_kind": by_kind(scored, chosen),
            "sweep": [rates(scored, t) for t in THRESHOLDS],
        }
    guard_started = time.perf_counter()
    pairs = load()
    for p in pairs:
        compatible(p.a, p.b)
    results["guard_us_per_pair"] = round(1e6 * (time.perf_counter() - guard_started) / len(pairs))
    results["latency"] = asyncio.run(latency(model, args.entries, args.lookups))
    results["elapsed_seconds"] = round(time.time() - started, 1)
    report(results)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(started))
    out = args.out_dir / f"semantic_cache-{stamp}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nJSON: {out}")


def report(results: dict[str, Any]) -> None:
    for name in ("tune", "heldout"):
        split = results[name]
        print(f"=== {name}: cosine paraphrase {split['cosine_paraphrase']}")
        print(f"    cosine near-miss  {split['cosine_near_miss']}")
        print("    thr   hit   fh    | guarded: hit   fh")
        for row in split["sweep"]:
            print(
                f"    {row['threshold']:.2f}  {row['hit_rate']:.3f} {row['false_hit_rate']:.3f}"
                f" |          {row['hit_rate_guarded']:.3f} {row['false_hit_rate_guarded']:.3f}"
            )
        for kind, row in split["by_kind"].items():
            print(f"    {kind:<11} {row}")
    print(f"chosen threshold (tune): {results['chosen_threshold']}")
    print(f"on heldout: {results['chosen_on_heldout']}")
    print(f"0.92 on heldout: {results['default_threshold_0.92_on_heldout']}")
    print(f"guard: {results['guard_us_per_pair']} us a pair; latency: {results['latency']}")


if __name__ == "__main__":
    main()
