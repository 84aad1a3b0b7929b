"""``mlswire serve``'s own HTTP/1.1 + WebSocket server (mlswire/service/server.py),
attacked over raw sockets as a hostile client and a failing network would.

One server process (SQLite) serves most of the file, with small body limits so that
the limits can be crossed cheaply: ``--max-body`` for the send path, the larger
``--max-blob`` for the bridged (ASGI) routes, which apply their own limits too. After
each attack the server is still there and answers a normal request. The graceful stop
and the parity of ``--http mlswire`` with ``--http uvicorn`` start their own servers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from mlswire.client import ServiceClient
from mlswire.service.server import IDLE_TIMEOUT, MAX_CLIENT_FRAME, MAX_HEAD, SHUTDOWN_GRACE
from mlswire.service.signing import sign_request

from . import _mls
from .conftest import Devices, Server, make_group
from .test_push import frames_until, open_push

MAX_BODY = 20_000  # --max-body: the send path's limit
MAX_BLOB = 50_000  # --max-blob: the largest bridged limit (attachments)
TIMEOUT = 10.0  # seconds for any one answer
# RFC 6455, section 1.3: the sample key and the accept value the RFC gives for it.
RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """This module's server (overrides conftest's per-backend one: the HTTP server is
    under test here, not the store)."""
    tmp = tmp_path_factory.mktemp("server")
    s = Server(
        str(tmp / "ds.sqlite3"), tmp, "--max-body", str(MAX_BODY), "--max-blob", str(MAX_BLOB)
    ).start()
    yield s
    s.stop()


def alive(server: Server) -> None:
    """The process is still running and answers a normal request."""
    assert server.proc is not None and server.proc.poll() is None, "the server died"
    r = httpx.get(server.url + "/healthz", timeout=TIMEOUT)
    assert r.status_code == 200 and r.json()["ok"] is True


# -- raw HTTP/1.1 --


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        value = json.loads(self.body)
        assert isinstance(value, dict), self.body
        return value


class Raw:
    """One TCP connection to the server: bytes written as given, responses read back
    one at a time (Content-Length framed, as the server writes them)."""

    def __init__(self, server: Server) -> None:
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
        self.buf = b""

    def __enter__(self) -> Raw:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise AssertionError(f"connection closed early; unread: {self.buf[:200]!r}")
        self.buf += chunk

    def take(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def response(self, *, head: bool = False) -> Response:
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        top, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status_line, *lines = top.decode("latin-1").split("\r\n")
        version, status, _ = (status_line + " ").split(" ", 2)
        assert version == "HTTP/1.1", status_line
        headers: dict[str, str] = {}
        for line in lines:
            name, sep, value = line.partition(":")
            assert sep, f"not a header line: {line!r}"
            headers[name.strip().lower()] = value.strip()
        code = int(status)
        bodiless = head or code < 200 or code in (204, 304)
        body = b"" if bodiless else self.take(int(headers["content-length"]))
        return Response(code, headers, body)

    def closed(self) -> bool:
        """True when the server ended the connection, having sent nothing more."""
        try:
            chunk = self.sock.recv(1 << 16)
        except ConnectionResetError:
            chunk = b""
        except TimeoutError:
            return False
        self.buf += chunk
        return not chunk and not self.buf

    def nothing_yet(self, seconds: float = 0.3) -> bool:
        """True when the server neither sent anything nor closed within ``seconds``
        (0: right now): it waits for more."""
        if self.buf:
            return False
        self.sock.settimeout(seconds)
        try:
            self.sock.recv(1, socket.MSG_PEEK)  # data, or b"" at the end: not waiting
            return False
        except (TimeoutError, BlockingIOError):
            return True
        finally:
            self.sock.settimeout(TIMEOUT)


def request(
    method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    hdrs = {"host": "127.0.0.1", **(headers or {})}
    if body and "transfer-encoding" not in hdrs:
        hdrs.setdefault("content-length", str(len(body)))
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
    return head.encode() + b"\r\n" + body


def signed(c: ServiceClient, method: str, target: str, body: bytes = b"") -> dict[str, str]:
    k = c.keys
    return {
        "authorization": sign_request(
            k.suite, k.signature_private_key, k.address, method, target, body
        )
    }


def send_body(message: bytes) -> bytes:
    return json.dumps(
        {"message": base64.b64encode(message).decode(), "add": [], "remove": []}
    ).encode()


def signed_send(c: ServiceClient, message: bytes) -> bytes:
    """A whole signed ``POST /v1/messages`` of ``message``."""
    body = send_body(message)
    return request("POST", "/v1/messages", body, signed(c, "POST", "/v1/messages", body))


def chunked(parts: list[bytes]) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def queue(c: ServiceClient) -> list[tuple[int, bytes]]:
    return [(m.seq, m.data) for m in c.fetch(limit=500)]


@pytest.fixture
def pair(devices: Devices) -> tuple[ServiceClient, ServiceClient, bytes]:
    """alice and bob in a group; bob's queue holds the Welcome and one message."""
    alice, bob = devices.new("alice"), devices.new("bob")
    gid = make_group(alice, [bob])
    alice.send(_mls.private_message(gid, 1))
    return alice, bob, gid


