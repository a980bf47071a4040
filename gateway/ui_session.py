"""Who may use the status page, and the CSRF check of its forms.

With an admin key configured, the login form takes the key and answers with a session
cookie: `<expiry>.<HMAC>`, keyed by an HMAC of the key's sha256, so the cookie never holds
the key, this process holds only its hash (as the auth middleware does), every worker process
accepts every other's sessions, and changing the key ends them all. Without an admin key the
page answers loopback clients only (the auth middleware's rule) and needs no login.

Forms (approve, reject, log out) carry a CSRF token that must equal the `HttpOnly`,
`SameSite=Strict` CSRF cookie (the double-submit pattern): another site can neither read
the cookie nor make the browser send it, so it cannot forge a decision; this works without
a login and across workers. All comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

SESSION_COOKIE = "switchyard_ui"
CSRF_COOKIE = "switchyard_ui_csrf"
COOKIE_PATH = "/ui"
SESSION_SECONDS = 12 * 3600
_SESSION_LABEL = b"switchyard-ui-session-v1"


def admin_sha256(env_name: str | None, env: Mapping[str, str] | None = None) -> str | None:
    """The sha256 (hex) of the admin key named by `auth.admin_key_env`, or None."""
    value = (os.environ if env is None else env).get(env_name) if env_name else None
    return hashlib.sha256(value.encode()).hexdigest() if value else None


@dataclass(frozen=True, slots=True)
class Cookie:
    name: str
    value: str
    max_age: int


class UiAuth:
    def __init__(self, admin_sha256: str | None, clock: float | None = None) -> None:
        self._admin = admin_sha256
        # Fixed time for tests; the wall clock otherwise (sessions outlive restarts).
        self._clock = clock
        self._secret = (
            hmac.new(bytes.fromhex(admin_sha256), _SESSION_LABEL, hashlib.sha256).digest()
            if admin_sha256
            else None
        )

    @property
    def needs_login(self) -> bool:
        return self._admin is not None

    def key_matches(self, presented: str) -> bool:
        if self._admin is None or not presented:
            return False
        digest = hashlib.sha256(presented.encode()).hexdigest()
        return _same(digest, self._admin)

    def new_session(self) -> Cookie:
        expires = int(self._now()) + SESSION_SECONDS
        return Cookie(SESSION_COOKIE, f"{expires}.{self._mac(expires)}", SESSION_SECONDS)

    def signed_in(self, cookies: Mapping[str, str]) -> bool:
        """Whether the page may be shown: always without an admin key (the middleware kept
        the client to loopback), else with a valid, unexpired session cookie."""
        if self._secret is None:
            return True
        expires_text, _, mac = cookies.get(SESSION_COOKIE, "").partition(".")
        if not expires_text.isdigit() or len(expires_text) > 12:
            return False
        expires = int(expires_text)
        return _same(mac, self._mac(expires)) and expires > self._now()

    def csrf_token(self, cookies: Mapping[str, str]) -> tuple[str, Cookie | None]:
        """The token for this page's forms, and the cookie to set when there is none yet."""
        current = cookies.get(CSRF_COOKIE, "")
        if len(current) == 64:
            return current, None
        token = secrets.token_hex(32)
        return token, Cookie(CSRF_COOKIE, token, SESSION_SECONDS)

    @staticmethod
    def csrf_ok(cookies: Mapping[str, str], submitted: str) -> bool:
        expected = cookies.get(CSRF_COOKIE, "")
        return len(expected) == 64 and _same(expected, submitted)

    def _mac(self, expires: int) -> str:
        assert self._secret is not None
        return hmac.new(self._secret, b"session:%d" % expires, hashlib.sha256).hexdigest()

    def _now(self) -> float:
        return time.time() if self._clock is None else self._clock


def _same(a: str, b: str) -> bool:
    # As bytes: `compare_digest` refuses non-ASCII text, which a hostile cookie may hold.
    return hmac.compare_digest(a.encode("utf-8", "replace"), b.encode("utf-8", "replace"))
