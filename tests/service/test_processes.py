"""Several DS processes on one PostgreSQL: push across processes (LISTEN/NOTIFY),
strict commit sequencing through both, ``mlswire serve --workers N``; and push delivery
through a SIGKILLed DS on both stores."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mlswire.client import Delivered, ServiceError
from mlswire.service.http import NOTIFIED_POLL_INTERVAL

from . import _mls
from .conftest import (
    ROOT,
    Backend,
    Devices,
    SendLoad,
    Server,
    fresh_pg_schema,
    make_group,
    pg_url_or_skip,
    race_sends,
    workdir,
)
from .test_push import frames_until, open_push

LOAD_SECONDS = 10.0


@pytest.fixture
def two_processes(tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    """An AS+DS process and a second DS process on one PostgreSQL schema."""
    db = fresh_pg_schema(pg_url_or_skip())
    first = Server(db, tmp_path).start()
    try:
        second = Server(db, tmp_path, "--ds", "--as-url", first.url).start()
    except BaseException:
        first.stop()
        raise
    yield first, second
    second.stop()
    first.stop()


def test_a_push_on_one_process_hears_a_send_through_the_other(
    two_processes: tuple[Server, Server],
) -> None:
    first, second = two_processes
    devices = Devices(first)
    try:
        a = devices.new("a")  # sends through the first process
        c = devices.new("c", url=second.url)  # pushed by the second
        gid = make_group(a, [c])
        with open_push(c) as ws:
            frames_until(ws, 1)  # the Welcome
            for i in range(3):
                msg = _mls.private_message(gid, 1)
                t0 = time.monotonic()
                a.send(msg)
                entries, _ = frames_until(ws, 1)
                took = time.monotonic() - t0
                assert [e["sender"] for e in entries] == [a.keys.address], i
                # Sooner than the second process re-reads the store on its own: the
                # first one's NOTIFY woke it.
                assert took < NOTIFIED_POLL_INTERVAL - 1, took
    finally:
        devices.close()


def test_commits_racing_through_both_processes_one_wins_each_epoch(
    two_processes: tuple[Server, Server],
) -> None:
    first, second = two_processes
    devices = Devices(first)
    try:
        a = devices.new("a")
        b = devices.new("b", url=second.url)
        c = devices.new("c", url=second.url)
        gid = make_group(a, [b, c])
        for q in (b, c):
            q.ack(q.fetch(limit=500)[-1].seq)
        winners: dict[int, bytes] = {}
        for epoch in range(1, 16):
            mine, theirs = _mls.commit(gid, epoch), _mls.commit(gid, epoch)
            outcomes = race_sends([a, b], [mine, theirs])
            assert sorted(o[0] for o in outcomes) == [200, 409], (epoch, outcomes)
            (winner,) = [o for o in outcomes if o[0] == 200]
            winners[epoch] = winner[2]
        assert c.group(gid)["epoch"] == 16
        # Every member's queue holds exactly the winners' commits, in epoch order: no
        # loser's commit was stored or queued for anyone.
        got = [(m.epoch, m.data) for m in c.fetch(limit=500)]
        assert got == sorted(winners.items())
        # A loser retrying the same bytes later is refused again, and changes nothing.
        with pytest.raises(ServiceError) as late:
            b.send(_mls.commit(gid, 3))
        assert late.value.status == 409
        assert c.group(gid)["epoch"] == 16
        assert [(m.epoch, m.data) for m in c.fetch(limit=500)] == got
    finally:
        devices.close()


def _serve(*args: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "mlswire", "serve", "--host", "127.0.0.1", *args],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}")


def children(pid: int) -> set[int]:
    """The live child processes of ``pid`` (Linux /proc)."""
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def test_serve_workers_runs_n_ds_processes_on_one_port(tmp_path: Path) -> None:
    from .conftest import free_port

    log = tmp_path / "serve.log"
    # Refused, with a reason: SQLite, and the AS in several processes.
    for args, says in (
        (["--ds", "--as-url", "http://127.0.0.1:9", "--db", str(tmp_path / "x.db")], "PostgreSQL"),
        (["--db", "postgresql://nobody@127.0.0.1:9/x"], "--as"),
    ):
        r = subprocess.run(
            [sys.executable, "-m", "mlswire", "serve", "--workers", "2", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 2 and says in r.stderr, r.stderr
    db = fresh_pg_schema(pg_url_or_skip())
    auth = Server(db, tmp_path).start()  # the AS (and a DS) in one process
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _serve(
        "--ds", "--as-url", auth.url, "--db", db, "--port", str(port), "--workers", "2",
        "--unverified-groups", log=log,
    )  # fmt: skip
    devices = Devices(auth)
    try:
        _wait_healthy(url, proc, log)
        workers = children(proc.pid)
        assert len(workers) == 2
        a = devices.new("a", url=url)
        receivers = [devices.new(f"r{i}", url=url) for i in range(4)]
        gid = make_group(a, receivers)
        # Each receiver holds a push connection (the workers share them out); every
        # send reaches every one, whichever worker took the send.
        with contextlib.ExitStack() as stack:
            conns = [stack.enter_context(open_push(r)) for r in receivers]
            for ws in conns:
                frames_until(ws, 1)
            sent = [_mls.private_message(gid, 1) for _ in range(10)]
            for m in sent:
                a.send(m)
            for ws in conns:
                entries, _ = frames_until(ws, len(sent))
                assert len(entries) == len(sent)
        proc.terminate()  # the supervisor stops its workers
        assert proc.wait(30) == 0
        time.sleep(0.5)
        for pid in workers:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        devices.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        auth.stop()


def test_sigkill_under_load_with_push_delivery(backend: Backend) -> None:
    """Senders load the DS while a receiver takes its queue over push and acks what it
    recorded; the DS is SIGKILLed mid-load and restarted: every send the DS
    acknowledged reaches the receiver's application exactly once (it drops entries at
    or below the seq it recorded, as the SDK does)."""
    work = workdir(backend)
    server = Server(backend.new_db(), work).start()
    devices = Devices(server)
    try:
        senders = [devices.new(f"s{i}") for i in range(3)]
        rx = devices.new("rx")
        gid = make_group(senders[0], [*senders[1:], rx])
        app: list[Delivered] = []  # what the receiving application took, in order
        through = 0

        def receive_once(wait: int) -> int:
            nonlocal through
            batch = rx.next_batch(limit=200, wait=wait)
            fresh = [m for m in batch if m.seq > through]
            app.extend(fresh)  # "durably taken", then acknowledged
            if fresh:
                through = fresh[-1].seq
            if batch:
                rx.ack(batch[-1].seq)
            return len(batch)

        load = SendLoad(gid, senders)
        deadline = time.monotonic() + LOAD_SECONDS
        while len(load.acked) < 60 and time.monotonic() < deadline:
            receive_once(1)
        pushed_before_kill = rx.pushed
        server.kill()
        load.stop()
        with pytest.raises((ServiceError, httpx.HTTPError)):
            for _ in range(20):  # the push connection is gone, and so is the DS
                receive_once(0)
        restarted = Server(server.db, work, port=server.port).start()
        try:
            load.retry_unknown()
            idle = 0
            while idle < 3:
                idle = idle + 1 if receive_once(1) == 0 else 0
        finally:
            restarted.stop()
        assert pushed_before_kill > 0 and rx.pushed > pushed_before_kill, "push was not used"
        load.check_delivered([m.data for m in app if m.kind == "message"])
        assert [m.seq for m in app] == sorted(m.seq for m in app)
    finally:
        devices.close()
        server.stop()


def test_push_frames_are_json_the_bench_can_read(backend: Backend, tmp_path: Path) -> None:
    """The wire shapes the load generator codes against: entries as the queue's JSON."""
    server = Server(backend.new_db(), tmp_path).start()
    devices = Devices(server)
    try:
        a, b = devices.new("a"), devices.new("b")
        gid = make_group(a, [b])
        with open_push(b) as ws:
            entries, frames = frames_until(ws, 1)
            assert set(frames[0]) == {"messages"}
            assert set(entries[0]) == {
                "seq", "kind", "group_id", "sender", "epoch", "content_type", "data",
                "received_at",
            }  # fmt: skip
            assert entries[0]["kind"] == "welcome"
            ws.send(json.dumps({"ack": entries[0]["seq"]}))
            deadline = time.monotonic() + 10
            while b.fetch() and time.monotonic() < deadline:  # the ack's batch is written
                time.sleep(0.05)
            assert b.fetch() == []
        assert gid
    finally:
        devices.close()
        server.stop()
