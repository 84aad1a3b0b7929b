"""PostgresStore's own paths, in process against a throwaway PostgreSQL: the one-statement
application send (mlswire_send_application) and the deferred transaction of atomic(),
the one-statement batched ack, and NOTIFY reaching another process.

Each test gets a fresh schema. The DS's own request path (DeliveryService.serve: the
nonce spent, then the operation, in one atomic()) is used as the DS uses it, so the
refusals checked here are the ones an HTTP client sees."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

import psycopg
import pytest

from mlswire.service.delivery_service import DeliveryService, Request
from mlswire.service.store import (
    Device,
    Forbidden,
    SendResult,
    SqlStore,
    Submission,
    Unauthorized,
)
from mlswire.service.store_postgres import PostgresStore

from .conftest import ROOT, fresh_pg_schema, pg_url_or_skip

MEMBERS = [f"user{i}/phone" for i in range(6)]


def key(address: str) -> bytes:
    return hashlib.sha256(address.encode()).digest()


class Counting(psycopg.Cursor[Any]):
    """Counts the statements the store sends (BEGIN and COMMIT counted by
    CountingStore): each is one round trip to the server."""

    statements = 0

    def execute(self, query: Any, params: Any = None, **kw: Any) -> Any:
        type(self).statements += 1
        return super().execute(query, params, **kw)


class CountingStore(PostgresStore):
    def _connect(self) -> psycopg.Connection[Any]:
        conn = super()._connect()
        conn.cursor_factory = Counting
        return conn

    @contextlib.contextmanager
    def _transaction(self, conn: Any) -> Iterator[Any]:
        Counting.statements += 2  # BEGIN, COMMIT (or ROLLBACK)
        with super()._transaction(conn) as cur:
            yield cur


@pytest.fixture
def url() -> str:
    return fresh_pg_schema(pg_url_or_skip())


@pytest.fixture
def store(url: str) -> Iterator[CountingStore]:
    s = CountingStore(url)
    for a in [*MEMBERS, "outsider/phone"]:
        s.register_device(Device(a, a.split("/")[0], 1, key(a), b"credential"))
    s.create_group(b"group", MEMBERS[0], 0, None, roster=MEMBERS)
    yield s
    s.close()


def ds_for(store: PostgresStore) -> DeliveryService:
    # serve() touches only the store (the credential policy is for verify()).
    return DeliveryService(store, cast(Any, None))


def request(address: str, nonce: str) -> Request:
    device = Device(address, address.split("/")[0], 1, key(address), b"credential")
    return Request(device, nonce, time.time(), ("POST", "/v1/messages", b"", None), fresh=True)


def app(sender: str, data: bytes, group: bytes = b"group") -> Submission:
    return Submission(sender, group, 0, 1, 1, data)


def serve_send(ds: DeliveryService, sender: str, nonce: str, data: bytes) -> SendResult:
    sub = app(sender, data)
    return ds.serve(request(sender, nonce), lambda: ds.store.submit(sub))


def table(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


def snapshot(url: str) -> tuple[list[tuple[Any, ...]], ...]:
    return (
        table(url, "SELECT address, seq, data FROM ds_queue ORDER BY address, seq"),
        table(url, "SELECT address, next_seq, lost FROM ds_devices ORDER BY address"),
        table(url, "SELECT sender, digest, result FROM ds_accepted ORDER BY sender, digest"),
    )


def counted(call: Callable[[], Any]) -> tuple[Any, int]:
    before = Counting.statements
    result = call()
    return result, Counting.statements - before


def test_an_application_send_is_one_statement(store: CountingStore, url: str) -> None:
    ds = ds_for(store)
    serve_send(ds, MEMBERS[0], "warm", b"warm")  # the first spend prunes (a statement more)
    result, statements = counted(lambda: serve_send(ds, MEMBERS[0], "n1", b"hello"))
    assert statements == 1
    assert result == SendResult(0, 5)
    assert result.delivered_to == tuple(MEMBERS[1:])
    assert [(a, q.seq, q.data, q.sender) for a, q in result.queued] == [
        (a, 2, b"hello", MEMBERS[0]) for a in MEMBERS[1:]
    ]
    queue, devices, accepted = snapshot(url)
    assert [(a, s) for a, s, d in queue if d == b"hello"] == [(a, 2) for a in MEMBERS[1:]]
    assert dict((a, n) for a, n, _ in devices)[MEMBERS[1]] == 3
    assert (MEMBERS[0], "n1") in [
        (a, n) for a, n in table(url, "SELECT address, nonce FROM ds_nonces")
    ]
    digest = hashlib.sha256(b"hello").digest()
    assert (MEMBERS[0], digest, '{"epoch": 0, "recipients": 5, "duplicate": false}') in [
        (s, bytes(d), r) for s, d, r in accepted
    ]
    # The reference path (a commit, or an atomic() already in a transaction) for scale.
    _, reference = counted(
        lambda: store.atomic(
            lambda: (
                SqlStore.spend_nonce(store, MEMBERS[0], key(MEMBERS[0]), "n2", time.time(), 120),
                SqlStore.submit(store, app(MEMBERS[0], b"reference")),
            )
        )
    )
    assert reference >= 8, reference


def test_a_replayed_nonce_is_refused_and_changes_nothing(store: CountingStore, url: str) -> None:
    ds = ds_for(store)
    serve_send(ds, MEMBERS[0], "warm", b"warm")
    serve_send(ds, MEMBERS[0], "n1", b"first")
    before = snapshot(url)
    with pytest.raises(Unauthorized, match="nonce already used"):
        serve_send(ds, MEMBERS[0], "n1", b"second")
    assert snapshot(url) == before
    # A nonce spent by a refused request is refused too (the DS spends it apart).
    with pytest.raises(Forbidden):
        serve_send(ds, "outsider/phone", "o1", b"x")
    with pytest.raises(Unauthorized, match="nonce already used"):
        serve_send(ds, "outsider/phone", "o1", b"y")


def test_a_non_member_is_refused_with_nothing_changed(store: CountingStore, url: str) -> None:
    ds = ds_for(store)
    serve_send(ds, MEMBERS[0], "warm", b"warm")
    before = snapshot(url)
    with pytest.raises(Forbidden) as refused:
        serve_send(ds, "outsider/phone", "o1", b"let me in")
    assert str(refused.value) == f"outsider/phone is not a member of group {b'group'.hex()}"
    with pytest.raises(Forbidden) as unknown:
        store.atomic(lambda: store.submit(app(MEMBERS[0], b"x", group=b"nope")))
    assert str(unknown.value) == f"{MEMBERS[0]} is not a member of group {b'nope'.hex()}"
    assert snapshot(url) == before


def test_a_retried_send_gets_the_first_answer_and_is_queued_once(
    store: CountingStore, url: str
) -> None:
    ds = ds_for(store)
    first = serve_send(ds, MEMBERS[1], "n1", b"retried")
    again = serve_send(ds, MEMBERS[1], "n2", b"retried")  # a new request, the same bytes
    assert (first.epoch, first.recipients, first.duplicate) == (0, 5, False)
    assert (again.epoch, again.recipients, again.duplicate) == (0, 5, True)
    assert again.queued == ()
    queue, _, _ = snapshot(url)
    assert len([r for r in queue if r[2] == b"retried"]) == 5
    assert ("n2",) in table(url, f"SELECT nonce FROM ds_nonces WHERE address = '{MEMBERS[1]}'")


def test_concurrent_sends_get_gapless_seqs(store: CountingStore, url: str) -> None:
    """Threads sending to one group (and to a second group over some of the same
    devices) through both the one-statement path and the reference path: every
    device's queue is 1..n without a gap, in one order, and no send deadlocks."""
    store.create_group(b"other", MEMBERS[0], 0, None, roster=MEMBERS[:3])
    ds = ds_for(store)
    errors: list[BaseException] = []
    per_thread = 25

    def sender(t: int) -> None:
        who = MEMBERS[t % len(MEMBERS)]
        for i in range(per_thread):
            data = f"{t}-{i}".encode()
            sub = app(who, data)
            try:
                if t % 3 == 2:  # the reference path, interleaved
                    store.atomic(functools.partial(SqlStore.submit, store, sub))
                elif t % 3 == 1 and who in MEMBERS[:3]:
                    serve_send_to(ds, who, f"{t}-{i}", data, b"other")
                else:
                    serve_send(ds, who, f"{t}-{i}", data)
            except BaseException as e:  # reported below
                errors.append(e)

    threads = [threading.Thread(target=sender, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert errors == []
    queue, devices, _ = snapshot(url)
    next_seq = {a: n for a, n, _ in devices}
    total = 0
    for a in MEMBERS:
        seqs = [s for addr, s, _ in queue if addr == a]
        assert seqs == list(range(1, len(seqs) + 1)), a
        assert next_seq[a] == len(seqs) + 1
        total += len(seqs)
    sends = table(url, "SELECT count(*) FROM ds_accepted")[0][0]
    assert sends == 8 * per_thread
    # Each send reaches every other member of its group: 5 in "group", 2 in "other".
    other = table(url, "SELECT count(*) FROM ds_queue WHERE group_id = 'other'::bytea")[0][0]
    assert total == 5 * (sends - other // 2) + other


def serve_send_to(
    ds: DeliveryService, sender: str, nonce: str, data: bytes, group: bytes
) -> SendResult:
    sub = app(sender, data, group)
    return ds.serve(request(sender, nonce), lambda: ds.store.submit(sub))


def test_ack_many_is_one_statement_and_acks_in_order(store: CountingStore, url: str) -> None:
    for i in range(4):
        store.submit(app(MEMBERS[0], f"m{i}".encode()))
    acks = [(MEMBERS[1], 2), (MEMBERS[2], 1), (MEMBERS[1], 1), (MEMBERS[1], 3), ("nobody/x", 9)]
    deleted, statements = counted(lambda: store.ack_many(acks))
    assert statements == 1
    # As one after the other: the third ack finds nothing left at or below 1.
    assert deleted == [2, 1, 0, 1, 0]
    # The reference (SqlStore.ack_many in a transaction) on the same state agrees.
    for i in range(4, 8):
        store.submit(app(MEMBERS[0], f"m{i}".encode()))
    later = [(MEMBERS[3], 6), (MEMBERS[3], 2), (MEMBERS[2], 8)]
    mine = store.ack_many(later)
    queue_after_mine = snapshot(url)[0]
    store.submit(app(MEMBERS[0], b"m8"))
    assert mine == [6, 0, 7]
    assert [(a, s) for a, s, _ in queue_after_mine if a in (MEMBERS[2], MEMBERS[3])] == [
        (MEMBERS[3], 7),
        (MEMBERS[3], 8),
    ]
    reference = store.atomic(lambda: store.ack_many([(MEMBERS[4], 3), (MEMBERS[4], 9)]))
    assert reference == [3, 6]
    assert store.ack_many([]) == []
    # An ack also acknowledges the report of expired entries (lost back to 0).
    store.expire(time.time() + 1, MEMBERS[5])
    assert store.lost(MEMBERS[5]) == 9
    assert store.ack_many([(MEMBERS[1], 0), (MEMBERS[5], 0)]) == [0, 0]
    assert (store.lost(MEMBERS[5]), store.lost(MEMBERS[1])) == (0, 0)


def test_notify_reaches_another_process(store: CountingStore, url: str) -> None:
    """A one-statement send NOTIFYs at commit: a PostgresStore listening in another
    process hears the recipients' addresses (and a refused send says nothing)."""
    code = (
        "import sys, time\n"
        "from mlswire.service.store_postgres import PostgresStore\n"
        "store = PostgresStore(sys.argv[1])\n"
        "def heard(addresses):\n"
        "    print('ALL' if addresses is None else ' '.join(addresses), flush=True)\n"
        "stop = store.listen(heard)\n"
        "time.sleep(30)\n"
    )
    # -c: this checkout's mlswire (the current directory comes first on the path).
    child = subprocess.Popen(
        [sys.executable, "-c", code, url], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ALL"  # listening (and told to re-read)
        ds = ds_for(store)
        with pytest.raises(Forbidden):
            serve_send(ds, "outsider/phone", "o1", b"refused")
        serve_send(ds, MEMBERS[2], "n1", b"heard")
        got: list[str] = []
        reader = threading.Thread(target=lambda: got.append(child.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(10)
        assert got and got[0].split() == [m for m in MEMBERS if m != MEMBERS[2]]
    finally:
        child.kill()
        child.wait(10)


def test_read_queue_is_one_statement_and_reads_as_the_reference(store: CountingStore) -> None:
    for i in range(5):
        store.submit(app(MEMBERS[0], f"m{i}".encode()))
    store.expire(time.time() + 1, MEMBERS[2])  # MEMBERS[2]: 5 expired, none left
    store.submit(app(MEMBERS[0], b"after"))
    cases = [(MEMBERS[1], 0, 100), (MEMBERS[1], 2, 2), (MEMBERS[1], 6, 10), (MEMBERS[2], 0, 10)]
    for address, after, limit in [*cases, ("nobody/x", 0, 10)]:
        mine, statements = counted(lambda: store.read_queue(address, after, limit))  # noqa: B023
        assert statements == 1
        reference = store.atomic(lambda: store.read_queue(address, after, limit))  # noqa: B023
        assert mine == reference
    assert [q.seq for q in store.read_queue(MEMBERS[1], 2, 2)[0]] == [3, 4]
    messages, lost = store.read_queue(MEMBERS[2], 0, 10)
    assert (lost, [q.data for q in messages]) == (5, [b"after"])
