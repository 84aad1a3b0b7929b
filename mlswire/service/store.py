"""The Delivery Service's storage interface, and its implementation over SQL.

:class:`Store` is what the DS needs: devices, replay nonces, the KeyPackage directory,
group rosters and epochs, and per-device queues. Every method is one transaction, so
whatever the DS acknowledged with HTTP 200 is durable and a crash never leaves half a
fan-out behind.

:class:`SqlStore` implements it once for both databases; :mod:`.store_sqlite` and
:mod:`.store_postgres` supply the connection, the DDL types and the locking dialect.

Ordering and sequencing, the parts that must be exact across several DS processes
sharing one database:

* every submission to a group first locks that group's row (``SELECT ... FOR UPDATE``
  on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` takes the database write lock). So for a
  group there is one total order of accepted messages, and the commit check ("is this
  commit for the group's current epoch?") and the epoch increment are atomic: for each
  group and epoch exactly one commit is accepted;
* each device's queue position comes from a counter in the device's row, incremented
  under that row's lock; the lock is held until commit, so queue order equals commit
  order, and a cumulative acknowledgement ("everything up to seq N") can never delete a
  message the device has not seen (a global sequence could: ids are allocated before
  commit, so id 11 may become visible before id 10). Device rows are locked in sorted
  order, so two fan-outs never deadlock;
* a submission is identified by (sender, SHA-256 of the message); the same bytes sent
  again (a client retrying after a lost response) return the first result and are not
  queued twice (for RETRY_WINDOW, seven days).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, TypeVar

# The refusals the DS turns into HTTP statuses are the wire contract's (re-exported).
from .contract import BadRequest, Conflict, DSError, Forbidden, Gone, NotFound, Unauthorized

T = TypeVar("T")


def not_member(address: str, group_id: bytes) -> Forbidden:
    """The refusal for a device not on a group's roster, whether or not the group
    exists: a non-member learns nothing about the group, not even that it exists."""
    return Forbidden(f"{address} is not a member of group {group_id.hex()}")


# --- records -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Device:
    address: str  # user/device
    user: str
    suite: int
    signature_key: bytes
    credential: bytes  # TLS-encoded RFC 9420 Credential (x509) the AS issued


@dataclass(frozen=True)
class Submission:
    """One message sent to a group, with what the DS read from its header.

    ``add`` / ``remove`` are the roster changes the committer declares (the DS cannot
    read a PrivateMessage commit); ``welcome`` goes to the added devices only."""

    sender: str
    group_id: bytes
    epoch: int
    content_type: int  # 1 application, 2 proposal, 3 commit
    sender_type: int  # RFC 9420 SenderType; 0 when hidden (PrivateMessage)
    message: bytes
    welcome: bytes | None = None
    group_info: bytes | None = None
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    # For a group the DS follows (it holds the group's public state): called under the
    # group's lock with (public state, roster) to verify a handshake; raises a DSError
    # to refuse it. Then ``add``/``remove`` are ignored: the verdict's roster rules.
    verify: Callable[[bytes, tuple[str, ...]], Verdict] | None = field(
        default=None, compare=False, repr=False
    )


@dataclass(frozen=True)
class Verdict:
    """What the DS's public view of a group says about a handshake it verified: the
    group's new public state, and for a commit the roster after it (the devices of the
    new tree's leaves) and the checked GroupInfo of the new epoch (None: none given)."""

    public_state: bytes
    roster: tuple[str, ...] | None = None
    group_info: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SendResult:
    epoch: int  # the group's epoch after this message
    recipients: int
    duplicate: bool = False
    # Who got a copy (for waking their long-polls), and the entries queued for them
    # (pushed from memory by this process); not part of the stored result.
    delivered_to: tuple[str, ...] = field(default=(), compare=False)
    queued: tuple[tuple[str, QueuedMessage], ...] = field(default=(), compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "recipients": self.recipients, "duplicate": self.duplicate}


class QueuedMessage(NamedTuple):
    """One entry of a device's queue. A named tuple: a send makes one per recipient,
    in the writer's transaction, where a frozen dataclass's __init__ cost several
    times as much."""

    seq: int
    kind: str  # "message" or "welcome"
    group_id: bytes
    sender: str
    epoch: int
    content_type: int
    data: bytes
    received_at: float


@dataclass(frozen=True)
class GroupRecord:
    group_id: bytes
    epoch: int
    members: tuple[str, ...]
    group_info: bytes | None = field(default=None, repr=False)


CONTENT_COMMIT = 3
CONTENT_PROPOSAL = 2
SENDER_NEW_MEMBER_COMMIT = 4


