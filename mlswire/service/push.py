"""Push delivery: a device's queue over one WebSocket, and the wake-ups behind it.

``GET /v1/devices/{user}/{device}/push?after=N``, upgraded to a WebSocket once the
request is authenticated exactly like ``GET .../queue`` (:mod:`.http` refuses with the
queue's 401/403 before accepting). Then, as text frames of JSON:

* server -> client: ``{"messages": [...]}``, the queue's entries (``entry_text``) in
  seq order, each seq sent once per connection, starting after N, sent as soon as they
  are committed; with ``"lost"`` and ``"warning"`` when messages expired unread (as in
  the queue's answer), in the first frame after the count changes;
* client -> server: ``{"ack": up_to}``, cumulative and not answered (written in
  batches, :class:`AckBatch`); a bad frame is answered with the HTTP error body
  (``{"error": "...", "status": 400}``) and changes nothing.

Nothing is deleted until acknowledged, so a dropped connection loses nothing: the
client reconnects (``after=0``) and gets every unacknowledged entry again.

Wake-ups: a send in this process wakes the device's connections (and long-polls) at
once (:class:`Notifier`); a send through another DS process reaches them through the
store's notifications (PostgreSQL LISTEN/NOTIFY, :meth:`.store.SqlStore.listen`), and
in any case within ``poll_interval``, when the queue is read again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from starlette.concurrency import run_in_threadpool

from ..errors import ValidationError
from .contract import BadRequest, DSError, compact_json, error_body
from .delivery_service import MAX_FETCH, DeliveryService, entry_tail, entry_text, messages_text
from .store import Device, QueuedMessage

# Seconds a push connection waits for an entry missing between those handed over in
# memory before it reads the store instead.
GAP_WAIT = 0.05


def lost_fields(lost: int) -> dict[str, Any]:
    """``lost``/``warning`` of a queue answer or push frame (nothing when 0)."""
    if not lost:
        return {}
    return {
        "lost": lost,
        "warning": (
            f"{lost} queued message(s) expired before this device fetched them: it is"
            " behind in its groups; rejoin them by external commit (GET"
            " /v1/groups/{id}/group-info)"
        ),
    }


class Waiter:
    """One long-poll or push connection waiting on a device's queue, woken when
    something may have arrived; a push connection (``wants_entries``) also gets the
    entries this process queued, as ``(seq, JSON text)``, so it can push them without
    a read. (A future and a timer per wait: asyncio.wait_for on an Event made a task
    per wait, for each recipient of each send.)"""

    def __init__(self, wants_entries: bool) -> None:
        self.woken = False
        # Woken for entries that are only in the store (queued through another
        # process): the next round must read it, whatever was handed over in memory.
        self.must_read = False
        self._future: asyncio.Future[None] | None = None
        self.entries: list[tuple[int, str]] | None = [] if wants_entries else None

    def wake(self, must_read: bool = False) -> None:
        self.woken = True
        self.must_read = self.must_read or must_read
        if self._future is not None and not self._future.done():
            self._future.set_result(None)

    def clear(self) -> bool:
        """Forget earlier wake-ups (before reading the queue: one during the read
        is not lost); whether one of them asked for a read of the store."""
        must_read, self.woken, self.must_read = self.must_read, False, False
        return must_read

    async def wait(self, timeout: float) -> bool:
        """Until woken or ``timeout`` seconds; whether it was woken (then cleared)."""
        if not self.woken:
            loop = asyncio.get_running_loop()
            future = self._future = loop.create_future()
            timer = loop.call_later(timeout, _settle, future)
            try:
                await future
            finally:
                timer.cancel()
                self._future = None
        woken, self.woken = self.woken, False
        return woken


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Notifier:
    """Wakes the long-polls and push connections of devices that have new entries.

    Called from the event loop (sends in this process, with the entries they
    queued) or, through :meth:`notify_threadsafe`, from the store's listener thread
    (sends through other processes: addresses only, the entries are read)."""

    def __init__(self, poll_interval: float) -> None:
        self._waiters: dict[str, set[Waiter]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        # Seconds between re-reads of the store by a waiter that was not woken:
        # sends through other processes are seen within this (or at once when the
        # store notifies, which makes the re-read a mere safety net).
        self.poll_interval = poll_interval

    def notify(self, addresses: Iterable[str] | None) -> None:
        """Wake the waiters of ``addresses`` (None: every waiter) for entries they
        must read from the store."""
        for a in self._waiters if addresses is None else addresses:
            for w in self._waiters.get(a, ()):
                w.wake(must_read=True)

    def deliver(self, queued: Iterable[tuple[str, QueuedMessage]]) -> None:
        """Wake the waiters of each entry's device, handing it to push connections
        (encoded once per send: the copies share all but their seq)."""
        tails: dict[int, str] = {}
        for a, entry in queued:
            for w in self._waiters.get(a, ()):
                if w.entries is not None:
                    tail = tails.get(id(entry.data))
                    if tail is None:
                        tail = tails[id(entry.data)] = entry_tail(entry)
                    w.entries.append((entry.seq, entry_text(entry, tail)))
                w.wake()

    def notify_threadsafe(self, addresses: Iterable[str] | None) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            wake = None if addresses is None else tuple(addresses)
            with contextlib.suppress(RuntimeError):  # the loop is shutting down
                loop.call_soon_threadsafe(self.notify, wake)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    @contextlib.contextmanager
    def waiter(self, address: str, wants_entries: bool = False) -> Iterator[Waiter]:
        w = Waiter(wants_entries)
        self._waiters.setdefault(address, set()).add(w)
        try:
            yield w
        finally:
            waiters = self._waiters.get(address)
            if waiters is not None:
                waiters.discard(w)
                if not waiters:
                    del self._waiters[address]


class PushSocket(Protocol):
    """An accepted WebSocket, as a push session uses it (whichever server runs it)."""

    async def receive(self) -> str | bytes | None:
        """The next frame's text (bytes: a binary frame); None once closed."""

    async def send_text(self, text: str) -> None:
        """Send a text frame; raises ConnectionError once closed."""

    async def close(self, code: int, reason: str) -> None: ...


