"""The HTTP/1.1 server of ``mlswire serve``: the DS's hot paths on asyncio directly,
every other request through the ASGI app.

A DS spends nearly all its time on two requests: sends (``POST /v1/messages``) and the
push WebSockets that carry each send to the recipients' devices and their acks back.
Under a general ASGI server and framework every send and every frame also went
through several layers of message dictionaries, middleware and tasks, and a response
took two writes; that machinery cost more CPU than the DS's own work
(docs/BENCHMARKS.md, "Delivery Service load"). Here those two paths are parsed by
httptools (the C parser uvicorn uses too) and handled by the same code as the ASGI
routes (:class:`.http.HotPaths`), each answer in one write. Everything else
(registration, KeyPackages, groups, queues over HTTP, the AS, the OpenAPI document)
goes to the ASGI app unchanged through a small bridge: one ``http.request`` message
with the whole body, the response written once complete.

HTTP/1.1 with keep-alive; requests on one connection are answered in order (reading
pauses while one is served; requests pipelined in one read wait their turn, and none
is taken while the client is not reading its answers). Bodies over the limit get 413
before they are read, request heads over ``MAX_HEAD`` 431; a connection idle for
``IDLE_TIMEOUT`` seconds is closed. The WebSocket (RFC 6455) side is what push
needs: text and binary frames, fragments, ping/pong, close, masked client frames
only, and a ping every ``PING_INTERVAL`` seconds to drop peers that went away
silently. SIGTERM or SIGINT stop it gracefully: no new connections, requests in
progress answered, push connections closed with 1001, then the app's shutdown (the
store closed).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import re
import signal
import socket
import struct
import sys
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any, cast
from urllib.parse import parse_qs, unquote

import httptools

from ..errors import ValidationError
from .contract import DSError, compact_json, error_body
from .http import HotPaths, check_length, refusal, too_large

ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]

PING_INTERVAL = 20.0  # seconds; a peer that has not answered the previous ping is dropped
MAX_CLIENT_FRAME = 1 << 20  # a client sends acks (tens of bytes): anything this big is wrong
# The largest request head (target and header fields) taken: a client's is well under
# 2 KiB; without a bound, endless headers would fill the memory (httptools keeps a
# header's pieces until it is complete).
MAX_HEAD = 64 << 10
MAX_QUEUED_FRAMES = 1000  # frames read but not yet taken: reading pauses beyond this
SHUTDOWN_GRACE = 5.0  # seconds for requests in progress when stopping
# Seconds an HTTP connection may send nothing while no request of it is being served:
# a peer gone without a word would hold it forever. A little longer than the SDK's
# (httpx's) 5 s keep-alive expiry, so that the client drops an idle connection first
# and never sends on one the server is closing.
IDLE_TIMEOUT = 6.0
_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
_PUSH_PATH = re.compile(r"/v1/devices/([^/]+)/([^/]+)/push")


Headers = list[tuple[bytes, bytes]]
JSON: Headers = [(b"content-type", b"application/json")]


class _Answer:
    """A whole response, written at once (:meth:`encode`)."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: bytes, headers: Headers = JSON) -> None:
        self.status = status
        self.body = body
        self.headers = headers

    def encode(self, close: bool, head_only: bool = False) -> bytes:
        try:
            phrase = HTTPStatus(self.status).phrase
        except ValueError:
            phrase = ""
        out = [f"HTTP/1.1 {self.status} {phrase}\r\n".encode("latin-1")]
        has_length = False
        for name, value in self.headers:
            has_length = has_length or name.lower() == b"content-length"
            out.append(name + b": " + value + b"\r\n")
        if not has_length:
            out.append(b"content-length: %d\r\n" % len(self.body))
        if close:
            out.append(b"connection: close\r\n")
        out.append(b"\r\n")
        if not head_only:
            out.append(self.body)
        return b"".join(out)


def _refused(status: int, message: str, headers: Headers = JSON) -> _Answer:
    return _Answer(status, compact_json(error_body(status, message)).encode(), headers)


def _unmask(data: bytes, mask: bytes) -> bytes:
    # XOR with the repeated 4-byte key, as one big-integer operation (fast in C).
    n = len(data)
    if not n:
        return data
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(data, "big") ^ key).to_bytes(n, "big")


