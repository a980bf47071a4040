"""A body over the limit always gets its 413 read by the client, over a real uvicorn socket.

The client here behaves like most HTTP clients: it sends the whole body, then reads. A server
that answers and closes mid-body resets the connection and the client reads nothing; these
attempts must each read a complete 413 with the OpenAI error body. The server's access log
must also hold one complete line per attempt after shutdown (written by its log thread).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Process, start_gateway

pytestmark = pytest.mark.e2e

BODY = 40 * 1024 * 1024  # over the default 16 MiB limit, under the 64 MiB drain bound
CHUNK = 1024 * 1024
ATTEMPTS = 10
CONFIG = "backends:\n  fake: {type: fake}\nmodels:\n  - {id: echo, backend: fake}\n"
_PAYLOAD = b"x" * CHUNK


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Process, str]]:
    tmp = tmp_path_factory.mktemp("oversized")
    config = tmp / "policy.yaml"
    config.write_text(CONFIG)
    proc, base = start_gateway(tmp, ["--config", str(config)])
    yield proc, base
    proc.stop()


def _address(base: str) -> tuple[str, int]:
    host, port = base.removeprefix("http://").split(":")
    return host, int(port)


def _head(path: str, extra: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n{extra}\r\n"
    ).encode()


def _read_reply(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _send_and_read(base: str, head: bytes, chunked: bool) -> bytes:
    """Send the whole 40 MiB body, then read to EOF; a reset on either side fails the test."""
    with socket.create_connection(_address(base), timeout=20) as sock:
        sock.sendall(head)
        for _ in range(BODY // CHUNK):
            if chunked:
                sock.sendall(f"{CHUNK:x}\r\n".encode() + _PAYLOAD + b"\r\n")
            else:
                sock.sendall(_PAYLOAD)
        if chunked:
            sock.sendall(b"0\r\n\r\n")
        return _read_reply(sock)


def _assert_413(reply: bytes, what: str) -> None:
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1.1 413 "), f"{what}: {reply[:200]!r}"
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    assert headers["content-type"] == "application/json", what
    assert headers["connection"] == "close", what
    assert headers["x-should-retry"] == "false", what
    assert "x-request-id" in headers, what
    error = json.loads(body)["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "request_too_large"
    assert set(error) == {"message", "type", "param", "code"}


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_every_attempt_reads_the_413(server: tuple[Process, str], chunked: bool) -> None:
    _, base = server
    extra = "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {BODY}\r\n"
    started = time.monotonic()
    for attempt in range(ATTEMPTS):
        try:
            reply = _send_and_read(base, _head("/v1/chat/completions", extra), chunked)
        except OSError as exc:
            pytest.fail(f"attempt {attempt}: the connection failed before the 413 was read: {exc}")
        _assert_413(reply, f"attempt {attempt}")
    assert time.monotonic() - started < 60


def test_a_client_that_waits_for_100_continue_is_refused_without_sending(
    server: tuple[Process, str],
) -> None:
    _, base = server
    extra = f"Content-Length: {BODY}\r\nExpect: 100-continue\r\n"
    with socket.create_connection(_address(base), timeout=10) as sock:
        sock.sendall(_head("/v1/embeddings", extra))
        _assert_413(_read_reply(sock), "expect: 100-continue")


def test_the_access_log_keeps_every_line_at_shutdown(tmp_path: Path) -> None:
    config = tmp_path / "policy.yaml"
    config.write_text(CONFIG)
    proc, base = start_gateway(tmp_path, ["--config", str(config)])
    sent = 200
    try:
        with socket.create_connection(_address(base), timeout=10) as sock:
            # One keep-alive connection, small refusals: many lines queued in a short time.
            for _ in range(sent):
                sock.sendall(_head("/v1/nowhere", "Content-Length: 2\r\n") + b"{}")
                reply = b""
                while b"\r\n\r\n" not in reply or not reply.endswith(b"}"):
                    reply += sock.recv(65536)
                assert reply.startswith(b"HTTP/1.1 404")
    finally:
        proc.stop()
    lines = [json.loads(line) for line in proc.output().splitlines() if '"event":"request"' in line]
    assert len([e for e in lines if e["path"] == "/v1/nowhere" and e["status"] == 404]) == sent
