"""The processes around bench/ds_load.py's load generator: the DS under test (``python -m
mlswire serve`` from this checkout), a throwaway PostgreSQL, the DS's CPU and memory, and
a sampling profile of the DS (py-spy) or, without py-spy, a cProfile of its main thread.

Every process started here is ended by ``stop()`` (called from ``finally`` blocks, so
Ctrl-C ends them too). The DS runs in its own session, so a Ctrl-C typed at the terminal
reaches the benchmark only, which then stops the DS itself.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import httpx

ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_supports(option: str, checkout: Path = ROOT) -> bool:
    """Whether the checkout's ``mlswire serve`` has ``option`` (e.g. ``--workers``)."""
    out = subprocess.run(
        [sys.executable, "-m", "mlswire", "serve", "--help"],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return option in out.stdout


# --- the DS under test ------------------------------------------------------------------------


class Serve:
    """One ``mlswire serve`` process of ``checkout`` on a free loopback port (its own
    session), ready once ``/healthz`` answers."""

    def __init__(
        self, args: list[str], workdir: Path, checkout: Path, cprofile: Path | None = None
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"serve-{self.port}.log"
        cmd = [sys.executable]
        if cprofile is not None:
            cmd += ["-m", "cProfile", "-o", str(cprofile)]
        cmd += ["-m", "mlswire", "serve", "--host", "127.0.0.1", "--port", str(self.port), *args]
        with self.log.open("wb") as log:
            # From the checkout's folder, `python -m mlswire` imports that checkout's code.
            self.proc = subprocess.Popen(
                cmd, cwd=checkout, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlswire serve exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"mlswire serve did not start in {STARTUP_TIMEOUT:.0f} s")

    def pids(self) -> list[int]:
        """The server process and its descendants (``--workers`` children)."""
        return [self.proc.pid, *descendants(self.proc.pid)]

    def stop(self) -> None:
        """SIGTERM to the server's process group (a graceful stop, which also lets
        cProfile write its file), SIGKILL after 15 s."""
        if self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


class DSProcess:
    """The system under test: an AS process (``mlswire serve --as``) and the DS
    (``mlswire serve --ds --as-url ...``), with ``--workers N`` for N DS processes on
    one PostgreSQL. The AS is off the measured path (the DS fetches its CRL every 30 s);
    CPU, memory and profiles are the DS's. The same layout for every store keeps the
    configurations comparable."""

    def __init__(
        self,
        db: str,
        workdir: Path,
        *,
        workers: int = 1,
        cprofile: Path | None = None,
        checkout: Path = ROOT,
    ) -> None:
        self.auth = Serve(
            ["--as", "--as-dir", str(workdir / f"as-{uuid.uuid4().hex[:6]}")], workdir, checkout
        )
        try:
            args = ["--ds", "--as-url", self.auth.url, "--db", db]
            if workers > 1:
                args += ["--workers", str(workers)]
            self.ds = Serve(args, workdir, checkout, cprofile)
        except BaseException:
            self.auth.stop()
            raise
        self.url, self.as_url, self.proc = self.ds.url, self.auth.url, self.ds.proc

    def pids(self) -> list[int]:
        return self.ds.pids()

    def stop(self) -> None:
        try:
            self.ds.stop()
        finally:
            self.auth.stop()


# --- CPU and memory of a process tree -----------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (psutil when installed, else /proc)."""
    try:
        import psutil

        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except ImportError:
        pass
    except Exception:  # psutil.NoSuchProcess: the server is gone
        return []
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                parent[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds used so far by each of these processes (live ones)."""
    out: dict[int, float] = {}
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime
    return out


class CpuMeter:
    """CPU seconds a changing set of processes (a server's workers, PostgreSQL's
    backends) used between ``start()`` and the last ``sample()``: each process counts
    from its first reading (0 for one born meanwhile) to its last, so one that exits
    keeps what it used up to the last sample before."""

    def __init__(self, pids: Callable[[], list[int]]) -> None:
        self.pids = pids
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}

    def start(self) -> None:
        self.first = cpu_by_pid(self.pids())
        self.last = dict(self.first)

    def sample(self) -> None:
        self.last.update(cpu_by_pid(self.pids()))

    def seconds(self) -> float:
        return sum(v - self.first.get(pid, 0.0) for pid, v in self.last.items())


def rss_bytes(pids: list[int]) -> int:
    """Resident memory of these processes now, summed."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    return total


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


# --- PostgreSQL ----------------------------------------------------------------------------------


class Postgres:
    """``MLSWIRE_PG_URL``, else a throwaway server started the way the test run starts
    one (``tests/_provision.py``: temporary folder, loopback, fsync off). ``new_db()``
    gives each DS configuration an empty schema of its own."""

    def __init__(self) -> None:
        self.url = os.environ.get("MLSWIRE_PG_URL", "")
        self._owned = False
        self.error = ""
        if not self.url:
            if str(ROOT) not in sys.path:
                sys.path.insert(0, str(ROOT))
            from tests import _provision

            try:
                self.url = _provision.throwaway_postgres()
                self._owned = True
            except _provision.Unavailable as e:
                self.error = str(e)

    def pids(self) -> list[int]:
        """The throwaway server's processes (postmaster and backends), to measure its
        CPU; none for a server of MLSWIRE_PG_URL (it may be anywhere)."""
        if not self._owned:
            return []
        from tests import _provision

        server = _provision._server
        if server is None:
            return []
        try:
            pid = int((server.dir / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return []
        return [pid, *descendants(pid)]

    def new_db(self) -> str:
        import psycopg

        schema = "bench_" + uuid.uuid4().hex[:10]
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        sep = "&" if "?" in self.url else "?"
        return f"{self.url}{sep}options={quote('-csearch_path=' + schema)}"

    def stop(self) -> None:
        if self._owned:
            from tests import _provision

            _provision.stop_postgres()
            self._owned = False


# --- profiling ------------------------------------------------------------------------------------


def py_spy() -> str | None:
    return shutil.which("py-spy")


class Sampler:
    """py-spy sampling the DS's processes while the load runs: with ``gil`` only the
    thread holding the GIL (where the CPU goes), else every thread that is not idle
    (where requests wait, e.g. for a database lock). :func:`collapsed_top` reads it."""

    def __init__(self, pid: int, out: Path, seconds: float, subprocesses: bool, gil: bool) -> None:
        exe = py_spy()
        assert exe is not None
        self.out = out
        cmd = [exe, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds)))]
        cmd += ["--rate", "200", "--format", "raw", "--output", str(out)]
        if subprocesses:
            cmd.append("--subprocesses")
        if gil:
            cmd.append("--gil")
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )

    def wait(self) -> str:
        """py-spy's complaint, or "" once it wrote its samples."""
        try:
            _, err = self.proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        if self.proc.returncode != 0 or not self.out.exists():
            return err.decode(errors="replace").strip()[-500:] or "py-spy failed"
        return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


# What an operator asks of a profile: which part of the request is the floor. A sample
# counts for each area with a marker on its stack (so the shares may overlap), or for
# the areas marked "top", only when the marker is the function running.
AREAS: dict[str, tuple[tuple[str, ...], bool]] = {
    # The application runs inside the server's frames, so the server's own work is the
    # time spent *in* its functions, not under them.
    "HTTP and WebSocket code itself (service/server.py, uvicorn, httptools, starlette)": (
        ("service/server.py", "uvicorn/", "h11/", "httptools", "starlette/", "websockets/"),
        True,
    ),
    "event loop and thread hand-off (asyncio, anyio, threading)": (
        ("asyncio/", "anyio/", "threading.py", "sniffio/", "concurrent/futures"),
        True,
    ),
    "request signature verification": (("verify_with_label",), False),
    "MLS message parsing (headers)": (("read_header", "decode_message"), False),
    "handshake verification (PublicGroup)": (("group_view", "PublicGroup"), False),
    "database, all of it (store, sqlite3, psycopg)": (("service/store", "psycopg/"), False),
    "database: waiting in BEGIN/COMMIT (SQLite's write lock, fsync)": (
        ("SqliteStore._transaction",),
        True,
    ),
    "database: waiting for PostgreSQL (round trips, row locks)": (
        ("psycopg/connection.py", "psycopg/waiting.py"),
        True,
    ),
    "database: opening connections": (("_connect_gen", "SqliteStore._connect"), False),
    "JSON and base64": (("json/", "orjson", "base64"), False),
}


# Functions in which a thread waits for work (the thread pool's queue, the event loop's
# selector): samples ending there are idle threads, left out.
IDLE = ("Condition.wait ", "Queue.get ", "EpollSelector.select ", "Event.wait ", "select.epoll")
LISTEN = "Connection.notifies "  # psycopg waiting for PostgreSQL notifications (LISTEN)


def collapsed_top(raw: str, n: int = 25) -> dict[str, object]:
    """Aggregate py-spy's collapsed stacks (``frame;frame;... count`` per line), idle
    threads left out."""
    cumulative: Counter[str] = Counter()
    own: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f and not f.startswith("process ")]
        if not frames or frames[-1].startswith(IDLE) or any(LISTEN in f for f in frames):
            continue
        total += count
        names = [_frame_name(f) for f in frames]
        for name in set(names):
            cumulative[name] += count
        if names:
            own[names[-1]] += count
        for area, (markers, top_only) in AREAS.items():
            where = frames[-1:] if top_only else frames
            if any(m in f for f in where for m in markers):
                areas[area] += count
    return _shares(cumulative, own, areas, total, n)