def _frame(opcode: int, payload: bytes) -> bytes:
    """A final, unmasked (server) frame."""
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", 0x80 | opcode, n) + payload
    if n < 1 << 16:
        return struct.pack("!BBH", 0x80 | opcode, 126, n) + payload
    return struct.pack("!BBQ", 0x80 | opcode, 127, n) + payload


class _Request:
    """One parsed request (httptools fills it through the connection's callbacks)."""

    __slots__ = ("answer", "body", "close", "head", "headers", "method", "raw_url", "rest", "size")

    def __init__(self) -> None:
        self.raw_url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.method = b""
        self.body: list[bytes] = []
        self.size = 0
        self.head = 0  # bytes of target and headers read so far (an upper bound)
        self.close = False
        self.answer: _Answer | None = None  # refused before its body was read: this, then close
        self.rest: bytes | None = None  # a WebSocket upgrade: the bytes that came after it

    def header(self, name: bytes) -> str | None:
        for k, v in self.headers:
            if k == name:
                return v.decode("latin-1")
        return None


class _Server:
    """What every connection shares: the app, its hot paths, the limits, and the
    open connections (for a graceful stop)."""

    def __init__(self, app: ASGIApp, hot: HotPaths | None, max_request: int, log: bool) -> None:
        self.app = app
        self.hot = hot
        self.max_request = max_request  # the largest body any route takes (413 above)
        self.log = log
        self.connections: set[_Connection] = set()
        self.stopping = False
        self.lifespan_state: dict[str, Any] = {}


