"""Helpers for tests that run real processes: free ports, subprocesses, readiness."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
GATEWAY = [sys.executable, "-m", "gateway"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Process:
    """A subprocess whose output goes to a file, stopped (and reaped) on exit."""

    def __init__(self, args: Sequence[str], log: Path, env: dict[str, str] | None = None):
        self.log = log
        self._file = log.open("wb")
        self.proc = subprocess.Popen(
            list(args),
            stdout=self._file,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=ROOT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_http(self, url: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"process exited ({self.proc.returncode}):\n{self.output()}")
            try:
                if httpx.get(url, timeout=1.0).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"{url} not up after {timeout}s:\n{self.output()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._file.close()


def start_upstream(
    module: str, tmp: Path, require_key: str | None = None, ready_path: str = "/_test/requests"
) -> tuple[Process, str]:
    """One of gateway.testing's loopback upstreams (`python -m <module>`) on a free port;
    returns it and its root URL once `ready_path` answers."""
    port = free_port()
    args = [sys.executable, "-m", module, "--port", str(port)]
    if require_key:
        args += ["--require-key", require_key]
    name = module.rsplit(".", 1)[-1]
    proc = Process(args, tmp / f"{name}-{port}.log")
    base = f"http://127.0.0.1:{port}"
    proc.wait_http(f"{base}{ready_path}")
    return proc, base


def start_loopback(tmp: Path, require_key: str | None = None) -> tuple[Process, str]:
    proc, base = start_upstream("gateway.testing.loopback_upstream", tmp, require_key, "/v1/models")
    return proc, f"{base}/v1"


@dataclass(frozen=True)
class Served:
    """A gateway process and the base URL it serves on."""

    proc: Process
    base: str


def start_gateway(
    tmp: Path, args: Sequence[str], env: dict[str, str] | None = None
) -> tuple[Process, str]:
    port = free_port()
    proc = Process(
        [*GATEWAY, "serve", "--port", str(port), *args], tmp / f"gateway-{port}.log", env
    )
    base = f"http://127.0.0.1:{port}"
    proc.wait_http(f"{base}/readyz")
    return proc, base


def serve_expecting_failure(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `gateway serve ARGS` on a free port when it is expected to stop at startup."""
    return subprocess.run(
        [*GATEWAY, "serve", *args, "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


class RedisServer:
    """A throwaway redis-server: no persistence, loopback only, stopped by the test."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open and every call hangs."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._proc is not None
        self._proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.send_signal(signal.SIGCONT)  # a paused server cannot act on SIGTERM
            self._proc.terminate()
            self._proc.wait(timeout=10)
            self._proc = None
