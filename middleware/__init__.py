"""Pure ASGI middleware wrapping the whole app (errors included)."""

from middleware.access_log import AccessLogMiddleware
from middleware.body_limit import BodyLimitMiddleware
from middleware.request_id import RequestIdMiddleware

__all__ = ["AccessLogMiddleware", "BodyLimitMiddleware", "RequestIdMiddleware"]