class Store(Protocol):
    """What the Delivery Service stores. Every method is atomic."""

    # True: the store runs transactions on threads of its own (submit_atomic gives
    # futures: SQLite's writer, PostgreSQL's workers).
    background_writer: bool

    def register_device(self, device: Device) -> None: ...
    def device(self, address: str) -> Device | None: ...
    def user_devices(self, user: str) -> list[str]: ...
    def use_nonce(self, address: str, nonce: str, now: float, horizon: float) -> bool: ...
    def spend_nonce(
        self, address: str, signature_key: bytes, nonce: str, now: float, horizon: float
    ) -> str | None: ...
    def atomic(self, fn: Callable[[], T]) -> T: ...
    def submit_atomic(self, fn: Callable[[], T]) -> asyncio.Future[T] | None: ...

    def publish_key_packages(
        self, address: str, key_packages: Sequence[bytes], last_resort: bytes | None
    ) -> int: ...
    def claim_key_package(self, address: str) -> tuple[bytes, bool] | None: ...
    def key_package_count(self, address: str) -> int: ...

    def create_group(
        self,
        group_id: bytes,
        creator: str,
        epoch: int,
        group_info: bytes | None,
        public_state: bytes | None = None,
        roster: Sequence[str] = (),
    ) -> None: ...
    def group(self, group_id: bytes) -> GroupRecord | None: ...
    def set_group_info(
        self,
        group_id: bytes,
        sender: str,
        epoch: int,
        info: bytes,
        check: Callable[[bytes], None] | None = None,
    ) -> None: ...
    def submit(self, sub: Submission) -> SendResult: ...

    def put_blob(self, group_id: bytes, sender: str, data: bytes) -> str: ...
    def get_blob(self, group_id: bytes, reader: str, blob_id: str) -> bytes: ...

    def fetch(self, address: str, after: int, limit: int) -> list[QueuedMessage]: ...
    def read_queue(
        self, address: str, after: int, limit: int, expire_before: float | None = None
    ) -> tuple[list[QueuedMessage], int]: ...
    def ack(self, address: str, up_to: int) -> int: ...
    def ack_many(self, acks: Sequence[tuple[str, int]]) -> list[int]: ...
    def expire(self, before: float, address: str | None = None) -> int: ...
    def lost(self, address: str) -> int: ...
    def listen(
        self, callback: Callable[[Sequence[str] | None], None]
    ) -> Callable[[], None] | None: ...
    def close(self) -> None: ...


# --- the SQL implementation ----------------------------------------------------------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS ds_devices (
    address TEXT PRIMARY KEY,
    user_name TEXT NOT NULL,
    suite INTEGER NOT NULL,
    signature_key {blob} NOT NULL,
    credential {blob} NOT NULL,
    next_seq BIGINT NOT NULL DEFAULT 1,
    lost BIGINT NOT NULL DEFAULT 0,
    registered_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS ds_devices_user ON ds_devices (user_name);
