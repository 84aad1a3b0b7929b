"""Push delivery over a WebSocket (``GET .../push?after=N``), against SQLite and
PostgreSQL: the same entries as the queue, acks on the connection, refusals before the
upgrade, and the SDK's use of it (with long-poll as the fallback)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from mlswire.client import MLSClient, ServiceClient
from mlswire.service.signing import sign_request

from . import _mls
from .conftest import Devices, Net

FRAME_TIMEOUT = 10.0


def open_push(c: ServiceClient, after: int = 0) -> ClientConnection:
    url, auth = c.push_url(after)
    return connect(url, additional_headers={"authorization": auth}, open_timeout=10)


def frames_until(ws: ClientConnection, n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Read frames until ``n`` queue entries came; (entries, every frame read)."""
    entries: list[dict[str, Any]] = []
    frames: list[dict[str, Any]] = []
    deadline = time.monotonic() + FRAME_TIMEOUT
    while len(entries) < n:
        frame = json.loads(ws.recv(timeout=max(0.0, deadline - time.monotonic())))
        frames.append(frame)
        entries += frame.get("messages", [])
    return entries, frames


def reply(ws: ClientConnection) -> dict[str, Any]:
    """The next frame that is not a push of entries (an error)."""
    deadline = time.monotonic() + FRAME_TIMEOUT
    while True:
        frame: dict[str, Any] = json.loads(ws.recv(timeout=max(0.0, deadline - time.monotonic())))
        if "messages" not in frame:
            return frame


def group(owner: ServiceClient, members: list[ServiceClient], devices: Devices) -> bytes:
    gid = ("p-" + devices.prefix + "-" + str(len(devices.clients))).encode()
    owner.create_group(gid)
    owner.send(_mls.commit(gid, 0), welcome=_mls.welcome(), add=[m.keys.address for m in members])
    return gid


def test_push_sends_what_the_queue_holds_then_new_entries_at_once(devices: Devices) -> None:
    alice, bob = devices.new("alice"), devices.new("bob")
    gid = group(alice, [bob], devices)
    before = [_mls.private_message(gid, 1) for _ in range(5)]
    for m in before:
        alice.send(m)
    queued = bob.fetch(limit=500)
    assert len(queued) == 1 + 5  # the welcome, then the messages
    with open_push(bob) as ws:
        entries, _ = frames_until(ws, len(queued))
        # The queue's own objects, in seq order, each once.
        assert [e["seq"] for e in entries] == [m.seq for m in queued]
        assert [e["kind"] for e in entries] == [m.kind for m in queued]
        assert [e["data"] for e in entries[1:]] == [
            base64.b64encode(m).decode() for m in before
        ]
        # Entries sent while connected arrive without asking.
        later = [_mls.private_message(gid, 1) for _ in range(3)]
        t0 = time.monotonic()
        for m in later:
            alice.send(m)
        pushed, _ = frames_until(ws, 3)
        assert time.monotonic() - t0 < 5
        assert [e["seq"] for e in pushed] == [queued[-1].seq + i for i in (1, 2, 3)]
        # Acks travel on the connection, unanswered: the next frame that is not a
        # push answers the bad frame sent after the ack.
        ws.send(json.dumps({"ack": queued[-1].seq}))
        ws.send("not json")
        assert reply(ws)["status"] == 400
        # Written in a batch soon after: what was acknowledged is deleted.
        deadline = time.monotonic() + FRAME_TIMEOUT
        while len(left := bob.fetch()) > len(pushed) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert [m.seq for m in left] == [e["seq"] for e in pushed]


def test_push_starts_after_n_and_sends_each_seq_once(devices: Devices) -> None:
    alice, bob = devices.new("alice"), devices.new("bob")
    gid = group(alice, [bob], devices)
    for _ in range(4):
        alice.send(_mls.private_message(gid, 1))
    seqs = [m.seq for m in bob.fetch()]
    with open_push(bob, after=seqs[1]) as ws:
        entries, _ = frames_until(ws, len(seqs) - 2)
        assert [e["seq"] for e in entries] == seqs[2:]
        alice.send(_mls.private_message(gid, 1))
        more, _ = frames_until(ws, 1)
        assert [e["seq"] for e in more] == [seqs[-1] + 1]  # nothing sent again


