"""The OpenAI error body: `{"error": {"message", "type", "param", "code"}}`."""

from __future__ import annotations

from msgspec import Struct


class ErrorBody(Struct, kw_only=True):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(Struct, kw_only=True):
    error: ErrorBody