# -- HTTP/1.1 --


def test_keep_alive_serves_several_requests_on_one_connection(
    server: Server, pair: tuple[ServiceClient, ServiceClient, bytes]
) -> None:
    alice, bob, gid = pair
    msg = _mls.private_message(gid, 1)
    target = bob._dev() + "/queue?after=0&limit=500"
    with Raw(server) as conn:
        conn.send(request("GET", "/healthz"))
        first = conn.response()
        conn.send(signed_send(alice, msg))  # the hot path
        sent = conn.response()
        conn.send(request("GET", target, headers=signed(bob, "GET", target)))  # bridged
        fetched = conn.response()
        conn.send(request("GET", "/healthz"))
        last = conn.response()
    assert [r.status for r in (first, sent, fetched, last)] == [200] * 4
    assert all("connection" not in r.headers for r in (first, sent, fetched, last))
    assert sent.json()["recipients"] == 1
    messages = fetched.json()["messages"]
    assert isinstance(messages, list)
    assert base64.b64decode(messages[-1]["data"]) == msg
    alive(server)


def test_pipelined_requests_are_answered_in_order(
    server: Server, pair: tuple[ServiceClient, ServiceClient, bytes]
) -> None:
    alice, bob, gid = pair
    msg = _mls.private_message(gid, 1)
    target = bob._dev() + "/queue?after=0&limit=500"
    with Raw(server) as conn:
        # One write: a send (hot path), then bridged requests, each answer distinct.
        conn.send(
            signed_send(alice, msg)
            + request("GET", "/no/such/path")
            + request("GET", target, headers=signed(bob, "GET", target))
            + request("HEAD", "/healthz")
            + request("GET", "/openapi.json")
        )
        answers = [conn.response() for _ in range(3)]
        answers += [conn.response(head=True), conn.response()]
    assert [r.status for r in answers] == [200, 404, 200, 200, 200]
    assert answers[0].json()["recipients"] == 1
    messages = answers[2].json()["messages"]
    assert isinstance(messages, list)
    # The queue read after the send (answered after it) holds it.
    assert base64.b64decode(messages[-1]["data"]) == msg
    assert answers[3].body == b"" and int(answers[3].headers["content-length"]) > 0
    assert "openapi" in answers[4].json()
    alive(server)


def test_a_refusal_pipelined_behind_a_request_comes_after_its_answer(server: Server) -> None:
    too_big = {"content-length": str(MAX_BODY + 1), "expect": "100-continue"}
    with Raw(server) as conn:
        conn.send(
            request("GET", "/healthz")
            + request("GET", "/openapi.json")
            + request("POST", "/v1/messages", headers=too_big)
            + request("GET", "/healthz")  # after a refusal: never served
        )
        answers = [conn.response() for _ in range(3)]
        assert conn.closed()
    assert [r.status for r in answers] == [200, 200, 413]
    assert answers[0].json()["ok"] is True and "openapi" in answers[1].json()
    assert answers[2].headers["connection"] == "close"
    alive(server)


