"""What every bench run prints and keeps alike: its metadata, the throughput table, the
goals, the warnings and the JSON file of results."""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from _report import SATURATED, _table


def loadavg() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def run_meta(args: argparse.Namespace, started: float, git: dict[str, Any]) -> dict[str, Any]:
    return {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        **git,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": len(os.sched_getaffinity(0)),
        "loadavg": loadavg(),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }


def print_throughput(
    tput: dict[str, Any], columns: list[tuple[str, str]], warnings: list[str]
) -> None:
    """One row per target (the `columns` of its summary, then req/s per round); errors and a
    saturated load generator become warnings."""
    rows = []
    for name, s in tput.items():
        per_round = "/".join(str(v) for v in s["rps_per_round"])
        rows.append([name, *(s.get(k) for k, _ in columns), per_round])
        if s["errors"]:
            warnings.append(f"{name} throughput: {s['errors']} errors {s['error_examples']}")
        if s["generator_cpu_util"] > SATURATED:
            warnings.append(
                f"load generator saturated a core during {name}'s throughput phase "
                f"({s['generator_cpu_util']:.2f}): that figure is a generator limit"
            )
    _table(["target", *(h for _, h in columns), "req/s per round"], rows)


def print_goals(title: str, goals: list[dict[str, Any]], warnings: list[str]) -> None:
    print(f"\n-- goals ({title})")
    rows = []
    for g in goals:
        result = ("PASS" if g["pass"] else "MISS") + (" (info)" if "info" in g else "")
        rows.append([g["goal"], g["target"], g["value"], result])
    _table(["goal", "target", "measured", "result"], rows)
    if warnings:
        print("\n-- warnings")
        for w in warnings:
            print(f"  ! {w}")


def write_results(out_dir: Path, stem: str, started: float, results: dict[str, Any]) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(started))
    out = out_dir / f"{stem}-{stamp}.json"
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nJSON: {out}")
    return out
