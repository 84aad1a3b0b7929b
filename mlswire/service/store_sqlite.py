"""The default Delivery Service store: one SQLite file, nothing to start.

WAL journal (readers do not block the writer), ``synchronous=FULL`` (a transaction the
DS acknowledged survives a process kill and a power loss), and ``BEGIN IMMEDIATE`` for
every transaction: it takes the database's write lock up front, which is what makes the
group and device "row locks" of :class:`~.store.SqlStore` exact here, also between
several processes opening the same file (they wait up to ``busy_timeout``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .store import SqlStore


class SqliteStore(SqlStore):
    placeholder = "?"
    lock_clause = ""
    blob_type = "BLOB"
    serial_pk = "INTEGER PRIMARY KEY AUTOINCREMENT"

    def __init__(self, path: str | Path, *, synchronous: str = "FULL", pool_size: int = 8) -> None:
        super().__init__(pool_size)
        self.path = str(path)
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError("synchronous is FULL or NORMAL")
        self.synchronous = synchronous
        conn = self._connect()
        try:
            with self._transaction(conn) as cur:
                for stmt in self._schema_statements():
                    cur.execute(stmt)
                # A database from before the DS followed groups: its groups keep a NULL
                # view and stay header-only (only with --unverified-groups they matter).
                columns = [r[1] for r in cur.execute("PRAGMA table_info(ds_groups)")]
                if "public_state" not in columns:
                    cur.execute("ALTER TABLE ds_groups ADD COLUMN public_state BLOB")
        finally:
            conn.close()

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: transactions are opened explicitly (BEGIN IMMEDIATE);
        # check_same_thread=False: pooled connections move between worker threads, one
        # thread at a time.
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    @contextmanager
    def _transaction(self, conn: Any) -> Iterator[Any]:
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            yield cur
        except BaseException:
            conn.rollback()
            raise
        else:
            conn.commit()
        finally:
            cur.close()


__all__ = ["SqliteStore"]
