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

from mlswire.client import MLSClient, ServiceClient, ServiceError
from mlswire.schema import ContentType

from . import _mls
from .conftest import Devices, Net


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


# --- groups the DS follows (real MLS: the DS verifies every handshake) -------------------


def forged(message: bytes, *, group_id: bytes | None = None) -> bytes:
    """``message`` (a PublicMessage) with a random signature, or moved to ``group_id``
    (which breaks the signature, as a replay into another group would)."""
    import os

    import msgspec

    from mlswire.codecs import tls
    from mlswire.schema import MLSMessage

    msg = tls.decode(message, MLSMessage)
    pm = msg.public_message
    assert pm is not None
    if group_id is not None:
        pm = msgspec.structs.replace(
            pm, content=msgspec.structs.replace(pm.content, group_id=group_id)
        )
    else:
        sig = os.urandom(len(pm.auth.signature))
        pm = msgspec.structs.replace(pm, auth=msgspec.structs.replace(pm.auth, signature=sig))
    return tls.encode(msgspec.structs.replace(msg, public_message=pm), MLSMessage)


class Followed:
    """A real group (MLSClients) at a DS that verifies it: alice, bob, carol; dave is
    registered but not a member, and has been handed the GroupInfo out of band."""

    def __init__(self, net: Net) -> None:
        self.net = net
        self.alice, self.bob, self.carol, self.dave = (
            net.new(n) for n in ("alice", "bob", "carol", "dave")
        )
        self.gid = self.alice.create_group()
        self.alice.invite(self.gid, net.user("bob"), net.user("carol"))
        for c in (self.bob, self.carol):
            assert [e.kind for e in c.receive()] == ["joined"]

    @property
    def members(self) -> list[MLSClient]:
        return [self.alice, self.bob, self.carol]

    def info(self) -> bytes:
        return self.alice.service.group_info(self.gid)

    def state(self) -> dict[str, Any]:
        g = self.alice.service.group(self.gid)
        return {
            "epoch": g["epoch"],
            "members": sorted(g["members"]),
            "group_info": self.info(),
            "queues": {
                c.address: [m.data for m in c.service.fetch(limit=500)]
                for c in (*self.members, self.dave)
            },
        }

    def external_commit(self, joiner: MLSClient, info: bytes | None = None) -> bytes:
        _, commit = joiner.engine.join_by_external_commit(info or self.info(), config=joiner.config)
        return commit

    def member_commit(self, c: MLSClient) -> bytes:
        """A valid commit of ``c`` for the current epoch, left pending (not sent)."""
        out = c.groups[self.gid].commit()
        c.groups[self.gid].clear_pending_commit()
        commit: bytes = out.commit
        return commit

    def still_works(self) -> None:
        """Every member commits and messages, and all stay in step."""
        for c in self.members:
            c.receive()
        self.bob.update(self.gid)
        self.carol.send(self.gid, b"still here")
        for c in (self.alice, self.bob):
            got = [(e.sender, e.data) for e in c.receive() if e.kind == "message"]
            assert got == [(self.carol.address, b"still here")]
        self.carol.receive()
        groups = [c.groups[self.gid] for c in self.members]
        assert len({(g.epoch, g.epoch_authenticator) for g in groups}) == 1
        assert self.alice.service.group(self.gid)["epoch"] == groups[0].epoch


@pytest.fixture
def followed(net: Net) -> Followed:
    return Followed(net)


def outsider_refusal(
    f: Followed, attempt: Callable[[bytes], object], data: bytes, gid: bytes | None = None
) -> None:
    """A non-member's refusal is 403 and reads exactly as for a group that does not
    exist: no epoch, no roster, not even existence."""
    seen = refused(lambda: attempt(data), 403)
    assert seen == f"{f.dave.address} is not a member of group {(gid or f.gid).hex()}", seen


def test_a_forged_external_commit_from_a_non_member_is_refused(followed: Followed) -> None:
    f = followed
    before = f.state()
    outsider_refusal(f, f.dave.service.send, forged(f.external_commit(f.dave)))
    assert f.state() == before
    f.still_works()


def test_wrong_epoch_replayed_and_wrong_group_external_commits_are_refused(
    followed: Followed,
) -> None:
    f = followed
    stale = f.external_commit(f.dave)  # valid now, stale after the next commit
    f.alice.update(f.gid)
    before = f.state()
    outsider_refusal(f, f.dave.service.send, stale)
    other = f.alice.create_group()  # the same commit moved to another group
    moved = forged(f.external_commit(f.dave), group_id=other)
    outsider_refusal(f, f.dave.service.send, moved, other)
    assert f.state() == before
    f.still_works()


def test_a_non_members_proposal_is_refused(followed: Followed) -> None:
    f = followed
    proposal = f.bob.groups[f.gid].propose_remove(f.carol.groups[f.gid].own_leaf_index)
    f.bob.groups[f.gid].clear_pending_proposals()
    before = f.state()
    outsider_refusal(f, f.dave.service.send, proposal)  # replayed by a non-member
    assert f.state() == before
    f.still_works()


