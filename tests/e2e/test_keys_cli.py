"""`gateway keys` against a real Redis and a real gateway sharing it: a created key is
printed once and works at once, `list` shows it (never the key), `revoke` makes it a 401;
without Redis, `create` prints a pasteable `keys:` entry."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support import GATEWAY, ROOT, RedisServer, start_gateway

pytestmark = pytest.mark.e2e
ADMIN = "sk-admin-keys-cli-0123456789"
ENV = {"TEST_KEYS_REDIS": "", "TEST_KEYS_ADMIN": ADMIN}
POLICY = """
auth: {required: true, admin_key_env: TEST_KEYS_ADMIN}
state: {redis_url_env: TEST_KEYS_REDIS}
backends: {fake: {type: fake}}
models: [{id: echo, backend: fake}]
"""
CHAT = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}


def keys_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GATEWAY, "keys", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
    )


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("keys-cli")
    redis = RedisServer()
    redis.start()
    policy = tmp / "policy.yaml"
    policy.write_text(POLICY)
    env = {**ENV, "TEST_KEYS_REDIS": redis.url}
    proc, base = start_gateway(tmp, ["--config", str(policy)], env=env)
    try:
        probe = httpx.get(f"{base}/admin/keys", headers=admin(), timeout=5)
        if probe.status_code == 404:
            pytest.skip("the /admin/keys routes are not wired into gateway/app.py yet")
        yield base, policy, env
    finally:
        proc.stop()
        redis.stop()


def admin() -> dict[str, str]:
    return {"authorization": f"Bearer {ADMIN}"}


def chat(base: str, key: str) -> int:
    reply = httpx.post(
        f"{base}/v1/chat/completions", json=CHAT, headers={"x-api-key": key}, timeout=10
    )
    return reply.status_code


def refused_within(base: str, key: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if chat(base, key) == 401:
            return True
        time.sleep(0.1)
    return False


def test_a_key_created_in_redis_works_is_listed_and_revoked(
    setup: tuple[str, Path, dict[str, str]],
) -> None:
    base, policy, env = setup
    created = keys_cli(
        "create", "--tenant", "acme", "--id", "acme-cli", "--rpm", "100", "--config", str(policy),
        env=env,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("sk-sy-") and created.stdout.count("sk-sy-") == 1
    assert key not in created.stderr
    assert chat(base, key) == 200  # another process created it: found in Redis at once

    listed = keys_cli("list", "--json", "--config", str(policy), env=env)
    assert listed.returncode == 0, listed.stderr
    rows = {row["id"]: row for row in json.loads(listed.stdout)["data"]}
    assert rows["acme-cli"]["source"] == "redis" and not rows["acme-cli"]["revoked"]
    assert (
        key not in listed.stdout and hashlib.sha256(key.encode()).hexdigest() not in listed.stdout
    )

    duplicate = keys_cli("create", "--tenant", "acme", "--id", "acme-cli", "--config", str(policy),
                         env=env)  # fmt: skip
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr

    revoked = keys_cli("revoke", "acme-cli", "--config", str(policy), env=env)
    assert revoked.returncode == 0, revoked.stderr
    assert refused_within(base, key, 3.0)
    assert keys_cli("revoke", "nobody", "--config", str(policy), env=env).returncode == 1


def test_the_cli_over_the_admin_api(setup: tuple[str, Path, dict[str, str]]) -> None:
    base, policy, _ = setup
    over_http = {"GATEWAY_URL": base, "GATEWAY_CONFIG": str(policy), "TEST_KEYS_ADMIN": ADMIN}
    created = keys_cli("create", "--tenant", "beta", "--id", "beta-http", env=over_http)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert chat(base, key) == 200
    listed = keys_cli("list", "--json", env=over_http)
    assert "beta-http" in listed.stdout and key not in listed.stdout
    assert keys_cli("revoke", "beta-http", env=over_http).returncode == 0
    assert chat(base, key) == 401  # revoked on the replica that served the revoke: at once
    assert keys_cli("revoke", "beta-http-none", env=over_http).returncode == 1
    no_admin = keys_cli("list", "--url", base, env={})
    assert no_admin.returncode == 1 and "GATEWAY_ADMIN_KEY" in no_admin.stderr


def test_without_redis_create_prints_a_pasteable_entry(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("backends: {fake: {type: fake}}\nmodels: [{id: echo, backend: fake}]\n")
    created = keys_cli(
        "create", "--tenant", "acme", "--models", "echo", "--usd-per-day", "5",
        "--expires", "2030-01-01T00:00:00Z", "--config", str(policy), env={},
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    key, _, entry = created.stdout.partition("\n")
    assert key.startswith("sk-sy-") and key not in entry
    (parsed,) = yaml.safe_load(entry)["keys"]
    assert parsed["sha256"] == hashlib.sha256(key.encode()).hexdigest()
    assert (parsed["tenant"], parsed["models"], parsed["budget"]) == (
        "acme", ["echo"], {"usd_per_day": 5.0},
    )  # fmt: skip
    pasted = tmp_path / "pasted.yaml"
    pasted.write_text(policy.read_text() + entry)
    check = subprocess.run([*GATEWAY, "check", str(pasted)], capture_output=True, text=True,
                           timeout=60, cwd=ROOT)  # fmt: skip
    assert check.returncode == 0, check.stderr