CREATE TABLE IF NOT EXISTS ds_nonces (
    address TEXT NOT NULL,
    nonce TEXT NOT NULL,
    ts DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (address, nonce)
);
CREATE INDEX IF NOT EXISTS ds_nonces_ts ON ds_nonces (ts);
CREATE TABLE IF NOT EXISTS ds_key_packages (
    id {serial_pk},
    address TEXT NOT NULL,
    last_resort INTEGER NOT NULL,
    data {blob} NOT NULL
);
CREATE INDEX IF NOT EXISTS ds_key_packages_address ON ds_key_packages (address, last_resort, id);
CREATE TABLE IF NOT EXISTS ds_groups (
    group_id {blob} PRIMARY KEY,
    epoch BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    group_info {blob},
    public_state {blob}
);
CREATE TABLE IF NOT EXISTS ds_members (
    group_id {blob} NOT NULL,
    address TEXT NOT NULL,
    PRIMARY KEY (group_id, address)
);
CREATE TABLE IF NOT EXISTS ds_commits (
    group_id {blob} NOT NULL,
    epoch BIGINT NOT NULL,
    sender TEXT NOT NULL,
    digest {blob} NOT NULL,
    accepted_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (group_id, epoch)
);
CREATE TABLE IF NOT EXISTS ds_accepted (
    sender TEXT NOT NULL,
    digest {blob} NOT NULL,
    result TEXT NOT NULL,
    accepted_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (sender, digest)
);
CREATE TABLE IF NOT EXISTS ds_blobs (
    group_id {blob} NOT NULL,
    blob_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    data {blob} NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (group_id, blob_id)
);
CREATE TABLE IF NOT EXISTS ds_queue (
    address TEXT NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    group_id {blob} NOT NULL,
    sender TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    content_type INTEGER NOT NULL,
    data {blob} NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (address, seq)
);
"""

MAX_GROUP_MEMBERS = 10_000
RETRY_WINDOW = 7 * 24 * 3600.0  # seconds a resent message is still recognised as a retry


class SqlStore(ABC):
    """The :class:`Store` over a DB-API connection; subclasses give the dialect.

    SQL is written with ``?`` placeholders and ``{lock}`` where a row lock goes;
    :meth:`_sql` turns them into the dialect's.
    """

    placeholder = "?"
    lock_clause = ""  # " FOR UPDATE" on PostgreSQL
    background_writer = False  # see submit_atomic
    blob_type = "BLOB"
    serial_pk = "INTEGER PRIMARY KEY AUTOINCREMENT"
    nonce_retention = 600.0  # seconds: longer than any accepted request timestamp skew

    def __init__(self, pool_size: int = 8) -> None:
        self._pool: list[Any] = []
        self._pool_lock = threading.Lock()
        self._pool_size = pool_size
        # At most pool_size connections in use: a thread beyond waits for one to come
        # back rather than opening (and then closing) a connection per transaction.
        self._pool_slots = threading.BoundedSemaphore(pool_size)
        self._last_prune = 0.0
        self._dialect: dict[str, str] = {}  # _sql's translations
        # The cursor of the transaction this thread has open (see atomic()): store
        # operations called inside it join it instead of opening their own.
        self._local = threading.local()

    # -- connections (a small pool: the HTTP layer calls in from worker threads) --
    @abstractmethod
    def _connect(self) -> Any: ...

    @abstractmethod
    @contextmanager
    def _transaction(self, conn: Any) -> Iterator[Any]:
        """Yield a cursor inside one transaction; commit on exit, roll back on error."""

    def _retryable(self, exc: BaseException) -> bool:
        return False

    # -- notifications to other DS processes sharing the database --
    def _announce(self, cur: Any, addresses: Sequence[str]) -> None:
        """Tell the other DS processes, when this transaction commits, that these
        devices have new entries (PostgreSQL: NOTIFY). Here: nothing; they re-read."""
        return None

    def listen(self, callback: Callable[[Sequence[str] | None], None]) -> Callable[[], None] | None:
        """Call ``callback(addresses)`` from a thread whenever another DS process
        queued entries for those devices (``None``: maybe any device, after a lost
        connection); the returned call stops it. None: this database cannot notify
        (SQLite), so waiters re-read the store every poll interval."""
        return None

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._connection() as conn, self._transaction(conn) as cur:
            yield cur

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        """A pooled connection (one of at most ``pool_size``); dropped if it broke."""
        with self._pool_slots:
            with self._pool_lock:
                conn = self._pool.pop() if self._pool else None
            if conn is None:
                conn = self._connect()
            try:
                yield conn
            except DSError:
                self._give_back(conn)
                raise
            except BaseException:
                self._discard(conn)
                raise
            self._give_back(conn)

    def _give_back(self, conn: Any) -> None:
        with self._pool_lock:
            self._pool.append(conn)

    def _discard(self, conn: Any) -> None:
        # A broken connection may fail to close; it is dropped either way.
        with contextlib.suppress(Exception):
            conn.close()

    def _run(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(cursor, *args)`` in a write transaction. Inside :meth:`atomic` it
        joins the transaction already open."""
        joined = getattr(self._local, "cur", None)
        if joined is not None:
            return fn(joined, *args)
        return self._write(lambda cur: fn(cur, *args))

    def _read(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(cursor, *args)``, which only reads: joined to an open
        transaction, else in a read transaction (one that needs no write lock where
        the database has such a lock: SQLite)."""
        joined = getattr(self._local, "cur", None)
        if joined is not None:
            return fn(joined, *args)
        return self._read_only(lambda cur: fn(cur, *args))

    def _write(self, call: Callable[[Any], Any]) -> Any:
        """``call(cursor)`` in a transaction of its own, retrying deadlocks and
        serialization failures (bounded). SQLite overrides it (group commit)."""
        for attempt in range(5):
            try:
                with self._tx() as cur:
                    self._local.cur = cur
                    try:
                        return call(cur)
                    finally:
                        self._local.cur = None
            except Exception as e:
                if attempt < 4 and self._retryable(e):
                    time.sleep(0.01 * (attempt + 1))
                    continue
                raise
        raise AssertionError("unreachable")

    def _read_only(self, call: Callable[[Any], Any]) -> Any:
        return self._write(call)

    def submit_atomic(self, fn: Callable[[], T]) -> asyncio.Future[T] | None:
        """:meth:`atomic` run by a writer thread of the store, its outcome a future of
        the running event loop (awaited without holding a thread); None when this
        store has no writer thread (PostgreSQL: run :meth:`atomic` in a thread)."""
        return None

    def atomic(self, fn: Callable[[], T]) -> T:
        """Run ``fn()`` in one transaction: every store operation it calls (in this
        thread) is part of it, so they commit together or not at all. This is how
        the DS makes a request one transaction (the nonce, then the operation)."""
        result: T = self._run(lambda cur: fn())
        return result

    def _sql(self, sql: str) -> str:
        out = self._dialect.get(sql)
        if out is None:
            out = sql.replace("{lock}", self.lock_clause)
            if self.placeholder != "?":
                out = out.replace("?", self.placeholder)
            if len(self._dialect) < 10_000:  # statements are few; keyed by their text
                self._dialect[sql] = out
        return out

    def _x(self, cur: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        cur.execute(self._sql(sql), tuple(params))
        return cur

    def _schema_statements(self) -> list[str]:
        ddl = SCHEMA.format(blob=self.blob_type, serial_pk=self.serial_pk)
        return [s.strip() for s in ddl.split(";") if s.strip()]

    def close(self) -> None:
        with self._pool_lock:
            conns, self._pool = self._pool, []
        for c in conns:
            self._discard(c)

    # -- devices and nonces --
    def register_device(self, device: Device) -> None:
        def tx(cur: Any) -> None:
            row = self._x(
                cur, "SELECT address FROM ds_devices WHERE address = ?{lock}", (device.address,)
            ).fetchone()
            if row is None:
                self._x(
                    cur,
                    "INSERT INTO ds_devices (address, user_name, suite, signature_key, credential,"
                    " next_seq, registered_at) VALUES (?, ?, ?, ?, ?, 1, ?)",
                    (
                        device.address,
                        device.user,
                        device.suite,
                        device.signature_key,
                        device.credential,
                        time.time(),
                    ),
                )
            else:
                # A re-registration (a new certificate, e.g. after a key change or a
                # state loss) keeps the device's queue and its position.
                self._x(
                    cur,
                    "UPDATE ds_devices SET suite = ?, signature_key = ?, credential = ?"
                    " WHERE address = ?",
                    (device.suite, device.signature_key, device.credential, device.address),
                )

        self._run(tx)

    def device(self, address: str) -> Device | None:
        def tx(cur: Any) -> Device | None:
            row = self._x(
                cur,
                "SELECT address, user_name, suite, signature_key, credential FROM ds_devices"
                " WHERE address = ?",
                (address,),
            ).fetchone()
            if row is None:
                return None
            return Device(row[0], row[1], int(row[2]), bytes(row[3]), bytes(row[4]))

        result: Device | None = self._read(tx)
        return result

    def user_devices(self, user: str) -> list[str]:
        def tx(cur: Any) -> list[str]:
            rows = self._x(
                cur, "SELECT address FROM ds_devices WHERE user_name = ? ORDER BY address", (user,)
            ).fetchall()
            return [r[0] for r in rows]

        result: list[str] = self._read(tx)
        return result

    def _prune(self, cur: Any, now: float, horizon: float) -> None:
        if now - self._last_prune > 60:
            self._last_prune = now
            self._x(cur, "DELETE FROM ds_nonces WHERE ts < ?", (now - horizon,))
            # Retries are recognised for RETRY_WINDOW; older digests are dropped.
            self._x(cur, "DELETE FROM ds_accepted WHERE accepted_at < ?", (now - RETRY_WINDOW,))

    def use_nonce(self, address: str, nonce: str, now: float, horizon: float) -> bool:
        """Record a request nonce; False if it was seen before (a replayed request)."""

        def tx(cur: Any) -> bool:
            self._prune(cur, now, horizon)
            c = self._x(
                cur,
                "INSERT INTO ds_nonces (address, nonce, ts) VALUES (?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (address, nonce, now),
            )
            return bool(c.rowcount == 1)

        result: bool = self._run(tx)
        return result

    def spend_nonce(
        self, address: str, signature_key: bytes, nonce: str, now: float, horizon: float
    ) -> str | None:
        """Record a request nonce of the device registered with ``signature_key`` (the
        key its signature was verified with, outside the transaction), in one
        statement. None when done; else why not: ``"replay"`` (nonce already used),
        ``"key"`` (the device re-registered with another key since: verify again)."""

        def tx(cur: Any) -> str | None:
            self._prune(cur, now, horizon)
            c = self._x(
                cur,
                "INSERT INTO ds_nonces (address, nonce, ts) SELECT ?, ?, ? WHERE EXISTS"
                " (SELECT 1 FROM ds_devices WHERE address = ? AND signature_key = ?)"
                " ON CONFLICT DO NOTHING",
                (address, nonce, now, address, signature_key),
            )
            if c.rowcount == 1:
                return None
            row = self._x(
                cur, "SELECT signature_key FROM ds_devices WHERE address = ?", (address,)
            ).fetchone()
            return "key" if row is None or bytes(row[0]) != signature_key else "replay"

        result: str | None = self._run(tx)
        return result

    # -- KeyPackages --
    def publish_key_packages(
        self, address: str, key_packages: Sequence[bytes], last_resort: bytes | None
    ) -> int:
        def tx(cur: Any) -> int:
            for kp in key_packages:
                self._x(
                    cur,
                    "INSERT INTO ds_key_packages (address, last_resort, data) VALUES (?, 0, ?)",
                    (address, kp),
                )
            if last_resort is not None:
                # One last-resort KeyPackage per device: a new one replaces the old.
                self._x(
                    cur,
                    "DELETE FROM ds_key_packages WHERE address = ? AND last_resort = 1",
                    (address,),
                )
                self._x(
                    cur,
                    "INSERT INTO ds_key_packages (address, last_resort, data) VALUES (?, 1, ?)",
                    (address, last_resort),
                )
            return self._count(cur, address)

        result: int = self._run(tx)
        return result

    def _count(self, cur: Any, address: str) -> int:
        row = self._x(
            cur,
            "SELECT COUNT(*) FROM ds_key_packages WHERE address = ? AND last_resort = 0",
            (address,),
        ).fetchone()
        return int(row[0])

    def key_package_count(self, address: str) -> int:
        result: int = self._read(self._count, address)
        return result

    def _claim_row(self, cur: Any, address: str) -> tuple[int, bytes] | None:
        row = self._x(
            cur,
            "SELECT id, data FROM ds_key_packages WHERE address = ? AND last_resort = 0"
            " ORDER BY id LIMIT 1{lock}",
            (address,),
        ).fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def claim_key_package(self, address: str) -> tuple[bytes, bool] | None:
        """Consume the oldest KeyPackage of ``address``; when none is left return the
        last-resort one without consuming it. ``(data, is_last_resort)`` or None."""

        def tx(cur: Any) -> tuple[bytes, bool] | None:
            row = self._claim_row(cur, address)
            if row is not None:
                self._x(cur, "DELETE FROM ds_key_packages WHERE id = ?", (row[0],))
                return row[1], False
            last = self._x(
                cur,
                "SELECT data FROM ds_key_packages WHERE address = ? AND last_resort = 1",
                (address,),
            ).fetchone()
            return None if last is None else (bytes(last[0]), True)

        result: tuple[bytes, bool] | None = self._run(tx)
        return result

    # -- groups --
    def create_group(
        self,
        group_id: bytes,
        creator: str,
        epoch: int,
        group_info: bytes | None,
        public_state: bytes | None = None,
        roster: Sequence[str] = (),
    ) -> None:
        """A new group; its roster is ``roster`` (the devices of a followed group's
        tree) or else the creator alone."""

        def tx(cur: Any) -> None:
            c = self._x(
                cur,
                "INSERT INTO ds_groups (group_id, epoch, created_by, group_info, public_state)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (group_id, epoch, creator, group_info, public_state),
            )
            if c.rowcount != 1:
                raise Conflict(f"group {group_id.hex()} already exists")
            for a in sorted(set(roster) | {creator}):
                if (
                    self._x(cur, "SELECT 1 FROM ds_devices WHERE address = ?", (a,)).fetchone()
                    is None
                ):
                    raise BadRequest(f"group_info: its tree names {a}, not a device of this DS")
                self._x(
                    cur, "INSERT INTO ds_members (group_id, address) VALUES (?, ?)", (group_id, a)
                )

        self._run(tx)

    def _members(self, cur: Any, group_id: bytes) -> list[str]:
        rows = self._x(
            cur, "SELECT address FROM ds_members WHERE group_id = ? ORDER BY address", (group_id,)
        ).fetchall()
        return [r[0] for r in rows]

    def group(self, group_id: bytes) -> GroupRecord | None:
        def tx(cur: Any) -> GroupRecord | None:
            row = self._x(
                cur, "SELECT epoch, group_info FROM ds_groups WHERE group_id = ?", (group_id,)
            ).fetchone()
            if row is None:
                return None
            info = None if row[1] is None else bytes(row[1])
            return GroupRecord(group_id, int(row[0]), tuple(self._members(cur, group_id)), info)

        result: GroupRecord | None = self._read(tx)
        return result

    def set_group_info(
        self,
        group_id: bytes,
        sender: str,
        epoch: int,
        info: bytes,
        check: Callable[[bytes], None] | None = None,
    ) -> None:
        """Replace the group's GroupInfo; for a followed group ``check(public_state)``
        must accept it first (under the group's lock)."""

        def tx(cur: Any) -> None:
            current, state = self._lock_group(cur, group_id, sender)
            if sender not in self._members(cur, group_id):
                raise not_member(sender, group_id)
            if epoch != current:
                raise Conflict(
                    f"GroupInfo is for epoch {epoch} but group {group_id.hex()} is at"
                    f" epoch {current}"
                )
            if state is not None and check is not None:
                check(state)
            self._x(cur, "UPDATE ds_groups SET group_info = ? WHERE group_id = ?", (info, group_id))

        self._run(tx)

    def _lock_group(
        self, cur: Any, group_id: bytes, who: str, with_state: bool = True
    ) -> tuple[int, bytes | None]:
        """Lock the group's row: its epoch and public state (None: not followed, or
        not asked for: an application message needs neither the view nor its bytes,
        tens of kilobytes for a big group)."""
        column = "public_state" if with_state else "NULL"
        row = self._x(
            cur, f"SELECT epoch, {column} FROM ds_groups WHERE group_id = ?{{lock}}", (group_id,)
        ).fetchone()
        if row is None:
            raise not_member(who, group_id)
        return int(row[0]), None if row[1] is None else bytes(row[1])

    def submit(self, sub: Submission) -> SendResult:
        digest = hashlib.sha256(sub.message).digest()

        def tx(cur: Any) -> SendResult:
            handshake = sub.content_type in (CONTENT_COMMIT, CONTENT_PROPOSAL)
            current, state = self._lock_group(cur, sub.group_id, sub.sender, handshake)
            # Checked under the group lock, so two concurrent retries of the same bytes
            # cannot both pass.
            seen = self._x(
                cur,
                "SELECT result FROM ds_accepted WHERE sender = ? AND digest = ?",
                (sub.sender, digest),
            ).fetchone()
            if seen is not None:
                r = json.loads(seen[0])
                return SendResult(r["epoch"], r["recipients"], duplicate=True)
            members = self._members(cur, sub.group_id)
            is_commit = sub.content_type == CONTENT_COMMIT
            external_join = is_commit and sub.sender_type == SENDER_NEW_MEMBER_COMMIT
            if sub.sender not in members and not external_join:
                raise not_member(sub.sender, sub.group_id)
            followed = state is not None and sub.content_type in (CONTENT_COMMIT, CONTENT_PROPOSAL)
            if followed and sub.sender not in members and sub.epoch != current:
                # An outsider's refusal is the one for a group that does not exist.
                raise not_member(sub.sender, sub.group_id)
            verdict = None
            if followed and sub.epoch == current:
                if sub.verify is None:
                    raise BadRequest("this group's handshakes are verified: none given")
                assert state is not None
                try:
                    verdict = sub.verify(state, tuple(members))
                except DSError:
                    if sub.sender not in members:
                        raise not_member(sub.sender, sub.group_id) from None
                    raise
                self._x(
                    cur,
                    "UPDATE ds_groups SET public_state = ? WHERE group_id = ?",
                    (verdict.public_state, sub.group_id),
                )
            add, remove, group_info = sub.add, sub.remove, sub.group_info
            if followed:
                # The roster follows the verified commit, never the sender's claim.
                after = verdict.roster if verdict is not None else None
                add = () if after is None else tuple(a for a in after if a not in members)
                remove = () if after is None else tuple(m for m in members if m not in after)
                group_info = None if verdict is None else verdict.group_info
            new_epoch = current
            if is_commit:
                if sub.epoch != current and sub.sender not in members:
                    # A non-member learns nothing about the group: not its epoch, not
                    # who committed.
                    raise Conflict(
                        f"external commit to group {sub.group_id.hex()} refused: not for"
                        " the group's current epoch"
                    )
                if sub.epoch != current:
                    raise Conflict(self._commit_conflict(cur, sub, current))
                new_epoch = current + 1
                self._x(
                    cur,
                    "INSERT INTO ds_commits (group_id, epoch, sender, digest, accepted_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (sub.group_id, sub.epoch, sub.sender, digest, time.time()),
                )
                self._x(
                    cur,
                    "UPDATE ds_groups SET epoch = ?, group_info = ? WHERE group_id = ?",
                    (new_epoch, group_info, sub.group_id),
                )
            elif sub.content_type == CONTENT_PROPOSAL and sub.epoch != current:
                raise Conflict(
                    f"proposal for epoch {sub.epoch} is stale: group {sub.group_id.hex()} is"
                    f" at epoch {current}"
                )
            added = [a for a in add if a not in members]
            known = self._lock_devices(cur, sorted(added), lock=False)
            for a in added:
                if a not in known:
                    raise BadRequest(f"add: unknown device {a}")
            for r in remove:
                if r not in members:
                    raise BadRequest(f"remove: {r} is not a member of group {sub.group_id.hex()}")
            if len(members) + len(added) > MAX_GROUP_MEMBERS:
                raise BadRequest(f"a group has at most {MAX_GROUP_MEMBERS} member devices")
            # The commit goes to everyone in the roster before the change (a removed
            # member learns it was removed); the Welcome to the added devices only.
            message_to = [m for m in members if m != sub.sender]
            welcome_to = added if sub.welcome is not None else []
            now = time.time()
            entries = [(a, "message", sub.message) for a in message_to]
            if sub.welcome is not None:
                entries += [(a, "welcome", sub.welcome) for a in welcome_to]
            queued = self._fan_out(cur, sub, entries, now)
            if added:
                self._insert(
                    cur, "ds_members (group_id, address)", [(sub.group_id, a) for a in added]
                )
            if external_join and sub.sender not in members and not followed:
                self._x(
                    cur,
                    "INSERT INTO ds_members (group_id, address) VALUES (?, ?)",
                    (sub.group_id, sub.sender),
                )
            if remove:
                self._many(
                    cur,
                    "DELETE FROM ds_members WHERE group_id = ? AND address = ?",
                    [(sub.group_id, r) for r in remove],
                )
            result = SendResult(
                new_epoch,
                len(message_to) + len(welcome_to),
                delivered_to=tuple(message_to) + tuple(welcome_to),
                queued=queued,
            )
            self._x(
                cur,
                "INSERT INTO ds_accepted (sender, digest, result, accepted_at) VALUES (?, ?, ?, ?)",
                (sub.sender, digest, json.dumps(result.to_json()), now),
            )
            return result

        result: SendResult = self._run(tx)
        return result

    def _commit_conflict(self, cur: Any, sub: Submission, current: int) -> str:
        gid = sub.group_id.hex()
        if sub.epoch < current:
            row = self._x(
                cur,
                "SELECT sender FROM ds_commits WHERE group_id = ? AND epoch = ?",
                (sub.group_id, sub.epoch),
            ).fetchone()
            by = f" (sent by {row[0]})" if row is not None else ""
            return (
                f"commit for epoch {sub.epoch} of group {gid} rejected: a commit for that epoch"
                f" was already accepted{by}; the group is at epoch {current}. Process the"
                " queued commit(s), then commit again."
            )
        return (
            f"commit for epoch {sub.epoch} of group {gid} rejected: the group is at epoch {current}"
        )

    def _insert(self, cur: Any, into: str, rows: Sequence[Sequence[Any]]) -> None:
        """``INSERT INTO {into} VALUES (...), (...), ...``: one statement per 100
        rows (cheaper than executemany's per-row protocol for a fan-out's few rows)."""
        for i in range(0, len(rows), 100):
            chunk = rows[i : i + 100]
            one = "(" + ", ".join("?" * len(chunk[0])) + ")"
            params = [v for r in chunk for v in r]
            self._x(cur, f"INSERT INTO {into} VALUES " + ", ".join([one] * len(chunk)), params)

    def _many(self, cur: Any, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """One statement for many rows (psycopg pipelines it; SQLite loops in C)."""
        cur.executemany(self._sql(sql), [tuple(r) for r in rows])

    def _in(self, n: int) -> str:
        return "(" + ", ".join("?" * n) + ")"

    def _lock_devices(
        self, cur: Any, addresses: Iterable[str], lock: bool = True
    ) -> dict[str, int]:
        """The next queue seq of each of ``addresses`` that is a device here, in one
        query; with ``lock``, their rows are locked in sorted order (PostgreSQL takes
        FOR UPDATE locks in the ORDER BY order), so concurrent fan-outs never
        deadlock. Chunked to stay under every driver's parameter limit."""
        out: dict[str, int] = {}
        ordered = sorted(addresses)
        for i in range(0, len(ordered), 900):
            chunk = ordered[i : i + 900]
            rows = self._x(
                cur,
                f"SELECT address, next_seq FROM ds_devices WHERE address IN {self._in(len(chunk))}"
                " ORDER BY address" + ("{lock}" if lock else ""),
                chunk,
            ).fetchall()
            out.update((r[0], int(r[1])) for r in rows)
        return out

    def _fan_out(
        self, cur: Any, sub: Submission, entries: Sequence[tuple[str, str, bytes]], now: float
    ) -> tuple[tuple[str, QueuedMessage], ...]:
        """Queue each ``(address, kind, data)`` (one entry per device) at the device's
        next seq: a locking read, one batched insert and one update, whatever the
        number of recipients. Returns the entries queued (for in-process push)."""
        if not entries:
            return ()
        seqs = self._lock_devices(cur, {a for a, _, _ in entries})
        rows: list[tuple[Any, ...]] = []
        queued: list[tuple[str, QueuedMessage]] = []
        g, sender, epoch, ct = sub.group_id, sub.sender, sub.epoch, sub.content_type
        for a, kind, data in entries:
            if a not in seqs:
                raise BadRequest(f"unknown device {a}")
            rows.append((a, seqs[a], kind, g, sender, epoch, ct, data, now))
            queued.append((a, QueuedMessage(seqs[a], kind, g, sender, epoch, ct, data, now)))
            seqs[a] += 1
        self._insert(
            cur,
            "ds_queue (address, seq, kind, group_id, sender, epoch, content_type, data,"
            " received_at)",
            rows,
        )
        self._announce(cur, sorted(seqs))
        if len(rows) == len(seqs):  # one entry per device (always, today): one statement
            ordered = sorted(seqs)
            for i in range(0, len(ordered), 900):
                chunk = ordered[i : i + 900]
                self._x(
                    cur,
                    "UPDATE ds_devices SET next_seq = next_seq + 1 WHERE address IN"
                    + self._in(len(chunk)),
                    chunk,
                )
        else:
            self._many(
                cur,
                "UPDATE ds_devices SET next_seq = ? WHERE address = ?",
                sorted((n, a) for a, n in seqs.items()),
            )
        return tuple(queued)

    # -- attachments --
    def put_blob(self, group_id: bytes, sender: str, data: bytes) -> str:
        """Store an (already encrypted) attachment for a group's members; its id is the
        SHA-256 of the bytes, so storing the same bytes twice is harmless."""
        blob_id = hashlib.sha256(data).hexdigest()

        def tx(cur: Any) -> None:
            # An unknown group has no members: the same refusal as for a group one is
            # not in (group_id is only on the roster of an existing group).
            if sender not in self._members(cur, group_id):
                raise not_member(sender, group_id)
            self._x(
                cur,
                "INSERT INTO ds_blobs (group_id, blob_id, owner, data, created_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (group_id, blob_id, sender, data, time.time()),
            )

        self._run(tx)
        return blob_id

    def get_blob(self, group_id: bytes, reader: str, blob_id: str) -> bytes:
        def tx(cur: Any) -> bytes:
            if reader not in self._members(cur, group_id):
                raise not_member(reader, group_id)
            row = self._x(
                cur,
                "SELECT data FROM ds_blobs WHERE group_id = ? AND blob_id = ?",
                (group_id, blob_id),
            ).fetchone()
            if row is None:
                raise NotFound(f"no attachment {blob_id} in group {group_id.hex()}")
            return bytes(row[0])

        result: bytes = self._read(tx)
        return result

    # -- queues --
    def _fetch(self, cur: Any, address: str, after: int, limit: int) -> list[QueuedMessage]:
        rows = self._x(
            cur,
            "SELECT seq, kind, group_id, sender, epoch, content_type, data, received_at"
            " FROM ds_queue WHERE address = ? AND seq > ? ORDER BY seq LIMIT ?",
            (address, after, limit),
        ).fetchall()
        return [
            QueuedMessage(
                int(r[0]), r[1], bytes(r[2]), r[3], int(r[4]), int(r[5]), bytes(r[6]), float(r[7])
            )
            for r in rows
        ]

    def fetch(self, address: str, after: int, limit: int) -> list[QueuedMessage]:
        result: list[QueuedMessage] = self._read(self._fetch, address, after, limit)
        return result

    def read_queue(
        self, address: str, after: int, limit: int, expire_before: float | None = None
    ) -> tuple[list[QueuedMessage], int]:
        """One read of a device's queue (a long-poll round, a push): first expire what
        is older than ``expire_before`` (if given), then the entries after ``after``
        and the count of expired unread ones, in one transaction."""

        def tx(cur: Any) -> tuple[list[QueuedMessage], int]:
            if expire_before is not None:
                self._expire(cur, expire_before, address)
            return self._fetch(cur, address, after, limit), self._lost(cur, address)

        run = self._read if expire_before is None else self._run
        result: tuple[list[QueuedMessage], int] = run(tx)
        return result

    def ack(self, address: str, up_to: int) -> int:
        """Delete every queued message of ``address`` with seq <= ``up_to``; an ack
        also acknowledges the report of expired messages (``lost`` back to 0)."""
        return self.ack_many([(address, up_to)])[0]

    def ack_many(self, acks: Sequence[tuple[str, int]]) -> list[int]:
        """:meth:`ack` for each ``(address, up_to)``, in order, in one transaction
        (the acks of many push connections at once); the numbers deleted."""

        def tx(cur: Any) -> list[int]:
            deleted = []
            for address, up_to in acks:
                n = self._x(
                    cur, "DELETE FROM ds_queue WHERE address = ? AND seq <= ?", (address, up_to)
                ).rowcount
                deleted.append(int(n))
                self._x(
                    cur,
                    "UPDATE ds_devices SET lost = 0 WHERE address = ? AND lost <> 0",
                    (address,),
                )
            return deleted

        result: list[int] = self._run(tx)
        return result

    def _expire(self, cur: Any, before: float, address: str | None) -> int:
        where = "received_at < ?" + (" AND address = ?" if address is not None else "")
        params: tuple[Any, ...] = (before,) if address is None else (before, address)
        rows = self._x(
            cur,
            f"SELECT address, COUNT(*) FROM ds_queue WHERE {where} GROUP BY address",
            params,
        ).fetchall()
        total = 0
        for addr, n in sorted(rows):  # device rows in sorted order, as in submit
            self._x(cur, "UPDATE ds_devices SET lost = lost + ? WHERE address = ?", (int(n), addr))
            total += int(n)
        if total:
            self._x(cur, f"DELETE FROM ds_queue WHERE {where}", params)
        return total

    def expire(self, before: float, address: str | None = None) -> int:
        """Drop queued messages received before ``before`` (queue retention), counting
        them per device in ``lost`` so the device is told it is behind."""
        result: int = self._run(self._expire, before, address)
        return result

    def _lost(self, cur: Any, address: str) -> int:
        row = self._x(cur, "SELECT lost FROM ds_devices WHERE address = ?", (address,)).fetchone()
        return 0 if row is None else int(row[0])

    def lost(self, address: str) -> int:
        result: int = self._read(self._lost, address)
        return result


__all__ = [
    "BadRequest",
    "Conflict",
    "DSError",
    "Device",
    "Forbidden",
    "Gone",
    "GroupRecord",
    "NotFound",
    "QueuedMessage",
    "SendResult",
    "SqlStore",
    "Store",
    "Submission",
    "Unauthorized",
    "Verdict",
    "not_member",
]
