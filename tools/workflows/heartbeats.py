"""The heartbeat rows replicas sharing a workflow database write (`tools.workflows.replicas`):
one per executor id with its app version and when it was last seen, on the database's own
clock so hosts' clock skew never counts. A table of ours next to DBOS's (the default schema on
Postgres, the same file on SQLite), on an engine of our own whose statements time out by
themselves. Blocking: call from a worker thread."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

HEARTBEAT_TABLE = "switchyard_workflow_replicas"


def _engine_url(url: str) -> sa.URL:
    parsed = sa.make_url(url)
    # DBOS speaks psycopg 3 (installed with it); SQLAlchemy's default postgres driver is v2.
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


class HeartbeatTable:
    def __init__(self, database_url: str, timeout_seconds: float) -> None:
        url = _engine_url(database_url)
        connect: dict[str, Any]
        if url.get_backend_name() == "sqlite":
            connect = {"timeout": timeout_seconds}  # busy wait on a lock held by DBOS
        else:
            connect = {
                "connect_timeout": max(1, int(timeout_seconds)),
                "options": f"-c statement_timeout={int(timeout_seconds * 1000)}",
            }
        self._sqlite = url.get_backend_name() == "sqlite"
        self._engine = sa.create_engine(
            url,
            connect_args=connect,
            pool_size=1,
            max_overflow=0,
            pool_timeout=timeout_seconds,
            pool_pre_ping=True,
        )
        self._meta = sa.MetaData()
        self._table = sa.Table(
            HEARTBEAT_TABLE,
            self._meta,
            sa.Column("executor_id", sa.Text, primary_key=True),
            sa.Column("app_version", sa.Text, nullable=False),
            sa.Column("last_seen_ms", sa.BigInteger, nullable=False),
        )

    def _now_ms(self) -> Any:
        # The database's clock, for every replica alike: no skew between hosts counts.
        if self._sqlite:
            return sa.cast((sa.func.julianday("now") - 2440587.5) * 86400000.0, sa.BigInteger)
        return sa.cast(sa.func.extract("epoch", sa.func.now()) * 1000, sa.BigInteger)

    def ensure(self) -> None:
        # Two replicas creating it at once on Postgres: the loser fails this tick, and the
        # next one finds the table.
        self._meta.create_all(self._engine, checkfirst=True)

    def beat(self, executor_id: str, app_version: str) -> None:
        t = self._table
        with self._engine.begin() as c:
            values = {"app_version": app_version, "last_seen_ms": self._now_ms()}
            done = c.execute(t.update().where(t.c.executor_id == executor_id).values(values))
            if done.rowcount == 0:
                c.execute(t.insert().values(executor_id=executor_id, **values))

    def read(self) -> tuple[int, dict[str, int]]:
        """The database's now (ms) and every executor's last seen."""
        t = self._table
        with self._engine.begin() as c:
            now = int(c.execute(sa.select(self._now_ms())).scalar_one())
            rows = c.execute(sa.select(t.c.executor_id, t.c.last_seen_ms)).all()
        return now, {str(row[0]): int(row[1]) for row in rows}

    def forget(self, executor_ids: Iterable[str], older_than_ms: int) -> None:
        t = self._table
        with self._engine.begin() as c:
            # Re-checked here: a replica that beat again since the read keeps its row.
            c.execute(
                t.delete()
                .where(t.c.executor_id.in_(list(executor_ids)))
                .where(t.c.last_seen_ms < self._now_ms() - older_than_ms)
            )

    def dispose(self) -> None:
        self._engine.dispose()
