"""`gateway verify FILE`: the `verify` tool on the command line, for scripts and benchmarks.

FILE (or `-` for stdin) holds one spec as a JSON object (the tool's arguments), or many: a
JSON array or JSON lines. An item may wrap its spec as `{"id": ..., "spec": {...}}` (the
shape of `tests/data/verify/*.jsonl`); its id is carried into the output. Checks run in
worker processes with a per-call timeout, exactly as the gateway runs them.

One spec: the verdict JSON on stdout; exit 0 valid, 1 invalid, 3 unknown, 2 refused spec or
bad usage. Many: one verdict line per item on stdout (in input order), a progress bar and a
summary on stderr; exit 0 once every item ran, 2 for a file that cannot be read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec

from tools.verify.result import verdict
from tools.verify.runner import Verifier
from tools.verify.tool import VerifyArgs

_EXIT = {"valid": 0, "invalid": 1, "error": 2, "unknown": 3}


class _BadFile(Exception):
    pass


def add_verify_parser(subparsers: Any) -> None:
    verify = subparsers.add_parser(
        "verify", help="check barrier certificates and math claims (the verify tool)"
    )
    verify.add_argument("file", help="a JSON spec, a JSON array or JSON lines of specs (- stdin)")
    verify.add_argument(
        "--timeout", type=float, default=10.0, help="seconds per check (default 10)"
    )
    verify.add_argument(
        "--workers", type=int, default=2, help="checks run at once, one process each (default 2)"
    )
    verify.add_argument("--memory-mb", type=int, default=2048, help="each worker's memory cap")


def run_verify(args: argparse.Namespace) -> int:
    if args.timeout <= 0 or args.workers < 1:
        print("error: --timeout must be > 0 and --workers >= 1", file=sys.stderr)
        return 2
    try:
        items, single = _read(args.file)
    except _BadFile as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    workers = 1 if single else min(args.workers, max(1, len(items)))
    results = asyncio.run(_run(items, args.timeout, workers, args.memory_mb, not single))
    if single:
        print(json.dumps(results[0], indent=2))
        return _EXIT[results[0]["verdict"]]
    for (item_id, _), result in zip(items, results, strict=True):
        line = {"id": item_id, **result} if item_id is not None else result
        print(json.dumps(line))
    counts = Counter(r["verdict"] for r in results)
    times = sorted(float(r["seconds"]) for r in results)
    median = times[len(times) // 2] if times else 0.0
    summary = ", ".join(f"{counts[v]} {v}" for v in ("valid", "invalid", "unknown", "error"))
    print(
        f"{len(results)} checks: {summary}; seconds per check median {median:.3f}, "
        f"max {times[-1] if times else 0.0:.3f}",
        file=sys.stderr,
    )
    return 0


def _read(path: str) -> tuple[list[tuple[Any, dict[str, Any]]], bool]:
    """The (id, spec) items of the file, and whether it held a single spec."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _BadFile(f"cannot read {path}: {exc}") from None
    try:
        value = json.loads(text)
        values = value if isinstance(value, list) else [value]
        single = not isinstance(value, list)
    except json.JSONDecodeError:
        values, single = [], False
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    values.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise _BadFile(f"{path}:{number}: not JSON ({exc.msg})") from None
    if not values:
        raise _BadFile(f"{path} holds no spec")
    items = []
    for index, value in enumerate(values):
        if not isinstance(value, dict):
            raise _BadFile(f"{path}: item {index + 1} is not a JSON object")
        if "check" not in value and isinstance(value.get("spec"), dict):
            items.append((value.get("id"), value["spec"]))
        else:
            items.append((None, value))
    return items, single


async def _run(
    items: list[tuple[Any, dict[str, Any]]],
    timeout: float,  # noqa: ASYNC109 - each check's own limit
    workers: int,
    memory_mb: int,
    progress: bool,
) -> list[dict[str, Any]]:
    from tqdm import tqdm

    verifier = Verifier(workers=workers, memory_mb=memory_mb)
    bar = tqdm(total=len(items), unit="check", disable=not progress, file=sys.stderr)
    try:
        await verifier.start()  # worker start-up (imports) is not charged to any check

        async def one(spec: dict[str, Any]) -> dict[str, Any]:
            try:
                args = msgspec.convert(spec, VerifyArgs)
            except msgspec.ValidationError as exc:
                result = verdict("error", f"invalid spec: {exc}", "validation", 0.0)
            else:
                result = await verifier.verify(args.spec(), args.timeout() or timeout)
            bar.update()
            return result

        return list(await asyncio.gather(*(one(spec) for _, spec in items)))
    finally:
        bar.close()
        await verifier.aclose()