def rss(server: Server) -> int:
    """The server process's resident memory, in bytes (Linux)."""
    assert server.proc is not None
    status = Path(f"/proc/{server.proc.pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0]) * 1024


FLOOD_GROWTH = 8 << 20  # bytes: far below what the floods below would pile up


def test_a_client_pipelining_without_reading_does_not_pile_up_answers(server: Server) -> None:
    """Answers wait for the peer to read (the server stops reading meanwhile): 1500
    pipelined OpenAPI requests, never read, would otherwise take ~35 MB of answers."""
    n = 1500
    one = len(httpx.get(server.url + "/openapi.json").content)
    assert n * one > 3 * FLOOD_GROWTH
    before = rss(server)
    with Raw(server) as conn:
        conn.send(request("GET", "/openapi.json") * n)
        time.sleep(1.0)
        grown = rss(server) - before
        assert grown < FLOOD_GROWTH, f"the server grew by {grown >> 20} MB"
        answers = [conn.response() for _ in range(n)]  # all of them, once read
    assert all(r.status == 200 and len(r.body) == one for r in answers)
    alive(server)


def test_connection_close_is_honoured(server: Server) -> None:
    with Raw(server) as conn:
        conn.send(request("GET", "/healthz", headers={"connection": "close"}))
        r = conn.response()
        assert r.status == 200 and r.headers["connection"] == "close"
        assert conn.closed()
    with Raw(server) as conn:  # HTTP/1.0 without keep-alive: one request
        conn.send(b"GET /healthz HTTP/1.0\r\n\r\n")
        r = conn.response()
        assert r.status == 200 and r.headers["connection"] == "close"
        assert conn.closed()
    alive(server)


def test_an_idle_connection_is_closed_and_a_slow_request_is_not(server: Server) -> None:
    """A peer gone without a word (no FIN: a failing network) must not hold its
    connection forever; one that keeps sending, however slowly, is not idle."""
    data = request("GET", "/healthz")
    pieces = [data[i : i + 12] for i in range(0, len(data), 12)]
    pause = 1.5 * IDLE_TIMEOUT / len(pieces)
    assert pause < IDLE_TIMEOUT / 2
    with Raw(server) as silent, Raw(server) as answered, Raw(server) as slow:
        answered.send(request("GET", "/healthz"))
        assert answered.response().status == 200
        for i, piece in enumerate(pieces):
            slow.send(piece)
            time.sleep(pause)
            if i == 0:  # well within the timeout: both still open
                assert silent.nothing_yet(0) and answered.nothing_yet(0)
        r = slow.response()
        assert r.status == 200 and r.json()["ok"] is True
        # Past the timeout: both closed by the server, without a word.
        assert silent.closed() and answered.closed()
        slow.send(request("GET", "/healthz"))  # the slow one was served and kept
        assert slow.response().status == 200
    alive(server)


def test_head_gets_the_headers_without_a_body(server: Server) -> None:
    with Raw(server) as conn:
        conn.send(request("HEAD", "/healthz") + request("GET", "/healthz"))
        head = conn.response(head=True)
        get = conn.response()  # parses only if HEAD sent no body bytes
        assert conn.nothing_yet()
    assert head.status == get.status == 200
    assert head.body == b"" and int(head.headers["content-length"]) == len(get.body) > 0
    assert head.headers["content-type"] == get.headers["content-type"] == "application/json"


def test_unknown_paths_and_methods_get_the_apps_answer(server: Server) -> None:
    with Raw(server) as conn:
        conn.send(request("GET", "/v1/nothing/here"))
        missing = conn.response()
        conn.send(request("GET", "/v1/messages"))  # the send path, wrong method: the app's
        wrong = conn.response()
    assert (missing.status, missing.body) == (404, b"Not Found")
    assert wrong.status == 405 and "POST" in wrong.headers["allow"]
    alive(server)


def test_chunked_bodies_reach_the_send_path_and_bridged_routes(
    server: Server, pair: tuple[ServiceClient, ServiceClient, bytes]
) -> None:
    alice, bob, gid = pair
    msg = _mls.private_message(gid, 1)
    body = send_body(msg)
    blob = os.urandom(MAX_BODY + 1000)  # over the send path's limit, within --max-blob
    blobs = f"/v1/groups/{gid.hex()}/blobs"
    te = {"transfer-encoding": "chunked"}
    with Raw(server) as conn:
        auth = signed(alice, "POST", "/v1/messages", body)
        conn.send(request("POST", "/v1/messages", headers={**auth, **te}))
        conn.send(chunked([body[:10], body[10:50], body[50:]]))
        sent = conn.response()
        auth = signed(alice, "POST", blobs, blob)
        conn.send(request("POST", blobs, headers={**auth, **te}))
        conn.send(chunked([blob[i : i + 7000] for i in range(0, len(blob), 7000)]))
        stored = conn.response()
    assert sent.status == 200, sent.body
    assert sent.json()["recipients"] == 1
    assert queue(bob)[-1][1] == msg
    assert stored.status == 201, stored.body
    blob_id = stored.json()["id"]
    assert isinstance(blob_id, str)
    assert bob.get_blob(gid, blob_id) == blob
    # The same size with a Content-Length (the SDK's way) is taken too.
    assert bob.get_blob(gid, alice.put_blob(gid, blob)) == blob


def test_a_declared_length_over_the_limit_gets_413_before_the_body(
    server: Server, pair: tuple[ServiceClient, ServiceClient, bytes]
) -> None:
    alice, bob, gid = pair
    before = queue(bob)
    blobs = f"/v1/groups/{gid.hex()}/blobs"
    for target, limit in (("/v1/messages", MAX_BODY), (blobs, MAX_BLOB)):
        for extra in ({}, {"expect": "100-continue"}):
            with Raw(server) as conn:
                # Headers only: the answer comes without the body (and no 100 Continue).
                conn.send(
                    request("POST", target, headers={"content-length": str(limit + 1), **extra})
                )
                r = conn.response()
                assert r.status == 413, (target, r)
                message = r.json()["error"]
                assert isinstance(message, str) and f"limit of {limit} bytes" in message
                assert r.headers["connection"] == "close" and conn.closed()
    # At the limit exactly the send path reads the body (here unsigned: 401, not 413).
    with Raw(server) as conn:
        conn.send(request("POST", "/v1/messages", headers={"content-length": str(MAX_BODY)}))
        assert conn.nothing_yet()  # waiting for the body
        conn.send(b"x" * MAX_BODY)
        assert conn.response().status == 401
    # A bridged route between the two limits: the server reads it, the route applies
    # its own limit (group-info takes --max-body) after the body.
    target = f"/v1/groups/{gid.hex()}/group-info"
    big = json.dumps({"group_info": "A" * MAX_BODY}).encode()
    with Raw(server) as conn:
        conn.send(request("PUT", target, big, signed(alice, "PUT", target, big)))
        r = conn.response()
        assert r.status == 413 and f"limit of {MAX_BODY} bytes" in str(r.json()["error"])
    assert queue(bob) == before
    alive(server)


def test_a_chunked_body_growing_over_the_limit_gets_413(
    server: Server, pair: tuple[ServiceClient, ServiceClient, bytes]
) -> None:
    _, bob, gid = pair
    before = queue(bob)
    blobs = f"/v1/groups/{gid.hex()}/blobs"
    for target, limit in (("/v1/messages", MAX_BODY), (blobs, MAX_BLOB)):
        with Raw(server) as conn:
            conn.send(request("POST", target, headers={"transfer-encoding": "chunked"}))
            sent = 0
            while sent <= limit:  # no more than one chunk past the limit
                assert conn.nothing_yet(0.0), f"answered at {sent} bytes, under {limit}"
                conn.send(chunked([b"x" * 4000])[: -len(b"0\r\n\r\n")])
                sent += 4000
            r = conn.response()
            assert r.status == 413, (target, r)
            assert f"exceeds the limit of {limit} bytes" in str(r.json()["error"])
            assert conn.closed()
    assert queue(bob) == before
    alive(server)


HEADS = {
    "one endless header": (b"GET /healthz HTTP/1.1\r\nx-big: ", b"a" * 8192),
    "endless headers": (b"GET /healthz HTTP/1.1\r\n", b"x-h: 1\r\n" * 1024),
    "endless target": (b"GET /healthz?", b"a" * 8192),
}


@pytest.mark.parametrize("start, more", HEADS.values(), ids=HEADS.keys())
def test_a_request_head_over_the_limit_is_refused(
    server: Server, start: bytes, more: bytes
) -> None:
    """Target and headers are bounded (MAX_HEAD) however they come: the server
    answers and closes instead of keeping them all in memory."""
    with Raw(server) as conn:
        conn.send(start)
        sent = len(start)
        while conn.nothing_yet(0.01):
            assert sent < 8 * MAX_HEAD, f"still reading after {sent} bytes of head"
            conn.send(more)
            sent += len(more)
        r = conn.response()
        assert r.status == 431, r
        assert f"over {MAX_HEAD} bytes" in str(r.json()["error"])
        assert conn.closed()
    # Under the limit, whatever the reads: taken.
    with Raw(server) as conn:
        conn.send(request("GET", "/healthz", headers={"x-big": "a" * (MAX_HEAD // 2)}))
        assert conn.response().status == 200
    alive(server)


MALFORMED = {
    "request line": b"GARBAGE\r\n\r\n",
    "header without a colon": b"GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n",
    "content-length not a number": b"POST /v1/messages HTTP/1.1\r\ncontent-length: 1x\r\n\r\n",
    "content-length and chunked (smuggling)": (
        b"POST /v1/messages HTTP/1.1\r\ncontent-length: 5\r\n"
        b"transfer-encoding: chunked\r\n\r\n0\r\n\r\n"
    ),
    "bad chunk size": b"POST /v1/messages HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
    "bad request after a good one": request("GET", "/healthz") + b"\x00\x01\x02 / HTTP/1.1\r\n\r\n",
}


@pytest.mark.parametrize("data", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_requests_get_400_and_the_connection_closes(server: Server, data: bytes) -> None:
    with Raw(server) as conn:
        conn.send(data)
        r = conn.response()
        if r.status == 200:  # the good request first, answered as usual
            assert r.json()["ok"] is True and "connection" not in r.headers
            r = conn.response()
        assert r.status == 400, r
        assert str(r.json()["error"]).startswith("malformed HTTP request")
        assert r.headers["connection"] == "close" and conn.closed()
    alive(server)


def test_expect_100_continue(
    server: Server, pair: tuple[ServiceClient, ServiceClient, bytes]
) -> None:
    alice, bob, gid = pair
    msg = _mls.private_message(gid, 1)
    body = send_body(msg)
    headers = {**signed(alice, "POST", "/v1/messages", body), "expect": "100-continue"}
    with Raw(server) as conn:
        conn.send(request("POST", "/v1/messages", body, headers)[: -len(body)])
        interim = conn.response()
        assert interim.status == 100
        assert conn.nothing_yet()  # and nothing more until the body comes
        conn.send(body)
        final = conn.response()
    assert final.status == 200 and final.json()["recipients"] == 1
    assert queue(bob)[-1][1] == msg


def test_an_upgrade_other_than_websocket_is_served_as_plain_http(server: Server) -> None:
    """``curl --http2 http://...`` asks to upgrade to h2c: the server may ignore an
    Upgrade (RFC 9110, section 7.8) and answers the request itself."""
    upgrade = {"connection": "Upgrade, HTTP2-Settings", "upgrade": "h2c", "http2-settings": ""}
    with Raw(server) as conn:
        conn.send(request("GET", "/healthz", headers=upgrade))
        r = conn.response()
    assert r.status == 200 and r.json()["ok"] is True
    alive(server)


# -- WebSocket --


def mask(payload: bytes, key: bytes) -> bytes:
    n = len(payload)
    stream = int.from_bytes((key * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ stream).to_bytes(n, "big") if n else b""


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    masked: bool = True,
    rsv: int = 0,
    length: int | None = None,
) -> bytes:
    """A client frame (RFC 6455, section 5.2); ``length`` may lie about the payload."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | rsv | opcode
    m = 0x80 if masked else 0
    if n < 126:
        head = struct.pack("!BB", b0, m | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", b0, m | 126, n)
    else:
        head = struct.pack("!BBQ", b0, m | 127, n)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + mask(payload, key)


def upgrade_request(target: str, auth: str | None, version: str = "13") -> bytes:
    headers = {
        "upgrade": "websocket",
        "connection": "Upgrade",
        "sec-websocket-key": RFC_KEY,
        "sec-websocket-version": version,
    }
    if auth is not None:
        headers["authorization"] = auth
    return request("GET", target, headers=headers)


def push_target(c: ServiceClient, after: int = 0) -> tuple[str, str]:
    url, auth = c.push_url(after)
    return url.split(c.ds_url.split("://", 1)[1], 1)[1], auth


class RawWS(Raw):
    """A push connection over a raw socket."""

    def __init__(self, server: Server, c: ServiceClient) -> None:
        super().__init__(server)
        target, auth = push_target(c)
        self.send(upgrade_request(target, auth))
        self.handshake = self.response()
        assert self.handshake.status == 101, self.handshake

    def frame(self) -> tuple[int, bytes]:
        """The next server frame: (opcode, payload)."""
        b0, b1 = self.take(2)
        assert b0 & 0x80 and not b0 & 0x70, f"unexpected first byte {b0:#x}"
        assert not b1 & 0x80, "a server frame must not be masked (RFC 6455, section 5.1)"
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(self.take(2), "big")
        elif n == 127:
            n = int.from_bytes(self.take(8), "big")
        return b0 & 0x0F, self.take(n)

    def reply(self) -> tuple[int, bytes]:
        """The next frame that is not a push of queue entries."""
        while True:
            opcode, payload = self.frame()
            if opcode != 0x1 or "messages" not in json.loads(payload):
                return opcode, payload

    def closed_with(self) -> int:
        """The code of the server's close frame, which must end the connection."""
        opcode, payload = self.reply()
        assert opcode == 0x8, (opcode, payload)
        assert self.closed(), "the connection stayed open after the close frame"
        code: int = struct.unpack("!H", payload[:2])[0]
        return code

    def still_open(self) -> None:
        """A ping is answered with a pong carrying its payload."""
        token = os.urandom(8)
        self.send(frame(0x9, token))
        assert self.reply() == (0xA, token)


def test_the_upgrade_answer_carries_rfc6455s_accept_value(
    server: Server, pair: tuple[ServiceClient, ServiceClient, bytes]
) -> None:
    _, bob, _ = pair
    with RawWS(server, bob) as ws:
        h = ws.handshake.headers
        assert h["sec-websocket-accept"] == RFC_ACCEPT
        assert h["upgrade"].lower() == "websocket" and h["connection"].lower() == "upgrade"
        # Then the queue, as text frames of JSON.
        opcode, payload = ws.frame()
        assert opcode == 0x1
        entries = json.loads(payload)["messages"]
        assert [(e["seq"], base64.b64decode(e["data"])) for e in entries] == queue(bob)
    # The value is the RFC's formula, not a constant: a second key, its own value.
    key = base64.b64encode(os.urandom(16)).decode()
    target, auth = push_target(bob)
    with Raw(server) as conn:
        conn.send(upgrade_request(target, auth).replace(RFC_KEY.encode(), key.encode()))
        r = conn.response()
    digest = hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
    assert (
        r.status == 101 and r.headers["sec-websocket-accept"] == base64.b64encode(digest).decode()
    )


def test_upgrades_that_are_refused(
    server: Server, pair: tuple[ServiceClient, ServiceClient, bytes]
) -> None:
    _, bob, _ = pair
    before = queue(bob)
    target, auth = push_target(bob)
    queue_target = target.replace("/push?", "/queue?")
    attempts: list[tuple[bytes, int, str]] = [
        # Not the push path: no WebSocket there.
        (upgrade_request(queue_target, auth), 404, "no WebSocket at"),
        (upgrade_request("/healthz", None), 404, "no WebSocket at"),
        (upgrade_request(target, auth, version="8"), 426, "version 13"),
        (upgrade_request(target.replace("after=0", "after=x"), auth), 400, "after"),
        # Test_push shows 403 (another device) and 401 (unsigned, another target);
        # here: a replayed upgrade (the signature's nonce is spent by the first).
        (upgrade_request(target, auth), 101, ""),
        (upgrade_request(target, auth), 401, "replayed"),
    ]
    for data, status, words in attempts:
        with Raw(server) as conn:
            conn.send(data)
            r = conn.response()
            assert r.status == status, (data, r)
            if status == 101:
                continue
            assert r.headers["content-type"] == "application/json"
            assert r.json()["status"] == status and words in str(r.json()["error"])
            assert r.headers["connection"] == "close" and conn.closed()
            if status == 426:
                assert r.headers["sec-websocket-version"] == "13"
    assert queue(bob) == before
    alive(server)


def test_a_ping_gets_a_pong_with_its_payload(
    server: Server, pair: tuple[ServiceClient, ServiceClient, bytes]
) -> None:
    _, bob, _ = pair
    before = queue(bob)
    with RawWS(server, bob) as ws:
        for payload in (b"", b"are you there?", os.urandom(125)):  # 125: the control maximum
            ws.send(frame(0x9, payload))
            assert ws.reply() == (0xA, payload)
        ws.send(frame(0xA, b"unasked"))  # an unsolicited pong is ignored (RFC 6455, 5.5.3)
        ws.still_open()
    assert queue(bob) == before
    alive(server)


def test_pings_sent_without_reading_do_not_pile_up_pongs(
    server: Server, pair: tuple[ServiceClient, ServiceClient, bytes]
) -> None:
    """While the peer does not read, only its latest ping is owed a pong (RFC 6455,
    5.5.3): 200,000 pings of 125 bytes, never read, would otherwise take ~25 MB."""
    _, bob, _ = pair
    n = 200_000
    pings = [frame(0x9, b"%125d" % i) for i in range(n)]
    assert sum(map(len, pings)) > 3 * FLOOD_GROWTH
    before = rss(server)
    with RawWS(server, bob) as ws:
        ws.send(b"".join(pings))
        time.sleep(1.0)
        grown = rss(server) - before
        assert grown < FLOOD_GROWTH, f"the server grew by {grown >> 20} MB"
        pongs: list[bytes] = []
        while not pongs or pongs[-1] != b"%125d" % (n - 1):
            opcode, payload = ws.reply()
            assert opcode == 0xA
            pongs.append(payload)
        # Each pong answers a ping, in order; the latest ping got one.
        numbers = [int(p) for p in pongs]
        assert numbers == sorted(set(numbers))
        ws.still_open()
    alive(server)


def test_a_fragmented_ack_is_taken_as_one(
    server: Server, pair: tuple[ServiceClient, ServiceClient, bytes]
) -> None:
    alice, bob, gid = pair
    alice.send(_mls.private_message(gid, 1))
    seqs = [seq for seq, _ in queue(bob)]
    ack = json.dumps({"ack": seqs[-2]}).encode()
    with RawWS(server, bob) as ws:
        # Two frames, a ping between them (control frames may come inside a message).
        ws.send(frame(0x1, ack[:5], fin=False))
        ws.send(frame(0x9, b"between"))
        assert ws.reply() == (0xA, b"between")
        ws.send(frame(0x0, ack[5:]))
        # Acks are unanswered: the next answer is the one for this bad frame, so the
        # fragments were neither of them taken alone (each would be "not JSON").
        ws.send(frame(0x1, b'{"x": 1}'))
        opcode, payload = ws.reply()
        assert opcode == 0x1
        error = json.loads(payload)
        assert error["status"] == 400 and 'a client frame is {"ack": up_to}' in error["error"]
        deadline = time.monotonic() + TIMEOUT
        while len(left := queue(bob)) > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert [seq for seq, _ in left] == seqs[-1:]
    alive(server)


def test_a_binary_frame_gets_the_400_error_frame(
    server: Server, pair: tuple[ServiceClient, ServiceClient, bytes]
) -> None:
    _, bob, _ = pair
    before = queue(bob)
    with RawWS(server, bob) as ws:
        ws.send(frame(0x2, json.dumps({"ack": before[-1][0]}).encode()))
        opcode, payload = ws.reply()
        assert opcode == 0x1
        error = json.loads(payload)
        assert error["status"] == 400 and "binary" in error["error"]
        ws.still_open()
    assert queue(bob) == before
    alive(server)


def _ack_all(seq: int) -> bytes:
    return json.dumps({"ack": seq}).encode()


# Frames that end the connection, each with a frame that would acknowledge bob's whole
# queue if it were taken; the close code the server must answer with.
ENDINGS: dict[str, tuple[Callable[[int], bytes], int]] = {
    "unmasked": (lambda seq: frame(0x1, _ack_all(seq), masked=False), 1002),
    "reserved bit set": (lambda seq: frame(0x1, _ack_all(seq), rsv=0x40), 1002),
    "continuation first": (lambda seq: frame(0x0, _ack_all(seq)), 1002),
    "new message inside a fragmented one": (
        lambda seq: frame(0x1, b'{"ack"', fin=False) + frame(0x1, _ack_all(seq)),
        1002,
    ),
    "fragmented ping": (lambda seq: frame(0x9, b"p", fin=False), 1002),
    "ping over 125 bytes": (lambda seq: frame(0x9, b"p" * 126), 1002),
    "unknown opcode": (lambda seq: frame(0x3, _ack_all(seq)), 1002),
    "oversized frame": (lambda seq: frame(0x1, b"", length=MAX_CLIENT_FRAME + 1), 1009),
    "oversized message in fragments": (
        lambda seq: (
            frame(0x1, b" " * (MAX_CLIENT_FRAME // 2 + 1), fin=False)
            + frame(0x0, b" " * (MAX_CLIENT_FRAME // 2 + 1) + _ack_all(seq))
        ),
        1009,
    ),
    "invalid UTF-8": (lambda seq: frame(0x1, _ack_all(seq)[:-1] + b"\xff}"), 1007),
    "close": (lambda seq: frame(0x8, struct.pack("!H", 1000) + b"bye"), 1000),
    "close with another code": (lambda seq: frame(0x8, struct.pack("!H", 4000)), 4000),
    "close without a code": (lambda seq: frame(0x8), 1000),
    "close of one byte": (lambda seq: frame(0x8, b"\x03"), 1002),
    "close with code 1005 (never sent)": (lambda seq: frame(0x8, struct.pack("!H", 1005)), 1002),
    "close with code 999": (lambda seq: frame(0x8, struct.pack("!H", 999)), 1002),
    "close with a reason not UTF-8": (
        lambda seq: frame(0x8, struct.pack("!H", 1000) + b"\xff"),
        1007,
    ),
}


@pytest.mark.parametrize("make, code", ENDINGS.values(), ids=ENDINGS.keys())
def test_frames_that_end_the_connection(
    server: Server,
    pair: tuple[ServiceClient, ServiceClient, bytes],
    make: Callable[[int], bytes],
    code: int,
) -> None:
    _, bob, _ = pair
    before = queue(bob)
    with RawWS(server, bob) as ws:
        ws.send(make(before[-1][0]))
        assert ws.closed_with() == code
    assert queue(bob) == before
    alive(server)


# -- stopping, and the two servers --


def test_sigterm_closes_push_with_1001_and_loses_no_answered_send(tmp_path: Path) -> None:
    s = Server(str(tmp_path / "ds.sqlite3"), tmp_path).start()
    devices = Devices(s)
    try:
        alice, bob = devices.new("alice"), devices.new("bob")
        gid = make_group(alice, [bob])
        msg = _mls.private_message(gid, 1)
        with open_push(bob) as ws, Raw(s) as idle:
            frames_until(ws, 1)  # the Welcome
            alice.send(msg)  # answered 200 before the stop
            pushed, _ = frames_until(ws, 1)
            assert base64.b64decode(pushed[0]["data"]) == msg
            idle.send(request("GET", "/healthz"))
            assert idle.response().status == 200  # a keep-alive connection, now idle
            assert s.proc is not None
            t0 = time.monotonic()
            s.proc.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    ws.recv(timeout=TIMEOUT)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
            assert idle.closed()
            assert s.proc.wait(TIMEOUT) == 0
            stopped = time.monotonic() - t0
        # Every connection closed at once: the stop did not wait out the grace period
        # that requests in progress get.
        assert stopped < SHUTDOWN_GRACE, f"stopped in {stopped:.1f}s"
        # The same database again: the answered send is still queued, unacknowledged.
        again = Server(s.db, tmp_path, port=s.port).start()
        try:
            assert [d for _, d in queue(bob)][-1] == msg
        finally:
            again.stop()
    finally:
        devices.close()
        s.stop()


@pytest.mark.parametrize("http", ["mlswire", "uvicorn"])
def test_register_send_push_ack_on_either_http_server(tmp_path: Path, http: str) -> None:
    s = Server(str(tmp_path / "ds.sqlite3"), tmp_path, "--http", http).start()
    devices = Devices(s)
    try:
        # The server asked for is the one answering (uvicorn names itself).
        server_header = httpx.get(s.url + "/healthz").headers.get("server")
        assert server_header == ("uvicorn" if http == "uvicorn" else None)
        alice, bob = devices.new("alice"), devices.new("bob")
        gid = make_group(alice, [bob])
        sent = [_mls.private_message(gid, 1) for _ in range(3)]
        with open_push(bob) as ws:
            welcome, _ = frames_until(ws, 1)
            assert welcome[0]["kind"] == "welcome"
            for m in sent:
                assert alice.send(m)["recipients"] == 1
            pushed, _ = frames_until(ws, len(sent))
            assert [base64.b64decode(e["data"]) for e in pushed] == sent
            ws.send(json.dumps({"ack": pushed[-1]["seq"]}))
            deadline = time.monotonic() + TIMEOUT
            while (left := queue(bob)) and time.monotonic() < deadline:
                time.sleep(0.05)
        assert left == []
    finally:
        devices.close()
        s.stop()
