"""Summaries, goals and the printed table of bench/overhead.py."""

from __future__ import annotations

import math
from typing import Any

from _load import Samples, percentile

# The goals from the issue, for comparison.
GOALS = {
    "added_p50_ms_at_300rps": 1.0,
    "added_p99_ms_at_300rps": 3.0,
    "stream_ttfb_added_p50_ms": 1.0,
    "throughput_vs_aiohttp_floor": 0.5,
    "gateway_cpu_ms_per_req": 0.5,
}
# Above this share of one core a process counts as saturated.
SATURATED = 0.9
# Open loop: the generator "fell behind" if its p99 lag behind the schedule exceeds this.
BEHIND_P99_MS = 5.0


# Printed columns: (JSON key, header).
_LATENCY = [
    ("requests", "ok"),
    ("errors", "err"),
    ("achieved_rps", "req/s"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("max_ms", "max ms"),
    ("added_p50_ms", "+p50 ms"),
    ("added_p99_ms", "+p99 ms"),
    ("lag_p99_ms", "lag p99"),
    ("generator_cpu_util", "gen cpu"),
]
_TPUT = [
    ("rps", "req/s"),
    ("errors", "err"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("proxy_cpu_ms_per_req", "cpu ms/req"),
    ("upstream_cpu_ms_per_req", "up ms/req"),
    ("generator_cpu_ms_per_req", "gen ms/req"),
    ("proxy_cpu_util", "cpu util"),
    ("upstream_cpu_util", "up util"),
    ("generator_cpu_util", "gen util"),
]
_LATENCY_KEYS, _LATENCY_COLS = zip(*_LATENCY, strict=True)
_TPUT_KEYS, _TPUT_COLS = zip(*_TPUT, strict=True)


def _ms(seconds: float) -> float:
    return round(1000 * seconds, 3)


def summarise_latency(
    merged: dict[str, Samples],
    rate: float,
    gen_util: dict[str, float],
    p99_rounds: dict[str, list[float]],
) -> dict[str, Any]:
    direct = merged["direct"].latencies
    d50, d99 = percentile(direct, 50), percentile(direct, 99)
    out: dict[str, Any] = {}
    for name, s in merged.items():
        p50, p99 = percentile(s.latencies, 50), percentile(s.latencies, 99)
        lag99 = percentile(s.lags, 99)
        out[name] = {
            "rate": rate,
            "requests": s.completed,
            "errors": s.errors,
            "error_examples": s.error_examples,
            "achieved_rps": round(s.completed / s.wall, 1) if s.wall else 0.0,
            "p50_ms": _ms(p50),
            "p90_ms": _ms(percentile(s.latencies, 90)),
            "p99_ms": _ms(p99),
            "p99_ms_per_round": p99_rounds[name],
            "max_ms": _ms(max(s.latencies, default=math.nan)),
            "added_p50_ms": _ms(p50 - d50),
            "added_p99_ms": _ms(p99 - d99),
            "lag_p50_ms": _ms(percentile(s.lags, 50)),
            "lag_p99_ms": _ms(lag99),
            "lag_max_ms": _ms(max(s.lags, default=math.nan)),
            "generator_fell_behind": 1000 * lag99 > BEHIND_P99_MS,
            "generator_cpu_util": round(gen_util[name], 3),
            "overhead_header_p50_ms": (
                round(percentile(s.overhead_ms, 50), 3) if s.overhead_ms else None
            ),
            "overhead_header_p99_ms": (
                round(percentile(s.overhead_ms, 99), 3) if s.overhead_ms else None
            ),
        }
    return out


def _goal(
    name: str,
    value: float | None,
    bigger_is_better: bool = False,
    extra_goals: dict[str, float] | None = None,
) -> dict[str, Any]:
    extra_goals = extra_goals or {}
    goal = GOALS[name] if name in GOALS else extra_goals[name]
    ok = value is not None and not math.isnan(value)
    if ok:
        ok = value >= goal if bigger_is_better else value <= goal
    return {
        "goal": name,
        "target": (">= " if bigger_is_better else "<= ") + f"{goal:g}",
        "value": value,
        "pass": bool(ok),
    }


def evaluate(results: dict[str, Any], rates: list[float]) -> list[dict[str, Any]]:
    rate = 300.0 if 300.0 in rates else max(rates)
    lat = results["latency"][f"{rate:g}"]["gateway"]
    tput = results["throughput"]
    floor = tput["floor-aiohttp"]["rps"]
    goals = [
        _goal("added_p50_ms_at_300rps", lat["added_p50_ms"]),
        _goal("added_p99_ms_at_300rps", lat["added_p99_ms"]),
        _goal("stream_ttfb_added_p50_ms", results["ttfb"]["gateway"]["added_p50_ms"]),
        _goal(
            "throughput_vs_aiohttp_floor",
            round(tput["gateway"]["rps"] / floor, 3) if floor else None,
            bigger_is_better=True,
        ),
        _goal("gateway_cpu_ms_per_req", tput["gateway"]["proxy_cpu_ms_per_req"]),
    ]
    if rate != 300.0:
        for g in goals[:2]:
            g["note"] = f"measured at {rate:g} req/s (300 not among --rates)"
    return goals


def _table(header: list[str], rows: list[list[Any]]) -> None:
    cells = [[_fmt(c) for c in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        rest = (c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))
        print("  " + "  ".join([row[0].ljust(widths[0]), *rest]))
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def print_report(r: dict[str, Any]) -> None:
    meta = r["meta"]
    args = meta["args"]
    rounds, scale = args["rounds"], args["duration_scale"]
    dirty = " (dirty tree)" if meta.get("dirty") else ""
    print(f"\n=== gateway overhead benchmark  commit {meta['commit']}{dirty}")
    print(
        f"    python {meta['python']}  cpus {meta['cpus']}  {meta['platform']}  "
        f"elapsed {r['elapsed_seconds']} s  scale {scale:g}  rounds {rounds}"
    )
    warnings: list[str] = []

    for rate, per in r["latency"].items():
        secs = args["latency_seconds"] * scale
        print(f"\n-- open-loop latency @ {rate} req/s ({rounds} rounds x {secs:g} s per target)")
        rows = []
        for name, s in per.items():
            per_round = "/".join(f"{v:.2f}" for v in s["p99_ms_per_round"])
            rows.append([name, *(s[k] for k in _LATENCY_KEYS), per_round])
            if s["generator_fell_behind"]:
                warnings.append(
                    f"generator fell behind @ {rate} req/s on {name}: lag p99 "
                    f"{s['lag_p99_ms']} ms, max {s['lag_max_ms']} ms"
                )
            if s["errors"]:
                warnings.append(
                    f"{name} @ {rate} req/s: {s['errors']} errors {s['error_examples']}"
                )
        _table(["target", *_LATENCY_COLS, "p99 ms per round"], rows)
        gw = per["gateway"]
        print(
            f"  gateway x-gateway-overhead-ms: p50 {_fmt(gw['overhead_header_p50_ms'])}, "
            f"p99 {_fmt(gw['overhead_header_p99_ms'])}"
        )

    tput = r["throughput"]
    secs = args["throughput_seconds"] * scale
    conc = args["concurrency"]
    print(f"\n-- max throughput, closed loop c={conc} ({rounds} rounds x {secs:g} s per target)")
    rows = []
    for name, s in tput.items():
        per_round = "/".join(str(v) for v in s["rps_per_round"])
        rows.append([name, *(s[k] for k in _TPUT_KEYS), per_round])
        if s["errors"]:
            warnings.append(f"{name} throughput: {s['errors']} errors {s['error_examples']}")
        if name != "direct" and s["upstream_cpu_util"] > SATURATED:
            warnings.append(f"upstream saturated a core during {name}'s throughput phase")
        if s["generator_cpu_util"] > SATURATED:
            warnings.append(
                f"load generator saturated a core during {name}'s throughput phase "
                f"({s['generator_cpu_util']:.2f}): that figure is a generator limit"
            )
    _table(["target", *_TPUT_COLS, "req/s per round"], rows)
    print("  (cpu = the target's own process; for `direct` that is the upstream itself)")
    gw = tput["gateway"]["rps"]
    for floor in ("floor-aiohttp", "floor-httpx"):
        ratio = gw / tput[floor]["rps"] if tput[floor]["rps"] else math.nan
        pairs = zip(tput["gateway"]["rps_per_round"], tput[floor]["rps_per_round"], strict=True)
        rounds_text = "/".join(f"{g / f:.2f}" if f else "nan" for g, f in pairs)
        print(f"  gateway / {floor}: {ratio:.2f}x  (per round {rounds_text})")
    header_p50 = _fmt(tput["gateway"]["overhead_header_p50_ms"])
    print(f"  gateway x-gateway-overhead-ms p50 under load: {header_p50}")

    print(f"\n-- streaming time to first `data:` line, sequential ({rounds} rounds per target)")
    rows = []
    for name, s in r["ttfb"].items():
        rows.append([name, s["requests"], s["errors"], s["p50_ms"], s["p99_ms"], s["added_p50_ms"]])
        if s["errors"]:
            warnings.append(f"{name} streaming: {s['errors']} errors {s['error_examples']}")
    _table(["target", "ok", "err", "p50 ms", "p99 ms", "+p50 ms"], rows)

    print("\n-- RSS after the run (MB): " + ", ".join(f"{k} {v}" for k, v in r["rss_mb"].items()))

    print("\n-- goals (gateway)")
    _table(
        ["goal", "target", "measured", "result"],
        [[g["goal"], g["target"], g["value"], "PASS" if g["pass"] else "MISS"] for g in r["goals"]],
    )
    for g in r["goals"]:
        if "note" in g:
            print(f"  note: {g['goal']} {g['note']}")
    if warnings:
        print("\n-- warnings")
        for w in warnings:
            print(f"  ! {w}")
    r["warnings"] = warnings


def summarise_throughput(
    tput: dict[str, Samples], cpu: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, s in tput.items():
        n = max(s.completed, 1)
        wall = max(cpu[name]["wall"], 1e-9)
        out[name] = {
            "requests": s.completed,
            "errors": s.errors,
            "error_examples": s.error_examples,
            "seconds": round(wall, 2),
            "rps": round(s.completed / wall, 1),
            "rps_per_round": cpu[name].get("rounds", []),
            "p50_ms": round(1000 * _pct(s.latencies, 50), 3),
            "p99_ms": round(1000 * _pct(s.latencies, 99), 3),
            # For `direct` the "proxy" is the upstream itself.
            "proxy_cpu_ms_per_req": round(1000 * cpu[name]["proxy"] / n, 4),
            "upstream_cpu_ms_per_req": round(1000 * cpu[name]["upstream"] / n, 4),
            "generator_cpu_ms_per_req": round(1000 * cpu[name]["gen"] / n, 4),
            "proxy_cpu_util": round(cpu[name]["proxy"] / wall, 3),
            "upstream_cpu_util": round(cpu[name]["upstream"] / wall, 3),
            "generator_cpu_util": round(cpu[name]["gen"] / wall, 3),
            "overhead_header_p50_ms": _median_or_none(s.overhead_ms),
        }
        if "redis" in cpu[name]:  # `--limits redis`: the Redis server's share of the cost
            out[name]["redis_cpu_ms_per_req"] = round(1000 * cpu[name]["redis"] / n, 4)
            out[name]["redis_cpu_util"] = round(cpu[name]["redis"] / wall, 3)
    return out


def summarise_ttfb(ttfb: dict[str, Samples]) -> dict[str, Any]:
    direct = _pct(ttfb["direct"].latencies, 50)
    out: dict[str, Any] = {}
    for name, s in ttfb.items():
        p50 = _pct(s.latencies, 50)
        out[name] = {
            "requests": s.completed,
            "errors": s.errors,
            "error_examples": s.error_examples,
            "p50_ms": round(1000 * p50, 3),
            "p99_ms": round(1000 * _pct(s.latencies, 99), 3),
            "added_p50_ms": round(1000 * (p50 - direct), 3),
            "overhead_header_p50_ms": _median_or_none(s.overhead_ms),
        }
    return out


def _pct(values: list[float], q: float) -> float:
    return percentile(values, q)


def _median_or_none(values: list[float]) -> float | None:
    return round(_pct(values, 50), 3) if values else None