def test_a_valid_external_commit_still_adds_the_joiner(followed: Followed) -> None:
    f = followed
    epoch = f.alice.service.group(f.gid)["epoch"]
    group, commit = f.dave.engine.join_by_external_commit(f.info(), config=f.dave.config)
    assert f.dave.service.send(commit, group_info=group.group_info())["epoch"] == epoch + 1
    assert f.dave.address in f.alice.service.group(f.gid)["members"]
    for c in f.members:
        assert [e.kind for e in c.receive()] == ["commit"]
        assert c.groups[f.gid].epoch_authenticator == group.epoch_authenticator


def test_junk_and_mis_signed_commits_from_members_are_refused(followed: Followed) -> None:
    f = followed
    before = f.state()
    mis_signed = forged(f.member_commit(f.bob))
    assert "signature" in refused(lambda: f.bob.service.send(mis_signed), 400)
    # bob's valid commit sent by carol: the DS takes a handshake only from its signer.
    refused(lambda: f.carol.service.send(f.member_commit(f.bob)), 403)
    # bob's valid proposal replayed by carol, likewise.
    proposal = f.bob.groups[f.gid].propose_remove(f.carol.groups[f.gid].own_leaf_index)
    f.bob.groups[f.gid].clear_pending_proposals()
    refused(lambda: f.carol.service.send(proposal), 403)
    # A commit with a GroupInfo that is not the new epoch's (the current one).
    refused(lambda: f.bob.service.send(f.member_commit(f.bob), group_info=f.info()), 400)
    # A GroupInfo upload that is not the group's current one (forged signature).
    refused(lambda: f.bob.service.put_group_info(f.gid, forged_group_info(f.info())), 400)
    assert f.state() == before
    f.still_works()


def forged_group_info(data: bytes) -> bytes:
    import msgspec

    from mlswire.codecs import tls
    from mlswire.schema import MLSMessage

    msg = tls.decode(data, MLSMessage)
    assert msg.group_info is not None
    info = msgspec.structs.replace(msg.group_info, signature=bytes(len(msg.group_info.signature)))
    return tls.encode(msgspec.structs.replace(msg, group_info=info), MLSMessage)


def test_a_members_roster_claims_are_ignored(followed: Followed) -> None:
    """The roster follows the verified commit: ``add``/``remove`` beside a commit that
    adds and removes nobody change nothing; a real Remove does remove."""
    f = followed
    roster = sorted(f.alice.service.group(f.gid)["members"])
    group = f.bob.groups[f.gid]
    out = group.commit()
    f.bob.service.send(out.commit, add=[f.dave.address], remove=[f.alice.address, f.carol.address])
    group.merge_pending_commit()
    assert sorted(f.alice.service.group(f.gid)["members"]) == roster
    f.still_works()
    f.alice.remove(f.gid, f.carol.address)
    assert f.carol.address not in f.alice.service.group(f.gid)["members"]


def test_a_bad_but_validly_signed_commit_is_recovered_by_resync(
    followed: Followed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bob's client seals garbage as the path secrets of its commit: signed, tagged and
    confirmed by bob, so the DS (which cannot open path ciphertexts) sequences it, and
    alice and carol cannot process it. They are told to rejoin ("behind"), do, and the
    whole group works again."""
    import os

    from mlswire.crypto import labeled

    f = followed
    seal = labeled.LabeledEncryptor.encrypt

    def garbage(self: Any, public_key: bytes, plaintext: bytes, **kw: Any) -> tuple[bytes, bytes]:
        kem_output, ct = seal(self, public_key, plaintext, **kw)
        return kem_output, os.urandom(len(ct))

    with monkeypatch.context() as m:
        m.setattr(labeled.LabeledEncryptor, "encrypt", garbage)
        f.bob.update(f.gid)
    epoch = f.bob.groups[f.gid].epoch
    assert f.alice.service.group(f.gid)["epoch"] == epoch  # the DS took it
    for c in (f.alice, f.carol):
        events = c.receive()
        # bob's commit, then (for carol) alice's rejoin of the epoch carol cannot reach
        assert {e.kind for e in events} == {"behind"}, events
        assert "rejoin()" in events[0].detail and events[0].epoch == epoch - 1
        assert c.groups[f.gid].epoch == epoch - 1  # stranded
        c.rejoin(f.gid)
    for c in f.members:
        c.receive()
    f.still_works()
    assert sorted(f.alice.service.group(f.gid)["members"]) == sorted(c.address for c in f.members)
    assert sorted(a for a in f.alice.members(f.gid).values() if a) == sorted(
        c.address for c in f.members
    )  # the stranded leaves were replaced, not duplicated


def test_a_verified_proposal_is_committed_by_reference(followed: Followed) -> None:
    """The honest path through the view: carol leaves (a self-remove proposal, cached
    by the DS's view), alice's next commit covers it, and the roster drops carol."""
    f = followed
    f.carol.leave(f.gid)
    assert [e.kind for e in f.alice.receive()] == ["proposal"]
    assert [e.kind for e in f.bob.receive()] == ["proposal"]
    f.alice.update(f.gid)  # commits the cached proposal by reference
    assert f.carol.address not in f.alice.service.group(f.gid)["members"]
    assert [e.kind for e in f.bob.receive()] == ["commit"]
    assert sorted(a for a in f.bob.members(f.gid).values() if a) == sorted(
        [f.alice.address, f.bob.address]
    )
