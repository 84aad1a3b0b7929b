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

A send's transaction holds its group's row lock while it waits on the network, so on
the reference path (about 11 statements) sends to one group go one round trip after
another. So an application message (the hot path: no handshake to verify) is one statement, one
round trip: :data:`SEND_APPLICATION`, a function created with the schema, spends the
request's nonce, locks the group's row, checks the sender is a member and the message
new, sequences and fans it out, NOTIFYs and records the result, all as
:meth:`SqlStore.submit` does, in one implicit transaction. Whatever it does not cover
(a replay, a refusal, a retry, an unknown group) it leaves to :meth:`SqlStore.submit`
by rolling back (SQLSTATE ``MW001``): refusals and retry answers come from one place.
To get the nonce into that statement, :meth:`PostgresStore.atomic` opens its
transaction only when a statement needs one (:class:`_Deferred`); ``spend_nonce``
waits for it. Reads, queue reads and batches of acks run in autocommit, the latter two
one statement each: at READ COMMITTED a transaction around them would only add BEGIN
and COMMIT round trips.

The schema is created at start-up under a transaction-scoped advisory lock, so DS
processes starting at the same moment do not race on ``CREATE TABLE``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors

from .pending import Pending, hand_back
from .store import (
    CONTENT_COMMIT,
    CONTENT_PROPOSAL,
    QueuedMessage,
    SendResult,
    SqlStore,
    Submission,
)

T = TypeVar("T")

# An arbitrary 64-bit key for pg_advisory_xact_lock, private to mlswire's schema setup.
_SCHEMA_LOCK = 0x6D6C7377697265
# The NOTIFY channel of new queue entries, and the payload size PostgreSQL accepts.
_CHANNEL = "mlswire_queue"
_PAYLOAD_LIMIT = 7900
# The SQLSTATE by which SEND_APPLICATION hands a send back to SqlStore.submit.
_FALLBACK = "MW001"

