"""`--limits` in the report of bench/overhead.py: each gateway with auth and rpm/tpm limits
beside the direct upstream, the aiohttp floor and the plain gateway of the same run, and
its two goals."""

from __future__ import annotations

import math
from typing import Any

from _report import _goal, _table

# From the acceptance criteria, for each limited target (the plain gateway's stay in _report).
LIMITS_GOALS = {
    "limits_added_p50_ms_at_300rps": 1.0,
    "limits_throughput_vs_aiohttp_floor": 0.5,
}


def evaluate_limits(
    results: dict[str, Any], rates: list[float], names: list[str]
) -> list[dict[str, Any]]:
    rate = 300.0 if 300.0 in rates else max(rates)
    tput = results["throughput"]
    floor = tput["floor-aiohttp"]["rps"]
    goals = []
    for name in names:
        pair = [
            _goal(
                "limits_added_p50_ms_at_300rps",
                results["latency"][f"{rate:g}"][name]["added_p50_ms"],
                extra_goals=LIMITS_GOALS,
            ),
            _goal(
                "limits_throughput_vs_aiohttp_floor",
                round(tput[name]["rps"] / floor, 3) if floor else None,
                bigger_is_better=True,
                extra_goals=LIMITS_GOALS,
            ),
        ]
        for g in pair:
            g["target_name"] = name
        if rate != 300.0:
            pair[0]["note"] = f"measured at {rate:g} req/s (300 not among --rates)"
        goals += pair
    return goals


def print_limits(r: dict[str, Any]) -> None:
    """Each limited gateway beside the direct upstream, the aiohttp floor and the plain
    gateway of the same run: `vs gateway`, `/ gateway` and `+cpu ms` are what the limits
    themselves cost; `redis ms/req` is the Redis server's CPU, on the same two cores."""
    names = list(r["limits_check"])
    tput = r["throughput"]
    print("\n-- auth + rpm/tpm limits (every request reserved and settled; counted, see check)")
    rows = []
    for name in names:
        for rate, per in r["latency"].items():
            s, gw = per[name], per["gateway"]
            rows.append(
                [
                    f"{name} @ {rate}",
                    s["added_p50_ms"],
                    s["added_p99_ms"],
                    round(s["p50_ms"] - gw["p50_ms"], 3),
                    s["overhead_header_p50_ms"],
                ]
            )
    _table(["target @ req/s", "+p50 ms", "+p99 ms", "p50 vs gateway", "hdr p50"], rows)
    rows = []
    floor = tput["floor-aiohttp"]
    for name in names:
        s = tput[name]
        pairs = zip(s["rps_per_round"], floor["rps_per_round"], strict=True)
        per_round = "/".join(f"{g / f:.2f}" if f else "nan" for g, f in pairs)
        rows.append(
            [
                name,
                s["rps"],
                _ratio(s["rps"], floor["rps"]),
                per_round,
                _ratio(s["rps"], tput["gateway"]["rps"]),
                s["proxy_cpu_ms_per_req"],
                round(s["proxy_cpu_ms_per_req"] - tput["gateway"]["proxy_cpu_ms_per_req"], 4),
                s.get("redis_cpu_ms_per_req"),
                s.get("redis_cpu_util"),
            ]
        )
    _table(
        [
            *("target", "req/s", "/ floor-aiohttp", "per round", "/ gateway"),
            *("cpu ms/req", "+cpu ms", "redis ms/req", "redis util"),
        ],
        rows,
    )
    for name, check in r["limits_check"].items():
        calls = check.get("redis_script_calls")
        extra = f", Redis script calls {calls}" if calls is not None else ""
        print(
            f"  check {name}: x-ratelimit-remaining-requests {check['remaining_requests']}{extra}"
        )
    print("\n-- goals (limited gateways)")
    _table(
        ["goal", "on", "target", "measured", "result"],
        [
            [g["goal"], g["target_name"], g["target"], g["value"], "PASS" if g["pass"] else "MISS"]
            for g in r["limits_goals"]
        ],
    )
    for g in r["limits_goals"]:
        if "note" in g:
            print(f"  note: {g['goal']} on {g['target_name']} {g['note']}")


def _ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else math.nan