class _Connection(asyncio.Protocol):
    """One TCP connection: HTTP/1.1 requests, or after an upgrade a push WebSocket."""

    def __init__(self, server: _Server) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.request: _Request | None = None
        self.refused = False  # the request being parsed was refused (its body is ignored)
        self.busy = False  # a request is being served
        # Requests parsed while another is served (pipelined in one read): served
        # after it, in order, as the answers must go out in order.
        self.pending: deque[_Request] = deque()
        self.ws: _WebSocket | None = None
        self.peer = ""
        self._writable = asyncio.Event()
        self._writable.set()
        self._active = self.loop.time()  # the last read, or the last answer written
        self._idle: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol --
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = self.transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else ""
        self.server.connections.add(self)
        self._idle = self.loop.call_later(IDLE_TIMEOUT, self._check_idle)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        if self._idle is not None:
            self._idle.cancel()
        self._writable.set()  # a writer waiting for the buffer to drain: it fails now
        if self.ws is not None:
            self.ws.lost()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()
        if self.ws is not None:
            self.ws.writable()
        elif not self.busy:
            self._next()  # the answers written have drained: the next request

    def data_received(self, data: bytes) -> None:
        if self.ws is not None:
            self.ws.feed(data)
            return
        self._active = self.loop.time()
        req = self.request
        in_head = req is not None and not req.method and not self.refused
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as e:
            self._upgrade(data[e.args[0] :])
        except httptools.HttpParserError as e:
            if not self.refused:  # answered after the requests before it, then closed
                self.refused = True
                self._refuse(_Request(), _refused(400, f"malformed HTTP request: {e}"))
        else:
            # All of this read went to one head, begun before it and still unfinished:
            # httptools keeps an unfinished header's bytes where no callback counts them.
            still = req is not None and req is self.request and not req.method
            if in_head and still and not self.refused:
                assert req is not None
                self._count_head(req, len(data))

    # -- httptools callbacks --
    def on_message_begin(self) -> None:
        self.request = _Request()
        self.refused = False

    def on_url(self, url: bytes) -> None:
        req = self.request
        assert req is not None
        if not self.refused and self._count_head(req, len(url)):
            req.raw_url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        req = self.request
        assert req is not None
        if not self.refused and self._count_head(req, len(name) + len(value) + 4):
            req.headers.append((name.lower(), value))

    def _count_head(self, req: _Request, n: int) -> bool:
        """Count ``n`` more bytes of the request head; refuse it (431, then close)
        once over MAX_HEAD."""
        req.head += n
        if req.head <= MAX_HEAD:
            return True
        message = f"request head (target and header fields) over {MAX_HEAD} bytes"
        self._refuse(req, _refused(431, message))
        return False

    def on_headers_complete(self) -> None:
        req = self.request
        assert req is not None
        if self.refused:
            return
        req.method = self.parser.get_method()
        req.close = not self.parser.should_keep_alive()
        try:
            check_length(req.header(b"content-length"), self._limit(req))
        except DSError as e:
            self._refuse(req, _refused(e.status, e.message))
            return
        if req.header(b"expect") == "100-continue" and not (self.busy or self.pending):
            # (Behind an unanswered request it would come before that answer: the
            # client sends the body after its own wait instead, RFC 9110, 10.1.1.)
            self._write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        req = self.request
        if req is None or self.refused:
            return
        req.size += len(body)
        limit = self._limit(req)
        if req.size > limit:
            self._refuse(req, _refused(413, too_large(limit).message))
            return
        req.body.append(body)

    def on_message_complete(self) -> None:
        req = self.request
        if req is None or self.refused:
            self.request = None
            return
        if self.parser.should_upgrade():
            if (req.header(b"upgrade") or "").lower() == "websocket":
                return  # data_received takes it (_upgrade)
            # Another protocol (h2c, as curl --http2 asks): ignored (RFC 9110, 7.8), the
            # request served as HTTP/1.1. The parser stops at an upgrade: the connection
            # ends with this answer.
            req.close = True
        self.request = None
        self._take(req)

    # -- serving --
    def _refuse(self, req: _Request, answer: _Answer) -> None:
        """Answer ``req`` with ``answer`` without reading its body, then close."""
        self.refused = True
        req.answer = answer
        self._take(req)

    def _take(self, req: _Request) -> None:
        """Serve ``req`` now, or after the requests before it."""
        if self.busy or self.pending:
            self.pending.append(req)
        else:
            self._start(req)

    def _start(self, req: _Request) -> None:
        assert self.transport is not None
        if self.transport.is_closing():
            return  # nobody to answer: not served
        if req.answer is not None:
            self._finish(req.answer)
            return
        self.busy = True
        self.transport.pause_reading()  # answers go out in order: one request at a time
        if req.rest is not None:
            self.loop.create_task(self._accept(req, req.rest))
        else:
            self.loop.create_task(self._serve(req))

    def _hot_send(self, req: _Request) -> HotPaths | None:
        """The hot paths, if ``req`` is a send they serve."""
        hot = self.server.hot
        if hot is not None and req.method == b"POST" and self._path(req) == HotPaths.SEND_PATH:
            return hot
        return None

    def _limit(self, req: _Request) -> int:
        hot = self._hot_send(req)
        # The app applies each of its routes' own limit.
        return self.server.max_request if hot is None else hot.max_body

    @staticmethod
    def _path(req: _Request) -> str:
        return req.raw_url.partition(b"?")[0].decode("latin-1")

    async def _serve(self, req: _Request) -> None:
        try:
            hot = self._hot_send(req)
            answer = await (self._bridge(req) if hot is None else self._send(hot, req))
        except Exception as e:  # a bug: the client gets a 500, the server goes on
            print(f"mlswire serve: error serving a request: {e!r}", file=sys.stderr)
            answer = _Answer(500, b"Internal Server Error", [(b"content-type", b"text/plain")])
        if self.server.log:
            target = req.raw_url.decode("latin-1")
            print(f'mlswire serve: {self.peer} "{req.method.decode()} {target}" {answer.status}')
        self._finish(answer, req.close or self.server.stopping, req.method == b"HEAD")

    async def _send(self, hot: HotPaths, req: _Request) -> _Answer:
        try:
            target = req.raw_url.decode("latin-1")
            answer = await hot.send(target, req.header(b"authorization"), b"".join(req.body))
        except (DSError, ValidationError) as e:
            return _refused(*refusal(e))
        return _Answer(200, answer)

    async def _bridge(self, req: _Request) -> _Answer:
        """The request through the ASGI app; its whole response."""
        path, _, query = req.raw_url.partition(b"?")
        sockname = self.transport.get_extra_info("sockname") if self.transport else None
        peer = self.transport.get_extra_info("peername") if self.transport else None
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": req.method.decode("latin-1"),
            "scheme": "http",
            "path": unquote(path.decode("latin-1")),
            "raw_path": path,
            "query_string": query,
            "root_path": "",
            "headers": req.headers,
            "client": tuple(peer[:2]) if isinstance(peer, tuple) else None,
            "server": tuple(sockname[:2]) if isinstance(sockname, tuple) else None,
            "state": dict(self.server.lifespan_state),
        }
        body = b"".join(req.body)
        sent_body = False
        status = 500
        headers: Headers = []
        chunks: list[bytes] = []
        done = asyncio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            await done.wait()  # nothing more comes: the response is complete
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))
                if not message.get("more_body", False):
                    done.set()

        await self.server.app(scope, receive, send)
        done.set()
        return _Answer(status, b"".join(chunks), headers)

    def _finish(self, answer: _Answer, close: bool = True, head_only: bool = False) -> None:
        """Write a whole response; then close, or take the next request."""
        self._write(answer.encode(close, head_only))
        self.busy = False
        self._active = self.loop.time()
        if close or self.transport is None:
            self._close()
        else:
            self._next()

    def _next(self) -> None:
        """The next pending request, or reading again; not while the peer is not
        reading its answers (a client pipelining requests without reading them would
        pile answers up in memory): resume_writing comes back here."""
        if not self._writable.is_set():
            return
        if self.pending:
            self._start(self.pending.popleft())
        elif self.transport is not None:
            self.transport.resume_reading()

    def _check_idle(self) -> None:
        """Close the connection once it has been idle for IDLE_TIMEOUT (one timer per
        connection, re-armed here rather than on every read). Serving a request (a
        long-poll may take long) is not idle; a push WebSocket has its pings."""
        self._idle = None
        if self.ws is not None or self.transport is None or self.transport.is_closing():
            return
        quiet = self.loop.time() - self._active
        waiting = self.busy or not self._writable.is_set()  # serving, or answers draining
        if not waiting and quiet >= IDLE_TIMEOUT:
            self._close()
            return
        wait = IDLE_TIMEOUT if waiting else IDLE_TIMEOUT - quiet
        self._idle = self.loop.call_later(wait, self._check_idle)

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    async def drain(self) -> None:
        """Wait while the peer is not reading (the write buffer is over its high mark)."""
        await self._writable.wait()
        if self.transport is None or self.transport.is_closing():
            raise ConnectionError("connection closed")

    # -- WebSocket --
    def _upgrade(self, rest: bytes) -> None:
        req, self.request = self.request, None
        if req is None or self.refused:
            return  # served as plain HTTP (not a WebSocket upgrade), or refused: closes
        req.rest = rest
        self._take(req)

    async def _accept(self, req: _Request, rest: bytes) -> None:
        """Authenticate the upgrade like the ASGI route does, answer 101 or the
        refusal, then run the push session over this connection."""
        hot = self.server.hot
        path = self._path(req)
        match = _PUSH_PATH.fullmatch(unquote(path))
        key = req.header(b"sec-websocket-key")
        if hot is None or match is None or req.method != b"GET":
            self._finish(_refused(404, f"no WebSocket at {path}"))
            return
        if (req.header(b"upgrade") or "").lower() != "websocket" or key is None:
            self._finish(_refused(400, "not a WebSocket upgrade"))
            return
        if req.header(b"sec-websocket-version") != "13":
            version = [*JSON, (b"sec-websocket-version", b"13")]
            self._finish(_refused(426, "WebSocket version 13 only", version))
            return
        after = parse_qs(req.raw_url.partition(b"?")[2].decode("latin-1")).get("after")
        try:
            device, start = await hot.push_device(
                f"{match[1]}/{match[2]}",
                req.raw_url.decode("latin-1"),
                req.header(b"authorization"),
                None if after is None else after[-1],
            )
        except (DSError, ValidationError) as e:
            self._finish(_refused(*refusal(e)))
            return
        if self.server.stopping or self.transport is None or self.transport.is_closing():
            self._close()
            return
        accept = base64.b64encode(hashlib.sha1(key.encode() + _WS_GUID).digest())
        self._write(
            b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n"
            b"connection: Upgrade\r\nsec-websocket-accept: " + accept + b"\r\n\r\n"
        )
        ws = self.ws = _WebSocket(self)
        self.busy = False
        if rest:
            ws.feed(rest)
        self.transport.resume_reading()
        if self.server.log:
            print(f'mlswire serve: {self.peer} "WebSocket {req.raw_url.decode("latin-1")}" 101')
        try:
            await hot.push(ws, device, start)
        finally:
            await ws.close(1000, "")