# An application message, as SqlStore.submit takes it, in one statement. Every check
# that fails raises _FALLBACK, which rolls the statement back (the nonce too): the
# reference path then runs and refuses, or answers a retry, as it always has. Locks
# are taken in SqlStore's order (group row, then device rows by address), so this and
# the reference path never deadlock each other.
SEND_APPLICATION = r"""
CREATE OR REPLACE FUNCTION mlswire_send_application(
    p_nonce_address TEXT, p_signature_key BYTEA, p_nonce TEXT, p_nonce_ts DOUBLE PRECISION,
    p_group BYTEA, p_sender TEXT, p_epoch BIGINT, p_content_type INTEGER,
    p_message BYTEA, p_digest BYTEA, p_now DOUBLE PRECISION, p_pid TEXT,
    OUT o_epoch BIGINT, OUT o_addresses TEXT[], OUT o_seqs BIGINT[])
LANGUAGE plpgsql AS $fn$
DECLARE
    v_members TEXT[];
    v_head TEXT := p_pid || E'\n';
    v_chunk TEXT := '';
    v_address TEXT;
BEGIN
    IF p_nonce IS NOT NULL THEN  -- the request's nonce, from a device with this key
        INSERT INTO ds_nonces (address, nonce, ts)
        SELECT p_nonce_address, p_nonce, p_nonce_ts WHERE EXISTS (
            SELECT 1 FROM ds_devices d
            WHERE d.address = p_nonce_address AND d.signature_key = p_signature_key)
        ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN RAISE EXCEPTION 'nonce' USING ERRCODE = 'MW001'; END IF;
    END IF;
    SELECT g.epoch INTO o_epoch FROM ds_groups g WHERE g.group_id = p_group FOR UPDATE;
    IF NOT FOUND THEN RAISE EXCEPTION 'group' USING ERRCODE = 'MW001'; END IF;
    IF EXISTS (SELECT 1 FROM ds_accepted x WHERE x.sender = p_sender AND x.digest = p_digest)
    THEN RAISE EXCEPTION 'retry' USING ERRCODE = 'MW001'; END IF;
    SELECT array_agg(m.address) INTO v_members FROM ds_members m WHERE m.group_id = p_group;
    IF v_members IS NULL OR NOT p_sender = ANY (v_members) THEN
        RAISE EXCEPTION 'member' USING ERRCODE = 'MW001';
    END IF;
    SELECT coalesce(array_agg(d.address ORDER BY d.address), '{}'),
           coalesce(array_agg(d.next_seq ORDER BY d.address), '{}')
    INTO o_addresses, o_seqs
    FROM (SELECT l.address, l.next_seq FROM ds_devices l
          WHERE l.address = ANY (v_members) AND l.address <> p_sender
          ORDER BY l.address FOR UPDATE) d;
    IF cardinality(o_addresses) <> cardinality(v_members) - 1 THEN
        RAISE EXCEPTION 'device' USING ERRCODE = 'MW001';
    END IF;
    IF cardinality(o_addresses) > 0 THEN
        INSERT INTO ds_queue (address, seq, kind, group_id, sender, epoch, content_type, data,
                              received_at)
        SELECT u.a, u.s, 'message', p_group, p_sender, p_epoch, p_content_type, p_message, p_now
        FROM unnest(o_addresses, o_seqs) AS u(a, s);
        UPDATE ds_devices SET next_seq = next_seq + 1 WHERE address = ANY (o_addresses);
        -- As PostgresStore._announce: "<pid>\n<address>\n...", under 8000 bytes each.
        FOREACH v_address IN ARRAY o_addresses LOOP
            IF v_chunk <> '' AND octet_length(v_head) + octet_length(v_chunk)
                                 + octet_length(v_address) + 1 > 7900 THEN
                PERFORM pg_notify('mlswire_queue', v_head || v_chunk);
                v_chunk := '';
            END IF;
            v_chunk := CASE WHEN v_chunk = '' THEN v_address
                            ELSE v_chunk || E'\n' || v_address END;
        END LOOP;
        PERFORM pg_notify('mlswire_queue', v_head || v_chunk);
    END IF;
    -- SendResult.to_json() as json.dumps writes it (read back on a retry).
    INSERT INTO ds_accepted (sender, digest, result, accepted_at)
    VALUES (p_sender, p_digest,
            format('{"epoch": %s, "recipients": %s, "duplicate": false}',
                   o_epoch, cardinality(o_addresses)),
            p_now);
END
$fn$
"""
_SEND_CALL = (
    "SELECT o_epoch, o_addresses, o_seqs FROM mlswire_send_application(%s::text, %s::bytea,"
    " %s::text, %s::float8, %s::bytea, %s::text, %s::bigint, %s::integer, %s::bytea, %s::bytea,"
    " %s::float8, %s::text)"
)
# A device's queue after a seq and its expired count (SqlStore._fetch and _lost) in one
# statement: one row per entry, or one row of NULLs and the count when there is none.
_READ_QUEUE = """
SELECT d.lost, q.seq, q.kind, q.group_id, q.sender, q.epoch, q.content_type, q.data,
       q.received_at
FROM (SELECT coalesce((SELECT lost FROM ds_devices WHERE address = %s), 0) AS lost) d
LEFT JOIN LATERAL (SELECT * FROM ds_queue WHERE address = %s AND seq > %s
                   ORDER BY seq LIMIT %s) q ON true
ORDER BY q.seq
"""
# A batch of acks in one statement: the entries deleted (ack_many attributes them to
# the acks in order); expired-entry reports reset, device rows locked in address order.
_ACK_MANY = """
WITH a AS (SELECT * FROM unnest(%s::text[], %s::bigint[]) AS a(address, up_to)),
gone AS (DELETE FROM ds_queue q USING a WHERE q.address = a.address AND q.seq <= a.up_to
         RETURNING q.address, q.seq),
reset AS (UPDATE ds_devices d SET lost = 0 WHERE d.address IN (
              SELECT l.address FROM ds_devices l JOIN a ON l.address = a.address
              WHERE l.lost <> 0 ORDER BY l.address FOR UPDATE OF l))
SELECT address, seq FROM gone
"""


