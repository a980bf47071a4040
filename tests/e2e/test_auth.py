"""API keys through the official SDK against a real gateway: missing, wrong, expired and
not-allowed keys are OpenAI-shaped 401/401/401/403 the SDK raises as its typed errors; the
key never reaches a log line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI

from gateway.keys.records import sha256_hex as sha
from tests.support import Process, start_gateway

pytestmark = pytest.mark.e2e
GOOD = "sk-team-a-0123456789abcdef"
OLD = "sk-expired-0123456789abcdef"
NARROW = "sk-narrow-0123456789abcdef"
ADMIN = "sk-admin-0123456789abcdef"


CONFIG = f"""
server: {{access_log: true}}
auth: {{required: true, admin_key_env: TEST_ADMIN_KEY}}
keys:
  - {{id: team-a-ci, sha256: {sha(GOOD)}, tenant: team-a}}
  - {{id: old, sha256: {sha(OLD)}, expires: 2020-01-01T00:00:00Z}}
  - {{id: narrow, sha256: {sha(NARROW)}, models: [echo, "fake/*"]}}
backends:
  fake: {{type: fake}}
models:
  - {{id: echo, backend: fake}}
  - {{id: other, backend: fake}}
  - {{id: fake/*, backend: fake, upstream_model: "*"}}
"""
USER = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Process]]:
    tmp = tmp_path_factory.mktemp("auth")
    config = tmp / "policy.yaml"
    config.write_text(CONFIG)
    proc, base = start_gateway(Path(tmp), ["--config", str(config)], env={"TEST_ADMIN_KEY": ADMIN})
    yield base, proc
    proc.stop()


def sdk(base: str, key: str) -> OpenAI:
    return OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0, timeout=10)


def test_a_valid_key_is_served(gateway: tuple[str, Process]) -> None:
    base, _ = gateway
    reply = sdk(base, GOOD).chat.completions.create(model="echo", messages=USER)
    assert reply.choices[0].message.content == "hello"
    anthropic_style = httpx.post(
        f"{base}/v1/chat/completions",
        json={"model": "echo", "messages": USER},
        headers={"x-api-key": GOOD},
        timeout=10,
    )
    assert anthropic_style.status_code == 200


def test_no_key_is_401(gateway: tuple[str, Process]) -> None:
    base, _ = gateway  # (the SDK refuses to send no key at all: plain HTTP here)
    response = httpx.post(
        f"{base}/v1/chat/completions", json={"model": "echo", "messages": USER}, timeout=10
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize("key", ["sk-wrong", OLD])
def test_missing_wrong_and_expired_keys_are_401(gateway: tuple[str, Process], key: str) -> None:
    base, _ = gateway
    with pytest.raises(openai.AuthenticationError) as caught:
        sdk(base, key).chat.completions.create(model="echo", messages=USER)
    assert caught.value.status_code == 401 and caught.value.code == "invalid_api_key"
    assert isinstance(caught.value.body, dict) and set(caught.value.body) >= {"message", "type"}


def test_a_model_outside_the_allow_list_is_403_naming_no_other(
    gateway: tuple[str, Process],
) -> None:
    base, _ = gateway
    client = sdk(base, NARROW)
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client.chat.completions.create(model="other", messages=USER)
    assert caught.value.code == "model_not_allowed"
    assert "echo" not in caught.value.message
    assert client.chat.completions.create(model="fake/echo", messages=USER).choices
    assert {m.id for m in client.models.list()} == {"echo"}  # only what it may use
    with pytest.raises(openai.PermissionDeniedError):
        client.embeddings.create(model="other", input="x")


def test_health_is_open_and_metrics_need_the_admin_key(gateway: tuple[str, Process]) -> None:
    base, _ = gateway
    assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
    assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
    assert httpx.get(f"{base}/metrics", timeout=5).status_code == 401
    assert (
        httpx.get(
            f"{base}/metrics", headers={"authorization": f"Bearer {GOOD}"}, timeout=5
        ).status_code
        == 401
    )
    assert (
        httpx.get(
            f"{base}/metrics", headers={"authorization": f"Bearer {ADMIN}"}, timeout=5
        ).status_code
        == 200
    )


def test_keys_never_reach_the_log(gateway: tuple[str, Process]) -> None:
    base, proc = gateway
    for key in (GOOD, "sk-wrong-secret-value", NARROW):
        httpx.post(
            f"{base}/v1/chat/completions",
            json={"model": "echo", "messages": USER},
            headers={"authorization": f"Bearer {key}"},
            timeout=10,
        )
    log = proc.output()
    assert '"event":"request"' in log  # the access log is on
    for secret in (GOOD, NARROW, ADMIN, "sk-wrong-secret-value", sha(GOOD)[:16]):
        assert secret not in log