class PushSession:
    """One accepted push connection of ``device`` (reading its own queue)."""

    def __init__(
        self,
        ws: PushSocket,
        ds: DeliveryService,
        device: Device,
        after: int,
        notifier: Notifier,
        acks: AckBatch,
    ) -> None:
        self.ws = ws
        self.ds = ds
        self.device = device
        self.cursor = after
        self.notifier = notifier
        self.acks = acks
        self._send_lock = asyncio.Lock()

    async def _send_text(self, text: str) -> None:
        # The pusher and the ack reader both send: one frame at a time.
        async with self._send_lock:
            await self.ws.send_text(text)

    async def _send(self, frame: dict[str, Any]) -> None:
        await self._send_text(compact_json(frame))

    async def run(self) -> None:
        tasks = [
            asyncio.create_task(self._push(), name="push"),
            asyncio.create_task(self._read(), name="push-acks"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
        for t in done:
            exc = t.exception()
            if exc is not None and not isinstance(exc, OSError):
                # The store failed (e.g. the database went away): the client reconnects.
                await self.ws.close(1011, "delivery service error")
                return

    def _from_memory(self, w: Waiter) -> list[tuple[int, str]]:
        """The entries handed over by sends in this process that continue the stream
        exactly (seq cursor+1, +2, ...). Those after a gap stay with the waiter: the
        missing entry may still be on its way (PostgreSQL's worker threads hand sends
        back as each commits, not in commit order), or it came through another process
        (then the store is read: see :meth:`_push`)."""
        assert w.entries is not None
        got = sorted(e for e in w.entries if e[0] > self.cursor)
        w.entries.clear()
        n = 0
        while n < len(got) and got[n][0] == self.cursor + 1 + n:
            n += 1
        w.entries.extend(got[n:])
        return got[:n]

    async def _push(self) -> None:
        address = self.device.address
        told_lost = 0
        with self.notifier.waiter(address, wants_entries=True) as w:
            read = True  # the store first: what was queued before the connection
            while True:
                # Cleared before the read: a wake-up during it is not lost.
                read = w.clear() or read
                msgs = [] if read else self._from_memory(w)
                if not msgs and not read and w.entries:
                    # A gap: wait a moment for the entry on its way, else read.
                    read = not await w.wait(GAP_WAIT) or w.clear()
                    msgs = [] if read else self._from_memory(w)
                    read = read or (not msgs and bool(w.entries))
                lost = told_lost
                if read:
                    read_msgs, lost = await run_in_threadpool(
                        self.ds.fetch_with_lost, self.device, address, self.cursor, MAX_FETCH
                    )
                    # Entries handed over during the read stay: those it saw are
                    # dropped by the cursor, one committed after it is pushed next.
                    msgs = [(m.seq, entry_text(m)) for m in read_msgs]
                if msgs:
                    self.cursor = msgs[-1][0]
                extra: dict[str, Any] = {}
                if lost != told_lost:
                    told_lost = lost
                    extra = lost_fields(lost)
                if msgs or extra:
                    await self._send_text(messages_text((t for _, t in msgs), extra))
                if len(msgs) == MAX_FETCH:
                    read = True  # more are waiting: no need to be woken
                    continue
                # Woken at once by a send in this process or a notification of the
                # store; otherwise the queue is read again every poll_interval.
                read = not await w.wait(self.notifier.poll_interval)

    async def _read(self) -> None:
        while True:
            text = await self.ws.receive()
            if text is None:
                return
            try:
                if not isinstance(text, str):
                    raise BadRequest("push: frames are JSON text, not binary")
                self._ack(text)
            except DSError as e:
                await self._send(error_body(e.status, e.message))
            except ValidationError as e:
                await self._send(error_body(400, str(e)))

    def _ack(self, text: str) -> None:
        try:
            frame = json.loads(text)
        except ValueError as e:
            raise BadRequest(f"push: frame is not JSON: {e}") from None
        if not isinstance(frame, dict) or set(frame) != {"ack"}:
            raise BadRequest('push: a client frame is {"ack": up_to}')
        up_to = self.ds.check_ack(self.device, self.device.address, frame["ack"])
        self.acks.add(self.device.address, up_to)


class AckBatch:
    """The acks of this process's push connections, written together: the acks that
    arrive while one batch is being written form the next, one store transaction
    (:meth:`.store.SqlStore.ack_many`) each, one delete per device however many acks
    it sent meanwhile (they are cumulative). Acks are many (one per frame a device
    processed) and tiny: a transaction, an answer and a thread hand-off each would cost
    the DS more than the deletes themselves. An ack is not answered, and one whose
    write failed is harmless: its entries stay queued until a later ack covers them,
    and a reconnecting device gets them again, which the SDK recognises."""

    def __init__(self, ds: DeliveryService) -> None:
        self.ds = ds
        self._pending: dict[str, int] = {}
        self._writing: asyncio.Task[None] | None = None

    def add(self, address: str, up_to: int) -> None:
        """Acknowledge ``address``'s queue up to ``up_to`` (checked by the caller)."""
        if up_to > self._pending.get(address, -1):
            self._pending[address] = up_to
        if self._writing is None:
            self._writing = asyncio.get_running_loop().create_task(
                self._write(), name="push-ack-batch"
            )

    async def _write(self) -> None:
        store = self.ds.store
        try:
            while self._pending:
                acks, self._pending = sorted(self._pending.items()), {}
                try:
                    written = store.submit_atomic(functools.partial(store.ack_many, acks))
                    await (
                        written if written is not None else run_in_threadpool(store.ack_many, acks)
                    )
                except Exception as e:  # the entries stay queued: see the class's note
                    print(
                        f"mlswire serve: {len(acks)} push ack(s) not written: {e}", file=sys.stderr
                    )
        finally:
            self._writing = None


__all__ = ["AckBatch", "Notifier", "PushSession", "PushSocket", "Waiter", "lost_fields"]
