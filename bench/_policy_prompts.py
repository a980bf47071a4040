"""The prompt mix of bench/policy_set.py: 1 KB user prompts of five kinds, built from the
project's labelled sets (injection, PII, secrets, intents) with a fixed seed, so every run
and every commit measures the same texts."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
SIZE = 1024


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def fill(rng: random.Random, core: list[str], filler: Sequence[str]) -> str:
    """`core` sentences among benign filler, shuffled, cut to SIZE characters (the core
    sentences are placed so that they all fit)."""
    pad: list[str] = []
    while sum(len(s) + 1 for s in (*core, *pad)) < SIZE + 200:
        pad.append(rng.choice(filler))
    parts = core + pad
    rng.shuffle(parts)
    text = " ".join(parts)
    for sentence in core:  # a core sentence past the cut moves to the front
        if text.find(sentence) + len(sentence) > SIZE:
            text = sentence + " " + text.replace(sentence, "", 1)
    return text[:SIZE]


def make_prompts(counts: dict[str, int]) -> list[tuple[str, str]]:
    """`counts` prompts of each kind: `benign` (ordinary requests and PII hard negatives),
    `tricky` (one injection-set hard negative among them), `pii` (three fixture sentences,
    every third prompt an employee id), `secret`, `injection` (one of each among them)."""
    rng = random.Random(11)
    rows = jsonl(DATA / "injection" / "own.jsonl") + jsonl(DATA / "injection" / "bastion.jsonl")
    filler = [
        r["text"] for name in ("tune", "heldout") for r in jsonl(DATA / f"intents_{name}.jsonl")
    ]
    filler += [r["text"] for r in jsonl(DATA / "pii" / "hard_negatives.jsonl")]
    tricky = [r["text"] for r in rows if r["label"] == 0 and r["channel"] == "user"]
    attacks = [r["text"] for r in rows if r["label"] == 1 and r["channel"] == "user"]
    core: dict[str, list[str]] = {
        "tricky": [t for t in tricky if len(t) < 400],
        "injection": [t for t in attacks if len(t) < 400],
        "secret": [r["text"] for r in jsonl(DATA / "secrets_samples.jsonl") if r["secrets"]],
    }
    sentences = [r["text"] for r in jsonl(DATA / "pii" / "faker_en.jsonl") if r["spans"]]
    out: list[tuple[str, str]] = []
    for kind, count in counts.items():
        for i in range(count):
            if kind == "benign":
                picked: list[str] = []
            elif kind == "pii":
                picked = rng.sample(sentences, 3)
                if i % 3 == 0:
                    picked.append(f"Please update the record of EMP-{rng.randrange(10**6):06d}.")
            else:
                picked = [rng.choice([t for t in core[kind] if len(t) < 500])]
            out.append((kind, fill(rng, picked, filler)))
    return out
