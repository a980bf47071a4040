from __future__ import annotations

import msgspec
import pytest

from gateway import errors
from gateway.backends.upstream_errors import openai_error_body, parse_retry_after


@pytest.mark.parametrize(
    ("cls", "status"),
    [
        (errors.InvalidRequestError, 400),
        (errors.AuthenticationError, 401),
        (errors.PermissionDeniedError, 403),
        (errors.NotFoundError, 404),
        (errors.RequestTimeoutError, 408),
        (errors.PayloadTooLargeError, 413),
        (errors.UnprocessableEntityError, 422),
        (errors.RateLimitError, 429),
        (errors.GatewayError, 500),
        (errors.BadGatewayError, 502),
        (errors.ServiceUnavailableError, 503),
        (errors.GatewayTimeoutError, 504),
    ],
)
def test_each_class_renders_an_openai_body_with_its_status(
    cls: type[errors.GatewayError], status: int
) -> None:
    exc = cls("boom", param="x")
    assert exc.status_code == status
    body = msgspec.json.decode(exc.body())
    assert body == {
        "error": {"message": "boom", "type": exc.error_type, "param": "x", "code": exc.error_code}
    }
    headers = dict(exc.headers())
    if status in (429, 503):
        assert headers[b"retry-after"] == b"1"
    if status in (400, 401, 403, 404, 413):
        assert headers[b"x-should-retry"] == b"false"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b'{"error": {"message": "bad key", "type": "auth", "code": "k", "extra": 1}}', "bad key"),
        (b'{"error": "plain string"}', "plain string"),
        (b'{"detail": "fastapi style"}', "fastapi style"),
        (b"<html>502 Bad Gateway</html>", "upstream `u` returned HTTP 418"),
        (b"", "upstream `u` returned HTTP 418"),
        (b"oops text", "upstream `u` returned HTTP 418: oops text"),
    ],
)
def test_upstream_error_bodies_are_normalised(payload: bytes, message: str) -> None:
    body, text = openai_error_body(418, payload, "u")
    error = msgspec.json.decode(body)["error"]
    assert error["message"] == message == text
    assert {"message", "type", "param", "code"} <= set(error)
    assert "<html>" not in body.decode()


def test_retry_after_seconds_and_dates() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_framework_statuses_map_into_the_tree() -> None:
    assert isinstance(errors.error_from_status(405, "m"), errors.MethodNotAllowedError)
    assert errors.error_from_status(418, "m").status_code == 400
    assert errors.error_from_status(599, "m").status_code == 500


def test_an_upstream_error_code_is_read_for_failover_decisions() -> None:
    from gateway.backends.upstream_errors import _code_of

    body = b'{"error": {"message": "m", "type": "t", "code": "context_length_exceeded"}}'
    assert _code_of(body) == "context_length_exceeded"
    assert _code_of(b'{"error": {"code": 42}}') is None
    assert _code_of(b"not json") is None


def test_a_request_id_with_a_trailing_newline_is_not_echoed() -> None:
    import asyncio

    from middleware.request_id import RequestIdMiddleware

    sent: list[dict] = []

    async def app(scope: dict, receive: object, send: object) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "path": "/x", "headers": [(b"x-request-id", b"abc\n")]}
    asyncio.run(RequestIdMiddleware(app)(scope, None, send))
    ids = [v for k, v in sent[0]["headers"] if k == b"x-request-id"]
    assert ids and ids[0] != b"abc\n" and b"\n" not in ids[0]
