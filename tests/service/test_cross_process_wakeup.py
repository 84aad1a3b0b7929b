"""The rare late pushes with two DS processes on one PostgreSQL (max 0.6-5 s against a
p99 of tens of ms in bench/ds_load.py) were a wake-up from another process lost when
it came while the push connection was already awake for an entry of its own process.
Fixed in push.py (Waiter.must_read: such a wake-up makes the next round read the
store); this test failed before.

The push loop clears its event at the top of each round, after it woke: a NOTIFY of
another process's send that arrived between the wake-up and that clear set an event
that was already set, and was then cleared. If the entries this process handed over
in memory continued the stream, the round pushed them without reading the store, and the
other process's entry waited for the next wake-up: the next send to the device, or
the re-read every NOTIFIED_POLL_INTERVAL (5 s). Measured (an instrumented DS, 2 processes
at 150 sends/s): each late entry's NOTIFY reached its process within 2 ms of the commit,
yet the push read it 0.56-0.64 s later, woken by the device's next send; others waited
for the 5 s re-read.

Here it is forced in one event-loop turn, no sockets and no database: an entry of
this process (seq 1, handed over in memory) and, before the push task runs, a wake-up
for an entry another process queued (seq 2, only in the "store")."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator
from typing import Any, cast

from mlswire.service.push import AckBatch, Notifier, PushSession
from mlswire.service.store import Device, QueuedMessage

ADDRESS = "alice/phone"


class FakeSocket:
    def __init__(self) -> None:
        self.frames: list[str] = []
        self.sent = asyncio.Event()

    async def send_text(self, text: str) -> None:
        self.frames.append(text)
        self.sent.set()


class FakeDS:
    """fetch_with_lost over a list: the committed queue as every process sees it."""

    def __init__(self) -> None:
        self.queue: list[QueuedMessage] = []

    def fetch_with_lost(
        self, device: Device, address: str, after: int, limit: int
    ) -> tuple[list[QueuedMessage], int]:
        return [m for m in self.queue if m.seq > after][:limit], 0


async def pushed_seqs(ws: FakeSocket, want: list[int], seconds: float = 2.0) -> list[int]:
    """The seqs pushed on ``ws`` so far, once they are ``want`` or ``seconds`` passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    seqs: list[int] = []
    while seqs != want and loop.time() < deadline:
        ws.sent.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ws.sent.wait(), 0.2)
        seqs = [m["seq"] for f in ws.frames for m in json.loads(f).get("messages", [])]
    return seqs


@contextlib.asynccontextmanager
async def push_running(ds: FakeDS) -> AsyncIterator[tuple[Notifier, FakeSocket]]:
    """A push connection of ``ADDRESS`` reading ``ds``, its first read done and waiting;
    cancelled on exit. The re-read interval is long: it must not hide a lost entry."""
    notifier = Notifier(poll_interval=30.0)
    notifier.bind(asyncio.get_running_loop())
    ws = FakeSocket()
    device = Device(ADDRESS, "alice", 1, b"k", b"c")
    acks = AckBatch(cast(Any, ds))  # unused: nothing is acknowledged here
    session = PushSession(cast(Any, ws), cast(Any, ds), device, 0, notifier, acks)
    task = asyncio.create_task(session._push())
    try:
        while ADDRESS not in notifier._waiters:  # the first read done, waiting
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        yield notifier, ws
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def entry(seq: int) -> QueuedMessage:
    return QueuedMessage(seq, "message", b"g", "bob/phone", 1, 1, b"x", 0.0)


async def pushed_seqs_after_a_racing_wakeup() -> list[int]:
    ds = FakeDS()
    async with push_running(ds) as (notifier, ws):
        # This process queued seq 1 and hands it over; before the push task runs,
        # another process's NOTIFY says the device has more (seq 2).
        ds.queue.append(entry(1))
        notifier.deliver([(ADDRESS, entry(1))])
        ds.queue.append(entry(2))
        notifier.notify([ADDRESS])
        return await pushed_seqs(ws, [1, 2])


def test_a_wakeup_from_another_process_is_not_lost() -> None:
    assert asyncio.run(pushed_seqs_after_a_racing_wakeup()) == [1, 2]


class CountingDS(FakeDS):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def fetch_with_lost(
        self, device: Device, address: str, after: int, limit: int
    ) -> tuple[list[QueuedMessage], int]:
        self.reads += 1
        return super().fetch_with_lost(device, address, after, limit)


async def push_of_entries_handed_over(
    order: list[int], store_has: list[int]
) -> tuple[list[int], int]:
    """Hand entries over in ``order`` (the store holds ``store_has``): the seqs pushed,
    in order, and how many times the store was read after the connection's first read."""
    ds = CountingDS()
    async with push_running(ds) as (notifier, ws):
        first_reads = ds.reads
        ds.queue += [entry(s) for s in store_has]
        for s in order:
            notifier.deliver([(ADDRESS, entry(s))])
            await asyncio.sleep(0.005)  # the push task runs between the hand-overs
        seqs = await pushed_seqs(ws, sorted(set(store_has) | set(order)))
        return seqs, ds.reads - first_reads


def test_entries_handed_over_out_of_order_are_pushed_in_order_without_a_read() -> None:
    # PostgreSQL's worker threads hand sends back as each commits: seq 2 may come first.
    assert asyncio.run(push_of_entries_handed_over([2, 1, 3], [1, 2, 3])) == ([1, 2, 3], 0)


def test_an_entry_that_never_comes_in_memory_is_read_from_the_store() -> None:
    # Seq 1 went through another process whose wake-up was lost: the gap is read.
    assert asyncio.run(push_of_entries_handed_over([2, 3], [1, 2, 3])) == ([1, 2, 3], 1)


class SlowReadDS(FakeDS):
    """A read that takes its snapshot, then takes a while: what is committed meanwhile
    is not in it."""

    def __init__(self) -> None:
        super().__init__()
        self.reading = threading.Event()
        self.release = threading.Event()

    def fetch_with_lost(
        self, device: Device, address: str, after: int, limit: int
    ) -> tuple[list[QueuedMessage], int]:
        seen = super().fetch_with_lost(device, address, after, limit)
        self.reading.set()
        self.release.wait(2)
        return seen


async def pushed_after_a_handover_during_a_read() -> list[int]:
    ds = SlowReadDS()
    ds.release.set()  # the connection's first read
    try:
        async with push_running(ds) as (notifier, ws):
            ds.reading.clear()
            ds.release.clear()
            ds.queue.append(entry(1))
            notifier.notify([ADDRESS])  # another process's entry: a read starts
            await asyncio.get_running_loop().run_in_executor(None, ds.reading.wait, 2)
            ds.queue.append(entry(2))  # committed here after the read's snapshot
            notifier.deliver([(ADDRESS, entry(2))])
            ds.release.set()
            return await pushed_seqs(ws, [1, 2])
    finally:
        ds.release.set()


def test_an_entry_handed_over_during_a_read_that_missed_it_is_pushed() -> None:
    assert asyncio.run(pushed_after_a_handover_during_a_read()) == [1, 2]
