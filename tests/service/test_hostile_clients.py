"""Hostile clients against a real `mlswire serve` (SQLite and PostgreSQL).

Each attempt is refused with a 4xx and leaves the DS state as it was: the group's
epoch, roster and GroupInfo and the members' queues are read back and compared; then
the members keep committing and messaging. A non-member learns nothing about a group
from a refusal (no epoch, no roster).

Issue 15 grows this suite: the DS verifying commits and proposals against its own view
of the group (forged signatures, junk commits and forged roster changes from members)
comes with the engine's public-group type; the cases here hold without it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from mlswire.client import ServiceClient, ServiceError
from mlswire.schema import ContentType

from . import _mls
from .conftest import Devices


class Group:
    """A group at the DS: alice (creator), bob and carol; dave is not a member."""

    def __init__(self, devices: Devices) -> None:
        self.alice, self.bob, self.carol = (devices.new(n) for n in ("alice", "bob", "carol"))
        self.dave = devices.new("dave")
        self.gid = ("hostile-" + devices.prefix).encode()
        self.alice.create_group(self.gid)
        self.alice.send(
            _mls.commit(self.gid, 0),
            welcome=_mls.welcome(),
            add=[self.bob.keys.address, self.carol.keys.address],
        )
        self.alice.put_group_info(self.gid, _mls.group_info(self.gid, 1))
        for c in (self.bob, self.carol):  # start from empty queues
            msgs = c.fetch(limit=500)
            c.ack(msgs[-1].seq)

    def state(self) -> dict[str, Any]:
        """Everything the DS holds about the group, read back through members."""
        g = self.alice.group(self.gid)
        try:
            info: bytes | None = self.alice.group_info(self.gid)
        except ServiceError as e:
            assert e.status == 404, e.message
            info = None
        return {
            "epoch": g["epoch"],
            "members": sorted(g["members"]),
            "group_info": info,
            "queues": {c.keys.address: [m.data for m in c.fetch(limit=500)] for c in self.others},
        }

    @property
    def others(self) -> list[ServiceClient]:
        return [self.bob, self.carol, self.dave]

    def still_works(self) -> None:
        """The members commit and message as before."""
        epoch = self.alice.group(self.gid)["epoch"]
        assert self.bob.send(_mls.commit(self.gid, epoch))["epoch"] == epoch + 1
        msg = _mls.private_message(self.gid, epoch + 1)
        self.carol.send(msg)
        assert msg in [m.data for m in self.alice.fetch(limit=500)]


@pytest.fixture
def group(devices: Devices) -> Group:
    return Group(devices)


def refused(attempt: Callable[[], object], status: int) -> str:
    with pytest.raises(ServiceError) as e:
        attempt()
    assert e.value.status == status, e.value.message
    return e.value.message


def test_privatemessage_handshakes_are_refused(group: Group) -> None:
    before = group.state()
    for content_type in (ContentType.commit, ContentType.proposal):
        message = refused(
            lambda ct=content_type: group.bob.send(_mls.private_message(group.gid, 1, ct)), 400
        )
        assert "PublicMessage" in message
    assert group.state() == before
    group.still_works()


def test_a_non_member_learns_nothing_about_the_group(group: Group) -> None:
    before = group.state()
    probes = [
        lambda: group.dave.group(group.gid),
        lambda: group.dave.group_info(group.gid),
        lambda: group.dave.send(_mls.private_message(group.gid, 1)),
        lambda: group.dave.send(_mls.proposal(group.gid, 1)),
        lambda: group.dave.send(_mls.commit(group.gid, 1)),
        lambda: group.dave.put_group_info(group.gid, _mls.group_info(group.gid, 1)),
        lambda: group.dave.put_blob(group.gid, b"x"),
    ]
    roster = [c.keys.address for c in (group.alice, group.bob, group.carol)]
    for probe in probes:
        message = refused(probe, 403)
        assert not any(a in message for a in roster), message
        assert "epoch" not in message, message
    assert group.state() == before
    group.still_works()


@pytest.mark.parametrize("epoch", [0, 5, 2**40])
def test_a_wrong_epoch_external_commit_reveals_no_epoch(group: Group, epoch: int) -> None:
    before = group.state()
    message = refused(
        lambda: group.dave.send(_mls.external_commit(group.gid, epoch, group.dave.keys)), 409
    )
    assert "epoch 1" not in message and "is at" not in message, message
    assert group.alice.keys.address not in message
    assert group.state() == before
    group.still_works()


def test_an_external_commit_for_another_devices_key_is_refused(group: Group) -> None:
    before = group.state()
    refused(lambda: group.dave.send(_mls.external_commit(group.gid, 1, group.bob.keys)), 403)
    assert group.state() == before
    group.still_works()


def test_a_non_member_replaying_a_members_messages_is_refused(group: Group) -> None:
    commit = _mls.commit(group.gid, 1)
    group.bob.send(commit)
    msg = _mls.private_message(group.gid, 2)
    group.carol.send(msg)
    before = group.state()
    for data in (commit, msg):
        refused(lambda d=data: group.dave.send(d), 403)
    assert group.state() == before
    group.still_works()


def test_a_replayed_request_is_refused(group: Group) -> None:
    """The very same signed HTTP request again (nonce reused) changes nothing."""
    import httpx

    from mlswire.service.signing import sign_request

    epoch = group.alice.group(group.gid)["epoch"]
    body = json.dumps(
        {"message": base64.b64encode(_mls.commit(group.gid, epoch)).decode(), "add": []}
    ).encode()
    k = group.bob.keys
    headers = {
        "content-type": "application/json",
        "authorization": sign_request(
            k.suite, k.signature_private_key, k.address, "POST", "/v1/messages", body
        ),
    }
    first = httpx.post(group.bob.ds_url + "/v1/messages", content=body, headers=headers)
    assert first.status_code == 200
    before = group.state()
    again = httpx.post(group.bob.ds_url + "/v1/messages", content=body, headers=headers)
    assert again.status_code == 401 and "replayed" in again.json()["error"]
    assert group.state() == before
    group.still_works()


def test_a_non_member_cannot_tell_a_group_from_no_group(group: Group) -> None:
    """Every probe of an existing group is answered as the same probe of a group that
    does not exist (403, the same message but for the id): not even existence leaks."""
    nothing = b"no-such-" + group.gid

    def probes(gid: bytes) -> list[Callable[[], object]]:
        return [
            lambda: group.dave.group(gid),
            lambda: group.dave.group_info(gid),
            lambda: group.dave.send(_mls.private_message(gid, 1)),
            lambda: group.dave.send(_mls.commit(gid, 1)),
            lambda: group.dave.put_group_info(gid, _mls.group_info(gid, 1)),
            lambda: group.dave.put_blob(gid, b"x"),
            lambda: group.dave.get_blob(gid, "00" * 32),
        ]

    before = group.state()
    for real, absent in zip(probes(group.gid), probes(nothing), strict=True):
        seen = refused(real, 403).replace(group.gid.hex(), "<gid>")
        assert seen == refused(absent, 403).replace(nothing.hex(), "<gid>")
    assert group.state() == before
    group.still_works()
