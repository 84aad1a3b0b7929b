"""End to end: MLS clients (the engine, through mlswire.client) talking through the AS
and the DS over real HTTP, against the SQLite and the PostgreSQL store. Each test
asserts an RFC 9750 property, not just that calls succeed."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from mlswire.client import Event, MLSClient, ServiceError
from mlswire.engine.proposals import ValidationPolicy
from mlswire.errors import MLSError

from .conftest import Backend, Devices, Net, Server, dump_store


def kinds(events: list[Event]) -> list[str]:
    return [e.kind for e in events]


def messages(events: list[Event]) -> list[tuple[str | None, bytes]]:
    return [(e.sender, e.data) for e in events if e.kind == "message"]


def in_sync(gid: bytes, *clients: MLSClient) -> None:
    groups = [c.groups[gid] for c in clients]
    assert len({g.epoch for g in groups}) == 1
    assert len({g.epoch_authenticator for g in groups}) == 1


def test_two_clients_chat_and_survive_a_restart(net: Net) -> None:
    alice, bob = net.new("alice"), net.new("bob")
    gid = alice.create_group()
    assert alice.invite(gid, net.user("bob")) == [bob.address]
    assert kinds(bob.receive()) == ["joined"]
    alice.send(gid, b"hi bob")
    assert messages(bob.receive()) == [(alice.address, b"hi bob")]
    bob = net.reload(bob)  # restarted: state from disk
    bob.send(gid, b"hi alice")
    alice.send(gid, b"still there?")
    assert messages(alice.receive()) == [(bob.address, b"hi alice")]
    assert messages(bob.receive()) == [(alice.address, b"still there?")]
    in_sync(gid, alice, bob)


@pytest.mark.parametrize("dies", ["after the DS took it", "before it was sent"])
def test_commit_of_a_crashed_process_is_settled_after_the_restart(
    net: Net, monkeypatch: pytest.MonkeyPatch, dies: str
) -> None:
    """A commit is saved, pending, before it leaves: whether the DS took it or never
    saw it, the restarted device sends it again and merges it (the DS recognises a
    resent message and answers as the first time), and the group goes on."""
    from mlswire.engine.group import Group

    alice, bob, carol = net.new("alice"), net.new("bob"), net.new("carol")
    gid = alice.create_group()
    alice.invite(gid, net.user("bob"))
    bob.receive()

    class Crash(Exception):
        pass

    def crash(*_: object, **__: object) -> None:
        raise Crash

    if dies == "before it was sent":
        monkeypatch.setattr(alice.service, "send", crash)
    else:
        monkeypatch.setattr(Group, "merge_pending_commit", crash)
    with pytest.raises(Crash):
        alice.invite(gid, net.user("carol"))  # a commit with a Welcome and an added device
    monkeypatch.undo()
    alice = net.reload(alice)
    assert alice.groups[gid].pending_commit is not None
    alice.receive()  # settles the commit first
    assert alice.groups[gid].pending_commit is None
    assert kinds(bob.receive()) == ["commit"]
    assert kinds(carol.receive()) == ["joined"]
    in_sync(gid, alice, bob, carol)
    assert sorted(a for a in alice.members(gid).values() if a) == sorted(
        [alice.address, bob.address, carol.address]
    )
    alice.send(gid, b"after the restart")
    assert messages(carol.receive()) == [(alice.address, b"after the restart")]


def test_asynchronous_delivery_member_offline_for_several_epochs(net: Net) -> None:
    alice, bob, carol = net.new("alice"), net.new("bob"), net.new("carol")
    gid = alice.create_group()
    alice.invite(gid, net.user("bob"), net.user("carol"))
    bob.receive()
    carol.receive()
    carol.close()  # carol goes offline
    expected = []
    for i in range(4):
        alice.send(gid, f"a{i}".encode())
        expected.append((alice.address, f"a{i}".encode()))
        (alice if i % 2 else bob).update(gid)  # a new epoch each time (key update)
        alice.receive()
        bob.receive()
    carol = net.reload(carol)
    events = carol.receive(limit=500)
    assert messages(events) == expected  # every message, in order, across 4 epochs
    assert kinds(events).count("commit") == 4
    in_sync(gid, alice, bob, carol)


def test_multiple_devices_per_user_and_adding_a_device(net: Net) -> None:
    alice = net.new("alice")
    bob_phone = net.new("bob", "phone")
    bob_laptop = net.new("bob", "laptop", approver=bob_phone)
    gid = alice.create_group()
    assert sorted(alice.invite(gid, net.user("bob"))) == [bob_laptop.address, bob_phone.address]
    for d in (bob_phone, bob_laptop):
        assert kinds(d.receive()) == ["joined"]
    # A new device, approved by one of bob's devices, is added with the next invite.
    with pytest.raises(ServiceError):
        net.new("bob", "tablet")  # not approved: refused by the AS
    bob_tablet = net.new("bob", "tablet2", approver=bob_laptop)
    assert alice.invite(gid, net.user("bob")) == [bob_tablet.address]
    bob_phone.receive()
    bob_laptop.receive()
    assert kinds(bob_tablet.receive()) == ["joined"]
    alice.send(gid, b"to all of bob")
    for d in (bob_phone, bob_laptop, bob_tablet):
        assert messages(d.receive()) == [(alice.address, b"to all of bob")]
    in_sync(gid, alice, bob_phone, bob_laptop, bob_tablet)


def test_removed_member_saved_state_cannot_decrypt_later_messages(net: Net) -> None:
    alice, bob, carol = net.new("alice"), net.new("bob"), net.new("carol")
    gid = alice.create_group()
    alice.invite(gid, net.user("bob"), net.user("carol"))
    bob.receive()
    carol.receive()
    stolen = carol.groups[gid].to_bytes()  # carol's state, saved before her removal
    alice.remove(gid, carol.address)
    assert kinds(carol.receive()) == ["removed"]
    assert gid not in carol.groups
    bob.receive()
    ciphertext = alice.groups[gid].encrypt(b"after carol left")
    alice.service.send(ciphertext)
    assert messages(bob.receive()) == [(alice.address, b"after carol left")]
    assert carol.receive() == []  # the DS no longer queues for her
    from mlswire.engine.group import Group

    old = Group.from_bytes(stolen, carol.engine)
    with pytest.raises(MLSError):
        old.process(ciphertext)


def test_concurrent_commits_one_wins_everyone_converges(net: Net) -> None:
    members = [net.new(n) for n in ("alice", "bob", "carol", "dave")]
    gid = members[0].create_group()
    members[0].invite(gid, *(net.user(n) for n in ("bob", "carol", "dave")))
    for m in members[1:]:
        m.receive()
    errors: list[BaseException] = []

    def update(c: MLSClient) -> None:
        try:
            c.update(gid)  # on 409 the SDK processes the winner's commit and retries
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=update, args=(c,)) for c in members[1:]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    for m in members:
        m.receive(limit=500)
    in_sync(gid, *members)
    assert members[0].groups[gid].epoch == 1 + 3  # every update landed, one per epoch


def test_recovery_after_state_loss_by_external_commit(net: Net) -> None:
    alice = net.new("alice")
    bob_phone, bob_laptop = net.new("bob", "phone"), None
    bob_laptop = net.new("bob", "laptop", approver=bob_phone)
    gid = alice.create_group()
    alice.invite(gid, net.user("bob"))
    bob_phone.receive()
    bob_laptop.receive()
    # bob's phone loses everything; his laptop approves the phone's new key.
    shutil.rmtree(bob_phone.dir)
    bob_phone.close()
    phone = MLSClient.register(
        net.tmp / "bob-phone-new",
        net.user("bob"),
        "phone",
        net.server.url,
        approver=bob_laptop.service.keys,
        key_packages=1,
    )
    net.clients.append(phone)
    phone.receive()  # old queued messages are unreadable now: reported, not fatal
    phone.rejoin(gid)
    for c in (alice, bob_laptop):
        # One commit: the rejoin with the lost leaf removed (same device, new cert).
        assert kinds(c.receive()) == ["commit"]
    alice.send(gid, b"welcome back")
    assert messages(phone.receive()) == [(alice.address, b"welcome back")]
    in_sync(gid, alice, bob_laptop, phone)
    assert sorted(a for a in alice.members(gid).values() if a) == sorted(
        [alice.address, bob_laptop.address, phone.address]
    )  # the lost leaf was removed


def test_key_not_certified_by_the_as_is_refused_by_every_client(net: Net) -> None:
    """Unauthorized device additions: a member whose client skips the AS check commits
    an Add of a KeyPackage the AS did not certify; an honest client refuses to build it,
    and the DS, verifying the commit with the members' policy, refuses to sequence it."""
    from mlswire.engine.group import Client
    from mlswire.service.auth_service import CertificateAuthority

    alice, bob, mallory = net.new("alice"), net.new("bob"), net.new("mallory")
    gid = alice.create_group()
    alice.invite(gid, net.user("bob"), net.user("mallory"))
    bob.receive()
    mallory.receive()
    rogue_ca = CertificateAuthority.create()
    from mlswire.crypto import cipher_suite

    sk, pk = cipher_suite(1).signature_key_pair()
    eve = Client(rogue_ca.issue(net.user("eve"), "phone", pk, 1).credential, 1, sk, pk)
    rogue_kp = eve.key_package()
    with pytest.raises(MLSError):
        alice.groups[gid].add_members([rogue_kp])  # an honest client refuses to build it
    alice.groups[gid].clear_pending_commit()
    mallory.engine.policy = ValidationPolicy()  # mallory's client is compromised
    out = mallory.groups[gid].add_members([rogue_kp])
    epoch = alice.service.group(gid)["epoch"]
    with pytest.raises(ServiceError) as refused:
        mallory.service.send(out.commit)
    assert refused.value.status == 400 and "not issued by this AS" in refused.value.message
    assert alice.service.group(gid)["epoch"] == epoch
    for honest in (alice, bob):
        assert honest.receive() == []  # nothing was sequenced


