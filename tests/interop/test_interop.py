"""Interop: groups that mix mlswire, mls-rs and ts-mls members (issue 5).

For every ordered pair of different implementations (creator, joiner), in every cipher
suite both offer (mls-rs: suite 1; mlswire and ts-mls: suites 1-7), one scenario:

1. the creator makes a group and adds the joiner by KeyPackage; the joiner joins from
   the Welcome (ratchet tree in the GroupInfo extension);
2. application messages both ways, each decrypted to the exact plaintext;
3. each side commits with an UpdatePath and the other processes it: both reach the same
   new epoch, exporter secrets agree (and differ from the previous epoch's);
4. the joiner adds a third member from the other implementation (a Welcome made by the
   joiner's implementation), everyone exchanges messages, then the joiner removes it:
   the removed member learns it was removed and cannot decrypt the next message;
5. exporter secrets of the remaining members agree at the end.

"In sync" is checked as strongly as each implementation allows: same epoch, same
exporter secret, same epoch authenticator and byte-identical public ratchet tree where
exposed (mls-rs exposes neither epoch nor authenticator; see peers.py).

Further tests: all three implementations in one group, a Remove proposed by one
implementation and committed by reference by another, the ratchet tree handed out of
band instead of in the Welcome, handshake messages as PublicMessage from the
implementations that default to PrivateMessage, and a tripwire for the ts-mls ECDSA
key quirk the driver works around.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from ..conftest import missing
from .peers import (
    CommitResult,
    MlsRsPeer,
    MlswirePeer,
    Peer,
    PeerClient,
    PeerGroup,
    PeerRejected,
    PeerUnavailable,
    Received,
    TsMlsPeer,
)

IMPLEMENTATIONS = ("mlswire", "mls-rs", "ts-mls")
SUITES = {"mlswire": range(1, 8), "mls-rs": range(1, 2), "ts-mls": range(1, 8)}

EXPORT_LABEL = b"mlswire interop"
EXPORT_CONTEXT = b"context bytes"
EXPORT_LENGTH = 32

WIRE_PUBLIC = 1
WIRE_PRIVATE = 2


# ----------------------------------------------------------------------------- peers


@pytest.fixture(scope="module")
def peers() -> Iterator[dict[str, Peer]]:
    """The implementations, started lazily (node once per module) and shared by the
    tests of this module; a test asks for the ones it needs through ``peer_for``."""
    started: dict[str, Peer] = {}
    yield started
    for peer in started.values():
        peer.close()


def _start(name: str) -> Peer:
    if name == "ts-mls":
        return TsMlsPeer()
    if name == "mls-rs":
        return MlsRsPeer()
    return MlswirePeer()


def peer_for(started: dict[str, Peer], name: str) -> Peer:
    if name not in started:
        try:
            started[name] = _start(name)
        except PeerUnavailable as exc:
            # A peer absent from this machine skips with how to install it; under CI
            # (CI=true) it fails: interop is a required part of the suite there.
            missing(str(exc))
    peer: Peer = started[name]
    return peer


@contextmanager
def configured(peer: Peer, **settings: Any) -> Iterator[None]:
    """Temporarily change a shared peer's settings (ratchet_tree_extension,
    public_handshake) for one test, restoring them even when the test fails."""
    saved = {key: getattr(peer, key) for key in settings}
    try:
        for key, value in settings.items():
            setattr(peer, key, value)
        yield
    finally:
        for key, value in saved.items():
            setattr(peer, key, value)


# ----------------------------------------------------------------------------- members


@dataclass
class Member:
    """One member of the group under test: an implementation, a client, a group state."""

    label: str
    peer: Peer
    client: PeerClient
    group: PeerGroup | None = None

    @property
    def g(self) -> PeerGroup:
        assert self.group is not None, f"{self.label} is not in a group"
        return self.group

    def __str__(self) -> str:
        return f"{self.label}({self.peer.name})"

    def export(self) -> bytes:
        return self.peer.export_secret(self.g, EXPORT_LABEL, EXPORT_CONTEXT, EXPORT_LENGTH)


def new_member(peer: Peer, label: str, suite: int) -> Member:
    return Member(label, peer, peer.new_client(label.encode() + b"@" + peer.name.encode(), suite))


def wire_format(message: bytes) -> int:
    return int.from_bytes(message[2:4], "big")


def create(creator: Member) -> None:
    creator.group = creator.peer.create_group(creator.client)
    assert creator.peer.epoch(creator.g) == 0


def add(adder: Member, others: list[Member], newcomer: Member) -> None:
    """``adder`` commits an Add of ``newcomer``'s KeyPackage, ``others`` process the
    commit, and ``newcomer`` joins from the Welcome."""
    key_package = newcomer.peer.key_package(newcomer.client)
    result = adder.peer.add_members(adder.g, [key_package])
    assert result.welcome is not None, f"{adder} made no Welcome for {newcomer}"
    deliver_commit(adder, result, others)
    newcomer.group = newcomer.peer.join(newcomer.client, result.welcome)
    # The exporter needs nothing but the epoch's secrets, so it is the first and most
    # direct proof that the Welcome was understood.
    assert newcomer.export() == adder.export(), f"{newcomer} joined a different epoch than {adder}"


def two_members(peers: dict[str, Peer], first: str, second: str, suite: int = 1) -> tuple[Member, Member]:
    """alice (``first``'s implementation) creates a group and adds bob (``second``'s)."""
    alice = new_member(peer_for(peers, first), "alice", suite)
    bob = new_member(peer_for(peers, second), "bob", suite)
    create(alice)
    add(alice, [], bob)
    return alice, bob


def deliver_commit(committer: Member, result: CommitResult, receivers: list[Member]) -> None:
    for receiver in receivers:
        received = receiver.peer.process(receiver.g, result.commit)
        assert received == Received("commit"), f"{receiver} got {received} for {committer}'s commit"


def self_update(committer: Member, others: list[Member]) -> None:
    """A commit with an UpdatePath (no proposals) that everyone else processes."""
    everyone = [committer, *others]
    before = state_of(everyone)
    tree_before = committer.peer.ratchet_tree(committer.g)
    result = committer.peer.commit(committer.g)
    deliver_commit(committer, result, others)
    after = assert_in_sync(everyone)
    assert after.epoch == before.epoch + 1
    assert after.exporter != before.exporter, "the exporter did not change with the epoch"
    tree_after = committer.peer.ratchet_tree(committer.g)
    if tree_before is not None and tree_after is not None:
        # The UpdatePath replaces the committer's leaf and path keys: the public tree
        # must change (a commit without a path would leave it identical).
        assert tree_after != tree_before, f"{committer}'s commit did not change the tree"


def chat(sender: Member, receivers: list[Member], text: str) -> None:
    data = f"{text} [from {sender}]".encode()
    message = sender.peer.encrypt(sender.g, data)
    # RFC 9420 §6: application data travels only as PrivateMessage.
    assert wire_format(message) == WIRE_PRIVATE
    assert data not in message
    for receiver in receivers:
        received = receiver.peer.process(receiver.g, message)
        assert received == Received("application", data), f"{receiver} got {received}"


def chat_all(members: list[Member], text: str) -> None:
    for sender in members:
        chat(sender, [m for m in members if m is not sender], text)


@dataclass(frozen=True)
class GroupState:
    epoch: int
    exporter: bytes


def state_of(members: list[Member]) -> GroupState:
    return GroupState(members[0].peer.epoch(members[0].g), members[0].export())


def assert_in_sync(members: list[Member]) -> GroupState:
    """All members agree on everything their implementations let us compare."""
    epochs = {str(m): m.peer.epoch(m.g) for m in members}
    assert len(set(epochs.values())) == 1, f"epochs differ: {epochs}"
    exporters = {str(m): m.export().hex() for m in members}
    assert len(set(exporters.values())) == 1, f"exporter secrets differ: {exporters}"
    authenticators = {
        str(m): a.hex() for m in members if (a := m.peer.epoch_authenticator(m.g)) is not None
    }
    assert len(set(authenticators.values())) <= 1, f"epoch authenticators differ: {authenticators}"
    trees = {str(m): t.hex() for m in members if (t := m.peer.ratchet_tree(m.g)) is not None}
    assert len(set(trees.values())) <= 1, f"ratchet trees differ: {trees}"
    return state_of(members)


def remove(remover: Member, others: list[Member], leaver: Member) -> None:
    """``remover`` removes ``leaver``; ``others`` and ``leaver`` process the commit; the
    leaver is told it was removed and can no longer read the group."""
    stayers = [remover, *others]
    before = state_of(stayers)
    result = remover.peer.remove_member(remover.g, leaver.client.ref)
    deliver_commit(remover, result, others)
    gone = leaver.peer.process(leaver.g, result.commit)
    assert gone == Received("commit", removed=True), f"{leaver} got {gone} for its removal"
    after = assert_in_sync(stayers)
    assert after.epoch == before.epoch + 1

    # The first message of the new epoch: the remaining members read it, the removed
    # member must refuse it with its implementation's own error.
    data = f"after {leaver} left".encode()
    message = remover.peer.encrypt(remover.g, data)
    for other in others:
        assert other.peer.process(other.g, message) == Received("application", data)
    with pytest.raises(PeerRejected):
        leaver.peer.process(leaver.g, message)
    # Whatever the leaver still holds is not the group's new exporter secret.
    try:
        stale = leaver.export()
    except PeerRejected:
        stale = None
    assert stale != after.exporter


# ----------------------------------------------------------------------------- cases


def pair_cases() -> Iterator[Any]:
    for creator, joiner in itertools.permutations(IMPLEMENTATIONS, 2):
        for suite in SUITES[creator]:
            if suite in SUITES[joiner]:
                yield pytest.param(creator, joiner, suite, id=f"{creator}-{joiner}-suite{suite}")


@pytest.mark.parametrize(("creator_impl", "joiner_impl", "suite"), list(pair_cases()))
def test_pair(peers: dict[str, Peer], creator_impl: str, joiner_impl: str, suite: int) -> None:
    alice, bob = two_members(peers, creator_impl, joiner_impl, suite)
    creator_peer = alice.peer
    assert creator_peer.epoch(alice.g) == 1

    chat(alice, [bob], "hello bob")
    chat(bob, [alice], "hello alice")
    chat(bob, [alice], "second from bob")
    chat(alice, [bob], "second from alice")
    assert assert_in_sync([alice, bob]).epoch == 1

    self_update(bob, [alice])
    chat(alice, [bob], "after bob's update")
    self_update(alice, [bob])
    chat(bob, [alice], "after alice's update")

    # The third member comes from the implementation the joiner is not: a Welcome from
    # the joiner's implementation to the creator's, and a removal across them.
    carol = new_member(creator_peer, "carol", suite)
    add(bob, [alice], carol)
    chat_all([alice, bob, carol], "three of us")
    assert_in_sync([alice, bob, carol])
    self_update(carol, [alice, bob])

    remove(bob, [alice], carol)
    chat_all([alice, bob], "two again")
    final = assert_in_sync([alice, bob])
    # create (0), add bob, bob's update, alice's update, add carol, carol's update, remove
    assert final.epoch == 6


@pytest.mark.parametrize(
    ("creator_impl", "joiner_impl", "third_impl"),
    [pytest.param(*p, id="-".join(p)) for p in itertools.permutations(IMPLEMENTATIONS)],
)
def test_three_implementations(
    peers: dict[str, Peer], creator_impl: str, joiner_impl: str, third_impl: str
) -> None:
    """One group holding a member of each implementation (suite 1, the one they share);
    this time the creator removes the member the joiner added."""
    alice = new_member(peer_for(peers, creator_impl), "alice", 1)
    bob = new_member(peer_for(peers, joiner_impl), "bob", 1)
    carol = new_member(peer_for(peers, third_impl), "carol", 1)

    create(alice)
    add(alice, [], bob)
    add(bob, [alice], carol)
    chat_all([alice, bob, carol], "all three")
    assert assert_in_sync([alice, bob, carol]).epoch == 2
    for committer in (alice, bob, carol):
        self_update(committer, [m for m in (alice, bob, carol) if m is not committer])
    remove(alice, [bob], carol)
    chat_all([alice, bob], "carol is gone")
    assert assert_in_sync([alice, bob]).epoch == 6


@pytest.mark.parametrize(
    ("proposer_impl", "committer_impl"),
    [pytest.param(p, c, id=f"{p}-{c}") for p, c in itertools.permutations(IMPLEMENTATIONS, 2)],
)
def test_remove_by_proposal_reference(
    peers: dict[str, Peer], proposer_impl: str, committer_impl: str
) -> None:
    """One implementation proposes a Remove, another commits it by reference (RFC 9420
    §12.4: the ProposalRef is computed from the proposal message each side saw, so
    both must hash the same AuthenticatedContent)."""
    proposer_peer = peer_for(peers, proposer_impl)
    committer_peer = peer_for(peers, committer_impl)
    alice = new_member(proposer_peer, "alice", 1)
    bob = new_member(committer_peer, "bob", 1)
    carol = new_member(proposer_peer, "carol", 1)
    create(alice)
    add(alice, [], bob)
    add(bob, [alice], carol)
    chat_all([alice, bob, carol], "before the proposal")
    before = assert_in_sync([alice, bob, carol])

    proposal = proposer_peer.propose_remove(alice.g, carol.client.ref)
    for receiver in (bob, carol):
        received = receiver.peer.process(receiver.g, proposal)
        assert received == Received("proposal"), f"{receiver} got {received} for the proposal"
    # A proposal alone changes no epoch.
    assert assert_in_sync([alice, bob, carol]).epoch == before.epoch

    # bob's commit carries no proposal by value: carol can only go if the reference
    # bob computed for alice's proposal is the one alice and carol computed.
    result = committer_peer.commit(bob.g)
    deliver_commit(bob, result, [alice])
    gone = carol.peer.process(carol.g, result.commit)
    assert gone == Received("commit", removed=True), f"{carol} got {gone}"
    after = assert_in_sync([alice, bob])
    assert after.epoch == before.epoch + 1
    chat_all([alice, bob], "carol removed by reference")
    with pytest.raises(PeerRejected):
        carol.peer.process(carol.g, alice.peer.encrypt(alice.g, b"not for carol"))


@pytest.mark.parametrize(
    ("creator_impl", "joiner_impl"),
    [pytest.param(c, j, id=f"{c}-{j}") for c, j in itertools.permutations(IMPLEMENTATIONS, 2)],
)
def test_ratchet_tree_out_of_band(
    peers: dict[str, Peer], creator_impl: str, joiner_impl: str
) -> None:
    """The Welcome carries no ratchet_tree extension; the joiner gets the tree out of
    band (RFC 9420 §12.4.3.3) and must end up in the same group state."""
    creator_peer = peer_for(peers, creator_impl)
    joiner_peer = peer_for(peers, joiner_impl)
    bob = new_member(joiner_peer, "bob", 1)
    with configured(creator_peer, ratchet_tree_extension=False):
        # mls-rs takes the setting per client, the others per group: set it for both.
        alice = new_member(creator_peer, "alice", 1)
        create(alice)
        key_package = joiner_peer.key_package(bob.client)
        result = creator_peer.add_members(alice.g, [key_package])
    assert result.welcome is not None
    # Without the tree the join must fail cleanly: the extension really is absent.
    with pytest.raises(PeerRejected):
        joiner_peer.join(bob.client, result.welcome)
    # The failed attempt must not have used up the KeyPackage's private keys.
    tree = creator_peer.ratchet_tree(alice.g)
    assert tree is not None
    if result.ratchet_tree is not None:
        assert result.ratchet_tree == tree
    bob.group = joiner_peer.join(bob.client, result.welcome, tree)
    chat(alice, [bob], "tree out of band")
    chat(bob, [alice], "got it")
    assert_in_sync([alice, bob])
    self_update(bob, [alice])


# mls-rs's bindings always send handshake messages as PublicMessage (so every test with
# an mls-rs committer covers that), mlswire and ts-mls default to PrivateMessage.
PUBLIC_CONFIGURABLE = ("mlswire", "ts-mls")


@pytest.mark.parametrize(
    ("sender_impl", "other_impl"),
    [
        pytest.param(s, o, id=f"{s}-{o}")
        for s, o in itertools.permutations(IMPLEMENTATIONS, 2)
        if s in PUBLIC_CONFIGURABLE
    ],
)
def test_public_handshake(peers: dict[str, Peer], sender_impl: str, other_impl: str) -> None:
    """Commits and proposals sent as PublicMessage (membership tag, no encryption) by
    an implementation that defaults to PrivateMessage must be accepted by the others."""
    sender = peer_for(peers, sender_impl)
    other = peer_for(peers, other_impl)
    bob = new_member(other, "bob", 1)
    carol = new_member(other, "carol", 1)
    with configured(sender, public_handshake=True):
        alice = new_member(sender, "alice", 1)
        create(alice)
        add(alice, [], bob)
        chat(bob, [alice], "hi")
        result = sender.commit(alice.g)
        assert wire_format(result.commit) == WIRE_PUBLIC
        deliver_commit(alice, result, [bob])
        add(alice, [bob], carol)
        chat_all([alice, bob, carol], "public handshake")
        proposal = sender.propose_remove(alice.g, carol.client.ref)
        assert wire_format(proposal) == WIRE_PUBLIC
        assert bob.peer.process(bob.g, proposal) == Received("proposal")
        assert carol.peer.process(carol.g, proposal) == Received("proposal")
        remove_commit = bob.peer.commit(bob.g)
        deliver_commit(bob, remove_commit, [alice])
        assert carol.peer.process(carol.g, remove_commit.commit).removed
    assert_in_sync([alice, bob])
    chat_all([alice, bob], "after")


@pytest.mark.parametrize(
    ("brancher_impl", "joiner_impl"),
    [pytest.param(*p, id="-".join(p)) for p in (("ts-mls", "mlswire"), ("mlswire", "ts-mls"))],
)
def test_branch(peers: dict[str, Peer], brancher_impl: str, joiner_impl: str) -> None:
    """A subgroup branched from a group (RFC 9420 §11.3): its Welcome names the old
    group's resumption PSK (usage branch), which the joiner must hold and check
    (mlswire: the old group's version, suite and members, §12.4.3.1)."""
    alice, bob = two_members(peers, brancher_impl, joiner_impl)
    brancher_peer, joiner_peer = alice.peer, bob.peer
    self_update(bob, [alice])  # the PSK then names epoch 2, not the first one
    old = assert_in_sync([alice, bob])

    branched = brancher_peer.branch(  # type: ignore[attr-defined]
        alice.g, [joiner_peer.key_package(bob.client)]
    )
    bob_sub = joiner_peer.join_branch(  # type: ignore[attr-defined]
        bob.client, bob.g, branched.welcome, branched.ratchet_tree
    )
    sub = [
        Member("alice'", brancher_peer, alice.client, branched.group),
        Member("bob'", joiner_peer, bob.client, bob_sub),
    ]
    new = assert_in_sync(sub)
    assert new.epoch == 1 and new.exporter != old.exporter
    chat_all(sub, "in the branch")
    self_update(sub[1], [sub[0]])
    chat_all([alice, bob], "the old group goes on")


@pytest.mark.parametrize(
    ("committer_impl", "other_impl"),
    [pytest.param(*p, id="-".join(p)) for p in (("ts-mls", "mlswire"), ("mlswire", "ts-mls"))],
)
def test_reinit(peers: dict[str, Peer], committer_impl: str, other_impl: str) -> None:
    """Reinitialization (RFC 9420 §11.2) across implementations: one member commits a
    ReInit, the OTHER creates the new group it asks for, and the committer joins it from
    the Welcome, whose reinit PSK ties it to the old group (mlswire checks the ReInit's
    parameters and that every old member is in the new group, §12.4.3.1)."""
    alice, bob = two_members(peers, committer_impl, other_impl)
    committer_peer, other_peer = alice.peer, bob.peer
    old = assert_in_sync([alice, bob])

    result = committer_peer.reinit(alice.g, b"reborn")  # type: ignore[attr-defined]
    deliver_commit(alice, result, [bob])
    new_group = other_peer.reinit_successor(  # type: ignore[attr-defined]
        bob.g, [committer_peer.key_package(alice.client)]
    )
    alice_new = committer_peer.join_reinit(  # type: ignore[attr-defined]
        alice.client, alice.g, new_group.welcome, new_group.ratchet_tree
    )
    reborn = [
        Member("alice'", committer_peer, alice.client, alice_new),
        Member("bob'", other_peer, bob.client, new_group.group),
    ]
    new = assert_in_sync(reborn)
    assert new.epoch == 1 and new.exporter != old.exporter
    chat_all(reborn, "reborn")
    self_update(reborn[0], [reborn[1]])


@pytest.mark.parametrize(("suite", "compressed_size"), [(2, 33), (5, 67), (7, 49)])
def test_ts_mls_ecdsa_keys_still_compressed(
    peers: dict[str, Peer], suite: int, compressed_size: int
) -> None:
    """Tripwire for the one ts-mls incompatibility the driver works around.

    RFC 9420 §5.1.1 wants ECDSA signature keys as uncompressed points; ts-mls 1.6.4
    generates compressed ones, so interop-peer.mjs re-derives them uncompressed. When
    this test fails, ts-mls has fixed its keygen and the workaround can go.
    """
    ts = peer_for(peers, "ts-mls")
    assert isinstance(ts, TsMlsPeer)
    own = ts.new_client(b"ts-mls keys", suite, rfc_signature_keys=False)
    assert len(own.signature_key) == compressed_size
    assert own.signature_key[0] in (2, 3)  # SEC1 compressed-point prefix
    fixed = ts.new_client(b"driver keys", suite)
    assert len(fixed.signature_key) == 2 * compressed_size - 1
    assert fixed.signature_key[0] == 4  # SEC1 uncompressed-point prefix