class PostgresStore(SqlStore):
    placeholder = "%s"
    lock_clause = " FOR UPDATE"
    blob_type = "BYTEA"
    serial_pk = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
    background_writer = True  # _Workers

    def __init__(self, url: str, *, pool_size: int = 32) -> None:
        super().__init__(pool_size)
        self.url = url
        self._workers: _Workers | None = None
        self._workers_lock = threading.Lock()
        conn = self._connect()
        try:
            with self._transaction(conn) as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                for stmt in self._schema_statements():
                    cur.execute(stmt)
                # A database from before the DS followed groups (see store_sqlite).
                cur.execute("ALTER TABLE ds_groups ADD COLUMN IF NOT EXISTS public_state BYTEA")
                cur.execute(SEND_APPLICATION)
        finally:
            conn.close()

    def submit_atomic(self, fn: Callable[[], T]) -> asyncio.Future[T] | None:
        """:meth:`atomic` on one of the store's worker threads, called on an event
        loop: the future (of that loop) is resolved when it is done."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        with self._workers_lock:
            if self._workers is None:  # started on first use: after any fork
                self._workers = _Workers(self, min(self._pool_size, 16))
            workers = self._workers
        workers.submit(Pending(fn, future))
        return future

    def close(self) -> None:
        with self._workers_lock:
            workers, self._workers = self._workers, None
        if workers is not None:
            workers.stop()
        super().close()

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.url, autocommit=True, connect_timeout=10)

    @contextmanager
    def _transaction(self, conn: Any) -> Iterator[Any]:
        with conn.transaction(), conn.cursor() as cur:
            yield cur

    def _statement(self, call: Callable[[Any], T]) -> T:
        """``call(cursor)`` on a pooled connection in autocommit: each statement its own
        transaction (store calls made inside join it, as in a transaction)."""
        outer = getattr(self._local, "cur", None)
        with self._connection() as conn, conn.cursor() as cur:
            self._local.cur = cur
            try:
                return call(cur)
            finally:
                self._local.cur = outer

    def _read_only(self, call: Callable[[Any], Any]) -> Any:
        # At READ COMMITTED every statement has its own snapshot in a transaction too:
        # BEGIN and COMMIT would only add two round trips to a read.
        return self._statement(call)

    def atomic(self, fn: Callable[[], T]) -> T:
        """As :meth:`SqlStore.atomic`, with the transaction opened by the first
        statement that needs it (:class:`_Deferred`), so that a request's nonce and
        an application message go to the server as one statement (:meth:`submit`)."""
        if getattr(self._local, "cur", None) is not None:
            return super().atomic(fn)
        for attempt in range(5):
            tx = _Deferred(self)
            self._local.cur = tx
            try:
                result = fn()
                tx.commit()
                return result
            except _Redo:
                tx.rollback()
                break
            except BaseException as e:
                tx.fail(e)
                if attempt < 4 and isinstance(e, Exception) and self._retryable(e):
                    time.sleep(0.01 * (attempt + 1))
                    continue
                raise
            finally:
                self._local.cur = None
        # The deferred nonce was not spendable (a replay, a changed key): the reference
        # path runs fn again from the start and refuses it as it always has.
        return super().atomic(fn)

    def spend_nonce(
        self, address: str, signature_key: bytes, nonce: str, now: float, horizon: float
    ) -> str | None:
        """As :meth:`SqlStore.spend_nonce`; first in an :meth:`atomic` (and no prune
        due), it is deferred to the transaction's first statement, so it can be part
        of that statement (a send) or of the transaction when that opens."""
        tx = getattr(self._local, "cur", None)
        if (
            isinstance(tx, _Deferred)
            and tx.nonce is None
            and not tx.started
            and now - self._last_prune <= 60
        ):
            tx.nonce = (address, signature_key, nonce, now, horizon)
            return None
        return super().spend_nonce(address, signature_key, nonce, now, horizon)

    def submit(self, sub: Submission) -> SendResult:
        """As :meth:`SqlStore.submit`; an application message (with the nonce its
        :meth:`atomic` deferred) is one statement, :data:`SEND_APPLICATION`, unless
        that hands it back (a refusal, a retry): then the reference path decides."""
        tx = getattr(self._local, "cur", None)
        if (
            sub.content_type in (CONTENT_COMMIT, CONTENT_PROPOSAL)
            or sub.add
            or sub.remove
            or sub.welcome is not None
            or (tx is not None and not (isinstance(tx, _Deferred) and not tx.started))
        ):
            return super().submit(sub)
        pending = None
        if isinstance(tx, _Deferred):
            pending, tx.nonce = tx.nonce, None
        a, key, nonce, nonce_ts = (None, None, None, None) if pending is None else pending[:4]
        now = time.time()
        params = (
            a,
            key,
            nonce,
            nonce_ts,
            sub.group_id,
            sub.sender,
            sub.epoch,
            sub.content_type,
            sub.message,
            hashlib.sha256(sub.message).digest(),
            now,
            str(os.getpid()),
        )

        def send(cur: Any) -> tuple[Any, ...] | None:
            try:
                row: tuple[Any, ...] | None = cur.execute(_SEND_CALL, params).fetchone()
                return row
            except psycopg.Error as e:
                # Rolled back, nothing written: the reference path decides.
                if e.sqlstate == _FALLBACK or self._retryable(e):
                    return None
                raise

        row = self._statement(send)
        if row is None:
            if isinstance(tx, _Deferred):
                tx.nonce = pending
            return super().submit(sub)
        if isinstance(tx, _Deferred):
            tx.started = True  # committed: nothing else can join this transaction
        epoch, addresses, seqs = int(row[0]), tuple(row[1]), row[2]
        g, sender, e, ct, data = sub.group_id, sub.sender, sub.epoch, sub.content_type, sub.message
        queued = tuple(
            (addr, QueuedMessage(int(seq), "message", g, sender, e, ct, data, now))
            for addr, seq in zip(addresses, seqs, strict=True)
        )
        return SendResult(epoch, len(addresses), delivered_to=addresses, queued=queued)

    def read_queue(
        self, address: str, after: int, limit: int, expire_before: float | None = None
    ) -> tuple[list[QueuedMessage], int]:
        """As :meth:`SqlStore.read_queue`; without expiry and outside a transaction (a
        push reading what another process queued) one statement: the entries and the
        device's expired count together."""
        if expire_before is not None or getattr(self._local, "cur", None) is not None:
            return super().read_queue(address, after, limit, expire_before)
        rows = self._statement(
            lambda cur: cur.execute(_READ_QUEUE, (address, address, after, limit)).fetchall()
        )
        lost = 0
        entries: list[QueuedMessage] = []
        for r in rows:
            lost = int(r[0])
            if r[1] is not None:
                entries.append(
                    QueuedMessage(
                        int(r[1]),
                        r[2],
                        bytes(r[3]),
                        r[4],
                        int(r[5]),
                        int(r[6]),
                        bytes(r[7]),
                        float(r[8]),
                    )
                )
        return entries, lost

    def ack_many(self, acks: Sequence[tuple[str, int]]) -> list[int]:
        """As :meth:`SqlStore.ack_many`; outside a request's transaction (a push
        connection's acks) one statement in autocommit, whatever the number of acks:
        one round trip instead of two per ack plus BEGIN and COMMIT."""
        if getattr(self._local, "cur", None) is not None:
            return super().ack_many(acks)
        if not acks:
            return []
        addresses = [a for a, _ in acks]
        ups = [u for _, u in acks]
        rows = self._statement(lambda cur: cur.execute(_ACK_MANY, (addresses, ups)).fetchall())
        gone: dict[str, list[int]] = {}
        for address, seq in rows:
            gone.setdefault(address, []).append(int(seq))
        # As one ack after the other: each takes its device's entries above the highest
        # earlier ack of that device, up to its own.
        done: dict[str, int] = {}
        deleted = []
        for address, up_to in acks:
            floor = done.get(address, -1)
            deleted.append(sum(1 for s in gone.get(address, ()) if floor < s <= up_to))
            done[address] = max(floor, up_to)
        return deleted

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

    def listen(self, callback: Callable[[Sequence[str] | None], None]) -> Callable[[], None] | None:
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


