"""`/metrics` after a mixed workload, in process: it parses as Prometheus text format, has
every family the dashboard and alerts read, and no label carries what a client sent."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import served

pytestmark = pytest.mark.anyio

KEY = "sk-sy-" + secrets.token_urlsafe(32)
AUTH = {"authorization": f"Bearer {KEY}"}
HOSTILE = 'evil"}\nmodel{x="1'
DOCUMENT: dict[str, Any] = {
    "server": {"access_log": False},
    "auth": {"required": True},
    "keys": [{"id": "team-a", "sha256": hashlib.sha256(KEY.encode()).hexdigest()}],
    "prices": {"echo": {"input": 1.0, "output": 2.0}},
    "backends": {"fake": {"type": "fake"}},
    "models": [
        {
            "id": "echo",
            "backend": "fake",
            "cache": {"mode": "exact", "cache_sampled": True},
            "max_concurrency": 4,
            "policy": "guard",
        },
        {"id": "fake/*", "backend": "fake", "upstream_model": "*"},
    ],
    "policies": {"guard": {"secrets": {"input": "redact"}}},
}


def _chat(model: str, text: str = "hello", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


async def _workload(http: httpx.AsyncClient) -> None:
    for _ in range(2):  # the second is a cache hit
        reply = await http.post("/v1/chat/completions", json=_chat("echo"), headers=AUTH)
        assert reply.status_code == 200, reply.text
        await asyncio.sleep(0.2)  # the answer is stored off the request path
    streamed = await http.post(
        "/v1/chat/completions", json=_chat("echo", "a stream", stream=True), headers=AUTH
    )
    assert streamed.status_code == 200 and "[DONE]" in streamed.text
    # Client-chosen names: an unknown model, a prefix route's upstream model, a user field.
    missing = await http.post("/v1/chat/completions", json=_chat(HOSTILE), headers=AUTH)
    assert missing.status_code == 404
    named = await http.post(
        "/v1/chat/completions", json=_chat(f"fake/{HOSTILE}", user=HOSTILE), headers=AUTH
    )
    assert named.status_code == 200, named.text
    assert (await http.post("/v1/chat/completions", json=_chat("echo"))).status_code == 401
    assert (await http.get("/v1/evil-path", headers=AUTH)).status_code == 404


def _families(text: str) -> dict[str, Any]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def _value(family: Any, suffix: str = "", **labels: str) -> float:
    return sum(
        float(s.value)
        for s in family.samples
        if s.name == family.name + suffix and all(s.labels.get(k) == v for k, v in labels.items())
    )


async def test_metrics_parse_after_a_mixed_workload() -> None:
    async with served(DOCUMENT) as http:
        await _workload(http)
        text = (await http.get("/metrics")).text
    families = _families(text)
    for name in (
        "gateway_requests",
        "gateway_request_duration_seconds",
        "gateway_overhead_seconds",
        "gateway_time_to_first_token_seconds",
        "gateway_tokens",
        "gateway_cost_usd",
        "gateway_cache_lookups",
        "gateway_cache_coalesced",
        "gateway_breaker_state",
        "gateway_queue_waiting",
        "gateway_queue_in_flight",
        "gateway_queue_limit",
        "gateway_policy_verdicts",
        "gateway_policy_duration_seconds",
        "gateway_tool_calls",
        "gateway_state_degraded",
    ):
        assert name in families, name
    requests = families["gateway_requests"]
    chat = "/v1/chat/completions"
    assert _value(requests, "_total", route=chat, model="echo", status="200") == 3
    assert _value(requests, "_total", route=chat, status="404") == 1
    assert _value(requests, "_total", route=chat, status="401") == 1
    ttft = families["gateway_time_to_first_token_seconds"]
    assert _value(ttft, "_count", model="echo") == 1  # the one stream
    tokens = families["gateway_tokens"]
    assert _value(tokens, "_total", model="echo", key="team-a", kind="prompt") > 0
    assert _value(families["gateway_cost_usd"], "_total", model="echo", key="team-a") > 0
    lookups = families["gateway_cache_lookups"]
    assert _value(lookups, "_total", route="echo", result="hit") == 1
    queue = families["gateway_queue_limit"]
    assert _value(queue, kind="route", name="echo") > 0
    assert _value(families["gateway_policy_verdicts"], "_total", stage="secrets") > 0


async def test_no_label_carries_client_text_or_the_key() -> None:
    async with served(DOCUMENT) as http:
        await _workload(http)
        text = (await http.get("/metrics")).text
    assert KEY not in text and "evil" not in text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            for value in sample.labels.values():
                assert "evil" not in value and KEY not in value, (sample.name, value)


async def test_label_values_are_capped() -> None:
    async with served(DOCUMENT) as http:
        for index in range(12):  # prefix routes by client names: one route id, `fake/*`
            body = _chat(f"fake/model-{index}")
            assert (await http.post("/v1/chat/completions", json=body, headers=AUTH)).is_success
        text = (await http.get("/metrics")).text
    models = {
        s.labels["model"]
        for s in _families(text)["gateway_requests"].samples
        if s.labels["route"] == "/v1/chat/completions"
    }
    assert models == {"fake/*"}


def test_label_cap_folds_values_past_the_limit_into_other() -> None:
    from gateway.observability.label_cap import OTHER, LabelCap

    cap = LabelCap(limit=3)
    assert [cap(v) for v in ("a", "b", "c", "d", "a", "e")] == ["a", "b", "c", OTHER, "a", OTHER]


# Registered only when `state.redis_url_env` is set (a Redis this test does not start).
_REDIS_ONLY = {"gateway_state_redis_up", "gateway_state_redis_errors_total"}


def _series_names(text: str) -> set[str]:
    """Every series name the exposition can carry, samples or not (a family without
    samples yet, e.g. tool calls before any tool ran, still says its type)."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
    return {
        family.name + suffix
        for family in text_string_to_metric_families(text)
        for suffix in suffixes.get(family.type, ("",))
    }


def _used_metric_names() -> set[str]:
    """The metric names the dashboard's and the alert rules' PromQL read."""
    deploy = Path(__file__).resolve().parents[2] / "deploy"
    dashboard = json.loads((deploy / "grafana" / "dashboards" / "gateway.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", ())]
    exprs.append(dashboard["templating"]["list"][0]["definition"])
    groups = yaml.safe_load((deploy / "prometheus" / "alerts.yaml").read_text())["groups"]
    exprs += [rule["expr"] for group in groups for rule in group["rules"]]
    return {name for expr in exprs for name in re.findall(r"\bgateway_[a-z_]+", expr)}


async def test_dashboard_and_alerts_use_real_metric_names() -> None:
    used = _used_metric_names()
    async with served(DOCUMENT) as http:
        await _workload(http)
        known = _series_names((await http.get("/metrics")).text) | _REDIS_ONLY
    assert used and used <= known, sorted(used - known)
