"""Timeouts, retries and (later) circuit breakers behind the gateway's own small API."""

from gateway.resilience.retry import with_retries

__all__ = ["with_retries"]
