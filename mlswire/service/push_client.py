"""The SDK's side of push delivery (:mod:`.push` is the server's): one WebSocket per
device, on websockets' synchronous client.

:class:`PushChannel` buffers what the DS pushes, hands it out in batches and carries
the device's acknowledgements. It never acknowledges on its own: the caller
(:meth:`.client.MLSClient.receive`) acks only what it has durably saved, so the
at-least-once guarantee is the same as with long-poll. A broken connection loses
nothing: the DS deletes only acknowledged entries and a new connection (``after=0``)
sends every unacknowledged one again; entries already handed out on this connection
are not handed out twice.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any

from .contract import error_message

# Frames may carry up to 500 queue entries (a Welcome of a big group is ~1 MiB alone).
MAX_FRAME = 256 << 20


@dataclass(frozen=True)
class Delivered:
    """One message from the device's queue."""

    seq: int
    kind: str  # "message" or "welcome"
    group_id: bytes
    sender: str
    epoch: int
    content_type: int
    data: bytes

    @classmethod
    def from_json(cls, m: dict[str, Any]) -> Delivered:
        return cls(
            m["seq"],
            m["kind"],
            base64.b64decode(m["group_id"]),
            m["sender"],
            m["epoch"],
            m["content_type"],
            base64.b64decode(m["data"]),
        )


class PushRefused(Exception):
    """The DS answered the upgrade with an HTTP refusal (``status``, ``message``)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"HTTP {status}: {message}")


class PushBroken(Exception):
    """The connection failed or closed; nothing is lost (reconnect or long-poll)."""


class PushChannel:
    """An open push connection: ``url`` is the ws(s):// URL of ``.../push?after=N``
    and ``authorization`` the signed header of that GET."""

    def __init__(self, url: str, authorization: str, *, open_timeout: float = 10.0) -> None:
        from websockets.exceptions import InvalidHandshake, InvalidStatus
        from websockets.sync.client import connect

        # Entered as a context manager (what websockets asks of a long-lived connection
        # object); close() leaves it.
        self._stack = contextlib.ExitStack()
        try:
            self._ws = self._stack.enter_context(
                connect(
                    url,
                    additional_headers={"authorization": authorization},
                    open_timeout=open_timeout,
                    max_size=MAX_FRAME,
                    compression=None,  # ciphertext does not compress
                )
            )
        except InvalidStatus as e:
            body = e.response.body or b""
            try:
                message = error_message(json.loads(body), body.decode("utf-8", "replace"))
            except ValueError:
                message = body.decode("utf-8", "replace")
            raise PushRefused(e.response.status_code, message) from None
        except (InvalidHandshake, OSError, TimeoutError) as e:
            raise PushBroken(f"push connection to {url} failed: {e}") from None
        self._pending: collections.deque[Delivered] = collections.deque()
        self._through = 0  # the highest seq received on this connection
        self._refused: dict[str, Any] | None = None  # the DS's answer to a bad ack
        self.lost = 0
        self.lost_warning = ""

    def close(self) -> None:
        self._stack.close()

    def _recv(self, timeout: float) -> bool:
        """Read one frame, waiting up to ``timeout`` s; False if none came."""
        from websockets.exceptions import ConnectionClosed

        try:
            text = self._ws.recv(timeout=max(timeout, 0.0))
        except TimeoutError:
            return False
        except (ConnectionClosed, OSError) as e:
            raise PushBroken(f"push connection closed: {e}") from None
        try:
            frame = json.loads(text)
            if "messages" in frame:
                for m in frame["messages"]:
                    d = Delivered.from_json(m)
                    if d.seq > self._through:  # each seq once (the DS promises it too)
                        self._pending.append(d)
                        self._through = d.seq
                if "lost" in frame:
                    self.lost = int(frame["lost"])
                    self.lost_warning = str(frame.get("warning", ""))
            elif "error" in frame:
                self._refused = frame
        except (ValueError, TypeError, KeyError) as e:
            raise PushBroken(f"push: malformed frame from the DS: {e}") from None
        return True

    def take(self, limit: int, wait: float) -> list[Delivered]:
        """Up to ``limit`` entries in seq order: those pushed so far, else the first to
        arrive within ``wait`` seconds (an empty list when none did)."""
        deadline = time.monotonic() + wait
        while not self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._recv(remaining):
                break
        while len(self._pending) < limit and self._recv(0):  # what has arrived already
            pass
        return [self._pending.popleft() for _ in range(min(limit, len(self._pending)))]

    @property
    def through(self) -> int:
        """The highest seq received on this connection (handed out, or pending)."""
        return self._through

    def skip_through(self, seq: int) -> None:
        """Entries up to ``seq`` were handed out another way (a long-poll read): do
        not hand them out again."""
        self._through = max(self._through, seq)
        while self._pending and self._pending[0].seq <= seq:
            self._pending.popleft()

    def ack(self, up_to: int) -> None:
        """Acknowledge every entry up to ``up_to``. The DS answers only a refusal
        (acks are cumulative: a lost one is covered by the next), which is raised as
        :class:`PushRefused` by the next ack."""
        from websockets.exceptions import ConnectionClosed

        refused, self._refused = self._refused, None
        if refused is not None:
            raise PushRefused(int(refused.get("status", 400)), error_message(refused, str(refused)))
        try:
            self._ws.send(json.dumps({"ack": up_to}))
        except (ConnectionClosed, OSError) as e:
            raise PushBroken(f"push connection closed: {e}") from None
        self.lost = 0  # an ack also acknowledges the report of expired messages
        self.lost_warning = ""


__all__ = ["Delivered", "PushBroken", "PushChannel", "PushRefused"]
