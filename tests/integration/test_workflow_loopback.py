"""A loopback HTTP target for workflow tests: counts side effects, can block, fail or sleep.

    POST /hit/<name>[?sleep=0.05]   -> {"name": name}; counts[name] += 1

`block(name)` holds that name's requests until `release(name)` (so a test can kill a process
while its step is in flight); `fail(name, times)` answers 500 to the first `times` hits.
`max_in_flight` is the highest number of requests served at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

HOLD_SECONDS = 30.0


class CounterServer:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.bodies: dict[str, list[str]] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._blocked: dict[str, threading.Event] = {}
        self._arrived: dict[str, threading.Event] = {}
        self._failures: Counter[str] = Counter()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                server._handle(self)

            do_GET = do_POST

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self) -> CounterServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        for event in self._blocked.values():
            event.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def block(self, name: str) -> None:
        self._blocked[name] = threading.Event()

    def release(self, name: str) -> None:
        self._blocked.pop(name, threading.Event()).set()

    def fail(self, name: str, times: int) -> None:
        self._failures[name] = times

    def arrived(self, name: str, timeout: float) -> bool:
        with self._lock:
            event = self._arrived.setdefault(name, threading.Event())
        return event.wait(timeout)

    def idle(self, timeout: float) -> bool:
        """Whether every request's handler has finished within `timeout` (a client has its
        answer a moment before the handler's bookkeeping ends)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self.in_flight == 0:
                    return True
            time.sleep(0.01)
        return False

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        name = parts.path.rsplit("/", 1)[-1]
        length = int(handler.headers.get("content-length") or 0)
        body = handler.rfile.read(length).decode() if length else ""
        with self._lock:
            self.counts[name] += 1
            self.bodies.setdefault(name, []).append(body)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self._arrived.setdefault(name, threading.Event()).set()
            failing = self._failures[name] > 0
            if failing:
                self._failures[name] -= 1
        try:
            gate = self._blocked.get(name)
            if gate is not None:
                gate.wait(HOLD_SECONDS)
            sleep = float(parse_qs(parts.query).get("sleep", ["0"])[0])
            if sleep:
                time.sleep(sleep)
            status = 500 if failing else 200
            payload = json.dumps({"name": name, "error": failing}).encode()
            handler.send_response(status)
            handler.send_header("content-type", "application/json")
            handler.send_header("content-length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except OSError:
            pass  # the client is gone (a killed process): the side effect still counted
        finally:
            with self._lock:
                self.in_flight -= 1


def test_counter_server_counts_blocks_and_fails() -> None:
    server = CounterServer().start()
    try:
        server.fail("x", 1)
        assert httpx.post(f"{server.url}/hit/x").status_code == 500
        assert httpx.post(f"{server.url}/hit/x", content=b"hi").json() == {
            "name": "x",
            "error": False,
        }
        assert server.counts["x"] == 2 and server.bodies["x"][-1] == "hi"
        server.block("y")
        thread = threading.Thread(target=lambda: httpx.post(f"{server.url}/hit/y", timeout=5))
        thread.start()
        assert server.arrived("y", 5)
        assert server.in_flight == 1
        server.release("y")
        thread.join(5)
        assert server.idle(5) and server.in_flight == 0
    finally:
        server.stop()
