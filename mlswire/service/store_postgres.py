"""The Delivery Service store on PostgreSQL (psycopg 3), for several DS processes.

Every transaction runs at READ COMMITTED with explicit row locks (``SELECT ... FOR
UPDATE``) on the group row and on each recipient device's row, taken in a fixed order
(group first, then devices sorted by address), so the commit check and queue sequencing
of :class:`~.store.SqlStore` are exact across processes and fan-outs cannot deadlock.
Deadlocks and serialization failures are still retried (bounded) in case an operator
runs the database at a stricter isolation level.

A send NOTIFYs the devices it queued for (``mlswire_queue``, at commit), and each DS
process LISTENs (:meth:`PostgresStore.listen`), so a device pushed by one process hears
at once of a send through another; no broker beside the database.

The schema is created at start-up under a transaction-scoped advisory lock, so DS
processes starting at the same moment do not race on ``CREATE TABLE``.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from .store import SqlStore

# An arbitrary 64-bit key for pg_advisory_xact_lock, private to mlswire's schema setup.
_SCHEMA_LOCK = 0x6D6C7377697265
# The NOTIFY channel of new queue entries, and the payload size PostgreSQL accepts.
_CHANNEL = "mlswire_queue"
_PAYLOAD_LIMIT = 7900


class PostgresStore(SqlStore):
    placeholder = "%s"
    lock_clause = " FOR UPDATE"
    blob_type = "BYTEA"
    serial_pk = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"

    def __init__(self, url: str, *, pool_size: int = 32) -> None:
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

    def ack(self, address: str, up_to: int) -> int:
        """As :meth:`SqlStore.ack`; outside a request's transaction (a push
        connection's ack) one statement in autocommit, which is its own transaction:
        one round trip instead of four (BEGIN, DELETE, UPDATE, COMMIT)."""
        if getattr(self._local, "cur", None) is not None:
            return super().ack(address, up_to)
        with self._connection() as conn:
            row = conn.execute(
                "WITH gone AS (DELETE FROM ds_queue WHERE address = %s AND seq <= %s"
                " RETURNING 1), reset AS (UPDATE ds_devices SET lost = 0 WHERE address = %s"
                " AND lost <> 0) SELECT count(*) FROM gone",
                (address, up_to, address),
            ).fetchone()
        return 0 if row is None else int(row[0])

    def _retryable(self, exc: BaseException) -> bool:
        return isinstance(exc, pg_errors.DeadlockDetected | pg_errors.SerializationFailure)

    # -- LISTEN/NOTIFY: a send through one DS process wakes the pushes of another --
    def _announce(self, cur: Any, addresses: Sequence[str]) -> None:
        # Delivered to the listeners when (and only if) this transaction commits.
        # Payloads are "<sender pid>\n<address>\n..." under PostgreSQL's 8000 bytes.
        head = f"{os.getpid()}\n"
        chunk: list[str] = []
        size = len(head)
        for a in addresses:
            if chunk and size + len(a.encode()) + 1 > _PAYLOAD_LIMIT:
                cur.execute("SELECT pg_notify(%s, %s)", (_CHANNEL, head + "\n".join(chunk)))
                chunk, size = [], len(head)
            chunk.append(a)
            size += len(a.encode()) + 1
        if chunk:
            cur.execute("SELECT pg_notify(%s, %s)", (_CHANNEL, head + "\n".join(chunk)))

    def listen(
        self, callback: Callable[[Sequence[str] | None], None]
    ) -> Callable[[], None] | None:
        stop = threading.Event()
        me = str(os.getpid())
        holder: list[psycopg.Connection[Any]] = []

        def run() -> None:
            delay = 0.1
            while not stop.is_set():
                try:
                    with self._connect() as conn:
                        holder[:] = [conn]
                        conn.execute(f"LISTEN {_CHANNEL}")
                        # Notifications sent while not listening are gone: wake
                        # everyone once, they re-read their queues.
                        callback(None)
                        delay = 0.1
                        while not stop.is_set():
                            for n in conn.notifies(timeout=1.0):
                                sender, _, rest = n.payload.partition("\n")
                                if sender != me and rest:
                                    callback(rest.split("\n"))
                except psycopg.Error as e:
                    if stop.is_set():
                        return
                    print(f"mlswire serve: LISTEN connection lost: {e}", file=sys.stderr)
                    stop.wait(delay)
                    delay = min(delay * 2, 5.0)

        thread = threading.Thread(target=run, daemon=True, name="pg-listen")
        thread.start()

        def halt() -> None:
            stop.set()
            thread.join(5)

        return halt


__all__ = ["PostgresStore"]
