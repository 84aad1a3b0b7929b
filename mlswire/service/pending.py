"""Store transactions run by a thread of the store, their outcomes handed back to
whoever waits: an event loop's future (the DS's requests) or a blocked thread.

Used by SQLite's writer thread (group commit, :mod:`.store_sqlite`) and PostgreSQL's
worker threads (:mod:`.store_postgres`). An event loop is woken once per batch of
outcomes, not once per request, and nothing here makes a lock or a condition per
request (``concurrent.futures`` and ``asyncio.wrap_future`` did, and cost a tenth of the
DS's CPU at a thousand sends a second).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterable
from typing import Any


class Pending:
    """One transaction waiting for a store thread: its call, then its outcome, handed
    back through ``future`` (an event loop's) or ``done`` (a blocked thread's)."""

    __slots__ = ("call", "done", "error", "future", "result")

    def __init__(self, call: Callable[..., Any], future: asyncio.Future[Any] | None = None) -> None:
        self.call = call
        self.future = future
        self.done = threading.Event() if future is None else None
        self.result: Any = None
        self.error: BaseException | None = None

    def wait(self) -> Any:
        """In a blocked thread: the outcome (raised if it failed)."""
        assert self.done is not None
        self.done.wait()
        if self.error is not None:
            raise self.error
        return self.result

    def _resolve(self) -> None:
        assert self.future is not None
        if self.future.cancelled():  # the waiter gave up
            return
        if self.error is not None:
            self.future.set_exception(self.error)
        else:
            self.future.set_result(self.result)


def _resolve(items: list[Pending]) -> None:
    for item in items:
        item._resolve()


def hand_back(batch: Iterable[Pending]) -> None:
    """From the store's thread: wake the waiters of ``batch`` (done): each blocked
    thread, and each event loop once for all of its futures."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Pending]] = {}
    for item in batch:
        if item.done is not None:
            item.done.set()
        else:
            assert item.future is not None
            by_loop.setdefault(item.future.get_loop(), []).append(item)
    for loop, items in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
            loop.call_soon_threadsafe(_resolve, items)


__all__ = ["Pending", "hand_back"]
