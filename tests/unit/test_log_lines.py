"""The gateway's log lines: JSON, the handled request's id on each, credentials redacted."""

from __future__ import annotations

import io
import json
import logging
import secrets

from gateway.context import REQUEST_ID
from gateway.observability.log_redaction import Redactor
from gateway.observability.logs import JSONFormatter, RequestIdFilter


def _logger() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger(f"test.logs.{secrets.token_hex(4)}")
    logger.propagate = False
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    return logger, stream


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_lines_logged_while_handling_a_request_carry_its_id() -> None:
    logger, stream = _logger()
    logger.info("before")
    token = REQUEST_ID.set("req-42")
    try:
        logger.info("during", extra={"backend": "fake"})
    finally:
        REQUEST_ID.reset(token)
    logger.info("after")
    before, during, after = _lines(stream)
    assert "request_id" not in before and "request_id" not in after
    assert during["request_id"] == "req-42" and during["backend"] == "fake"


def test_credentials_are_redacted_from_messages_extras_and_tracebacks() -> None:
    key = "sk-proj-" + secrets.token_urlsafe(40)
    logger, stream = _logger()
    logger.warning("upstream said: invalid key %s", key, extra={"detail": f"key={key}"})
    logger.info("header", extra={"auth": "Authorization: Bearer abcdef123"})
    try:
        raise RuntimeError(f"failed with {key}")
    except RuntimeError:
        logger.exception("boom")
    text = stream.getvalue()
    assert key not in text and "abcdef123" not in text
    warning, header, boom = _lines(stream)
    assert warning["msg"] == "upstream said: invalid key [REDACTED:OPENAI_API_KEY]"
    assert header["auth"] == "Authorization: Bearer [REDACTED]"
    assert "[REDACTED:OPENAI_API_KEY]" in str(boom["exc"])


def test_a_value_json_cannot_hold_is_logged_as_its_redacted_text() -> None:
    logger, stream = _logger()
    logger.info("odd", extra={"thing": object()})
    (line,) = _lines(stream)
    assert str(line["thing"]).startswith("<object object")


def test_short_texts_are_remembered_boundedly() -> None:
    redactor = Redactor()
    assert redactor.short("gpt-4o") == "gpt-4o"
    for index in range(2000):
        redactor.short(f"model-{index}")
    assert len(redactor._memo) <= 512
