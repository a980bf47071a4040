"""A throwaway PostgreSQL server for the workflow suites (initdb in a temp dir, a free port).

Never touches a system server: its own data directory, socket directory and port, stopped and
deleted afterwards. As root (CI here) the server runs as the `postgres` user, which postgres
requires. `pg_binaries()` is None when no server is installed, and the suites skip with that
reason.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.support import free_port

START_SECONDS = 30.0


def pg_binaries() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "postgres").exists() and Path(candidate, "initdb").exists():
            return Path(candidate)
    found = shutil.which("postgres")
    return Path(found).parent if found and shutil.which("initdb") else None


SKIP_REASON = "no postgres/initdb binary (looked in /usr/lib/postgresql/*/bin and PATH)"


class PgServer:
    def __init__(self) -> None:
        binaries = pg_binaries()
        assert binaries is not None
        self.bin = binaries
        self.dir = Path(tempfile.mkdtemp(prefix="wf-pg-"))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> PgServer:
        data = self.dir / "data"
        if self._as_user:
            shutil.chown(self.dir, "postgres")
        subprocess.run(
            [
                *self._as_user,
                str(self.bin / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        with (self.dir / "server.log").open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    *self._as_user,
                    str(self.bin / "postgres"),
                    "-D",
                    str(data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.dir),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
                timeout=10,
            )
            if ready.returncode == 0:
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"postgres did not start: {(self.dir / 'server.log').read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


def workflow_db(database: str, tmp_path: Path, name: str) -> tuple[PgServer | None, str]:
    """A parametrised workflow test's database: a SQLite file under `tmp_path`, or database
    `name` on a throwaway Postgres server (the caller stops it), the test skipped with the
    reason when Postgres is not installed."""
    if database != "postgres":
        return None, f"sqlite:///{tmp_path / 'runs.sqlite'}"
    if pg_binaries() is None:
        pytest.skip(SKIP_REASON)
    pg = PgServer().start()
    return pg, pg.url(name)


@pytest.mark.skipif(pg_binaries() is None, reason=SKIP_REASON)
def test_throwaway_postgres_starts_and_stops() -> None:
    server = PgServer().start()
    try:
        ready = subprocess.run(
            [str(server.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(server.port)],
            capture_output=True,
            timeout=10,
        )
        assert ready.returncode == 0
    finally:
        server.stop()
    assert not server.dir.exists()
