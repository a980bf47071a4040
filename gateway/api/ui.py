"""`/ui`: the status page, its login and its approve/reject forms (server-rendered HTML).

    GET  /ui                          the page (to /ui/login first when a key is needed)
    GET  /ui/login, POST /ui/login    the admin-key form; sets the session cookie
    POST /ui/logout                   ends the session
    POST /ui/runs/{id}/approve|reject decide an approval (form: csrf, step), then back to /ui

Who gets here at all is the auth middleware's rule (loopback only without an admin key);
sessions and CSRF are `gateway.ui_session`'s. A decision calls the same engine methods as
`POST /v1/workflows/runs/{id}/approve|reject`, for a run of any tenant (the admin's view).
"""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie as LitestarCookie
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Redirect

from gateway.errors import GatewayError
from gateway.observability.recent_errors import RecentErrors
from gateway.ui_render import HEADERS, REFRESH_SECONDS, PageRenderer
from gateway.ui_session import COOKIE_PATH, SESSION_COOKIE, Cookie, UiAuth
from gateway.ui_status import StatusSource, status_view

_HTML = "text/html; charset=utf-8"
# What `?done=` may say after a decision: fixed texts, never text from the URL.
_NOTICES = {"approved": "Approved.", "rejected": "Rejected."}
_MAX_FIELD = 256


def ui_handlers(
    source: StatusSource, errors: RecentErrors, admin_sha256: str | None
) -> list[HTTPRouteHandler]:
    auth = UiAuth(admin_sha256)
    pages = PageRenderer()

    async def page(
        request: Request[Any, Any, Any], *, notice: str = "", failure: str = "", status: int = 200
    ) -> Response[str]:
        csrf, new_cookie = auth.csrf_token(request.cookies)
        body = pages.render(
            "status.html",
            view=await status_view(source, errors),
            csrf=csrf,
            notice=notice,
            failure=failure,
            now=time.time(),
            refresh_seconds=REFRESH_SECONDS,
            signed_in_with_key=auth.needs_login,
        )
        cookies = [] if new_cookie is None else [_cookie(request, new_cookie)]
        return Response(
            body, status_code=status, media_type=_HTML, headers=HEADERS, cookies=cookies
        )

    @get("/ui")
    async def status_page(request: Request[Any, Any, Any]) -> Response[Any]:
        if not auth.signed_in(request.cookies):
            return _see_other("/ui/login")
        return await page(request, notice=_NOTICES.get(request.query_params.get("done", ""), ""))

    @get("/ui/login", sync_to_thread=False)
    def login_form(request: Request[Any, Any, Any]) -> Response[Any]:
        if not auth.needs_login or auth.signed_in(request.cookies):
            return _see_other("/ui")
        return _html(pages.render("login.html", failed=False))

    @post("/ui/login", status_code=303)
    async def login(request: Request[Any, Any, Any]) -> Response[Any]:
        if not auth.needs_login:
            return _see_other("/ui")
        form = await request.form()
        if not auth.key_matches(_field(form, "key", limit=4096)):
            return _html(pages.render("login.html", failed=True), status=401)
        return _see_other("/ui", cookies=[_cookie(request, auth.new_session())])

    @post("/ui/logout", status_code=303)
    async def logout(request: Request[Any, Any, Any]) -> Response[Any]:
        form = await request.form()
        if not auth.csrf_ok(request.cookies, _field(form, "csrf")):
            return _html(pages.render("login.html", failed=False), status=403)
        ended = Cookie(SESSION_COOKIE, "", 0)
        return _see_other("/ui/login", cookies=[_cookie(request, ended)])

    @post("/ui/runs/{run_id:str}/approve", status_code=303)
    async def approve(request: Request[Any, Any, Any], run_id: FromPath[str]) -> Response[Any]:
        return await decide(request, run_id, approve=True)

    @post("/ui/runs/{run_id:str}/reject", status_code=303)
    async def reject(request: Request[Any, Any, Any], run_id: FromPath[str]) -> Response[Any]:
        return await decide(request, run_id, approve=False)

    async def decide(request: Request[Any, Any, Any], run_id: str, approve: bool) -> Response[Any]:
        if not auth.signed_in(request.cookies):
            return _see_other("/ui/login")
        form = await request.form()
        if not auth.csrf_ok(request.cookies, _field(form, "csrf")):
            return await page(
                request, failure="The form expired; reload the page and try again.", status=403
            )
        engine = source.tool_set.workflows.require()
        act = engine.approve if approve else engine.reject
        try:
            await act(run_id, _field(form, "step"), None, tenant=None)
        except GatewayError as exc:
            # A person at a browser: the refusal goes on the page, not as a JSON body.
            return await page(request, failure=exc.message, status=exc.status_code)
        return _see_other("/ui?done=" + ("approved" if approve else "rejected"))

    return [status_page, login_form, login, logout, approve, reject]


def _field(form: Any, name: str, limit: int = _MAX_FIELD) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def _cookie(request: Request[Any, Any, Any], cookie: Cookie) -> LitestarCookie:
    return LitestarCookie(
        key=cookie.name,
        value=cookie.value,
        path=COOKIE_PATH,
        max_age=cookie.max_age,
        httponly=True,
        samesite="strict",
        # Over plain HTTP (a loopback gateway) a Secure cookie would never come back.
        secure=request.url.scheme == "https",
    )


def _html(body: str, status: int = 200) -> Response[str]:
    return Response(body, status_code=status, media_type=_HTML, headers=HEADERS)


def _see_other(path: str, cookies: list[LitestarCookie] | None = None) -> Redirect:
    # 303: after a POST the browser GETs the page (a reload does not resubmit the form).
    return Redirect(path, status_code=303, headers=HEADERS, cookies=cookies or [])