class _Workers:
    """Threads that run the DS's transactions for its event loop, each blocking on
    PostgreSQL's round trips and row locks in place of the loop. (The thread pool of
    the HTTP framework did the same at about twice the CPU per call: its per-call
    machinery; here a queue, and the outcome handed back to the loop.)"""

    def __init__(self, store: PostgresStore, n: int) -> None:
        self.store = store
        self._queue: queue.SimpleQueue[Pending | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._loop, daemon=True, name=f"pg-worker-{i}")
            for i in range(n)
        ]
        for t in self._threads:
            t.start()

    def submit(self, item: Pending) -> None:
        self._queue.put(item)

    def stop(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join(30)

    def _loop(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                item.result = self.store.atomic(item.call)
            except BaseException as e:  # the waiter gets it
                item.error = e
            hand_back((item,))


class _Redo(BaseException):
    """The deferred nonce turned out not spendable: :meth:`PostgresStore.atomic`
    rolls back and runs the reference path. (BaseException: nothing on the way may
    take it for a refusal.)"""


class _Deferred:
    """The cursor of a :meth:`PostgresStore.atomic` whose transaction is opened by
    its first statement, the deferred nonce spent first in it (or, when nothing else
    needs the database, alone in autocommit at the end). It stands in for the cursor
    in ``SqlStore``'s code (execute, executemany, fetchone, fetchall, rowcount)."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self.nonce: tuple[str, bytes, str, float, float] | None = None
        self.started = False  # a transaction is open, or a statement committed the work
        self._cur: Any = None
        self._stack = contextlib.ExitStack()

    def _open(self) -> Any:
        if self._cur is None:
            if self.started:
                raise RuntimeError("a store call after a one-statement send in one atomic()")
            conn = self._stack.enter_context(self._store._connection())
            self._cur = self._stack.enter_context(self._store._transaction(conn))
            self.started = True
            pending, self.nonce = self.nonce, None
            if pending is not None and SqlStore.spend_nonce(self._store, *pending) is not None:
                raise _Redo
        return self._cur

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Deferred:
        self._open().execute(sql, params)
        return self

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._open().executemany(sql, rows)

    def fetchone(self) -> Any:
        return self._cur.fetchone()

    def fetchall(self) -> Any:
        return self._cur.fetchall()

    @property
    def rowcount(self) -> int:
        return int(self._cur.rowcount)

    def commit(self) -> None:
        if self._cur is not None:
            self._stack.close()
        elif self.nonce is not None:
            pending, self.nonce = self.nonce, None
            store = self._store
            if store._statement(lambda cur: SqlStore.spend_nonce(store, *pending)) is not None:
                raise _Redo

    def rollback(self) -> None:
        # psycopg.Rollback: the transaction rolls back and the connection goes back
        # to the pool (no error reaches it).
        self._stack.__exit__(psycopg.Rollback, psycopg.Rollback(), None)

    def fail(self, exc: BaseException) -> None:
        self._stack.__exit__(type(exc), exc, exc.__traceback__)


__all__ = ["SEND_APPLICATION", "PostgresStore"]
