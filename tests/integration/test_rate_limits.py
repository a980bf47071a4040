"""Rate limits, token reservations, budgets and usage, in process (the memory store): the
statuses, codes and headers the OpenAI SDKs act on."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from gateway.keys.records import sha256_hex as sha
from tests.integration.conftest import served

pytestmark = pytest.mark.anyio
KEY_A = "sk-limits-a-0123456789"
KEY_B = "sk-limits-b-0123456789"
ADMIN_ENV = "TEST_RATE_LIMITS_ADMIN"
ADMIN = "sk-limits-admin-0123456789"


def document(**key_fields: Any) -> dict[str, Any]:
    return {
        "server": {"access_log": False},
        "auth": {"required": True, "admin_key_env": ADMIN_ENV},
        "keys": [
            {"id": "a", "sha256": sha(KEY_A), "tenant": "team", **key_fields},
            {"id": "b", "sha256": sha(KEY_B), "tenant": "team"},
        ],
        "backends": {"fake": {"type": "fake"}},
        "models": [
            {"id": "echo", "backend": "fake"},
            {"id": "fake/*", "backend": "fake", "upstream_model": "*"},
        ],
    }


def chat(model: str = "echo", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hello there"}], **extra}


async def post(http: httpx.AsyncClient, key: str, body: dict[str, Any]) -> httpx.Response:
    return await http.post("/v1/chat/completions", json=body, headers={"x-api-key": key})


@pytest.fixture(autouse=True)
def admin_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ADMIN_ENV, ADMIN)


async def test_the_request_past_rpm_is_a_429_with_retry_after_and_windows() -> None:
    async with served(document(limits={"rpm": 3})) as http:
        remaining = []
        for _ in range(3):
            reply = await post(http, KEY_A, chat())
            assert reply.status_code == 200, reply.text
            assert reply.headers["x-ratelimit-limit-requests"] == "3"
            remaining.append(reply.headers["x-ratelimit-remaining-requests"])
            reset = reply.headers["x-ratelimit-reset-requests"]
            assert reset.endswith(("ms", "s")) and reset[0].isdigit()
        assert remaining == ["2", "1", "0"]
        refused = await post(http, KEY_A, chat())
        assert refused.status_code == 429
        error = refused.json()["error"]
        assert error["code"] == "rate_limit_exceeded" and error["type"] == "rate_limit_error"
        assert "key `a`" in error["message"] and "3 requests per minute" in error["message"]
        retry_after = int(refused.headers["retry-after"])
        assert 55 <= retry_after <= 60  # the first of the three leaves the window at 60 s
        assert 54_000 < int(refused.headers["retry-after-ms"]) <= 60_000
        assert refused.headers["x-ratelimit-remaining-requests"] == "0"
        # Another key of the same tenant is not limited by a's limit.
        assert (await post(http, KEY_B, chat())).status_code == 200


async def test_tenant_limits_are_shared_by_its_keys() -> None:
    doc = document()
    doc["tenants"] = {"team": {"limits": {"rpm": 2}}}
    async with served(doc) as http:
        assert (await post(http, KEY_A, chat())).status_code == 200
        assert (await post(http, KEY_B, chat())).status_code == 200
        refused = await post(http, KEY_A, chat())
        assert refused.status_code == 429
        assert "tenant `team`" in refused.json()["error"]["message"]


async def test_route_limits_apply_to_every_caller_without_auth() -> None:
    doc = {
        "server": {"access_log": False},
        "backends": {"fake": {"type": "fake"}},
        "models": [{"id": "echo", "backend": "fake", "limits": {"rpm": 2}}],
    }
    async with served(doc) as http:
        codes = [
            (await http.post("/v1/chat/completions", json=chat())).status_code for _ in range(3)
        ]
        assert codes == [200, 200, 429]
        other = await http.get("/v1/models")
        assert "x-ratelimit-limit-requests" not in other.headers  # no limit counted there


async def test_token_reservations_settle_to_the_real_usage_streams_included() -> None:
    async with served(document(limits={"tpm": 1000})) as http:
        first = await post(http, KEY_A, chat(max_tokens=900))
        assert first.status_code == 200, first.text
        # The reservation (prompt estimate + 900) was counted before the call ...
        assert int(first.headers["x-ratelimit-remaining-tokens"]) < 100
        used = first.json()["usage"]["total_tokens"]
        # ... and settled to the real usage after it: 900 fit again.
        second = await post(http, KEY_A, chat(max_tokens=900))
        assert second.status_code == 200, second.text
        streamed = await post(http, KEY_A, chat(max_tokens=900, stream=True))
        assert streamed.status_code == 200
        assert "data: [DONE]" in streamed.text
        after = await post(http, KEY_A, chat(max_tokens=1))
        remaining = int(after.headers["x-ratelimit-remaining-tokens"])
        # Three settled requests, and this one's reservation (prompt estimate + 1).
        assert 1000 - 4 * used - 60 <= remaining <= 1000 - 3 * used
        too_large = await post(http, KEY_A, chat(max_tokens=2000))
        assert too_large.status_code == 429
        assert too_large.headers["x-should-retry"] == "false"
        assert "Request too large" in too_large.json()["error"]["message"]


async def test_a_spent_budget_is_insufficient_quota_and_not_retried() -> None:
    doc = document(budget={"usd_per_day": 0.5})
    doc["prices"] = {"echo": {"input": 1000.0, "output": 1000.0}}  # $0.001 per token
    async with served(doc) as http:
        statuses = []
        for _ in range(200):
            reply = await post(http, KEY_A, chat())
            statuses.append(reply.status_code)
            if reply.status_code != 200:
                break
        assert statuses[-1] == 429 and 1 < len(statuses) < 200
        error = reply.json()["error"]
        assert error["type"] == "insufficient_quota" and error["code"] == "insufficient_quota"
        assert reply.headers["x-should-retry"] == "false"
        assert 1 <= int(reply.headers["retry-after"]) <= 86_400  # until the UTC day ends
        usage = (await http.get("/v1/usage", headers={"x-api-key": KEY_A})).json()
        # Spend stops at the budget: at most one request's estimate past it.
        assert 0.5 <= usage["totals"]["cost_usd"] < 0.6


async def test_parallel_limit_refuses_beyond_the_slots_and_frees_them() -> None:
    async with served(document(limits={"max_parallel": 1})) as http:
        slow = asyncio.create_task(post(http, KEY_A, chat("fake/slow-100", stream=True)))
        await asyncio.sleep(0.1)
        busy = await post(http, KEY_A, chat())
        assert busy.status_code == 429 and busy.json()["error"]["code"] == "rate_limit_exceeded"
        assert "in flight" in busy.json()["error"]["message"]
        assert (await slow).status_code == 200
        assert (await post(http, KEY_A, chat())).status_code == 200


async def test_usage_per_key_model_and_day_for_the_caller_and_the_admin() -> None:
    doc = document()
    doc["prices"] = {"echo": {"input": 1.0, "output": 2.0}}
    async with served(doc) as http:
        for key, model in (
            (KEY_A, "echo"),
            (KEY_A, "echo"),
            (KEY_A, "fake/words-5"),
            (KEY_B, "echo"),
        ):
            assert (await post(http, key, chat(model))).status_code == 200
        own = await http.get("/v1/usage", headers={"x-api-key": KEY_A})
        assert own.status_code == 200
        rows = own.json()["data"]
        assert {(r["key"], r["model"], r["requests"]) for r in rows} == {
            ("a", "echo", 2),
            ("a", "fake/words-5", 1),
        }
        echo = next(r for r in rows if r["model"] == "echo")
        expected = (echo["prompt_tokens"] * 1.0 + echo["completion_tokens"] * 2.0) / 1e6
        assert echo["cost_usd"] == pytest.approx(expected)
        assert echo["total_tokens"] == echo["prompt_tokens"] + echo["completion_tokens"] > 0
        assert own.json()["totals"]["requests"] == 3
        as_admin = {"authorization": f"Bearer {ADMIN}"}
        team = (await http.get("/admin/usage?tenant=team", headers=as_admin)).json()
        assert team["totals"]["requests"] == 4
        assert (await http.get("/admin/usage", headers={"x-api-key": KEY_A})).status_code == 401
        bad = await http.get("/v1/usage?start=yesterday", headers={"x-api-key": KEY_A})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "start"


async def test_a_failed_request_gives_its_reservation_back_and_records_no_usage() -> None:
    doc = document(limits={"tpm": 1000, "rpm": 100})
    doc["defaults"] = {"retries": {"attempts": 1}}
    async with served(doc) as http:
        failed = await post(http, KEY_A, chat("fake/error-500", max_tokens=900))
        assert failed.status_code == 500 and failed.json()["error"]["type"]
        # Not refused for tokens: the failed request's 900 were given back.
        after = await post(http, KEY_A, chat(max_tokens=900))
        assert after.status_code == 200, after.text
        assert after.headers["x-ratelimit-remaining-requests"] == "98"  # both counted
        rows = (await http.get("/v1/usage", headers={"x-api-key": KEY_A})).json()["data"]
        assert [(r["model"], r["requests"]) for r in rows] == [("echo", 1)]