class _WebSocket:
    """The server side of one WebSocket (RFC 6455) on a :class:`_Connection`: the
    :class:`.push.PushSocket` a push session reads and writes."""

    def __init__(self, conn: _Connection) -> None:
        self.conn = conn
        self._buffer = bytearray()
        self._frames: deque[str | bytes | None] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._fragments: list[bytes] = []
        self._fragment_opcode = 0
        self._closed = False  # a close frame was sent (or the connection is gone)
        self._paused = False
        self._pong_due = False
        self._pong_owed: bytes | None = None  # the pong of a ping read while not writable
        self._ping = conn.loop.call_later(PING_INTERVAL, self._keepalive)

    # -- reading --
    def feed(self, data: bytes) -> None:
        self._buffer += data
        while not self._closed:
            frame = self._parse()
            if frame is None:
                break
            self._handle(*frame)
        if len(self._frames) > MAX_QUEUED_FRAMES and not self._paused:
            self._paused = True
            assert self.conn.transport is not None
            self.conn.transport.pause_reading()

    def _parse(self) -> tuple[bool, int, bytes] | None:
        buf = self._buffer
        if len(buf) < 2:
            return None
        b0, b1 = buf[0], buf[1]
        n = b1 & 0x7F
        at = 2
        if n == 126:
            if len(buf) < 4:
                return None
            n = int.from_bytes(buf[2:4], "big")
            at = 4
        elif n == 127:
            if len(buf) < 10:
                return None
            n = int.from_bytes(buf[2:10], "big")
            at = 10
        if n > MAX_CLIENT_FRAME:
            self._fail(1009, "frame too big")
            return None
        if not b1 & 0x80:
            self._fail(1002, "client frames must be masked")
            return None
        if b0 & 0x70:
            self._fail(1002, "reserved bits set (no extension was negotiated)")
            return None
        if len(buf) < at + 4 + n:
            return None
        mask = bytes(buf[at : at + 4])
        payload = _unmask(bytes(buf[at + 4 : at + 4 + n]), mask)
        del buf[: at + 4 + n]
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def _handle(self, fin: bool, opcode: int, payload: bytes) -> None:
        if opcode >= 0x8:  # control frames: never fragmented, at most 125 bytes
            if not fin or len(payload) > 125:
                self._fail(1002, "bad control frame")
            elif opcode == 0x8:
                self._peer_closed(payload)
            elif opcode == 0x9:
                # While the peer is not reading, only the latest ping gets its pong
                # (RFC 6455, 5.5.3), when it reads again: pings sent without reading
                # the pongs would pile pongs up in memory.
                if self.conn._writable.is_set():
                    self.conn._write(_frame(0xA, payload))
                else:
                    self._pong_owed = payload
            elif opcode == 0xA:
                self._pong_due = False
            else:
                self._fail(1002, f"unknown opcode {opcode}")
            return
        if opcode == 0x0:
            if not self._fragment_opcode:
                self._fail(1002, "continuation without a first fragment")
                return
        elif self._fragment_opcode:
            self._fail(1002, "a new message inside a fragmented one")
            return
        elif opcode not in (0x1, 0x2):
            self._fail(1002, f"unknown opcode {opcode}")
            return
        else:
            self._fragment_opcode = opcode
        self._fragments.append(payload)
        if sum(len(f) for f in self._fragments) > MAX_CLIENT_FRAME:
            self._fail(1009, "message too big")
            return
        if not fin:
            return
        data = b"".join(self._fragments)
        kind, self._fragment_opcode, self._fragments = self._fragment_opcode, 0, []
        if kind == 0x1:
            try:
                self._put(data.decode("utf-8"))
            except UnicodeDecodeError:
                self._fail(1007, "text frame is not UTF-8")
        else:
            self._put(data)

    def _put(self, frame: str | bytes | None) -> None:
        self._frames.append(frame)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def receive(self) -> str | bytes | None:
        while not self._frames:
            self._waiter = self.conn.loop.create_future()
            await self._waiter
        frame = self._frames.popleft()
        if frame is None:
            self._frames.append(None)  # closed stays closed
        elif self._paused and len(self._frames) < MAX_QUEUED_FRAMES // 2:
            self._paused = False
            assert self.conn.transport is not None
            self.conn.transport.resume_reading()
        return frame

    # -- writing --
    def writable(self) -> None:
        """The peer reads again: the pong it is owed."""
        if self._pong_owed is not None and not self._closed:
            self.conn._write(_frame(0xA, self._pong_owed))
        self._pong_owed = None

    async def send_text(self, text: str) -> None:
        if self._closed:
            raise ConnectionError("push connection closed")
        if not self.conn._writable.is_set():
            await self.conn.drain()
        self.conn._write(_frame(0x1, text.encode()))

    async def close(self, code: int, reason: str) -> None:
        self._fail(code, reason)

    # -- the connection's end --
    def _peer_closed(self, payload: bytes) -> None:
        if payload:  # a code, then a UTF-8 reason (RFC 6455, 5.5.1 and 7.4)
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 0
            if not (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999):
                self._fail(1002, f"close code {code} is not one to send")
                return
            try:
                payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                self._fail(1007, "close reason is not UTF-8")
                return
        self._end(payload[:2] if len(payload) >= 2 else struct.pack("!H", 1000))

    def _fail(self, code: int, reason: str) -> None:
        # A control frame's payload is at most 125 bytes: the code, then the reason.
        self._end(struct.pack("!H", code) + reason.encode()[:123])

    def _end(self, close_payload: bytes) -> None:
        """Send the close frame (once), then close the connection."""
        if not self._closed:
            self._closed = True
            self.conn._write(_frame(0x8, close_payload))
        self._stop()
        self.conn._close()

    def lost(self) -> None:
        self._closed = True
        self._stop()

    def _stop(self) -> None:
        self._ping.cancel()
        self._buffer.clear()
        if not self._frames or self._frames[-1] is not None:
            self._put(None)

    def _keepalive(self) -> None:
        if self._closed:
            return
        if self._pong_due:  # the previous ping went unanswered: the peer is gone
            self._fail(1011, "keepalive ping timeout")
            return
        self._pong_due = True
        self.conn._write(_frame(0x9, b"mlswire"))
        self._ping = self.conn.loop.call_later(PING_INTERVAL, self._keepalive)


