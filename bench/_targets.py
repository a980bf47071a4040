"""The processes a bench run measures: the fast upstream (`direct`), the gateway, the two
bare pass-through floors, optionally an older commit's gateway and the limited gateways
(with their throwaway Redis), each started on a free port and waited for."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from _limits import REDIS_URL_ENV, policy, redis_child, wait_redis
from _limits import target_name as limits_target
from _procs import Child, free_port

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

TARGETS = ("direct", "gateway", "floor-httpx", "floor-aiohttp")
POLICY = """server: {{access_log: false}}
backends:
  up: {{type: openai, base_url: "http://127.0.0.1:{port}/v1"}}
models:
  - {{id: bench, backend: up}}
"""
# `--weighted`: the same upstream behind two backends, balanced by weight (breakers are
# always on: one per target).
WEIGHTED_POLICY = """server: {{access_log: false}}
backends:
  up: {{type: openai, base_url: "http://127.0.0.1:{port}/v1"}}
  up2: {{type: openai, base_url: "http://127.0.0.1:{port}/v1"}}
models:
  - id: bench
    balance: weighted
    targets: [{{backend: up, upstream_model: bench, weight: 3}},
              {{backend: up2, upstream_model: bench, weight: 1}}]
"""


@dataclass
class Target:
    name: str
    base: str
    child: Child  # the process serving it (for `direct`, the upstream itself)
    redis_url: str | None = None  # where a `--limits redis` gateway counts
    redis: Child | None = None  # ... and that server, whose CPU is part of the cost

    @property
    def url(self) -> str:
        return self.base + "/v1/chat/completions"


def start_children(
    tmp: Path,
    targets: dict[str, Target],
    aux: list[Child],
    *,
    baseline: Path | None = None,
    weighted: bool = False,
    limits: tuple[str, ...] = (),
) -> None:
    """Fills `targets` (and `aux`: the Redis) as each child starts, so that the caller stops
    whatever did start even if a later one fails."""
    py = sys.executable
    limited = tuple(limits_target(kind) for kind in limits)
    names = (*TARGETS, *(("gateway-base",) if baseline else ()), *limited)
    ports = {name: free_port() for name in names}
    upstream_base = f"http://127.0.0.1:{ports['direct']}"
    policy_path = tmp / "policy.yaml"
    policy_path.write_text(POLICY.format(port=ports["direct"]))
    gateway_policy = policy_path
    if weighted:
        gateway_policy = tmp / "weighted.yaml"
        gateway_policy.write_text(WEIGHTED_POLICY.format(port=ports["direct"]))
    gateway_exe = str(Path(py).parent / "gateway")

    def gateway_argv(config: Path, name: str) -> list[str]:
        return [gateway_exe, "serve", "--config", str(config), "--port", str(ports[name])]

    argvs = {
        "direct": [py, str(BENCH / "fast_upstream.py"), "--port", str(ports["direct"])],
        "gateway": gateway_argv(gateway_policy, "gateway"),
        **{
            name: [
                *(py, str(BENCH / f"{name.replace('-', '_')}.py")),
                *("--port", str(ports[name]), "--upstream", upstream_base),
            ]
            for name in ("floor-httpx", "floor-aiohttp")
        },
    }
    children: dict[str, Child] = {
        name: Child(name, argvs[name], tmp / f"{name}.log") for name in TARGETS
    }
    if baseline is not None:
        # The same interpreter and packages; the older commit's code first on the path.
        argv = [py, "-m", "gateway", "serve", "--config", str(policy_path)]
        children["gateway-base"] = Child(
            "gateway-base",
            [*argv, "--port", str(ports["gateway-base"])],
            tmp / "gateway-base.log",
            env={"PYTHONPATH": str(baseline)},
            cwd=baseline,
        )
    redis_url, server = None, None
    if "redis" in limits:
        server, redis_url = redis_child(tmp)
        aux.append(server)
        server.start(ROOT)
        wait_redis(server, redis_url)
    for kind, name in zip(limits, limited, strict=True):
        config = tmp / f"{name}.yaml"
        config.write_text(policy(ports["direct"], kind))
        env = {REDIS_URL_ENV: redis_url} if kind == "redis" and redis_url else None
        children[name] = Child(name, gateway_argv(config, name), tmp / f"{name}.log", env=env)
    # The upstream first: the gateway's readiness may depend on it.
    for name in names:
        child = children[name]
        shared = name == limits_target("redis")
        targets[name] = target = Target(
            name,
            f"http://127.0.0.1:{ports[name]}",
            child,
            redis_url if shared else None,
            server if shared else None,
        )
        child.start(ROOT)
        probe = "/readyz" if name.startswith("gateway") else "/v1/models"
        child.wait_ready(target.base + probe)