def test_group_messaging_with_50_members(net: Net) -> None:
    alice = net.new("alice")
    others = [net.new(f"u{i:02d}") for i in range(49)]
    gid = alice.create_group()
    added = alice.invite(gid, *(c.service.keys.user for c in others))
    assert len(added) == 49
    for c in others:
        assert kinds(c.receive()) == ["joined"]
    alice.send(gid, b"hello fifty")
    others[7].send(gid, b"from u07")
    for c in others:
        got = messages(c.receive())
        expected = [(alice.address, b"hello fifty")]
        if c is not others[7]:
            expected.append((others[7].address, b"from u07"))
        assert got == expected
    assert messages(alice.receive()) == [(others[7].address, b"from u07")]
    in_sync(gid, alice, *others)


def test_message_authentication_forged_or_tampered_is_rejected(net: Net) -> None:
    alice, bob, eve = net.new("alice"), net.new("bob"), net.new("eve")
    gid = alice.create_group()
    alice.invite(gid, net.user("bob"))
    bob.receive()
    # An outsider cannot inject into the group at all (the DS knows the roster).
    forged = bytearray(alice.groups[gid].encrypt(b"i am alice"))
    with pytest.raises(ServiceError) as e:
        eve.service.send(bytes(forged))
    assert e.value.status == 403
    # A tampered message (a flipped bit in the encrypted sender data or content) is
    # rejected by the receiver and leaves its state unchanged.
    forged[-3] ^= 1
    alice.service.send(bytes(forged))
    before = bob.groups[gid].to_bytes()
    events = bob.receive()
    assert kinds(events) == ["error"]
    assert bob.groups[gid].to_bytes() == before
    alice.send(gid, b"genuine")
    assert messages(bob.receive()) == [(alice.address, b"genuine")]


