"""The one exception handler: every error leaves as an OpenAI error body, never a traceback,
a `{"detail": ...}` body or an HTML page."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException

from gateway.context import CONTEXT_SCOPE_KEY, RequestContext
from gateway.error_response import render_error_response
from gateway.errors import GatewayError, error_from_status

log = logging.getLogger("gateway.errors")


def as_gateway_error(exc: Exception) -> GatewayError:
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, HTTPException):
        status = exc.status_code
        message = {
            404: (
                "Unknown URL. This gateway serves POST /v1/chat/completions, "
                "POST /v1/completions, POST /v1/embeddings, POST /v1/responses, "
                "POST /v1/messages, GET /v1/models, "
                "GET /v1/models/{id}, GET /healthz, GET /readyz and GET /metrics "
                "(see the README's Endpoints section)."
            ),
            405: "Method not allowed for this URL.",
        }.get(status, str(exc.detail))
        return error_from_status(status, message)
    return GatewayError("The gateway hit an internal error; the request id is in the headers.")


def render_error(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    error = as_gateway_error(exc)
    if error.status_code >= 500 and not isinstance(exc, GatewayError):
        log.error("unhandled error on %s", request.url.path, exc_info=exc)
    ctx = request.scope.get(CONTEXT_SCOPE_KEY)
    if isinstance(ctx, RequestContext):
        ctx.error_code = error.error_code or error.error_type
    rendered = render_error_response(error, request.url.path)
    return Response(
        content=rendered.body,
        status_code=rendered.status,
        media_type="application/json",
        headers={
            name.decode("latin-1"): value.decode("latin-1") for name, value in rendered.headers
        },
    )
