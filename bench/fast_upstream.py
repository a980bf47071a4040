"""A fake OpenAI upstream cheap enough never to be the bottleneck of a benchmark.

A raw `asyncio.Protocol` HTTP/1.1 keep-alive server on uvloop, parsed by httptools, with
canned bytes for every answer:

* `POST /v1/chat/completions`: a `chat.completion` (content-length), or, if the body asks
  `"stream": true`, an SSE stream (chunked) of 5 chunks, a usage chunk when the body asks
  `stream_options.include_usage`, then `data: [DONE]`.
* `GET /v1/models`: one model, `bench`.

Run: `python bench/fast_upstream.py --port 9100` (binds 127.0.0.1 only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal

import httptools
import uvloop

_STREAM_RE = re.compile(rb'"stream"\s*:\s*true')
_USAGE_RE = re.compile(rb'"include_usage"\s*:\s*true')

_COMPLETION = json.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "bench",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "hello"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    },
    separators=(",", ":"),
).encode()

_MODELS = json.dumps(
    {
        "object": "list",
        "data": [{"id": "bench", "object": "model", "created": 0, "owned_by": "bench"}],
    },
    separators=(",", ":"),
).encode()


def _chunk(delta: dict[str, str], finish: str | None = None, **extra: object) -> dict[str, object]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "bench",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


def _sse(events: list[dict[str, object]]) -> bytes:
    parts = [b"data: " + json.dumps(e, separators=(",", ":")).encode() + b"\n\n" for e in events]
    return b"".join(parts)


_STREAM_EVENTS = [
    _chunk({"role": "assistant", "content": ""}),
    _chunk({"content": "hi"}),
    _chunk({"content": " there"}),
    _chunk({"content": "!"}),
    _chunk({}, "stop"),
]
_USAGE_EVENT = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1,
    "model": "bench",
    "choices": [],
    "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4},
}


def _chunked(payload: bytes) -> bytes:
    return f"{len(payload):x}\r\n".encode() + payload + b"\r\n"


def _fixed(status: bytes, ctype: bytes, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: " + ctype + b"\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


def _stream_response(include_usage: bool) -> bytes:
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    events = list(_STREAM_EVENTS)
    if include_usage:
        events.append(_USAGE_EVENT)
    # One HTTP chunk per SSE event, as a real streaming server would send them.
    body = b"".join(_chunked(_sse([e])) for e in events)
    return head + body + _chunked(b"data: [DONE]\n\n") + b"0\r\n\r\n"


RESP_COMPLETION = _fixed(b"200 OK", b"application/json", _COMPLETION)
RESP_MODELS = _fixed(b"200 OK", b"application/json", _MODELS)
RESP_STREAM = _stream_response(include_usage=False)
RESP_STREAM_USAGE = _stream_response(include_usage=True)
RESP_NOT_FOUND = _fixed(
    b"404 Not Found", b"application/json", b'{"error":{"message":"not found","type":"invalid"}}'
)


class UpstreamProtocol(asyncio.Protocol):
    __slots__ = ("body", "parser", "transport", "url")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url = b""
        self.body = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        method = self.parser.get_method()
        path = self.url.split(b"?", 1)[0]
        if method == b"POST" and path == b"/v1/chat/completions":
            body = b"".join(self.body)
            if _STREAM_RE.search(body):
                resp = RESP_STREAM_USAGE if _USAGE_RE.search(body) else RESP_STREAM
            else:
                resp = RESP_COMPLETION
        elif method == b"GET" and path == b"/v1/models":
            resp = RESP_MODELS
        else:
            resp = RESP_NOT_FOUND
        transport.write(resp)
        if not self.parser.should_keep_alive():
            transport.close()


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        UpstreamProtocol, "127.0.0.1", port, reuse_address=True, backlog=2048
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"fast_upstream listening on 127.0.0.1:{port}", flush=True)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.port))


if __name__ == "__main__":
    main()