def test_forward_secrecy_consumed_keys_are_deleted(net: Net) -> None:
    from mlswire.engine.group import Group

    alice, bob = net.new("alice"), net.new("bob")
    gid = alice.create_group()
    alice.invite(gid, net.user("bob"))
    bob.receive()
    ciphertext = alice.groups[gid].encrypt(b"read once")
    alice.service.send(ciphertext)
    assert messages(bob.receive()) == [(alice.address, b"read once")]
    snapshot = (bob.dir / "groups" / f"{gid.hex()}.bin").read_bytes()  # what is on disk
    with pytest.raises(MLSError):
        Group.from_bytes(snapshot, bob.engine).process(ciphertext)


def test_post_compromise_security_after_an_update(net: Net) -> None:
    from mlswire.engine.group import Group

    alice, bob = net.new("alice"), net.new("bob")
    gid = alice.create_group()
    alice.invite(gid, net.user("bob"))
    bob.receive()
    stolen = bob.groups[gid].to_bytes()  # an attacker copies bob's state
    bob.update(gid)  # bob heals: a fresh leaf key and path secrets
    captured = alice.service.fetch()  # the attacker also sees the DS traffic
    alice.receive()
    ciphertext = alice.groups[gid].encrypt(b"after the update")
    alice.service.send(ciphertext)
    assert messages(bob.receive()) == [(alice.address, b"after the update")]
    attacker = Group.from_bytes(stolen, bob.engine)
    with pytest.raises(MLSError):
        attacker.process(ciphertext)
    commit = [m.data for m in captured if m.content_type == 3]
    assert commit
    with pytest.raises(MLSError):
        attacker.process(commit[0])  # nor can it follow the update


