"""Request bodies into typed requests, with OpenAI-shaped 400s that name the parameter."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from gateway.backends.base import Endpoint
from gateway.errors import InvalidRequestError, UnsupportedMediaTypeError
from gateway.pipeline.parsed import ParsedRequest
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.completions import CompletionRequest
from gateway.protocol.embeddings import EmbeddingRequest
from gateway.protocol.raw import decode_fields

_DECODERS: dict[Endpoint, msgspec.json.Decoder[Any]] = {
    "chat/completions": msgspec.json.Decoder(ChatCompletionRequest),
    "completions": msgspec.json.Decoder(CompletionRequest),
    "embeddings": msgspec.json.Decoder(EmbeddingRequest),
}
T = TypeVar("T")
_PATH_RE = re.compile(r"^(?P<msg>.*) - at `\$\.?(?P<path>[^`]*)`$", re.DOTALL)
_JSON_TYPES = (b"application/json", b"text/json")


def check_content_type(headers: list[tuple[bytes, bytes]]) -> None:
    """JSON bodies only; a missing content type is taken as JSON, as most SDKs assume."""
    for name, value in headers:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            if media and not (media in _JSON_TYPES or media.endswith(b"+json")):
                raise UnsupportedMediaTypeError(
                    f"Unsupported Content-Type `{media.decode('latin-1')}`: "
                    "send the request body as `application/json`."
                )
            return


def decode_request(endpoint: Endpoint, body: bytes) -> ParsedRequest:
    if not body.strip():
        raise InvalidRequestError(
            "The request body is empty: send a JSON object with `model` and "
            + {"chat/completions": "`messages`.", "completions": "`prompt`."}.get(
                endpoint, "`input`."
            )
        )
    if not body.isascii():
        try:
            body.decode("utf-8")  # unknown fields pass through raw: check them too
        except UnicodeDecodeError as exc:
            raise InvalidRequestError(
                f"The request body is not valid UTF-8 (byte {exc.start}).", code="invalid_json"
            ) from None
    fields = decode_json(body, decode_fields)
    return ParsedRequest(endpoint, decode_json(body, _DECODERS[endpoint].decode), fields)


def decode_json(body: bytes, decode: Callable[[bytes], T]) -> T:
    """`decode(body)`; a 400 that names the parameter when the JSON does not fit."""
    try:
        return decode(body)
    except msgspec.ValidationError as exc:
        message, param = _describe(str(exc))
        raise InvalidRequestError(message, param=param, code="invalid_value") from None
    except RecursionError:
        raise InvalidRequestError(
            "The JSON body is nested too deeply.", code="invalid_json"
        ) from None
    except msgspec.DecodeError as exc:
        raise _malformed(exc) from None


def _malformed(exc: msgspec.DecodeError) -> InvalidRequestError:
    return InvalidRequestError(
        f"We could not parse the JSON body of your request ({exc}). "
        "The body must be a JSON object encoded as UTF-8.",
        code="invalid_json",
    )


def _describe(error: str) -> tuple[str, str | None]:
    match = _PATH_RE.match(error)
    path = (match["path"] or None) if match else None
    detail = match["msg"] if match else error
    if path is None and detail.startswith("Expected `object`"):
        return f"The request body must be a JSON object: {detail}", None
    if detail.startswith("Object missing required field"):
        field = detail.split("`")[1]
        full = f"{path}.{field}" if path else field
        return f"Missing required parameter: `{full}`.", full
    if detail.startswith("Invalid value") and path and path.endswith("role"):
        return (
            f"Invalid value for `{path}`: {detail.removeprefix('Invalid value ')} is not a "
            "supported role (system, developer, user, assistant, tool, function).",
            path,
        )
    if path is None:
        # Cross-field checks (`__post_init__`) name their parameter first, in backticks.
        named = re.match(r"^`([a-z_]+)`", detail)
        return f"Invalid request: {detail}.", named[1] if named else None
    return f"Invalid value for `{path}`: {detail}.", path
