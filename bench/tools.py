"""Gateway tools, the no-call path: what a route that offers tools costs when the model
calls none of them, against the same gateway's route without tools.

    .venv/bin/python bench/tools.py                           # full run, ~2.5 minutes
    .venv/bin/python bench/tools.py --duration-scale 0.3      # smoke run
    .venv/bin/python bench/tools.py [--rounds N] [--rates 100,300] [--profile always]

Targets, measured interleaved round by round so machine noise hits all alike: `direct` (the
fast upstream), `gateway` (route `bench`, no tools) and `gateway-tools` (route `tools`: the
same backend and upstream model plus `tools: [calculator, current_time]`). Both routes are
served by the SAME gateway process (two model ids in one policy file), so the difference is
only the route's tools. The fast upstream answers with text, i.e. the model calls no tool:
every response is checked for no `x-gateway-tools` header and a sample of bodies for
`finish_reason: stop` (the run stops otherwise), and before measuring a client tool named
`calculator` must be refused on the tools route (it does merge the gateway's tools) and
accepted on the plain one. Phases: open-loop latency per `--rates` (p50/p99, added over
`direct`, and gateway-tools' added p50/p99 over `gateway`) and closed-loop max throughput at
`--concurrency` (req/s, CPU ms/req per target). Goal (issue 13): gateway-tools' added p50
over gateway <= 0.2 ms at 300 req/s (reported at the other rates too). A miss py-spies both
routes and prints the functions of the extra cost (`--profile auto`). JSON goes to
bench/results/tools-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import signal
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import uvloop
from _load import Samples, closed_loop, make_session, open_loop, percentile, warm_up
from _procs import group_cpu_seconds, group_rss_mb, self_cpu_seconds
from _report import _table, summarise_latency, summarise_throughput
from _run_report import loadavg, print_goals, print_throughput, run_meta, write_results
from _targets import BENCH, Target
from _tools_targets import (
    TOOLS_BODY,
    TOOLS_TARGET,
    check_route,
    check_seen,
    install,
    print_profile_diff,
    profile_diff,
    profile_route,
    start_children,
    tally,
    use_body,
)
from overhead import _raise_interrupt, git_info, log, rotated

GOAL_MS = 0.2  # added p50 of gateway-tools over gateway
GOAL_RATE = "300"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--duration-scale", type=float, default=1.0, help="multiply every duration")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds per phase")
    p.add_argument("--rates", default="100,300", help="open-loop rates, req/s")
    p.add_argument("--concurrency", type=int, default=64, help="closed-loop workers")
    p.add_argument("--latency-seconds", type=float, default=6.0, help="per target, round, rate")
    p.add_argument("--throughput-seconds", type=float, default=4.0, help="per target and round")
    p.add_argument(
        "--profile",
        choices=("auto", "always", "never"),
        default="auto",
        help="py-spy both routes under max load (auto: if the goal is missed)",
    )
    p.add_argument("--profile-seconds", type=int, default=8)
    p.add_argument("--out-dir", type=Path, default=BENCH / "results")
    args = p.parse_args(argv)
    args.rates = [float(r) for r in args.rates.split(",") if r.strip()]
    if args.rounds < 1 or args.concurrency < 1 or not args.rates:
        p.error("--rounds, --concurrency and --rates must be positive")
    return args


async def run_phases(args: argparse.Namespace, targets: dict[str, Target]) -> dict[str, Any]:
    scale = args.duration_scale
    upstream = targets["direct"].child
    names = tuple(targets)
    sessions = {name: make_session(max(args.concurrency, 256)) for name in names}
    use_body(sessions[TOOLS_TARGET], TOOLS_BODY)
    results: dict[str, Any] = {"latency": {}, "throughput": {}, "seen": {}}
    try:
        results["route_check"] = await check_route(sessions["gateway"], targets["gateway"])
        for name in names:
            warm = await warm_up(sessions[name], targets[name].base)
            if warm.errors:
                raise RuntimeError(f"{name}: warm-up errors {warm.error_examples}")
        tally()
        log("warm-up done; the tools route merges the gateway's tools, the plain one does not")

        # 1. Latency at fixed rates, open loop, interleaved.
        for rate in args.rates:
            phase = f"latency@{rate:g}"
            merged = {name: Samples() for name in names}
            seen: dict[str, Counter[str]] = {name: Counter() for name in names}
            gen_util: dict[str, float] = dict.fromkeys(names, 0.0)
            p99_rounds: dict[str, list[float]] = {name: [] for name in names}
            p50_rounds: dict[str, list[float]] = {name: [] for name in names}
            for rnd in range(args.rounds):
                for name in rotated(names, rnd):
                    cpu0, t0 = self_cpu_seconds(), time.perf_counter()
                    s = await open_loop(
                        sessions[name], targets[name].url, rate, args.latency_seconds * scale
                    )
                    util = (self_cpu_seconds() - cpu0) / (time.perf_counter() - t0)
                    gen_util[name] = max(gen_util[name], util)
                    merged[name].extend(s)
                    seen[name] += tally()
                    p50_rounds[name].append(round(1000 * percentile(s.latencies, 50), 3))
                    p99_rounds[name].append(round(1000 * percentile(s.latencies, 99), 2))
                    await asyncio.sleep(0.3)
                log(f"latency @ {rate:g} req/s: round {rnd + 1}/{args.rounds} done")
            per = summarise_latency(merged, rate, gen_util, p99_rounds)
            for name in names:
                per[name]["p50_ms_per_round"] = p50_rounds[name]
                results["seen"].setdefault(phase, {})[name] = check_seen(name, phase, seen[name])
            results["latency"][f"{rate:g}"] = per

        # 2. Max throughput, closed loop, interleaved; CPU per request of every process.
        tput = {name: Samples() for name in names}
        seen = {name: Counter() for name in names}
        cpu: dict[str, dict[str, Any]] = {
            name: {"proxy": 0.0, "upstream": 0.0, "gen": 0.0, "wall": 0.0} for name in names
        }
        for rnd in range(args.rounds):
            for name in rotated(names, rnd):
                child = targets[name].child
                p0, u0 = group_cpu_seconds(child.pid), group_cpu_seconds(upstream.pid)
                g0 = self_cpu_seconds()
                s = await closed_loop(
                    sessions[name],
                    targets[name].url,
                    args.concurrency,
                    args.throughput_seconds * scale,
                )
                cpu[name]["proxy"] += group_cpu_seconds(child.pid) - p0
                cpu[name]["upstream"] += group_cpu_seconds(upstream.pid) - u0
                cpu[name]["gen"] += self_cpu_seconds() - g0
                cpu[name]["wall"] += s.wall
                tput[name].extend(s)
                seen[name] += tally()
                cpu[name].setdefault("rounds", []).append(round(s.completed / s.wall))
                await asyncio.sleep(0.3)
            log(f"throughput c={args.concurrency}: round {rnd + 1}/{args.rounds} done")
        results["throughput"] = summarise_throughput(tput, cpu)
        for name in names:
            results["seen"].setdefault("throughput", {})[name] = check_seen(
                name, "throughput", seen[name]
            )
        # One gateway process serves both routes: its RSS is listed once.
        results["rss_mb"] = {
            "direct": round(group_rss_mb(upstream.pid), 1),
            "gateway (both routes)": round(group_rss_mb(targets["gateway"].child.pid), 1),
        }
        results["goals"] = evaluate(results)

        missed = not all(g["pass"] for g in results["goals"] if "info" not in g)
        if args.profile == "always" or (args.profile == "auto" and missed):
            results["profile"] = await profile_both(args, targets, sessions)
    finally:
        for session in sessions.values():
            await session.close()
    return results


async def profile_both(
    args: argparse.Namespace, targets: dict[str, Target], sessions: dict[str, Any]
) -> dict[str, Any]:
    seconds = max(2, round(args.profile_seconds * args.duration_scale))
    out: dict[str, Any] = {}
    stamp = int(time.time())
    for name in ("gateway", TOOLS_TARGET):
        raw = Path(tempfile.gettempdir()) / f"{name}-profile-{stamp}.txt"
        log(f"profiling the gateway on route {name} with py-spy for {seconds}s ...")
        out[name] = await profile_route(
            sessions[name], targets[name], seconds, args.concurrency, raw
        )
        tally()
        if "error" in out[name]:
            log(f"py-spy failed: {out[name]['error']}")
            return {"error": out[name]["error"]}
    return {
        "raw_files": {n: p["raw_file"] for n, p in out.items()},
        "rps": {n: p["rps"] for n, p in out.items()},
        "diff": profile_diff(out["gateway"], out[TOOLS_TARGET]),
    }


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    goals = []
    for rate, per in results["latency"].items():
        gw, tl = per["gateway"], per[TOOLS_TARGET]
        for q in ("p50", "p99"):
            tl[f"added_{q}_ms_over_gateway"] = round(tl[f"{q}_ms"] - gw[f"{q}_ms"], 3)
        rounds = zip(tl["p50_ms_per_round"], gw["p50_ms_per_round"], strict=True)
        tl["added_p50_ms_over_gateway_per_round"] = [round(t - g, 3) for t, g in rounds]
        value = tl["added_p50_ms_over_gateway"]
        goal = {
            "goal": f"gateway-tools added p50 over gateway @ {rate} req/s",
            "target": f"<= {GOAL_MS:g}",
            "value": value,
            "pass": bool(not math.isnan(value) and value <= GOAL_MS),
        }
        if rate != GOAL_RATE:
            goal["info"] = "reported, the acceptance point is at 300 req/s"
        goals.append(goal)
    tput = results["throughput"]
    gw, tl = tput["gateway"], tput[TOOLS_TARGET]
    tl["vs_gateway"] = round(tl["rps"] / max(gw["rps"], 1e-9), 3)
    tl["added_cpu_ms_per_req"] = round(tl["proxy_cpu_ms_per_req"] - gw["proxy_cpu_ms_per_req"], 4)
    return goals


_LAT = [
    ("requests", "ok"),
    ("errors", "err"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("max_ms", "max ms"),
    ("added_p50_ms", "+p50 direct"),
    ("added_p99_ms", "+p99 direct"),
    ("added_p50_ms_over_gateway", "+p50 gateway"),
    ("added_p99_ms_over_gateway", "+p99 gateway"),
    ("overhead_header_p50_ms", "hdr p50"),
    ("lag_p99_ms", "lag p99"),
    ("generator_cpu_util", "gen cpu"),
]
_TPUT = [
    ("rps", "req/s"),
    ("errors", "err"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("proxy_cpu_ms_per_req", "cpu ms/req"),
    ("added_cpu_ms_per_req", "+cpu gateway"),
    ("proxy_cpu_util", "cpu util"),
    ("upstream_cpu_ms_per_req", "up ms/req"),
    ("generator_cpu_util", "gen util"),
    ("vs_gateway", "/ gateway"),
]


def print_report(r: dict[str, Any]) -> None:
    meta, args = r["meta"], r["meta"]["args"]
    rounds, scale = args["rounds"], args["duration_scale"]
    dirty = " (dirty tree)" if meta.get("dirty") else ""
    print(f"\n=== gateway tools (no call) benchmark  commit {meta['commit']}{dirty}")
    print(
        f"    python {meta['python']}  cpus {meta['cpus']}  load avg {meta['loadavg']} -> "
        f"{r['loadavg_end']}  elapsed {r['elapsed_seconds']} s  scale {scale:g}  rounds {rounds}"
    )
    print("    gateway and gateway-tools: one gateway process, routes `bench` and `tools`")
    warnings: list[str] = []
    for rate, per in r["latency"].items():
        secs = args["latency_seconds"] * scale
        print(f"\n-- open-loop latency @ {rate} req/s ({rounds} rounds x {secs:g} s per target)")
        rows = []
        for name, s in per.items():
            per_round = "/".join(f"{v:.3f}" for v in s["p50_ms_per_round"])
            rows.append([name, *(s.get(k) for k, _ in _LAT), per_round])
            if s["generator_fell_behind"]:
                warnings.append(f"generator fell behind @ {rate} req/s on {name}")
            if s["errors"]:
                warnings.append(f"{name} @ {rate}: {s['errors']} errors {s['error_examples']}")
        _table(["target", *(h for _, h in _LAT), "p50 ms per round"], rows)
        extra = "/".join(
            f"{v:+.3f}" for v in per[TOOLS_TARGET]["added_p50_ms_over_gateway_per_round"]
        )
        print(f"  gateway-tools +p50 over gateway per round: {extra}")
    tput, conc = r["throughput"], args["concurrency"]
    secs = args["throughput_seconds"] * scale
    print(f"\n-- max throughput, closed loop c={conc} ({rounds} rounds x {secs:g} s per target)")
    print_throughput(tput, _TPUT, warnings)
    print("  (cpu = the target's process: for direct the upstream, else the one gateway)")
    for phase, per in r["seen"].items():
        line = ", ".join(f"{n} {dict(sorted(c.items()))}" for n, c in per.items())
        print(f"  responses {phase}: {line}")
    print("\n-- RSS after the run (MB): " + ", ".join(f"{k} {v}" for k, v in r["rss_mb"].items()))
    print_goals("issue 13: a route with tools the model does not call", r["goals"], warnings)
    r["warnings"] = warnings


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    install()
    started = time.time()
    meta = {
        **run_meta(args, started, git_info()),
        "goal": {"added_p50_ms_over_gateway_at_300rps": GOAL_MS},
        "same_gateway_process": True,
    }
    with tempfile.TemporaryDirectory(prefix="gateway-bench-tools-") as tmp:
        targets: dict[str, Target] = {}
        try:
            log("starting upstream and gateway (two routes) ...")
            start_children(Path(tmp), targets)
            log("pids: " + ", ".join(f"{n}={t.child.pid}" for n, t in targets.items()))
            results = uvloop.run(run_phases(args, targets))
        except BaseException:
            for child in {t.child.name: t.child for t in targets.values()}.values():
                if not child.alive():
                    log(f"{child.name} log tail:\n{child.log_tail()}")
            raise
        finally:
            for target in reversed(list(targets.values())):
                target.child.stop()  # idempotent: the two gateway targets share one child
    results = {
        "meta": meta,
        **results,
        "loadavg_end": loadavg(),
        "elapsed_seconds": round(time.time() - started, 1),
    }
    print_report(results)
    profile = results.get("profile")
    if profile and "error" not in profile:
        print_profile_diff(profile["diff"])
        print(f"  (req/s while profiling: {profile['rps']}; raw stacks: {profile['raw_files']})")
    write_results(args.out_dir, "tools", started, results)
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        log("interrupted; child processes stopped")
        raise SystemExit(130) from None
