"""What the test run provisions for itself: the node peers (``npm ci``) and a throwaway
PostgreSQL server. Each raises :class:`Unavailable` with one line saying what to install
when it cannot; ``tests/conftest.py`` turns that into a skip (a failure under CI)."""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NODE_DIR = ROOT / "node"
NPM_TIMEOUT = 900.0
PG_TIMEOUT = 120.0


class Unavailable(Exception):
    """Something the tests need is absent and cannot be provisioned here."""


# ----------------------------------------------------------------------------- node


def _installed_version(name: str) -> str | None:
    try:
        doc = json.loads((NODE_DIR / "node_modules" / name / "package.json").read_text())
    except (OSError, ValueError):
        return None
    version = doc.get("version")
    return version if isinstance(version, str) else None


def node_modules_current() -> bool:
    """Every direct dependency of node/package.json is installed at the locked version
    (so a lock file changed by a pull installs again), and npm finished (its hidden
    lock file is written last)."""
    if not (NODE_DIR / "node_modules" / ".package-lock.json").is_file():
        return False
    manifest = json.loads((NODE_DIR / "package.json").read_text())
    locked = json.loads((NODE_DIR / "package-lock.json").read_text()).get("packages", {})
    for name in manifest.get("dependencies", {}):
        want = locked.get(f"node_modules/{name}", {}).get("version")
        if want is None or _installed_version(name) != want:
            return False
    return True


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock held across processes (two test runs started together)."""
    with path.open("a") as f:
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock; concurrent runs are the user's call
            yield
            return
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def node_modules() -> None:
    """``npm ci --prefix node`` when node/node_modules is missing or stale."""
    if node_modules_current():
        return
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        raise Unavailable(
            "ts-mls interop peer: Node.js >= 20 with npm is not installed (e.g. apt-get "
            "install nodejs npm); the test run installs node/node_modules itself"
        )
    with _file_lock(NODE_DIR / ".npm-ci.lock"):
        if node_modules_current():  # another run installed it while this one waited
            return
        cmd = [npm, "ci", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund", "--loglevel=error"]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=NPM_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise Unavailable(f"npm ci --prefix node took over {NPM_TIMEOUT:.0f} s") from None
        if r.returncode != 0:
            tail = " ".join((r.stderr or r.stdout).split())[-300:]
            raise Unavailable(f"npm ci --prefix node failed (exit {r.returncode}): {tail}")


# ----------------------------------------------------------------------------- PostgreSQL


def _pg_bin() -> Path:
    """The newest installed server binaries: Debian's /usr/lib/postgresql/N/bin, else
    initdb and pg_ctl on PATH."""
    found = glob.glob("/usr/lib/postgresql/*/bin")
    found.sort(key=lambda p: [int(x) if x.isdigit() else 0 for x in Path(p).parent.name.split(".")])
    for d in reversed(found):
        if os.access(Path(d) / "initdb", os.X_OK) and os.access(Path(d) / "pg_ctl", os.X_OK):
            return Path(d)
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl and Path(initdb).parent == Path(pg_ctl).parent:
        return Path(initdb).parent
    raise Unavailable(
        "PostgreSQL store tests: no PostgreSQL server binaries (initdb, pg_ctl); install "
        "them (e.g. apt-get install postgresql) or set MLSWIRE_PG_URL to a server"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Postgres:
    """A PostgreSQL server of this run: data in a temporary folder, fsync off (the data
    is thrown away), loopback only, trust authentication, stopped at the end of the run.
    As root it runs as the ``postgres`` system user, since postgres refuses root."""

    def __init__(self) -> None:
        self.bin = _pg_bin()
        self.as_user: list[str] = []
        self.dir = Path(tempfile.mkdtemp(prefix="mlswire-pg-"))
        if os.geteuid() == 0:
            import pwd

            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                self.cleanup()
                raise Unavailable(
                    "PostgreSQL store tests: running as root, the server needs an "
                    "unprivileged `postgres` user (the postgresql package creates it)"
                ) from None
            runuser = shutil.which("runuser")
            if runuser is None:
                self.cleanup()
                raise Unavailable("PostgreSQL store tests: as root they need runuser")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.as_user = [runuser, "-u", "postgres", "--"]
        self.url = ""

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.as_user, *args], capture_output=True, text=True, timeout=PG_TIMEOUT
        )

    def start(self) -> None:
        data = str(self.dir / "data")
        r = self._run(str(self.bin / "initdb"), "-D", data, "-A", "trust", "-U", "postgres")
        if r.returncode != 0:
            raise Unavailable(f"PostgreSQL initdb failed: {' '.join(r.stderr.split())[-300:]}")
        for _ in range(3):  # another process may take the free port first
            port = _free_port()
            options = f"-p {port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
            log = str(self.dir / "server.log")
            r = self._run(str(self.bin / "pg_ctl"), "-D", data, "-l", log, "-w", "-t", "60",
                          "-o", options, "start")  # fmt: skip
            if r.returncode == 0:
                self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
                return
        tail = " ".join((self.dir / "server.log").read_text(errors="replace").split())[-300:]
        raise Unavailable(f"PostgreSQL did not start: {tail}")

    def stop(self) -> None:
        if self.url:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate",
                      "stop")  # fmt: skip
            self.url = ""
        self.cleanup()

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


_server: _Postgres | None = None
_server_error: Unavailable | None = None


def throwaway_postgres() -> str:
    """The URL of this run's PostgreSQL server, started on first use."""
    global _server, _server_error
    if _server_error is not None:
        raise _server_error
    if _server is None:
        try:
            server = _Postgres()
            try:
                server.start()
            except BaseException:
                server.stop()
                raise
        except Unavailable as e:
            _server_error = e
            raise
        _server = server
    return _server.url


def stop_postgres() -> None:
    global _server
    if _server is not None:
        _server.stop()
        _server = None
