"""`--baseline REV`: an older commit's gateway, measured in the same run as this checkout.

The commit is checked out in a temporary git worktree and served with this interpreter and
packages (its own code first on `PYTHONPATH`); the comparison puts throughput and added
latency of both side by side, each beside the aiohttp floor measured in the same run.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def baseline_checkout(rev: str, tmp: Path) -> Path:
    """A detached worktree of `rev` (removed with the temporary directory's git entry)."""
    where = tmp / "baseline"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(where), rev],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=60,
    )
    return where


def remove_checkout(where: Path) -> None:
    subprocess.run(
        ["git", "worktree", "remove", "--force", str(where)],
        cwd=ROOT,
        check=False,
        capture_output=True,
        timeout=60,
    )


def versus_baseline(results: dict[str, Any], rates: list[float]) -> dict[str, Any]:
    """The change against the baseline commit, both measured in this run: throughput and
    added latency, each also as a ratio to the aiohttp floor."""
    tput = results["throughput"]
    floor = tput["floor-aiohttp"]["rps"] or 1.0
    out: dict[str, Any] = {
        "throughput_vs_floor": {
            "gateway": round(tput["gateway"]["rps"] / floor, 3),
            "gateway-base": round(tput["gateway-base"]["rps"] / floor, 3),
        },
        "added_p50_ms": {},
    }
    for rate in rates:
        lat = results["latency"][f"{rate:g}"]
        out["added_p50_ms"][f"{rate:g}"] = {
            "gateway": lat["gateway"]["added_p50_ms"],
            "gateway-base": lat["gateway-base"]["added_p50_ms"],
        }
    ttfb = results["ttfb"]
    out["stream_ttfb_added_p50_ms"] = {
        "gateway": ttfb["gateway"]["added_p50_ms"],
        "gateway-base": ttfb["gateway-base"]["added_p50_ms"],
    }
    return out


def print_versus_baseline(cmp: dict[str, Any], rev: str) -> None:
    print(f"\n-- this checkout vs {rev} (gateway-base), same run")
    t = cmp["throughput_vs_floor"]
    change = t["gateway"] / t["gateway-base"] - 1 if t["gateway-base"] else float("nan")
    print(
        f"  throughput / aiohttp floor: {t['gateway']:.3f}x vs {t['gateway-base']:.3f}x "
        f"({change:+.1%})"
    )
    for rate, added in cmp["added_p50_ms"].items():
        base = added["gateway-base"]
        delta = added["gateway"] - base
        print(
            f"  added p50 @ {rate} req/s: {added['gateway']:.3f} ms vs {base:.3f} ms "
            f"({delta:+.3f} ms)"
        )
    s = cmp["stream_ttfb_added_p50_ms"]
    print(f"  stream TTFB added p50: {s['gateway']:.3f} ms vs {s['gateway-base']:.3f} ms")
