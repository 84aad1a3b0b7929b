"""Push delivery: a device's queue over one WebSocket, and the wake-ups behind it.

``GET /v1/devices/{user}/{device}/push?after=N``, upgraded to a WebSocket once the
request is authenticated exactly like ``GET .../queue`` (:mod:`.http` refuses with the
queue's 401/403 before accepting). Then, as text frames of JSON:

* server -> client: ``{"messages": [...]}``, the queue's entries (``entry_text``) in
  seq order, each seq sent once per connection, starting after N, sent as soon as they
  are committed; with ``"lost"`` and ``"warning"`` when messages expired unread (as in
  the queue's answer), in the first frame after the count changes;
* client -> server: ``{"ack": up_to}``, answered ``{"acked": up_to, "deleted": n}``;
  a bad frame is answered with the HTTP error body (``{"error": "...", "status":
  400}``) and changes nothing.

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
import itertools
import json
from collections.abc import Iterable, Iterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..errors import ValidationError
from .contract import BadRequest, DSError, error_body
from .delivery_service import MAX_FETCH, DeliveryService, entry_tail, entry_text, messages_text
from .store import Device, QueuedMessage


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
    """One long-poll or push connection waiting on a device's queue: ``event`` is
    set when something may have arrived; a push connection (``wants_entries``) also
    gets the entries this process queued, as ``(seq, JSON text)``, so it can push
    them without a read."""

    def __init__(self, wants_entries: bool) -> None:
        self.event = asyncio.Event()
        self.entries: list[tuple[int, str]] | None = [] if wants_entries else None


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
        """Wake the waiters of ``addresses`` (None: every waiter)."""
        if addresses is None:
            for waiters in self._waiters.values():
                for w in waiters:
                    w.event.set()
            return
        for a in addresses:
            for w in self._waiters.get(a, ()):
                w.event.set()

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
                w.event.set()

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


def _dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"))


class PushSession:
    """One accepted push connection of ``device`` (reading its own queue)."""

    def __init__(
        self,
        ws: WebSocket,
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
        await self._send_text(_dumps(frame))

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
            if exc is not None and not isinstance(exc, WebSocketDisconnect | OSError):
                # The store failed (e.g. the database went away): the client reconnects.
                with contextlib.suppress(Exception):
                    await self.ws.close(code=1011, reason="delivery service error")
                return

    def _from_memory(self, w: Waiter) -> list[tuple[int, str]] | None:
        """The entries handed over by sends in this process, if they continue the
        stream exactly (seq cursor+1, +2, ...); None: read the store instead (a gap:
        a send through another process, or wake-ups out of commit order)."""
        assert w.entries is not None
        got = sorted(e for e in w.entries if e[0] > self.cursor)
        w.entries.clear()
        if not got or got[0][0] != self.cursor + 1:
            return None
        for prev, nxt in itertools.pairwise(got):
            if nxt[0] != prev[0] + 1:
                return None
        return got

    async def _push(self) -> None:
        address = self.device.address
        told_lost = 0
        with self.notifier.waiter(address, wants_entries=True) as w:
            read = True  # the store first: what was queued before the connection
            while True:
                w.event.clear()  # before the read: a wake-up during it is not lost
                remembered = None if read else self._from_memory(w)
                if remembered is None:
                    read_msgs, lost = await run_in_threadpool(
                        self.ds.fetch_with_lost, self.device, address, self.cursor, MAX_FETCH
                    )
                    if w.entries:
                        w.entries.clear()  # the read saw them (or later reads will)
                    msgs = [(m.seq, entry_text(m)) for m in read_msgs]
                else:
                    msgs, lost = remembered, told_lost
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
                try:
                    await asyncio.wait_for(w.event.wait(), self.notifier.poll_interval)
                    read = False
                except TimeoutError:
                    read = True

    async def _read(self) -> None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            try:
                if text is None:
                    raise BadRequest("push: frames are JSON text, not binary")
                reply = await self._ack(text)
            except DSError as e:
                reply = error_body(e.status, e.message)
            except ValidationError as e:
                reply = error_body(400, str(e))
            await self._send(reply)

    async def _ack(self, text: str) -> dict[str, Any]:
        try:
            frame = json.loads(text)
        except ValueError as e:
            raise BadRequest(f"push: frame is not JSON: {e}") from None
        if not isinstance(frame, dict) or set(frame) != {"ack"}:
            raise BadRequest('push: a client frame is {"ack": up_to}')
        up_to = self.ds.check_ack(self.device, self.device.address, frame["ack"])
        deleted = await self.acks.ack(self.device.address, up_to)
        return {"acked": up_to, "deleted": deleted}


class AckBatch:
    """The acks of this process's push connections, written together: the acks that
    arrive while one batch is being written form the next, one store transaction
    (:meth:`.store.SqlStore.ack_many`) each. Acks are many (a frame each) and tiny, so
    a transaction, a savepoint and a thread hand-off each would cost more than the
    deletes themselves."""

    def __init__(self, ds: DeliveryService) -> None:
        self.ds = ds
        self._pending: list[tuple[str, int, asyncio.Future[int]]] = []
        self._writing: asyncio.Task[None] | None = None

    async def ack(self, address: str, up_to: int) -> int:
        """Acknowledge ``address``'s queue up to ``up_to`` (checked by the caller);
        the number of entries deleted, once the batch is committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        self._pending.append((address, up_to, future))
        if self._writing is None:
            self._writing = loop.create_task(self._write(), name="push-ack-batch")
        return await future

    async def _write(self) -> None:
        store = self.ds.store
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                acks = [(a, n) for a, n, _ in batch]
                try:
                    written = store.submit_atomic(functools.partial(store.ack_many, acks))
                    counts = await (
                        written
                        if written is not None
                        else run_in_threadpool(store.ack_many, acks)
                    )
                except Exception as e:  # the store failed: every ack of the batch
                    for _, _, f in batch:
                        if not f.done():
                            f.set_exception(e)
                    continue
                for (_, _, f), n in zip(batch, counts, strict=True):
                    if not f.done():  # its connection may be gone
                        f.set_result(n)
        finally:
            self._writing = None


__all__ = ["AckBatch", "Notifier", "PushSession", "Waiter", "lost_fields"]
