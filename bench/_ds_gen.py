"""The load generator of bench/ds_load.py: one worker process, several run side by side.

A worker owns some of the benchmark's devices. For each load phase it is handed its part
of the timetable and sends on it, open-loop: every send starts at its scheduled time on a
free keep-alive connection (a new one when all are busy), never waiting for the previous
answer; with ``closed`` > 0 instead that many loops each send the next message as soon as
the previous one was answered. Meanwhile each of its devices receives: a WebSocket push
connection (``GET .../push``) or a long-poll loop (``GET .../queue?wait=``), acknowledging
what it got. The worker reports what happened, as message indices and wall-clock times;
the parent computes the latencies (it alone knows every message's scheduled time).

Two ways to make the messages:

* pre-built (default): the parent encrypted every application message with the engine
  and signed every request before the phase, so sending is writing bytes and receiving
  is a dictionary lookup (the ciphertext identifies the message): the DS is measured,
  not client crypto. The HTTP client is a minimal HTTP/1.1 one on asyncio streams for
  the same reason;
* real clients (``MLSClient`` per device, loaded from its state folder): senders encrypt
  with the SDK at send time, receivers decrypt and store with ``MLSClient.receive``; the
  plaintext carries the message index.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # this checkout's mlswire, not an installed one
    sys.path.insert(0, str(ROOT))

from mlswire.service.signing import sign_request  # noqa: E402

FETCH_LIMIT = 500
POLL_WAIT = 2  # seconds a long-poll waits: short, so a phase's end is never far
MAX_SEND_CONNECTIONS = 200  # per worker; beyond, sends queue here (and count as late)


@dataclass(frozen=True)
class DeviceSpec:
    address: str
    suite: int
    signature_private_key: bytes
    state_dir: str = ""  # real-clients mode: the MLSClient's folder


@dataclass
class Phase:
    """One load phase of one worker. ``sends`` are (offset s, message index, request):
    pre-built HTTP requests, or in real-clients mode (sender address, group id) as the
    request. ``keys`` maps a message's base64 (as the queue returns it) to its index
    (pre-built mode). The phase ends at ``t0 + end`` or once ``expected`` deliveries
    to this worker's devices arrived and every send was answered."""

    sends: list[tuple[float, int, Any]]
    keys: dict[str, int]
    expected: int
    seconds: float  # the sending part (closed-loop: sending stops then)
    end: float
    closed: int = 0
    t0: float = 0.0  # set by the "go" command: wall-clock time of offset 0


@dataclass
class Outcome:
    sent: list[tuple[int, float, float]] = field(default_factory=list)  # index, start, answer
    errors: Counter[str] = field(default_factory=Counter)
    received: list[tuple[int, float]] = field(default_factory=list)  # index, receipt time
    duplicates: int = 0
    stale: int = 0  # messages of an earlier phase, delivered late
    cpu_s: float = 0.0
    max_connections: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "errors": dict(self.errors),
            "received": self.received,
            "duplicates": self.duplicates,
            "stale": self.stale,
            "cpu_s": self.cpu_s,
            "max_connections": self.max_connections,
        }


