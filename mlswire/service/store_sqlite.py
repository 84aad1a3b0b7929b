"""The default Delivery Service store: one SQLite file, nothing to start.

WAL journal (readers do not block the writer), ``synchronous=FULL`` (a transaction the
DS acknowledged survives a process kill and a power loss), and ``BEGIN IMMEDIATE`` for
every write transaction: it takes the database's write lock up front, which is what
makes the group and device "row locks" of :class:`~.store.SqlStore` exact here, also
between several processes opening the same file (they wait up to ``busy_timeout``).
In a process, one thread writes (:class:`_GroupCommit`: many requests per commit, each
in its own savepoint); reads run beside it in deferred transactions (WAL readers).
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from .pending import Pending, hand_back
from .store import SqlStore

T = TypeVar("T")


class SqliteStore(SqlStore):
    background_writer = True  # _GroupCommit
    placeholder = "?"
    lock_clause = ""
    blob_type = "BLOB"
    serial_pk = "INTEGER PRIMARY KEY AUTOINCREMENT"

    def __init__(self, path: str | Path, *, synchronous: str = "FULL", pool_size: int = 8) -> None:
        super().__init__(pool_size)
        self._committer: _GroupCommit | None = None
        self._committer_lock = threading.Lock()
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
    def _transaction(self, conn: Any, begin: str = "BEGIN IMMEDIATE") -> Iterator[Any]:
        cur = conn.cursor()
        cur.execute(begin)
        try:
            yield cur
        except BaseException:
            conn.rollback()
            raise
        else:
            conn.commit()
        finally:
            cur.close()

    def _read_only(self, call: Callable[[Any], Any]) -> Any:
        # A deferred transaction: a WAL reader, beside the writer and other readers.
        with self._connection() as conn, self._transaction(conn, "BEGIN") as cur:
            return call(cur)

    def _group_commit(self) -> _GroupCommit:
        with self._committer_lock:
            if self._committer is None:
                self._committer = _GroupCommit(self)
            return self._committer

    def _write(self, call: Callable[[Any], Any]) -> Any:
        return self._group_commit().run(call)

    def submit_atomic(self, fn: Callable[[], T]) -> asyncio.Future[T] | None:
        """:meth:`atomic` without waiting, called on an event loop: the writer thread
        runs it; the future (of that loop) is resolved after its commit, no thread
        blocks."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._group_commit().submit(Pending(lambda cur: fn(), future))
        return future

    def close(self) -> None:
        with self._committer_lock:
            committer, self._committer = self._committer, None
        if committer is not None:
            committer.stop()
        super().close()


class _GroupCommit:
    """The one thread that writes this process's transactions, several per SQLite
    transaction (group commit).

    SQLite has one writer at a time and a durable commit costs an fsync (some ms), so
    one transaction per request would cap the DS at a few hundred requests a second,
    and writer threads waiting on SQLite's lock poll it with sleeps. Here a request's
    write runs inside a SAVEPOINT of the current batch: refused, it is rolled back
    alone (a request is still all or nothing); accepted, it is answered only after
    the batch's COMMIT, so what the DS acknowledges is durable as before. Requests
    arriving while a batch commits form the next one."""

    MAX_BATCH = 256

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self._queue: queue.SimpleQueue[Pending | None] = queue.SimpleQueue()
        self._conn: sqlite3.Connection | None = None
        self._thread = threading.Thread(target=self._loop, daemon=True, name="sqlite-writer")
        self._thread.start()

    def submit(self, item: Pending) -> None:
        self._queue.put(item)

    def run(self, call: Callable[[Any], Any]) -> Any:
        item = Pending(call)
        self._queue.put(item)
        return item.wait()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(30)

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self.MAX_BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(nxt)
            self._commit(batch)
        if self._conn is not None:
            self.store._discard(self._conn)

    def _commit(self, batch: list[Pending]) -> None:
        try:
            if self._conn is None:
                self._conn = self.store._connect()
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
        except BaseException as e:
            self._fail(batch, e)
            return
        local = self.store._local
        try:
            for item in batch:
                cur.execute("SAVEPOINT request")
                local.cur = cur
                try:
                    item.result = item.call(cur)
                except BaseException as e:
                    item.error = e
                    cur.execute("ROLLBACK TO request")
                finally:
                    local.cur = None
                cur.execute("RELEASE request")
            cur.execute("COMMIT")
        except BaseException as e:  # the database failed (I/O, disk full): none is done
            self._fail(batch, e)
            return
        hand_back(batch)

    def _fail(self, batch: list[Pending], error: BaseException) -> None:
        if self._conn is not None:
            self.store._discard(self._conn)  # rolls back whatever is open
            self._conn = None
        for item in batch:
            if item.error is None:
                item.error = error
        hand_back(batch)


__all__ = ["SqliteStore"]
