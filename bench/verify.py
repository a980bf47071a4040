"""The verify tool's barrier checks on a labelled set: false accepts, false rejects, unknowns.

    .venv/bin/python bench/verify.py            # tests/data/verify/barrier.jsonl
    .venv/bin/python bench/verify.py --data FILE.jsonl --timeout 10 --workers 2

Each line of the data file is {"id", "label": "valid" | "invalid", "why", "spec"}. Every item
runs through `tools.verify.runner.Verifier` (worker processes, per-call timeout), so the times
include the process hop. A false accept is `valid` on an invalid item (target 0); a false
reject is `invalid` on a valid item; `unknown` is counted apart. Every `invalid` answer's
counterexample is re-checked here exactly against the condition it names. The report goes to
stdout, one line per item to stderr; exit status 1 on any false accept or failed re-check.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sympy  # noqa: E402

from tools.verify.barrier import Problem, violations  # noqa: E402
from tools.verify.region import exact_check  # noqa: E402
from tools.verify.runner import Verifier  # noqa: E402


def recheck(spec: dict[str, Any], result: dict[str, Any]) -> bool:
    """Whether the counterexample lies exactly in the violation region of its condition
    (the exact algebraic point when the verdict gives one: an irrational-only violation)."""
    cx, exact = result["counterexample"], result.get("exact_counterexample")
    problem = Problem(spec)
    [(_, region, _)] = [v for v in violations(problem) if v[0] == cx["condition"]]
    if exact is None:
        point = {s: sympy.Rational(cx[name]) for name, s in problem.symbols.items()}
    else:  # the verifier's own output, trusted here
        point = {s: sympy.sympify(exact[name]) for name, s in problem.symbols.items()}
    return exact_check(region, point) is True


async def run(items: list[dict[str, Any]], per_item: float, workers: int) -> int:
    verifier = Verifier(workers=workers)
    await verifier.start()
    rows: list[tuple[dict[str, Any], dict[str, Any], float]] = []
    try:

        async def one(item: dict[str, Any]) -> None:
            start = time.monotonic()
            result = await verifier.verify(item["spec"], timeout=per_item)
            rows.append((item, result, time.monotonic() - start))

        await asyncio.gather(*(one(item) for item in items))
    finally:
        await verifier.aclose()
    false_accepts, false_rejects, unknowns, bad_cx, errors = [], [], [], [], []
    for item, result, seconds in sorted(rows, key=lambda r: r[0]["id"]):
        got, label = result["verdict"], item["label"]
        if got == "valid" and label == "invalid":
            false_accepts.append(item["id"])
        elif got == "invalid" and label == "valid":
            false_rejects.append(item["id"])
        elif got == "unknown":
            unknowns.append(item["id"])
        elif got == "error":
            errors.append(item["id"])
        if got == "invalid" and not recheck(item["spec"], result):
            bad_cx.append(item["id"])
        print(
            f"{item['id']:32s} {label:8s} {got:8s} {result['seconds']:6.3f}s (wall {seconds:.3f}s)",
            file=sys.stderr,
        )
    # In-worker check time (the wall time includes waiting for a worker: items run concurrently).
    times = [float(r[1]["seconds"]) for r in rows]
    print(
        f"items {len(rows)}  (valid {sum(i['label'] == 'valid' for i in items)}, "
        f"invalid {sum(i['label'] == 'invalid' for i in items)})"
    )
    print(f"false accepts   {len(false_accepts)}  {false_accepts}")
    print(f"false rejects   {len(false_rejects)}  {false_rejects}")
    print(f"unknowns        {len(unknowns)}  {unknowns}")
    print(f"errors          {len(errors)}  {errors}")
    print(f"bad counterexamples {len(bad_cx)}  {bad_cx}")
    print(
        f"check seconds per item (in the worker): median {statistics.median(times):.3f}  "
        f"max {max(times):.3f}  "
        f"(timeout {per_item:g}, {workers} workers, items run concurrently)"
    )
    return 1 if false_accepts or bad_cx else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "tests/data/verify/barrier.jsonl")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    lines = args.data.read_text().splitlines()
    items = [json.loads(line) for line in lines if line.strip()]
    sys.exit(asyncio.run(run(items, args.timeout, args.workers)))


if __name__ == "__main__":
    main()
