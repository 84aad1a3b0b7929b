"""Fixtures for the service tests: real `mlswire serve` processes on loopback, against
the SQLite store and (with MLSWIRE_PG_URL) the PostgreSQL store."""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from mlswire.client import DeviceKeys, MLSClient, ServiceClient, ServiceError

from ..conftest import postgres_url
from . import _mls

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_url_or_skip() -> str:
    """MLSWIRE_PG_URL, else this run's throwaway server (skip, or fail under CI, without one)."""
    return postgres_url()


def fresh_pg_schema(url: str) -> str:
    """A new, empty schema on the server; the URL that makes it the search path."""
    import psycopg

    schema = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote('-csearch_path=' + schema)}"


class Server:
    """One `mlswire serve` process (its own HTTP server, or uvicorn with --http uvicorn) on
    127.0.0.1."""

    def __init__(self, db: str, workdir: Path, *args: str, port: int | None = None) -> None:
        self.db = db
        self.workdir = workdir
        self.args = args
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / f"serve-{self.port}.log"

    def start(self) -> Server:
        cmd = [
            sys.executable,
            "-m",
            "mlswire",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--db",
            self.db,
            # Groups created without a GroupInfo (the synthetic-message tests) are taken
            # header-only; groups with one (every MLSClient's) are verified as always.
            "--unverified-groups",
            *self.args,
        ]
        if "--ds" not in self.args:
            cmd += ["--as-dir", str(self.workdir / "as")]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start in {STARTUP_TIMEOUT}s: {self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers run, as in a crash."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class Backend:
    def __init__(self, name: str, tmp: Path) -> None:
        self.name = name
        self.tmp = tmp

    def new_db(self) -> str:
        """A fresh, empty database for one server (or several sharing it)."""
        if self.name == "sqlite":
            return str(self.tmp / f"ds-{uuid.uuid4().hex[:8]}.sqlite3")
        return fresh_pg_schema(pg_url_or_skip())


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Backend:
    if request.param == "postgres":
        pg_url_or_skip()
    return Backend(request.param, tmp_path_factory.mktemp(request.param))


@pytest.fixture(scope="session")
def server(backend: Backend) -> Iterator[Server]:
    """One AS+DS process per backend, shared by the tests (each uses its own users)."""
    s = Server(backend.new_db(), backend.tmp).start()
    yield s
    s.stop()


class Devices:
    """Registers fresh devices (unique user names per test) with a server."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.prefix = uuid.uuid4().hex[:6]
        self.clients: list[ServiceClient] = []

    def user(self, name: str) -> str:
        return f"{name}-{self.prefix}"

    def new(
        self,
        user: str,
        device: str = "phone",
        *,
        approver: ServiceClient | None = None,
        suite: int = 1,
        url: str | None = None,
    ) -> ServiceClient:
        c = ServiceClient(
            DeviceKeys.generate(self.user(user), device, suite),
            url or self.server.url,
            self.server.url,
        )
        c.as_register(approver=approver.keys if approver else None)
        c.register()
        self.clients.append(c)
        return c

    def close(self) -> None:
        for c in self.clients:
            c.close()


@pytest.fixture
def devices(server: Server) -> Iterator[Devices]:
    d = Devices(server)
    yield d
    d.close()


class Net:
    """Creates MLS clients for one test, each with its own state directory."""

    def __init__(self, server: Server, tmp: Path, devices: Devices) -> None:
        self.server, self.tmp, self.prefix = server, tmp, devices.prefix
        self.clients: list[MLSClient] = []

    def user(self, name: str) -> str:
        return f"{name}-{self.prefix}"

    def new(self, name: str, device: str = "phone", approver: MLSClient | None = None) -> MLSClient:
        c = MLSClient.register(
            self.tmp / f"{name}-{device}",
            self.user(name),
            device,
            self.server.url,
            approver=approver.service.keys if approver else None,
            key_packages=3,
        )
        self.clients.append(c)
        return c

    def reload(self, c: MLSClient) -> MLSClient:
        """The same device after a process restart: everything from its directory."""
        c.close()
        again = MLSClient.load(c.dir)
        self.clients.append(again)
        return again

    def close(self) -> None:
        for c in self.clients:
            c.close()


@pytest.fixture
def net(server: Server, tmp_path: Path, devices: Devices) -> Iterator[Net]:
    n = Net(server, tmp_path, devices)
    yield n
    n.close()


def race_sends(clients: list[ServiceClient], messages: list[bytes]) -> list[tuple[int, str, bytes]]:
    """Send ``messages[i]`` from ``clients[i]``, all released at once by a barrier;
    returns (HTTP status, sender, message) per send."""
    barrier = threading.Barrier(len(clients))
    outcomes: list[tuple[int, str, bytes]] = []
    lock = threading.Lock()

    def go(c: ServiceClient, msg: bytes) -> None:
        barrier.wait(10)
        try:
            c.send(msg)
            status = 200
        except ServiceError as e:
            assert e.status != 409 or "epoch" in e.message, e.message
            status = e.status
        with lock:
            outcomes.append((status, c.keys.address, msg))

    threads = [threading.Thread(target=go, args=cm) for cm in zip(clients, messages, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


def dump_store(db: str) -> bytes:
    """Every byte the store holds: the SQLite files, or every row of every table."""
    if not db.startswith("postgresql"):
        import sqlite3
        from pathlib import Path

        conn = sqlite3.connect(db)
        conn.execute("PRAGMA wal_checkpoint(FULL)")
        conn.close()
        return b"".join(
            Path(db + suffix).read_bytes() for suffix in ("", "-wal") if Path(db + suffix).exists()
        )
    import psycopg

    out = bytearray()
    with psycopg.connect(db) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            )
        ]
        for t in tables:
            for row in conn.execute(f"SELECT * FROM {t}"):
                for v in row:
                    out += v if isinstance(v, bytes) else str(v).encode()
    return bytes(out)


def workdir(backend: Backend) -> Path:
    """A fresh folder for one test's server processes."""
    d = backend.tmp / uuid.uuid4().hex[:8]
    d.mkdir()
    return d


def make_group(owner: ServiceClient, members: list[ServiceClient]) -> bytes:
    gid = b"g-" + uuid.uuid4().hex[:8].encode()
    owner.create_group(gid)
    owner.send(_mls.commit(gid, 0), welcome=_mls.welcome(), add=[m.keys.address for m in members])
    return gid


class SendLoad:
    """Senders sending numbered application messages to one group, each from its own
    thread, until ``stop()``; a send cut off by a dying DS ends its sender's thread and
    is kept as unknown (the test retries it after the restart)."""

    def __init__(self, gid: bytes, senders: list[ServiceClient]) -> None:
        self.acked: list[bytes] = []
        self.unknown: list[tuple[ServiceClient, bytes]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._load, args=(gid, c)) for c in senders]
        for t in self._threads:
            t.start()

    def _load(self, gid: bytes, c: ServiceClient) -> None:
        for i in range(2000):  # bounded in count, and by stop() in time
            if self._stop.is_set():
                return
            tag = f"{c.keys.address}#{i}#".encode() + os.urandom(16)
            msg = _mls.private_message(gid, 1, ciphertext=tag)
            try:
                c.send(msg)
            except (ServiceError, httpx.HTTPError):
                with self._lock:
                    self.unknown.append((c, msg))
                return
            with self._lock:
                self.acked.append(msg)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)
        assert len(self.acked) >= 20, "the load did not get going before the kill"

    def retry_unknown(self) -> None:
        # The DS recognises bytes it already accepted, so a retry never duplicates.
        for c, msg in self.unknown:
            c.send(msg)

    def check_delivered(self, got: list[bytes]) -> None:
        """Every acknowledged send exactly once, and nothing that was never sent."""
        counts = collections.Counter(got)
        assert [m for m, n in counts.items() if n > 1] == [], "a message was delivered twice"
        assert set(self.acked) <= set(counts), "an acknowledged message was lost"
        assert set(counts) == set(self.acked) | {m for _, m in self.unknown}