class _Lifespan:
    """The ASGI lifespan protocol: the app's startup before serving, its shutdown
    (the store closed) after."""

    def __init__(self, app: ASGIApp, state: dict[str, Any]) -> None:
        self.app = app
        self.state = state
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}
        await self.app(scope, self._inbox.get, self._outbox.put)

    async def _step(self, what: str) -> None:
        await self._inbox.put({"type": f"lifespan.{what}"})
        answer = await self._outbox.get()
        if answer["type"] != f"lifespan.{what}.complete":
            raise RuntimeError(f"the app's {what} failed: {answer.get('message', answer)}")

    async def startup(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())
        await self._step("startup")

    async def shutdown(self) -> None:
        await self._step("shutdown")
        if self._task is not None:
            await self._task


async def _main(server: _Server, sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    lifespan = _Lifespan(server.app, server.lifespan_state)
    await lifespan.startup()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    listener = await loop.create_server(lambda: _Connection(server), sock=sock, backlog=2048)
    try:
        await stop.wait()
    finally:
        server.stopping = True
        listener.close()
        for conn in list(server.connections):
            if conn.ws is not None:
                await conn.ws.close(1001, "server shutting down")
            elif not conn.busy:
                conn._close()  # idle keep-alive connections; busy ones close after answering
        deadline = loop.time() + SHUTDOWN_GRACE
        while server.connections and loop.time() < deadline:
            await asyncio.sleep(0.05)
        for conn in list(server.connections):
            if conn.transport is not None:
                conn.transport.abort()
        await lifespan.shutdown()


def serve(app: ASGIApp, sock: socket.socket, *, max_request: int, access_log: bool = False) -> None:
    """Serve ``app`` (from :func:`.http.create_app`) on the listening ``sock`` until
    SIGTERM or SIGINT; its DS hot paths (``app.state.hot_paths``) directly. On uvloop
    when it is installed."""
    hot = getattr(getattr(app, "state", None), "hot_paths", None)
    server = _Server(app, hot, max_request, access_log)
    sock.setblocking(False)
    try:
        import uvloop
    except ImportError:
        asyncio.run(_main(server, sock))
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(_main(server, sock))


__all__ = ["PING_INTERVAL", "serve"]
