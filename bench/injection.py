"""Prompt-injection detection: recall at a false-positive budget per channel, and latency.

Data: `tests/data/injection/*.jsonl` (bastioncorpus 0.6.0 rows plus our own payloads and
hard negatives), split by template group, never by row: a group's crc32 decides whether it
is `tune` or `heldout`, so the obfuscated variants of one payload never straddle the split.

Per channel (user, tool, document) on the held-out split:
  - recall at FPR <= 2 % with the threshold chosen on the tune split (the honest figure),
    and the FPR that threshold actually gives on held-out;
  - recall at FPR <= 2 % with the threshold read off the held-out negatives (the ceiling);
  - recall and FPR at the policy file's default threshold 0.5.
Then `score()` p50/p99 on 1 KB texts (benign and attack mixes) over `--reps` rounds.

    .venv/bin/python bench/injection.py [--reps 300] [--misses] [--profile]

`--profile` prints where `score()` spends its time on the 1 KB texts (cProfile, by own
time) instead of the latency figures.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import sys
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from policies.injection import InjectionDetector  # noqa: E402

DATA = ROOT / "tests" / "data" / "injection"
CHANNELS = ("user", "tool", "document")
MAX_FPR = 0.02
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class Row:
    text: str
    label: int
    channel: str
    source: str
    group: str
    kind: str
    turns: tuple[str, ...] | None

    @property
    def split(self) -> str:
        return "heldout" if zlib.crc32(self.group.encode()) % 2 else "tune"


def load(split: str | None = None) -> list[Row]:
    rows: list[Row] = []
    for path in sorted(DATA.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            raw = json.loads(line)
            turns = raw.get("turns")
            rows.append(
                Row(
                    raw["text"],
                    int(raw["label"]),
                    raw["channel"],
                    raw["source"],
                    raw["group"],
                    raw.get("kind", "plain"),
                    tuple(turns) if turns else None,
                )
            )
    return [r for r in rows if split is None or r.split == split]


def scored(detector: InjectionDetector, rows: Sequence[Row]) -> list[tuple[Row, float]]:
    out = []
    for row in rows:
        if row.turns is not None:
            verdict = detector.score_turns(list(row.turns))
        else:
            verdict = detector.score(row.text, row.channel)
        out.append((row, verdict.score))
    return out


def threshold_for(negatives: Sequence[float], max_fpr: float = MAX_FPR) -> float:
    """The lowest threshold (score >= t flags) whose false-positive rate is <= max_fpr."""
    ranked = sorted(negatives, reverse=True)
    allowed = int(max_fpr * len(ranked))  # how many negatives may be flagged
    if allowed >= len(ranked):
        return 0.0
    return min(1.0, ranked[allowed] + 1e-6)


def rates(pairs: Sequence[tuple[Row, float]], threshold: float) -> tuple[float, float, int, int]:
    pos = [s for r, s in pairs if r.label == 1]
    neg = [s for r, s in pairs if r.label == 0]
    recall = sum(s >= threshold for s in pos) / len(pos) if pos else float("nan")
    fpr = sum(s >= threshold for s in neg) / len(neg) if neg else float("nan")
    return recall, fpr, len(pos), len(neg)


@dataclass(frozen=True)
class ChannelReport:
    channel: str
    positives: int
    negatives: int
    tune_threshold: float
    recall_tuned: float
    fpr_tuned: float
    recall_ceiling: float
    recall_default: float
    fpr_default: float


def evaluate(detector: InjectionDetector | None = None) -> list[ChannelReport]:
    detector = detector or InjectionDetector()
    tune = scored(detector, load("tune"))
    held = scored(detector, load("heldout"))
    reports = []
    for channel in CHANNELS:
        t_rows = [(r, s) for r, s in tune if r.channel == channel]
        h_rows = [(r, s) for r, s in held if r.channel == channel]
        t_threshold = threshold_for([s for r, s in t_rows if r.label == 0])
        recall_tuned, fpr_tuned, n_pos, n_neg = rates(h_rows, t_threshold)
        ceiling = threshold_for([s for r, s in h_rows if r.label == 0])
        recall_ceiling, _, _, _ = rates(h_rows, ceiling)
        recall_default, fpr_default, _, _ = rates(h_rows, DEFAULT_THRESHOLD)
        reports.append(
            ChannelReport(
                channel,
                n_pos,
                n_neg,
                t_threshold,
                recall_tuned,
                fpr_tuned,
                recall_ceiling,
                recall_default,
                fpr_default,
            )
        )
    return reports


def one_kb(rows: Sequence[Row], label: int) -> list[str]:
    """1 KB texts made of consecutive rows of one label (a prompt of several sentences)."""
    texts, current = [], ""
    for row in rows:
        if row.label != label or row.turns is not None:
            continue
        current = f"{current} {row.text}".strip()
        if len(current) >= 1024:
            texts.append(current[:1024])
            current = ""
    return texts


def ordinary_kb(limit: int = 60) -> list[str]:
    """1 KB chunks of ordinary technical prose: the long descriptions of the packages
    installed next to this interpreter (READMEs with prose, lists and code)."""
    site = Path(json.__file__).parent  # stdlib; the venv's site-packages is found below
    found = sorted(Path(sys.prefix).glob("lib/python*/site-packages/*.dist-info/METADATA"))
    if not found:
        found = sorted(site.glob("../**/METADATA"))
    texts = []
    for path in found:
        body = path.read_text(encoding="utf-8", errors="replace").split("\n\n", 1)[-1]
        if len(body) >= 3072:
            texts.append(body[2048:3072])
        if len(texts) >= limit:
            break
    return texts


def latency(detector: InjectionDetector, texts: Sequence[str], reps: int) -> tuple[float, float]:
    samples = []
    for _ in range(reps):
        for text in texts:
            started = time.perf_counter()
            detector.score(text, "user")
            samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(0.99 * (len(samples) - 1))]


def profile(detector: InjectionDetector, texts: Sequence[str], reps: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(max(1, reps // 10)):
        for text in texts:
            detector.score(text, "user")
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=300)
    parser.add_argument(
        "--misses",
        choices=("tune", "heldout"),
        help="list one split's errors at the default threshold (tune on `tune` only)",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile score() on 1 KB texts")
    args = parser.parse_args()
    detector = InjectionDetector()
    rows = load()
    held = [r for r in rows if r.split == "heldout"]
    print(f"rows: {len(rows)} ({len(held)} held-out, {len(rows) - len(held)} tune)")
    print(
        f"{'channel':9} {'pos':>4} {'neg':>4} {'t(tune)':>8} {'recall':>7} {'fpr':>6} "
        f"{'ceiling':>8} {'rec@.5':>7} {'fpr@.5':>7}"
    )
    for rep in evaluate(detector):
        print(
            f"{rep.channel:9} {rep.positives:4d} {rep.negatives:4d} {rep.tune_threshold:8.3f} "
            f"{rep.recall_tuned:7.3f} {rep.fpr_tuned:6.3f} {rep.recall_ceiling:8.3f} "
            f"{rep.recall_default:7.3f} {rep.fpr_default:7.3f}"
        )
    if args.misses:
        for row, score in scored(detector, [r for r in rows if r.split == args.misses]):
            if (row.label == 1) != (score >= DEFAULT_THRESHOLD):
                kind = "missed" if row.label else "false+"
                print(f"  {kind} {score:.3f} [{row.channel}/{row.kind}] {row.text[:110]!r}")
    sets = (
        ("ordinary prose (package READMEs)", ordinary_kb()),
        ("hard negatives", one_kb(rows, 0)),
        ("attacks", one_kb(rows, 1)),
    )
    if args.profile:
        profile(detector, [text for _, texts in sets for text in texts], args.reps)
        return
    for name, texts in sets:
        p50, p99 = latency(detector, texts, args.reps)
        print(
            f"score() on 1 KB of {name} ({len(texts)} texts x {args.reps}): "
            f"p50 {p50:.3f} ms, p99 {p99:.3f} ms"
        )


if __name__ == "__main__":
    main()
