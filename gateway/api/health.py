"""`GET /healthz` (the process is alive), `GET /readyz` (config loaded, backends ready; each
target's breaker state and each MCP server's), `GET /metrics` (Prometheus)."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
from litestar import Response, get
from litestar.handlers import HTTPRouteHandler

from gateway.errors import ServiceUnavailableError
from gateway.observability.metrics import GatewayMetrics

_encoder = msgspec.json.Encoder()


def health_handlers(
    not_ready: Callable[[], list[str]],
    metrics: GatewayMetrics,
    breakers: Callable[[], dict[str, str]] = dict,
    tool_servers: Callable[[], dict[str, str]] = dict,
) -> list[HTTPRouteHandler]:
    @get("/healthz", sync_to_thread=False)
    def healthz() -> Response[bytes]:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @get("/readyz", sync_to_thread=False)
    def readyz() -> Response[bytes]:
        pending = not_ready()
        if pending:
            raise ServiceUnavailableError("not ready: " + "; ".join(pending))
        # An open breaker is not "unready": other targets (and fallbacks) still serve; nor
        # is an MCP server that is down (its tools are hidden until it is back).
        body = _encoder.encode(
            {"status": "ready", "breakers": breakers(), "mcp_servers": tool_servers()}
        )
        return Response(body, media_type="application/json")

    @get("/metrics", sync_to_thread=False)
    def metrics_endpoint() -> Response[bytes]:
        return Response(metrics.render(), media_type=metrics.content_type)

    return [healthz, readyz, metrics_endpoint]
