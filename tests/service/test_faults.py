"""Crash safety and several DS processes on one database (SQLite file or PostgreSQL)."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from mlswire.client import Event, MLSClient, ServiceClient, ServiceError
from mlswire.codecs import tls
from mlswire.schema import MLSMessage

from . import _mls
from .conftest import Backend, Devices, Net, SendLoad, Server, make_group, race_sends, workdir

LOAD_SECONDS = 10.0  # upper bound on the load phase


def drain_all(c: ServiceClient) -> list[bytes]:
    out: list[bytes] = []
    for _ in range(200):
        msgs = c.fetch(limit=500)
        if not msgs:
            return out
        out += [m.data for m in msgs if m.kind == "message"]
        c.ack(msgs[-1].seq)
    raise AssertionError("queue did not drain")


def test_sigkill_under_load_keeps_every_acknowledged_message(backend: Backend) -> None:
    work = workdir(backend)
    server = Server(backend.new_db(), work).start()
    devices = Devices(server)
    try:
        senders = [devices.new(f"s{i}") for i in range(4)]
        rx = devices.new("rx")
        gid = make_group(senders[0], [*senders[1:], rx])
        load = SendLoad(gid, senders)
        deadline = time.monotonic() + LOAD_SECONDS
        while len(load.acked) < 60 and time.monotonic() < deadline:
            time.sleep(0.02)
        server.kill()  # SIGKILL while the senders are sending
        load.stop()

        restarted = Server(server.db, work, port=server.port).start()
        try:
            load.retry_unknown()
            got = drain_all(rx)
        finally:
            restarted.stop()
        load.check_delivered(got)
        # Per sender, the order of acknowledged sends is the delivery order.
        for c in senders:
            tags = [tls.decode(m, MLSMessage).private_message.ciphertext for m in got]
            prefix = f"{c.keys.address}#".encode()
            seqs = [int(t.split(b"#")[1]) for t in tags if t.startswith(prefix)]
            assert seqs == sorted(seqs)
    finally:
        devices.close()
        server.stop()


def test_two_ds_processes_share_one_database(backend: Backend) -> None:
    work = workdir(backend)
    db = backend.new_db()
    first = Server(db, work).start()
    second = Server(db, work, "--ds", "--as-url", first.url).start()
    devices = Devices(first)
    try:
        a = devices.new("a")
        b = devices.new("b", url=second.url)
        c = devices.new("c", url=second.url)
        gid = make_group(a, [b, c])
        # Commits for the same epoch race through different processes: exactly one wins.
        for epoch in range(1, 11):
            outcomes = race_sends([a, b], [_mls.commit(gid, epoch), _mls.commit(gid, epoch)])
            assert sorted(o[0] for o in outcomes) == [200, 409], (epoch, outcomes)
        assert c.group(gid)["epoch"] == 11
        # A message sent through one process reaches a long-poll on the other.
        c.ack(c.fetch(limit=500)[-1].seq)
        msg = _mls.private_message(gid, 11)
        timer = threading.Timer(0.3, lambda: a.send(msg))
        timer.start()
        got = c.fetch(wait=10)
        timer.join()
        assert [m.data for m in got] == [msg]
    finally:
        devices.close()
        second.stop()
        first.stop()


class SimulatedCrash(Exception):
    """The receiving process dies (here: between processing a batch and its ack)."""


def test_receiver_gets_every_acknowledged_message_once_through_ack_failures_and_sigkill(
    backend: Backend,
) -> None:
    """Acks fail, the DS is SIGKILLed between a batch's processing and its ack, and the
    receiving process itself dies there once: every message the DS acknowledged to the
    sender reaches the application exactly once, with no "already used" noise."""
    work = workdir(backend)
    server = Server(backend.new_db(), work).start()
    devices = Devices(server)
    net = Net(server, work, devices)
    try:
        alice, bob = net.new("alice"), net.new("bob")
        gid = alice.create_group()
        alice.invite(gid, net.user("bob"))
        assert [e.kind for e in bob.receive()] == ["joined"]

        acked: list[bytes] = []

        def send(n: int, start: int) -> None:
            for i in range(start, start + n):
                msg = f"m#{i}".encode()
                alice.send(gid, msg)  # returned: the DS acknowledged it
                acked.append(msg)

        send(30, 0)
        acks = 0

        def faulty_ack(real: Callable[[int], int], up_to: int) -> int:
            nonlocal acks
            acks += 1
            if acks in (2, 8):  # the request fails; the DS deleted nothing
                raise httpx.ConnectError("injected: ack lost")
            if acks == 4:  # the DS dies with this batch processed, not acknowledged
                assert server.proc is not None
                server.kill()
            if acks == 6:
                raise SimulatedCrash
            return real(up_to)

        def install(c: MLSClient) -> None:
            real = c.service.ack
            c.service.ack = lambda up_to: faulty_ack(real, up_to)  # type: ignore[method-assign]

        install(bob)
        got: list[bytes] = []
        noise: list[Event] = []
        restarts = crashes = 0
        phase2_sent = False
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                events = bob.receive(limit=3)
            except SimulatedCrash:
                crashes += 1
                bob.service.close()  # no close(): a crash takes nothing as taken
                bob = MLSClient.load(bob.dir)
                net.clients.append(bob)
                install(bob)
                continue
            except (ServiceError, httpx.HTTPError):
                assert server.proc is not None
                if server.proc.poll() is not None:  # the DS is down: restart it
                    server = Server(server.db, work, port=server.port).start()
                    restarts += 1
                continue
            got += [e.data for e in events if e.kind == "message"]
            noise += [e for e in events if e.kind != "message"]
            if set(acked) <= set(got) and not events:
                if phase2_sent:
                    break
                send(10, 30)  # after the restart, through the new DS process
                phase2_sent = True
        assert (restarts, crashes) == (1, 1) and acks > 8, "the faults did not all happen"
        assert noise == []
        counts = collections.Counter(got)
        assert [m for m, n in counts.items() if n > 1] == [], "delivered twice"
        assert [m for m in acked if m not in counts] == [], "acknowledged but lost"
        assert got == acked  # and in order
    finally:
        net.close()
        devices.close()
        server.stop()


def test_a_crash_while_saving_a_batch_is_finished_from_the_journal(
    net: Net, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process dies after the journal of a processed batch is written and before
    the files it changes are: the next load applies the journal, so the group state
    and the batch's events agree (nothing processed twice, nothing lost)."""
    import mlswire.service.client as sdk

    alice, bob = net.new("alice"), net.new("bob")
    gid = alice.create_group()
    alice.invite(gid, net.user("bob"))
    bob.receive()
    alice.send(gid, b"one")
    alice.update(gid)
    alice.send(gid, b"two")

    def crash(state_dir: Path, journal: dict[str, object]) -> None:
        raise SimulatedCrash

    monkeypatch.setattr(sdk, "_apply_journal", crash)
    with pytest.raises(SimulatedCrash):
        bob.receive()
    monkeypatch.undo()
    assert (bob.dir / sdk.JOURNAL_FILE).exists()
    bob.service.close()
    bob = MLSClient.load(bob.dir)
    net.clients.append(bob)
    assert not (bob.dir / sdk.JOURNAL_FILE).exists()
    assert bob.groups[gid].epoch == alice.groups[gid].epoch
    events = bob.receive()
    assert [(e.kind, e.data) for e in events] == [
        ("message", b"one"),
        ("commit", b""),
        ("message", b"two"),
    ]
    bob.events_taken()
    alice.send(gid, b"three")
    assert [(e.kind, e.data) for e in bob.receive()] == [("message", b"three")]
