"""The status page's parts on their own: sessions (expiry, forgery, a changed key), the CSRF
check, and the bounded buffer of recent errors (what it keeps, and what it never reads)."""

from __future__ import annotations

import hashlib

from gateway.context import RequestContext
from gateway.observability.recent_errors import RecentErrors
from gateway.ui_session import CSRF_COOKIE, SESSION_COOKIE, SESSION_SECONDS, UiAuth, admin_sha256

KEY = "sk-admin-unit-0123456789"
HASH = hashlib.sha256(KEY.encode()).hexdigest()


def test_admin_sha256_reads_the_named_variable_only() -> None:
    assert admin_sha256("ADMIN", {"ADMIN": KEY}) == HASH
    assert admin_sha256("ADMIN", {}) is None
    assert admin_sha256(None, {"ADMIN": KEY}) is None


def test_a_session_expires_and_cannot_be_forged() -> None:
    auth = UiAuth(HASH, clock=1_000_000.0)
    assert auth.needs_login and auth.key_matches(KEY)
    assert not auth.key_matches("") and not auth.key_matches(KEY + "x")
    session = auth.new_session()
    assert session.name == SESSION_COOKIE and session.max_age == SESSION_SECONDS
    assert KEY not in session.value and HASH not in session.value
    assert auth.signed_in({SESSION_COOKIE: session.value})
    assert not auth.signed_in({})
    assert not auth.signed_in({SESSION_COOKIE: "junk"})
    assert not auth.signed_in({SESSION_COOKIE: "9" * 40 + ".ab"})
    later = UiAuth(HASH, clock=1_000_000.0 + SESSION_SECONDS + 1)
    assert not later.signed_in({SESSION_COOKIE: session.value})
    # A new admin key ends every session made with the old one.
    rotated = UiAuth(hashlib.sha256(b"sk-new-admin-key").hexdigest(), clock=1_000_000.0)
    assert not rotated.signed_in({SESSION_COOKIE: session.value})


def test_without_an_admin_key_no_login_is_needed() -> None:
    auth = UiAuth(None)
    assert not auth.needs_login and auth.signed_in({}) and not auth.key_matches(KEY)


def test_the_csrf_token_is_the_cookie_double_submitted() -> None:
    auth = UiAuth(None)
    token, cookie = auth.csrf_token({})
    assert cookie is not None and cookie.name == CSRF_COOKIE and cookie.value == token
    assert auth.csrf_token({CSRF_COOKIE: token}) == (token, None)
    assert auth.csrf_ok({CSRF_COOKIE: token}, token)
    assert not auth.csrf_ok({CSRF_COOKIE: token}, "")
    assert not auth.csrf_ok({CSRF_COOKIE: token}, token[:-1] + "é")
    assert not auth.csrf_ok({}, token)
    assert not auth.csrf_ok({CSRF_COOKIE: "short"}, "short")


def test_recent_errors_are_bounded_newest_first_and_skip_successes() -> None:
    calls: list[int] = []
    errors = RecentErrors(size=3)
    observe = errors.chained(lambda route, status, seconds, ctx: calls.append(status))
    for n in range(5):
        ctx = RequestContext(request_id=f"req-{n}", endpoint="/v1/chat/completions")
        ctx.route_id, ctx.model = "echo", "client <text>"
        ctx.backend_name, ctx.upstream_model = "fake", "x" * 500
        observe("/v1/chat/completions", 429 if n % 2 else 503, 0.01, ctx)
    observe("/v1/chat/completions", 200, 0.01, None)
    observe("other", 499, 0.01, None)
    assert calls == [503, 429, 503, 429, 503, 200, 499]  # the metrics saw every request
    kept = errors.entries()
    assert [e.request_id for e in kept] == ["", "req-4", "req-3"]
    assert kept[0].code == "client_closed"
    assert (kept[1].code, kept[2].code) == ("service_unavailable", "rate_limit_exceeded")
    assert kept[1].model == "echo"  # the route, not the id the client sent
    assert len(kept[1].target) == 128


def test_a_recent_error_shows_the_code_its_response_carried() -> None:
    errors = RecentErrors()
    ctx = RequestContext(request_id="req", endpoint="/v1/chat/completions")
    ctx.error_code = "circuit_open"
    errors.observe("/v1/chat/completions", 503, 0.01, ctx)
    errors.observe("/v1/chat/completions", 503, 0.01, None)  # answered before the app ran
    assert [e.code for e in errors.entries()] == ["service_unavailable", "circuit_open"]