def worker_main(
    conn: Connection, url: str, devices: list[DeviceSpec], push: bool, real: bool
) -> None:
    """Entry point of a worker process: phases come on ``conn`` until "stop"."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    gen: _Prebuilt | _Real = _Real(url, devices, push) if real else _Prebuilt(url, devices, push)
    try:
        conn.send(("ready", None))
        while True:
            cmd, arg = conn.recv()
            if cmd == "stop":
                break
            phase: Phase = arg

            def start() -> float:
                """Say this worker's receivers are connected; wait for ("go", t0): every
                worker starts on one timetable."""
                conn.send(("armed", None))
                _, t0 = conn.recv()
                return float(t0)

            cpu = time.process_time()
            outcome = gen.run(phase, start)
            outcome.cpu_s = time.process_time() - cpu
            conn.send(("done", outcome.to_json()))
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        gen.close()


# --- a minimal HTTP/1.1 client -----------------------------------------------------------------


def http_request(host: str, method: str, target: str, body: bytes, authorization: str) -> bytes:
    head = (
        f"{method} {target} HTTP/1.1\r\nhost: {host}\r\nauthorization: {authorization}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Http:
    """One keep-alive connection; one request at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def call(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        try:
            self.writer.write(raw)
            head = await self.reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length, close = 0, False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            body = await self.reader.readexactly(length)
        except BaseException:
            self.close()
            raise
        if close:
            self.close()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


# --- pre-built messages --------------------------------------------------------------------------


class _Prebuilt:
    def __init__(self, url: str, devices: list[DeviceSpec], push: bool) -> None:
        hostport = url.split("://", 1)[1]
        self.host = hostport
        self.ip, port = hostport.rsplit(":", 1)
        self.port = int(port)
        self.devices = devices
        self.push = push
        self.loop = asyncio.new_event_loop()
        self.idle: list[Http] = []

    def close(self) -> None:
        for c in self.idle:
            c.close()
        self.loop.close()

    def run(self, phase: Phase, start: Callable[[], float]) -> Outcome:
        return self.loop.run_until_complete(self._run(phase, start))

    async def _run(self, phase: Phase, start: Callable[[], float]) -> Outcome:
        out = Outcome()
        seen: set[tuple[int, int]] = set()  # (device, message index)
        enough = asyncio.Event()
        if phase.expected == 0:
            enough.set()

        def got(device: int, key: str, now: float) -> None:
            index = phase.keys.get(key)
            if index is None:
                out.stale += 1
            elif (device, index) in seen:
                out.duplicates += 1
            else:
                seen.add((device, index))
                out.received.append((index, now))
                if len(out.received) >= phase.expected:
                    enough.set()

        connected = [asyncio.Event() for _ in self.devices]
        receivers = [
            asyncio.create_task(
                self._push(i, d, got, connected[i])
                if self.push
                else self._poll(i, d, got, connected[i])
            )
            for i, d in enumerate(self.devices)
        ]
        # Every receiver connected (or given up on) before the timetable starts.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(c.wait() for c in connected)), 30)
        phase.t0 = await self.loop.run_in_executor(None, start)
        deadline = phase.t0 + phase.end
        try:
            await asyncio.wait_for(self._send_all(phase, out), max(0.1, deadline - time.time()))
            await asyncio.wait_for(enough.wait(), max(0.1, deadline - time.time()))
        except TimeoutError:
            pass  # what did not arrive is counted as missing by the parent
        finally:
            for t in receivers:
                t.cancel()
            for t in receivers:
                with contextlib.suppress(asyncio.CancelledError):
                    try:
                        await t
                    except Exception as e:  # a receiver that failed outright says why
                        out.errors[f"receive: {type(e).__name__} {str(e)[:80]}"] += 1
        count_unanswered(phase, out)
        return out

    async def _send_all(self, phase: Phase, out: Outcome) -> None:
        busy = 0
        freed = asyncio.Condition()

        async def one(index: int, raw: bytes) -> None:
            nonlocal busy
            async with freed:
                while not self.idle and busy >= MAX_SEND_CONNECTIONS:
                    await freed.wait()
                reused = bool(self.idle)
                conn = self.idle.pop() if reused else Http(self.ip, self.port)
                busy += 1
                out.max_connections = max(out.max_connections, busy)
            start = time.time()
            try:
                try:
                    status, body = await conn.call(raw)
                except (ConnectionError, asyncio.IncompleteReadError):
                    if not reused:
                        raise
                    # The server closed an idle keep-alive connection: once more on a
                    # new one (the DS answers a resent message as it did the first time).
                    conn = Http(self.ip, self.port)
                    status, body = await conn.call(raw)
            except (OSError, asyncio.IncompleteReadError, ValueError) as e:
                out.errors[f"send: {type(e).__name__}"] += 1
                conn.close()
            else:
                if status == 200:
                    out.sent.append((index, start, time.time()))
                else:
                    out.errors[f"send: HTTP {status} {_error_text(body)}"] += 1
                if conn.writer is not None:
                    self.idle.append(conn)
            async with freed:
                busy -= 1
                freed.notify()

        tasks: list[asyncio.Task[None]] = []
        if phase.closed:
            queue = list(reversed(phase.sends))

            async def loop() -> None:
                while queue and time.time() < phase.t0 + phase.seconds:
                    _, index, raw = queue.pop()
                    await one(index, raw)

            await asyncio.sleep(max(0.0, phase.t0 - time.time()))
            await asyncio.gather(*(loop() for _ in range(phase.closed)))
            return
        for offset, index, raw in phase.sends:
            delay = phase.t0 + offset - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(index, raw)))
        await asyncio.gather(*tasks)

    def _auth(self, d: DeviceSpec, method: str, target: str, body: bytes = b"") -> str:
        return sign_request(d.suite, d.signature_private_key, d.address, method, target, body)

    async def _poll(self, i: int, d: DeviceSpec, got: Any, connected: asyncio.Event) -> None:
        """Long-poll the queue, acknowledge each batch (as the SDK's fallback does)."""
        connected.set()
        conn = Http(self.ip, self.port)
        base = f"/v1/devices/{d.address}/queue"
        after = 0
        try:
            while True:
                target = f"{base}?after={after}&limit={FETCH_LIMIT}&wait={POLL_WAIT}"
                raw = http_request(self.host, "GET", target, b"", self._auth(d, "GET", target))
                status, body = await conn.call(raw)
                now = time.time()
                if status != 200:
                    raise RuntimeError(f"queue of {d.address}: HTTP {status} {_error_text(body)}")
                messages = orjson.loads(body)["messages"]
                for m in messages:
                    got(i, m["data"], now)
                if messages:
                    after = messages[-1]["seq"]
                    ack = orjson.dumps({"up_to": after})
                    t = base + "/ack"
                    await conn.call(
                        http_request(self.host, "POST", t, ack, self._auth(d, "POST", t, ack))
                    )
        finally:
            conn.close()

    async def _push(self, i: int, d: DeviceSpec, got: Any, connected: asyncio.Event) -> None:
        """A WebSocket push connection; each frame of messages acknowledged on it."""
        from websockets.asyncio.client import connect

        target = f"/v1/devices/{d.address}/push?after=0"
        headers = {"authorization": self._auth(d, "GET", target)}
        try:
            ws = await connect(
                f"ws://{self.host}{target}",
                additional_headers=headers,
                max_size=None,
                compression=None,
            )
        finally:
            connected.set()
        async with ws:
            async for frame in ws:
                now = time.time()
                msg = orjson.loads(frame)
                messages = msg.get("messages")
                if messages:
                    for m in messages:
                        got(i, m["data"], now)
                    await ws.send(json.dumps({"ack": messages[-1]["seq"]}))