def test_bad_frames_get_an_error_and_change_nothing(devices: Devices) -> None:
    alice, bob = devices.new("alice"), devices.new("bob")
    gid = group(alice, [bob], devices)
    alice.send(_mls.private_message(gid, 1))
    queued = [m.seq for m in bob.fetch()]
    with open_push(bob) as ws:
        frames_until(ws, len(queued))
        for bad in ("not json", "[1]", '{"ack": -1}', '{"ack": "3"}', '{"ack": true}', '{"x": 1}'):
            ws.send(bad)
            answer = reply(ws)
            assert answer["status"] == 400 and isinstance(answer["error"], str), (bad, answer)
        ws.send(b'{"ack": 99}')  # a binary frame
        assert reply(ws)["status"] == 400
    assert [m.seq for m in bob.fetch()] == queued


def test_push_upgrade_is_refused_to_others_before_accepting(devices: Devices) -> None:
    alice, bob = devices.new("alice"), devices.new("bob")
    url, _ = bob.push_url()
    # Alice signs a request for bob's push: authenticated, but not the owner.
    target = url.split(bob.ds_url.split("://", 1)[1], 1)[1]
    k = alice.keys
    forged = sign_request(k.suite, k.signature_private_key, k.address, "GET", target, b"")
    with pytest.raises(InvalidStatus) as refused:
        connect(url, additional_headers={"authorization": forged}, open_timeout=10)
    assert refused.value.response.status_code == 403
    assert "cannot read the queue" in json.loads(refused.value.response.body)["error"]
    # Unsigned, and signed over another target (the query is part of it): 401.
    with pytest.raises(InvalidStatus) as unsigned:
        connect(url, open_timeout=10)
    assert unsigned.value.response.status_code == 401
    _, auth = bob.push_url(after=0)
    with pytest.raises(InvalidStatus) as moved:
        connect(url.replace("after=0", "after=5"), additional_headers={"authorization": auth})
    assert moved.value.response.status_code == 401


def test_the_sdk_receives_over_push_and_falls_back_to_long_poll(
    net: Net, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = net.new("alice"), net.new("bob")
    gid = alice.create_group()
    alice.invite(gid, net.user("bob"))
    assert [e.kind for e in bob.receive()] == ["joined"]
    assert bob.service._push is not None  # the SDK holds a push connection
    alice.send(gid, b"one")
    assert [(e.kind, e.data) for e in bob.receive(wait=5)] == [("message", b"one")]
    # The DS refuses the upgrade with a status other than 401/403 (here 400: the URL's
    # query is spoiled), as a DS without push or a proxy without WebSockets would:
    # the SDK long-polls instead (401/403 are raised, as for the queue).
    carol = net.new("carol")
    real = carol.service.push_url
    monkeypatch.setattr(
        carol.service, "push_url", lambda after=0: (real(after)[0] + "x", real(after)[1])
    )
    alice.invite(gid, net.user("carol"))
    assert [e.kind for e in carol.receive(wait=5)] == ["joined"]
    assert carol.service._push is None
    alice.send(gid, b"two")
    got = [(e.kind, e.data) for e in carol.receive(wait=5)]
    assert got == [("message", b"two")]
    assert [(e.kind, e.data) for e in bob.receive(wait=5)] == [("commit", b""), ("message", b"two")]


def test_a_batch_not_saved_is_pushed_again(net: Net, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch handed out over push but not saved (the save failed) is not lost: the
    SDK drops the connection and the next one sends it again."""
    alice, bob = net.new("alice"), net.new("bob")
    gid = alice.create_group()
    alice.invite(gid, net.user("bob"))
    bob.receive()
    alice.send(gid, b"kept")

    def fail(group_ids: Any, key_packages_used: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(bob, "_save_batch", fail)
    with pytest.raises(OSError):
        bob.receive(wait=5)
    assert bob.service._push is None  # dropped: what it handed out was not saved
    bob = net.reload(bob)  # the in-memory group moved on unsaved: a restart
    assert [(e.kind, e.data) for e in bob.receive(wait=5)] == [("message", b"kept")]


def test_push_channel_of_a_client_survives_without_duplicates(net: Net) -> None:
    alice, bob = net.new("alice"), net.new("bob")
    gid = alice.create_group()
    alice.invite(gid, net.user("bob"))
    bob.receive()
    sent = [f"m{i}".encode() for i in range(25)]
    for m in sent:
        alice.send(gid, m)
    got: list[bytes] = []
    deadline = time.monotonic() + 30
    while len(got) < len(sent) and time.monotonic() < deadline:
        got += [e.data for e in bob.receive(wait=2, limit=4) if e.kind == "message"]
    assert got == sent
    assert isinstance(bob, MLSClient) and bob.service._push is not None
