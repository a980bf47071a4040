"""The app factory: a Litestar app for the routes, wrapped in pure-ASGI middleware."""

from __future__ import annotations

import hashlib
import os
import sys
from typing import Any

import msgspec
from litestar import Litestar
from litestar.config.cors import CORSConfig

from gateway.api.admin_cache import admin_cache_handlers
from gateway.api.admin_keys import admin_key_handlers
from gateway.api.completions import completion_handlers
from gateway.api.errors import render_error
from gateway.api.health import health_handlers
from gateway.api.mcp_endpoint import mcp_handler
from gateway.api.messages_endpoint import messages_handlers
from gateway.api.models import model_handlers
from gateway.api.rag_endpoints import rag_handlers
from gateway.api.responses_endpoint import responses_handlers
from gateway.api.ui import ui_handlers
from gateway.api.usage import usage_handlers
from gateway.api.verify_endpoint import verify_handlers
from gateway.api.workflow_endpoints import workflow_handlers
from gateway.config_watch import ConfigWatcher
from gateway.container import Container
from gateway.keys import KeyTable
from gateway.observability.log_redaction import Redactor
from gateway.observability.recent_errors import RecentErrors
from gateway.runtime import tune_gc
from gateway.settings.schema import Settings
from gateway.ui_session import admin_sha256
from middleware.access_log import AccessLogMiddleware
from middleware.auth import AuthMiddleware
from middleware.background_writer import BackgroundWriter
from middleware.body_limit import BodyLimitMiddleware
from middleware.request_id import RequestIdMiddleware

# How `gateway serve` hands validated settings to each uvicorn worker process.
SETTINGS_ENV = "GATEWAY_SETTINGS_JSON"
# ... and the policy file's path, so that each worker reloads it.
CONFIG_PATH_ENV = "GATEWAY_CONFIG_PATH"


def create_app(
    settings: Settings, container: Container | None = None, config_path: str | None = None
) -> Any:
    container = container or Container(settings)
    server = settings.server
    # With a policy file, it is reloaded on SIGHUP and when it changes.
    watcher = (
        ConfigWatcher(config_path, lambda: container.settings, container.reload)
        if config_path
        else None
    )
    # Built first so that shutdown can write out the access-log lines still queued.
    access_log = BackgroundWriter(sys.stderr.buffer, name="access-log")
    mcp_route, mcp_endpoint = mcp_handler(lambda: container.tool_set.registry)
    deadline = lambda: container.settings.defaults.deadline_seconds  # noqa: E731
    recent_errors = RecentErrors()  # the status page's; fed by the access log's hook
    redactor = Redactor()  # what access-log lines quote of a client's text
    app = Litestar(
        route_handlers=[
            *completion_handlers(lambda: container.pipeline, server, deadline),
            *responses_handlers(
                lambda: container.pipeline, server, lambda: container.responses, deadline
            ),
            *messages_handlers(lambda: container.pipeline, server, deadline),
            *model_handlers(lambda: container.catalog, container.created),
            *health_handlers(
                container.not_ready,
                container.metrics,
                container.breaker_states,
                container.tool_set.status,
            ),
            *admin_key_handlers(lambda: container.keys, lambda: container.settings.policies),
            *admin_cache_handlers(lambda: container.response_cache),
            mcp_route,
            *verify_handlers(lambda: container.tool_set.verify),
            *rag_handlers(lambda: container.tool_set.rag),
            *workflow_handlers(lambda: container.tool_set.workflows),
            *ui_handlers(container, recent_errors, admin_sha256(settings.auth.admin_key_env)),
            *usage_handlers(
                lambda: container.quota,
                container.ledger,
                lambda: container.settings.state.timeout_seconds,
            ),
        ],
        on_startup=[
            container.start,
            *([watcher.start] if watcher else []),
            *([tune_gc] if server.gc_tuning else []),
        ],
        on_shutdown=[
            *([watcher.aclose] if watcher else []),
            mcp_endpoint.aclose,
            container.aclose,
            access_log.aclose,
        ],
        exception_handlers={Exception: render_error},
        openapi_config=None,
        logging_config=None,
        request_max_body_size=server.max_body_bytes,
        cors_config=_cors(server.cors_allow_origins),
    )
    app.state.container = container
    wrapped: Any = BodyLimitMiddleware(app, max_bytes=server.max_body_bytes)
    wrapped = _auth(settings, container.keys, wrapped)
    wrapped = AccessLogMiddleware(
        wrapped,
        observe=recent_errors.chained(container.metrics.observe),
        enabled=server.access_log,
        writer=access_log,
        redact=redactor.short,
        log_bodies=redactor.text if server.log_bodies else None,
    )
    if container.tracing is not None:
        wrapped = container.tracing.middleware(wrapped)
    return RequestIdMiddleware(wrapped, overhead_header=server.overhead_header)


def _auth(settings: Settings, keys: KeyTable, app: Any) -> Any:
    """Keys are checked before the body limit reads anything (and before any parsing)."""
    auth = settings.auth
    admin = os.environ.get(auth.admin_key_env) if auth.admin_key_env else None
    admin_hash = hashlib.sha256(admin.encode()).hexdigest() if admin else None
    return AuthMiddleware(app, required=auth.required, keys=keys, admin_sha256=admin_hash)


def _cors(origins: list[str]) -> CORSConfig | None:
    if not origins:
        return None
    return CORSConfig(
        allow_origins=origins,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["*"],
        expose_headers=[
            "x-request-id",
            "x-gateway-overhead-ms",
            "x-gateway-route",
            "x-gateway-target",
            "x-gateway-attempts",
            "x-gateway-intent",
            "retry-after",
            "x-should-retry",
        ],
    )


def create_app_from_env() -> Any:
    """uvicorn's factory for worker processes (`--workers N`)."""
    from gateway.observability.logs import configure_logging

    configure_logging(os.environ.get("GATEWAY_LOG_LEVEL", "info"))
    settings = msgspec.json.decode(os.environ[SETTINGS_ENV], type=Settings)
    return create_app(settings, config_path=os.environ.get(CONFIG_PATH_ENV) or None)