def cprofile_top(path: Path, n: int = 25) -> dict[str, object]:
    """The same table from a cProfile file (main thread only: the event loop, HTTP,
    JSON; not the thread pool where the store and signature checks run)."""
    import pstats

    stats = pstats.Stats(str(path))
    entries = stats.stats  # type: ignore[attr-defined]
    total = max((v[3] for v in entries.values()), default=0.0)  # the outermost call
    cumulative: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for (file, line, func), (_, _, tt, ct, _) in entries.items():
        name = f"{func} ({_short(file)}:{line})"
        cumulative[name] += int(ct * 1e6)
        own[name] += int(tt * 1e6)
    return _shares(cumulative, own, Counter(), int(total * 1e6), n)


def _frame_name(frame: str) -> str:
    # "func (path/to/file.py:123)" -> "func (to/file.py)": lines vary within a function.
    func, _, where = frame.partition(" (")
    return f"{func} ({_short(where.rsplit(':', 1)[0])})"


def _short(path: str) -> str:
    parts = path.replace("\\", "/").split("/")
    return "/".join(parts[-2:])


def _shares(
    cumulative: Counter[str], own: Counter[str], areas: Counter[str], total: int, n: int
) -> dict[str, object]:
    if total <= 0:
        return {"samples": 0, "top": [], "areas": {}}
    return {
        "samples": total,
        "top": [
            {
                "function": name,
                "cumulative_pct": 100 * c / total,
                "self_pct": 100 * own[name] / total,
            }
            for name, c in cumulative.most_common(n)
        ],
        "self_top": [
            {"function": name, "self_pct": 100 * c / total} for name, c in own.most_common(n)
        ],
        "areas": {a: 100 * areas[a] / total for a in AREAS if areas[a]},
    }