def test_attachments_are_encrypted_and_for_members_only(net: Net, server: Server) -> None:
    alice, bob, carol, eve = (net.new(n) for n in ("alice", "bob", "carol", "eve"))
    gid = alice.create_group()
    alice.invite(gid, net.user("bob"), net.user("carol"))
    bob.receive()
    carol.receive()
    marker = b"ATTACHMENT-PLAINTEXT-" + net.prefix.encode()
    photo = marker + bytes(range(256)) * 400  # ~100 kB
    blob = alice.send_attachment(gid, photo, "photo.bin")
    events = bob.receive()
    assert [(e.kind, e.sender, e.detail) for e in events] == [
        ("attachment", alice.address, "photo.bin")
    ]
    assert events[0].data == photo
    # The DS holds the ciphertext only, and gives it to members only.
    stored = alice.service.get_blob(gid, blob)
    assert marker not in stored and len(stored) == len(photo) + 16
    assert marker not in dump_store(server.db)
    with pytest.raises(ServiceError) as e:
        eve.service.get_blob(gid, blob)
    assert e.value.status == 403
    # A removed member's saved state cannot derive the key of a later attachment.
    from mlswire.client import ATTACHMENT_LABEL
    from mlswire.engine.group import Group

    old_state = carol.groups[gid].to_bytes()
    alice.remove(gid, carol.address)
    bob.receive()
    blob2 = alice.send_attachment(gid, photo, "second.bin")
    (ref,) = [e for e in bob.receive() if e.kind == "attachment"]
    assert ref.data == photo
    with pytest.raises(ServiceError) as e:
        carol.service.get_blob(gid, blob2)  # no longer a member: no ciphertext either
    assert e.value.status == 403
    old = Group.from_bytes(old_state, carol.engine)
    fresh = alice.groups[gid]
    assert old.export_secret(ATTACHMENT_LABEL, b"x" * 16, 32) != fresh.export_secret(
        ATTACHMENT_LABEL, b"x" * 16, 32
    )


def test_device_too_far_behind_is_told_so_and_rejoins(backend: Backend, tmp_path: Path) -> None:
    """Offline/old devices: with a queue retention, messages wait a bounded time; a
    device back after that is told how many it lost, sees it is behind in the group,
    and rejoins by external commit."""
    work = tmp_path / "srv"
    work.mkdir()
    server = Server(backend.new_db(), work, "--queue-retention", "1").start()
    devices = Devices(server)
    n = Net(server, tmp_path, devices)
    try:
        alice, bob = n.new("alice"), n.new("bob")
        gid = alice.create_group()
        alice.invite(gid, n.user("bob"))
        bob.receive()
        bob.service.drop_push()  # bob goes offline: no push connection
        alice.update(gid)  # bob misses these two epochs...
        alice.update(gid)
        time.sleep(1.5)  # ...because his queue expires while he is offline
        alice.send(gid, b"are you there?")
        events = bob.receive()
        assert kinds(events) == ["lost", "behind"]
        assert "expired" in events[0].detail and "rejoin" in events[0].detail
        assert "from the future" in events[1].detail
        bob.rejoin(gid)
        assert kinds(alice.receive()) == ["commit"]  # one commit: rejoin + old leaf out
        alice.send(gid, b"welcome back")
        assert messages(bob.receive()) == [(alice.address, b"welcome back")]
        in_sync(gid, alice, bob)
        assert sorted(a for a in alice.members(gid).values() if a) == [alice.address, bob.address]
    finally:
        n.close()
        devices.close()
        server.stop()
