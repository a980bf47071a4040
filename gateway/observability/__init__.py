"""Metrics and structured logs."""

from gateway.observability.logs import configure_logging
from gateway.observability.metrics import GatewayMetrics

__all__ = ["GatewayMetrics", "configure_logging"]
