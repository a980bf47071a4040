"""PII detector: span precision/recall per entity on the labelled fixture, hard negatives
redacted, texts damaged, and `find()` latency per 1 KB prompt, side by side with a
vanilla presidio `AnalyzerEngine().analyze(text, language="en")` (blank spaCy pipeline,
every default recognizer) on the same texts.

Matching: a labelled span counts as found when a finding of its entity overlaps it
("overlap"); "exact" also requires the same bounds. Only the policy's entities are scored
(for vanilla presidio: its findings of those entities). Damaged: texts where a finding
covers a character outside every labelled span. Latency: the fixture sentences and hard
negatives concatenated into 1 KB prompts, after one warm-up pass.

    .venv/bin/python bench/pii.py [--reps 5] [--vanilla-reps 1]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

# Before presidio imports tldextract, whose module-level extractor reads this once.
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from presidio_analyzer import AnalyzerEngine

from policies.findings import Finding
from policies.pii import PiiDetector, blank_nlp_engine
from tests.unit.test_pii import POLICY_ENTITIES, damaged, load, span_scores

Find = Callable[[str], list[Finding]]


def prompts(rows: Sequence[dict[str, Any]], size: int = 1024) -> list[str]:
    texts = [row["text"] for row in rows]
    random.Random(7).shuffle(texts)
    out, buf = [], ""
    for text in texts:
        buf += text + "\n"
        if len(buf) >= size:
            out.append(buf[:size])
            buf = ""
    return out


def latency(find: Find, texts: Sequence[str], reps: int) -> tuple[float, float]:
    for text in texts:
        find(text)
    times = []
    for _ in range(reps):
        for text in texts:
            started = time.perf_counter()
            find(text)
            times.append(time.perf_counter() - started)
    times.sort()
    return statistics.median(times) * 1e3, times[max(0, int(len(times) * 0.99) - 1)] * 1e3


def report(
    label: str, find: Find, rows: list[dict[str, Any]], negatives: list[dict[str, Any]]
) -> None:
    print(f"\n== {label}")
    overlap = span_scores(find, rows, POLICY_ENTITIES)
    exact = span_scores(find, rows, POLICY_ENTITIES, exact=True)
    head = ("entity", "spans", "P(overlap)", "R(overlap)", "P(exact)", "R(exact)")
    print("  {:14} {:>5}  {:>10} {:>10}  {:>8} {:>8}".format(*head))
    totals = [0, 0, 0, 0, 0, 0]
    for entity in POLICY_ENTITIES:
        (tp, fn, fp), (etp, efn, efp) = overlap[entity], exact[entity]
        for i, v in enumerate((tp, fn, fp, etp, efn, efp)):
            totals[i] += v
        print(
            f"  {entity:14} {tp + fn:5}  {ratio(tp, tp + fp):>10} {ratio(tp, tp + fn):>10}  "
            f"{ratio(etp, etp + efp):>8} {ratio(etp, etp + efn):>8}"
        )
    tp, fn, fp, etp, efn, efp = totals
    print(
        f"  {'all':14} {tp + fn:5}  {ratio(tp, tp + fp):>10} {ratio(tp, tp + fn):>10}  "
        f"{ratio(etp, etp + efp):>8} {ratio(etp, etp + efn):>8}"
    )
    flagged = sum(bool(find(row["text"])) for row in negatives)
    share = flagged / len(negatives)
    print(f"  hard negatives with a redaction: {flagged}/{len(negatives)} = {share:.3f}")
    print(f"  fixture texts damaged: {damaged(find, rows, POLICY_ENTITIES):.3f}")


# Faker locales the fixture does not draw phones from: a check on data not tuned on.
HOLDOUT_LOCALES = ["es_ES", "it_IT", "pt_BR", "ja_JP", "en_IN", "nl_NL", "pl_PL", "en_CA",
                   "sv_SE", "de_CH", "fr_CH", "en_NZ"]  # fmt: skip
WITH_CONTEXT = ["Call me at {} tomorrow.", "My phone: {}", "You can reach me on {}.", "{} (mobile)"]
NO_CONTEXT = ["I'm at {} now.", "{}", "Ping {} when done.", "Details: {}, thanks"]
CARD_TYPES = ["visa16", "visa13", "visa19", "mastercard", "amex", "discover", "jcb15", "jcb16",
              "diners", "maestro"]  # fmt: skip


def holdout(detector: PiiDetector, per_locale: int = 40) -> None:
    from faker import Faker  # a dev tool's dependency, not the gateway's

    print(
        f"\nholdout (not tuned on): Faker phones of {len(HOLDOUT_LOCALES)} other locales, "
        f"{per_locale} each; Faker cards of {len(CARD_TYPES)} types"
    )
    for label, templates in (("with a phone word", WITH_CONTEXT), ("no phone word", NO_CONTEXT)):
        found = total = 0
        for locale in HOLDOUT_LOCALES:
            fake = Faker(locale)
            fake.seed_instance(99)
            for i in range(per_locale):
                text = templates[i % len(templates)].format(fake.phone_number())
                total += 1
                found += any(f.entity == "PHONE_NUMBER" for f in detector.find(text))
        print(f"  phone recall, {label:18} {found}/{total} = {found / total:.3f}")
    fake = Faker("en_US")
    fake.seed_instance(5)
    found = 0
    for i in range(300):
        number = fake.credit_card_number(CARD_TYPES[i % len(CARD_TYPES)])
        found += any(f.entity == "CREDIT_CARD" for f in detector.find(f"I paid with {number}."))
    print(f"  card recall                          {found}/300 = {found / 300:.3f}")


def ratio(a: int, b: int) -> str:
    return f"{a / b:.3f}" if b else "-"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--vanilla-reps", type=int, default=1)
    args = parser.parse_args()
    rows, negatives = load("faker_en.jsonl"), load("hard_negatives.jsonl")

    nlp = blank_nlp_engine()
    started = time.perf_counter()
    detector = PiiDetector(POLICY_ENTITIES, nlp_engine=nlp)
    built = time.perf_counter() - started
    vanilla_engine = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])

    def vanilla(text: str) -> list[Finding]:
        results = vanilla_engine.analyze(text, language="en")
        return [
            Finding(r.start, r.end, r.entity_type, r.score)
            for r in results
            if r.entity_type in POLICY_ENTITIES
        ]

    print(
        f"fixture: {len(rows)} sentences, {sum(len(r['spans']) for r in rows)} labelled spans; "
        f"{len(negatives)} hard negatives; detector built in {built * 1e3:.0f} ms "
        "(blank pipeline loaded separately)"
    )
    report("switchyard PiiDetector (policy entities)", detector.find, rows, negatives)
    report("vanilla presidio AnalyzerEngine (all default recognizers)", vanilla, rows, negatives)

    texts = prompts(rows + negatives)
    prose = (
        "We moved the billing worker to a queue; the job reads invoices, renders a PDF and "
        "mails it. How do we make it idempotent without Redis? "
    ) * 8
    print(f"\nfind() latency per 1 KB prompt, ms ({len(texts)} prompts of fixture text)")
    for label, find, reps in (
        ("switchyard", detector.find, args.reps),
        ("vanilla presidio", vanilla, args.vanilla_reps),
    ):
        p50, p99 = latency(find, texts, reps)
        q50, q99 = latency(find, [prose[:1024]] * 20, reps)
        print(
            f"  {label:18} PII-dense p50 {p50:7.3f} p99 {p99:7.3f}"
            f" | plain prose p50 {q50:7.3f} p99 {q99:7.3f}"
        )

    holdout(detector)

    heavy = {
        "40 KB '1 '": "1 " * 20_000,
        "40 KB '1-'": "1-" * 20_000,
        "45 KB '+1 '": "+1 " * 15_000,
        "40 KB 'a@'": "a@" * 20_000,
        "40 KB '1.'": "1." * 20_000,
        "40 KB ':'": ":" * 40_000,
        "100 KB digits": "7" * 100_000,
    }
    print("\npathological inputs, switchyard, 3 calls each (ms)")
    for label, text in heavy.items():
        times = []
        for _ in range(3):
            started = time.perf_counter()
            detector.find(text)
            times.append(time.perf_counter() - started)
        print(f"  {label:16} max {max(times) * 1e3:8.1f}")


if __name__ == "__main__":
    main()
