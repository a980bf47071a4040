"""Child processes for the benchmark: start in their own process group, wait until ready,
read CPU time and RSS from /proc, and always terminate (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Child:
    name: str
    argv: list[str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    # Extra environment and working directory (a baseline checkout's gateway).
    env: dict[str, str] | None = None
    cwd: Path | None = None

    def start(self, cwd: Path) -> None:
        env = {**os.environ, **self.env} if self.env else None
        with self.log_path.open("wb") as log:
            # A new session = a new process group: the whole tree is signalled at stop().
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.cwd or cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=timeout)

    def wait_ready(self, url: str, timeout: float = 30.0) -> None:
        """Poll `url` until it answers 200; bounded by `timeout` seconds."""
        deadline = time.monotonic() + timeout
        last_error = "no attempt"
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=1.0) as resp:
                    if resp.status == 200:
                        return
                    last_error = f"HTTP {resp.status}"
            except (urllib.error.URLError, OSError) as exc:
                last_error = str(exc)
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready at {url} after {timeout}s: {last_error}")


def _group_pids(pgid: int) -> list[int]:
    """Every live process in process group `pgid` (the child and anything it forked)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        rest = stat[stat.rfind(")") + 2 :].split()
        if int(rest[2]) == pgid:
            pids.append(int(entry))
    return pids


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads), in seconds."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    rest = stat[stat.rfind(")") + 2 :].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def group_cpu_seconds(pgid: int) -> float:
    return sum(cpu_seconds(pid) for pid in _group_pids(pgid))


def group_rss_mb(pgid: int) -> float:
    total_kb = 0
    for pid in _group_pids(pgid):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


def self_cpu_seconds() -> float:
    """This (load-generator) process's CPU time, all threads."""
    return time.process_time()


@contextlib.contextmanager
def gateway_process(root: Path, policy: str, timeout: float = 60.0) -> Iterator[str]:
    """`gateway serve` on a free loopback port with this policy; yields its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "policy.yaml"
        config.write_text(policy)
        argv = [
            str(root / ".venv/bin/gateway"),
            "serve",
            "--config",
            str(config),
            "--port",
            str(port),
        ]
        gateway = Child("gateway", argv, Path(tmp) / "gateway.log")
        gateway.start(root)
        try:
            gateway.wait_ready(f"{base}/readyz", timeout=timeout)
            yield base
        finally:
            gateway.stop()