def count_unanswered(phase: Phase, out: Outcome) -> None:
    """Open-loop, every scheduled send is accepted or an error: those still unanswered
    when the phase ended are errors too."""
    if phase.closed:
        return
    failed = sum(n for what, n in out.errors.items() if what.startswith("send:"))
    unanswered = len(phase.sends) - len(out.sent) - failed
    if unanswered > 0:
        out.errors["send: unanswered when the phase ended"] += unanswered


def _error_text(body: bytes) -> str:
    try:
        return str(orjson.loads(body).get("error", ""))[:80]
    except (orjson.JSONDecodeError, AttributeError):
        return body[:80].decode(errors="replace")


# --- real MLS clients ------------------------------------------------------------------------------

# Real-clients plaintext: the message index, then padding to a chat-message size.
PLAINTEXT = struct.Struct(">Q")
PLAINTEXT_SIZE = 64


class _Real:
    """One ``MLSClient`` per device, each driven by one thread the way a simple
    application drives the SDK: send what is due (``MLSClient.send`` encrypts and saves
    the group state), otherwise ``MLSClient.receive(wait=1)``, which returns as soon as
    something arrives (pushed, or long-polled with ``--delivery poll``) and decrypts,
    saves and acknowledges it. A send falls due while the thread waits in ``receive``
    is made when it returns: its latency counts from its scheduled time regardless."""

    def __init__(self, url: str, devices: list[DeviceSpec], push: bool) -> None:
        from mlswire.client import MLSClient

        self.clients = [MLSClient.load(d.state_dir) for d in devices]
        for c in self.clients:
            c.service.push = push
        self.index = {c.address: i for i, c in enumerate(self.clients)}

    def close(self) -> None:
        for c in self.clients:
            c.close()

    def run(self, phase: Phase, start: Callable[[], float]) -> Outcome:
        phase.t0 = start()
        out = Outcome()
        lock = threading.Lock()
        seen: set[tuple[int, int]] = set()
        done = threading.Event()
        deadline = phase.t0 + phase.end
        mine: dict[int, list[tuple[float, int, bytes]]] = {i: [] for i in range(len(self.clients))}
        for offset, index, (address, group_id) in phase.sends:
            mine[self.index[address]].append((offset, index, group_id))

        def device(i: int) -> None:
            client = self.clients[i]
            sends = mine[i]
            k = 0
            while not done.is_set() and time.time() < deadline:
                if k < len(sends) and phase.t0 + sends[k][0] <= time.time():
                    _, index, group_id = sends[k]
                    k += 1
                    data = PLAINTEXT.pack(index).ljust(PLAINTEXT_SIZE, b".")
                    begun = time.time()
                    try:
                        client.send(group_id, data)
                    except Exception as e:  # a refusal or a broken connection: counted
                        with lock:
                            out.errors[f"send: {type(e).__name__} {str(e)[:60]}"] += 1
                        continue
                    with lock:
                        out.sent.append((index, begun, time.time()))
                    continue
                try:
                    events = client.receive(wait=1, limit=FETCH_LIMIT)
                    client.events_taken()
                except Exception as e:
                    with lock:
                        out.errors[f"receive: {type(e).__name__} {str(e)[:60]}"] += 1
                    time.sleep(0.1)
                    continue
                now = time.time()
                with lock:
                    for ev in events:
                        if ev.kind != "message" or len(ev.data) < PLAINTEXT.size:
                            continue
                        (index,) = PLAINTEXT.unpack_from(ev.data)
                        if (i, index) in seen:
                            out.duplicates += 1
                        else:
                            seen.add((i, index))
                            out.received.append((index, now))
                    if len(out.received) >= phase.expected and len(out.sent) + sum(
                        n for what, n in out.errors.items() if what.startswith("send:")
                    ) >= len(phase.sends):
                        done.set()

        threads = [
            threading.Thread(target=device, args=(i,), daemon=True)
            for i in range(len(self.clients))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(max(0.1, deadline - time.time() + 5))
        done.set()
        count_unanswered(phase, out)
        return out
