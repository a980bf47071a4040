"""`/ui` in process: who reaches it (loopback only without an admin key; the login form and
its session cookie with one), the CSRF check of its forms, escaping of hostile names, and
what it shows (breaker states, cache hit rate, recent errors, runs awaiting approval, whose
approve button resumes the run)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.container import Container
from gateway.settings.loader import parse_settings

pytestmark = pytest.mark.anyio
ADMIN_ENV = "TEST_STATUS_PAGE_ADMIN"
ADMIN = "sk-status-page-admin-0123456789"
HOSTILE = '<script>alert("route")</script>'
REVIEW = """
name: review
inputs: {topic: string}
steps:
  draft: {model: echo, prompt: "Note on {{inputs.topic}}"}
  approve: {approval: "Publish <b>{{inputs.topic}}</b>?", needs: [draft]}
  publish: {model: echo, prompt: "Published {{steps.draft.output}}", needs: [approve]}
output: "{{steps.publish.output}}"
"""
CHAT = {"messages": [{"role": "user", "content": "hi"}], "temperature": 0}


def document(*, admin: bool = False, workflows: Path | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "server": {"access_log": False},
        "auth": {"required": False, **({"admin_key_env": ADMIN_ENV} if admin else {})},
        "defaults": {"breaker": {"failures": 2, "window_seconds": 60, "cooldown_seconds": 600}},
        "backends": {"fake": {"type": "fake"}},
        "models": [
            {"id": "echo", "backend": "fake", "cache": {"mode": "exact"}},
            {"id": HOSTILE, "backend": "fake", "upstream_model": "error-503"},
        ],
    }
    if workflows is not None:
        flows = workflows / "workflows"
        flows.mkdir(exist_ok=True)
        (flows / "review.yaml").write_text(REVIEW)
        doc["workflows"] = {
            "dir": str(flows),
            "data_dir": str(workflows / "data"),
            "database_url_env": "UNSET_STATUS_PAGE_WF_DB",
        }
    return doc


@contextlib.asynccontextmanager
async def served(
    doc: dict[str, Any], client: str = "127.0.0.1"
) -> AsyncIterator[httpx.AsyncClient]:
    built = Container(parse_settings(doc, "test", {}), env={})
    await built.start()
    transport = httpx.ASGITransport(app=create_app(built.settings, built), client=(client, 5555))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            yield http
    finally:
        await built.aclose()


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert found, page
    return found.group(1)


async def test_without_an_admin_key_only_loopback_clients_see_the_page() -> None:
    async with served(document()) as http:
        page = await http.get("/ui")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert "<h2>Routes and targets</h2>" in page.text
        # No key to sign in with: the login form sends the browser to the page.
        assert (await http.get("/ui/login")).headers["location"] == "/ui"
    async with served(document(), client="203.0.113.9") as http:
        for path in ("/ui", "/ui/login"):
            refused = await http.get(path)
            assert refused.status_code == 403
            assert refused.json()["error"]["type"] == "permission_error"


async def test_the_login_form_sets_an_httponly_strict_cookie(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ADMIN_ENV, ADMIN)
    # A remote client may reach the login form (the key, not the address, decides).
    async with served(document(admin=True), client="203.0.113.9") as http:
        first = await http.get("/ui")
        assert first.status_code == 303 and first.headers["location"] == "/ui/login"
        form = await http.get("/ui/login")
        assert form.status_code == 200 and 'name="key"' in form.text
        wrong = await http.post("/ui/login", data={"key": "sk-not-it"})
        assert wrong.status_code == 401 and "not the admin key" in wrong.text
        assert "set-cookie" not in wrong.headers
        right = await http.post("/ui/login", data={"key": ADMIN})
        assert right.status_code == 303 and right.headers["location"] == "/ui"
        cookie = right.headers["set-cookie"]
        assert cookie.startswith("switchyard_ui=")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
        assert "Secure" not in cookie  # plain HTTP: a Secure cookie would never come back
        value = cookie.split(";")[0].split("=", 1)[1]
        assert ADMIN not in value and hashlib.sha256(ADMIN.encode()).hexdigest() not in value
        page = await http.get("/ui")
        assert page.status_code == 200 and "Sign out" in page.text
        # A tampered cookie is no session.
        expires, _, mac = value.partition(".")
        flipped = mac[:-1] + ("1" if mac.endswith("0") else "0")
        for forged in (f"{int(expires) + 1000}.{mac}", f"{expires}.{flipped}", "ünïcode.☃"):
            header = f"switchyard_ui={forged}".encode()
            assert (await http.get("/ui", headers={"cookie": header})).status_code == 303
        assert (await http.get("/ui", headers={"cookie": f"switchyard_ui={value}"})).is_success
        # The admin key also still guards /admin and /metrics as before.
        assert (await http.get("/metrics")).status_code == 401


async def test_logout_needs_the_csrf_token_and_ends_the_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ADMIN_ENV, ADMIN)
    async with served(document(admin=True)) as http:
        await http.post("/ui/login", data={"key": ADMIN})
        token = csrf_of((await http.get("/ui")).text)
        assert (await http.post("/ui/logout", data={"csrf": "0" * 64})).status_code == 403
        assert (await http.get("/ui")).status_code == 200
        out = await http.post("/ui/logout", data={"csrf": token})
        assert out.status_code == 303 and "Max-Age=0" in out.headers["set-cookie"]
        assert (await http.get("/ui")).status_code == 303


async def test_hostile_route_names_are_escaped_and_errors_listed() -> None:
    async with served(document()) as http:
        for _ in range(3):
            failed = await http.post("/v1/chat/completions", json={**CHAT, "model": HOSTILE})
            assert failed.status_code == 503
        for _ in range(3):
            assert (
                await http.post("/v1/chat/completions", json={**CHAT, "model": "echo"})
            ).is_success
            await asyncio.sleep(0.05)  # the answer is stored off the request path
        page = (await http.get("/ui")).text
    assert HOSTILE not in page and "<script" not in page
    assert "&lt;script&gt;alert(&#34;route&#34;)&lt;/script&gt;" in page
    # The breaker of the failing target opened after two failures; echo's is closed.
    assert re.search(r'data-target="fake/error-503">.*?class="breaker open"', page, re.S)
    assert re.search(r'data-target="fake/echo">.*?class="breaker closed"', page, re.S)
    # Two of three echo lookups hit the cache.
    assert re.search(r"<td>echo</td><td>2</td><td>1</td><td>0</td><td>66.7 %</td>", page)
    # Every failure is listed with its request id, newest first; no body, no message.
    assert page.count("<td>503</td>") == 3
    assert failed.headers["x-request-id"] in page
    assert "scripted" not in page


async def test_forms_need_the_csrf_token_and_approve_resumes_the_run(tmp_path: Path) -> None:
    async with served(document(workflows=tmp_path)) as http:
        started = await http.post("/v1/workflows/review/runs", json={"inputs": {"topic": "<i>x"}})
        run_id = started.json()["run_id"]
        for _ in range(200):
            state = (await http.get(f"/v1/workflows/runs/{run_id}")).json()
            if state["status"] == "waiting_for_approval":
                break
            await asyncio.sleep(0.05)
        page = await http.get("/ui")
        assert f'data-run="{run_id}"' in page.text
        assert "Publish &lt;b&gt;{{inputs.topic}}&lt;/b&gt;?" in page.text  # escaped question
        token = csrf_of(page.text)
        action = f"/ui/runs/{run_id}/approve"
        for bad in ({}, {"csrf": ""}, {"csrf": "f" * 64}):
            refused = await http.post(action, data={**bad, "step": "approve"})
            assert refused.status_code == 403 and "form expired" in refused.text
        # Without the CSRF cookie the token alone is not enough (another site's form).
        cookies = dict(http.cookies)
        http.cookies.clear()
        refused = await http.post(action, data={"csrf": token, "step": "approve"})
        assert refused.status_code == 403
        for name, value in cookies.items():
            http.cookies.set(name, value, path="/ui")
        assert (await http.get(f"/v1/workflows/runs/{run_id}")).json()["status"] == (
            "waiting_for_approval"
        )
        wrong_step = await http.post(action, data={"csrf": token, "step": "draft"})
        assert wrong_step.status_code == 400 and "no approval step" in wrong_step.text
        done = await http.post(action, data={"csrf": token, "step": "approve"})
        assert done.status_code == 303 and done.headers["location"] == "/ui?done=approved"
        for _ in range(200):
            state = (await http.get(f"/v1/workflows/runs/{run_id}")).json()
            if state["status"] == "succeeded":
                break
            await asyncio.sleep(0.05)
        assert state["status"] == "succeeded", state
        after = (await http.get("/ui?done=approved")).text
        assert "Approved." in after and f'data-run="{run_id}"' not in after
        assert "Injected" not in (await http.get("/ui?done=Injected")).text
