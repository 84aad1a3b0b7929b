"""The Delivery Service store on PostgreSQL (psycopg 3), for several DS processes.

Every transaction runs at READ COMMITTED with explicit row locks (``SELECT ... FOR
UPDATE``) on the group row and on each recipient device's row, taken in a fixed order
(group first, then devices sorted by address), so the commit check and queue sequencing
of :class:`~.store.SqlStore` are exact across processes and fan-outs cannot deadlock.
Deadlocks and serialization failures are still retried (bounded) in case an operator
runs the database at a stricter isolation level.

The schema is created at start-up under a transaction-scoped advisory lock, so DS
processes starting at the same moment do not race on ``CREATE TABLE``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from .store import SqlStore

# An arbitrary 64-bit key for pg_advisory_xact_lock, private to mlswire's schema setup.
_SCHEMA_LOCK = 0x6D6C7377697265


class PostgresStore(SqlStore):
    placeholder = "%s"
    lock_clause = " FOR UPDATE"
    blob_type = "BYTEA"
    serial_pk = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"

    def __init__(self, url: str, *, pool_size: int = 8) -> None:
        super().__init__(pool_size)
        self.url = url
        conn = self._connect()
        try:
            with self._transaction(conn) as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                for stmt in self._schema_statements():
                    cur.execute(stmt)
                # A database from before the DS followed groups (see store_sqlite).
                cur.execute("ALTER TABLE ds_groups ADD COLUMN IF NOT EXISTS public_state BYTEA")
        finally:
            conn.close()

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url, autocommit=True, connect_timeout=10)

    @contextmanager
    def _transaction(self, conn: Any) -> Iterator[Any]:
        with conn.transaction(), conn.cursor() as cur:
            yield cur

    def _retryable(self, exc: BaseException) -> bool:
        return isinstance(exc, pg_errors.DeadlockDetected | pg_errors.SerializationFailure)


__all__ = ["PostgresStore"]
