"""One JSON object per log line, on stderr: the gateway's own loggers, uvicorn's and the
libraries' alike. Every line logged while a request is handled carries its `request_id`
(from the context variable the request-id middleware sets), and every line goes through
the secrets redaction pass (`log_redaction`) before it is written."""

from __future__ import annotations

import logging
import sys
from typing import Any

import msgspec

from gateway.context import REQUEST_ID
from gateway.observability.log_redaction import Redactor

_encoder = msgspec.json.Encoder()
# Attributes every LogRecord has; anything else passed via `extra=` becomes a JSON field.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


class RequestIdFilter(logging.Filter):
    """Adds the request id of the request being handled (none outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "request_id" not in record.__dict__:
            request_id = REQUEST_ID.get()
            if request_id is not None:
                record.request_id = request_id
        return True


class JSONFormatter(logging.Formatter):
    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self._redactor = redactor or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        redact = self._redactor.text
        entry: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD:
                entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        try:
            return _encoder.encode(entry).decode()
        except TypeError:  # an `extra=` value msgspec cannot encode: its text instead
            plain = {k: v if _encodable(v) else redact(repr(v)) for k, v in entry.items()}
            return _encoder.encode(plain).decode()


def _encodable(value: Any) -> bool:
    try:
        _encoder.encode(value)
    except TypeError:
        return False
    return True


def configure_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
