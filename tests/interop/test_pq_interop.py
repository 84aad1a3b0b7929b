"""Interop on post-quantum suites: mixed mlswire/ts-mls groups in ts-mls 1.x's dialect.

ts-mls 1.6.4 numbers its PQ suites 77-88 and derives node key pairs its own way (the
64-byte node secret is the ML-KEM seed; X-Wing seeds are SHAKE256(ikm, 32)); mlswire
runs a group in that dialect once ``dialects.use("ts-mls:<code>")`` registers the code
point (see mlswire/crypto/dialects.py). For every ts-mls 1.x PQ suite (77-88:
ML-KEM-512/768/1024 and X-Wing, Ed25519 and ML-DSA-87, AES-256-GCM and ChaCha20; 77-80
with SHA-256/384 as the MLS hash beside HKDF-SHA512), in both directions: the scenario
of test_interop.test_pair (Welcome, messages both ways, commits with an UpdatePath both
ways, a third member added across implementations, a removal), an external join, and a
reinitialization; then reinitializations that change the suite. Tripwires show that the
DeriveKeyPair rule and the hash/KDF split are what make it work, and that the two
special cases (ts-mls's bare external_pub, mls-rs's bindings without PQ suites) remain.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from mlswire.crypto import dialects
from mlswire.crypto import suites as suites_mod

from ..conftest import missing
from .peers import MlswirePeer, Peer, PeerRejected, TsMlsPeer
from .test_interop import (
    Member,
    add,
    assert_in_sync,
    chat,
    chat_all,
    deliver_commit,
    new_member,
    peer_for,
    peers,  # noqa: F401 - the module-scoped fixture
    remove,
    self_update,
    two_members,
)

TS_MLS_PQ = tuple(range(77, 89))
ORDERS = (("mlswire", "ts-mls"), ("ts-mls", "mlswire"))


def _cases() -> list[Any]:
    return [
        pytest.param(c, j, s, id=f"{c}-{j}-{dialects.find(f'ts-mls:{s}').name}")
        for s in TS_MLS_PQ
        for c, j in ORDERS
    ]


@pytest.mark.parametrize(("creator_impl", "joiner_impl", "suite"), _cases())
def test_pq_pair(peers: dict[str, Peer], creator_impl: str, joiner_impl: str, suite: int) -> None:  # noqa: F811
    assert dialects.use(f"ts-mls:{suite}") == suite
    alice, bob = two_members(peers, creator_impl, joiner_impl, suite)
    chat(alice, [bob], "hello bob")
    chat(bob, [alice], "hello alice")
    self_update(bob, [alice])
    self_update(alice, [bob])
    carol = new_member(alice.peer, "carol", suite)
    add(bob, [alice], carol)
    chat_all([alice, bob, carol], "three of us")
    self_update(carol, [alice, bob])
    remove(bob, [alice], carol)
    chat_all([alice, bob], "two again")
    assert assert_in_sync([alice, bob]).epoch == 6


@pytest.mark.parametrize(("creator_impl", "joiner_impl", "suite"), _cases())
def test_pq_external_join(
    peers: dict[str, Peer],  # noqa: F811
    creator_impl: str,
    joiner_impl: str,
    suite: int,
) -> None:
    """External join (RFC 9420 §12.4.3.2) across implementations: alice
    (``creator_impl``) publishes a GroupInfo with external_pub and the tree; carol, of
    the other implementation, joins by an external Commit (HPKE export to the PQ
    external_pub key, an UpdatePath derived in the dialect), which both members
    process; then everyone talks, carol commits with a path, and bob (the other
    implementation) removes her.

    ts-mls 1.6.4 encodes external_pub as the bare key, not RFC 9420's length-prefixed
    HPKEPublicKey (docs/INTEROP.md; tripwires below). So each GroupInfo is made in the
    form its reader takes: ts-mls signs an RFC-encoded one for mlswire (the driver's
    default), mlswire signs a bare-key one for ts-mls. Keys, signatures, the HPKE
    export and the commit are each implementation's own either way."""
    assert dialects.use(f"ts-mls:{suite}") == suite
    alice, bob = two_members(peers, creator_impl, joiner_impl, suite)
    before = assert_in_sync([alice, bob])
    joiner_peer = bob.peer
    carol = new_member(joiner_peer, "carol", suite)
    if isinstance(alice.peer, MlswirePeer):
        info = alice.peer.external_group_info(alice.g, ts_mls_external_pub=True)
    else:
        assert isinstance(alice.peer, TsMlsPeer)
        info = alice.peer.external_group_info(alice.g)
    carol.group, commit = joiner_peer.external_join(carol.client, info)  # type: ignore[attr-defined]
    for member in (alice, bob):
        assert member.peer.process(member.g, commit).kind == "commit", member
    after = assert_in_sync([alice, bob, carol])
    assert after.epoch == before.epoch + 1 and after.exporter != before.exporter
    chat_all([alice, bob, carol], "carol came in from outside")
    self_update(carol, [alice, bob])
    remove(bob, [alice], carol)
    chat_all([alice, bob], "two again")


def test_ts_mls_external_pub_still_bare(peers: dict[str, Peer]) -> None:  # noqa: F811
    """Tripwire for the ts-mls deviation test_pq_external_join works around: ts-mls's
    own GroupInfo carries external_pub without its length (mlswire refuses it), and
    ts-mls cannot join from an RFC-encoded one. When this fails, ts-mls has fixed
    external_pub and the two special forms can go."""
    suite = 83
    dialects.use(f"ts-mls:{suite}")
    alice, bob = two_members(peers, "ts-mls", "mlswire", suite)
    ts, ours = alice.peer, bob.peer
    assert isinstance(ts, TsMlsPeer) and isinstance(ours, MlswirePeer)
    bare = ts.external_group_info(alice.g, rfc_external_pub=False)
    with pytest.raises(PeerRejected, match="ExternalPub"):
        ours.external_join(new_member(ours, "dan", suite).client, bare)
    rfc = ours.external_group_info(bob.g)
    with pytest.raises(PeerRejected, match="(?i)key"):
        ts.external_join(new_member(ts, "erin", suite).client, rfc)
    # the same key, the length prefix the only difference
    public = ours.external_group_info(bob.g, ts_mls_external_pub=True)
    assert len(rfc) - len(public) == 2  # a 1216-byte X-Wing key: a 2-byte varint


@pytest.mark.parametrize(("committer_impl", "other_impl", "suite"), _cases())
def test_pq_reinit(
    peers: dict[str, Peer],  # noqa: F811
    committer_impl: str,
    other_impl: str,
    suite: int,
) -> None:
    """Reinitialization (RFC 9420 §11.2) inside a PQ suite (ts-mls's reinit keeps the
    suite): one member commits a ReInit, the other implementation creates the new group
    and the committer joins it by a Welcome carrying the reinit resumption PSK."""
    assert dialects.use(f"ts-mls:{suite}") == suite
    alice, bob = two_members(peers, committer_impl, other_impl, suite)
    old = assert_in_sync([alice, bob])
    result = alice.peer.reinit(alice.g, b"reborn")  # type: ignore[attr-defined]
    deliver_commit(alice, result, [bob])
    new_group = bob.peer.reinit_successor(  # type: ignore[attr-defined]
        bob.g, [alice.peer.key_package(alice.client)]
    )
    alice_new = alice.peer.join_reinit(  # type: ignore[attr-defined]
        alice.client, alice.g, new_group.welcome, new_group.ratchet_tree
    )
    reborn = [
        Member("alice'", alice.peer, alice.client, alice_new),
        Member("bob'", bob.peer, bob.client, new_group.group),
    ]
    new = assert_in_sync(reborn)
    assert new.epoch == 1 and new.exporter != old.exporter
    chat_all(reborn, "reborn")
    self_update(reborn[0], [reborn[1]])
    self_update(reborn[1], [reborn[0]])


@pytest.mark.parametrize(("committer_impl", "other_impl"), ORDERS, ids="-".join)
@pytest.mark.parametrize(("old_suite", "new_suite"), [(1, 87), (79, 1), (83, 85)])
def test_pq_reinit_changes_suite(
    peers: dict[str, Peer],  # noqa: F811
    committer_impl: str,
    other_impl: str,
    old_suite: int,
    new_suite: int,
) -> None:
    """A ReInit into another suite (RFC 9420 §11.2) across implementations: into a PQ
    suite (1 -> 87, X-Wing + ML-DSA-87), out of one (79 -> 1) and between two (83 ->
    85). Each member has a client of the same identity in the new suite; the other
    implementation creates the new group, the committer joins it from the Welcome with
    the reinit PSK of the old group."""
    for suite in (old_suite, new_suite):
        if suite > 7:
            dialects.use(f"ts-mls:{suite}")
    alice, bob = two_members(peers, committer_impl, other_impl, old_suite)
    old = assert_in_sync([alice, bob])
    alice2, bob2 = new_member(alice.peer, "alice", new_suite), new_member(bob.peer, "bob", new_suite)
    assert (alice2.client.identity, bob2.client.identity) == (alice.client.identity, bob.client.identity)
    result = alice.peer.reinit(alice.g, b"reborn", new_suite)  # type: ignore[attr-defined]
    deliver_commit(alice, result, [bob])
    new_group = bob.peer.reinit_successor(  # type: ignore[attr-defined]
        bob.g, [alice.peer.key_package(alice2.client)], bob2.client
    )
    alice_new = alice.peer.join_reinit(  # type: ignore[attr-defined]
        alice2.client, alice.g, new_group.welcome, new_group.ratchet_tree
    )
    reborn = [
        Member("alice'", alice.peer, alice2.client, alice_new),
        Member("bob'", bob.peer, bob2.client, new_group.group),
    ]
    new = assert_in_sync(reborn)
    assert new.epoch == 1 and new.exporter != old.exporter
    ours = next(m for m in reborn if isinstance(m.peer, MlswirePeer))
    assert ours.peer._groups[ours.g.handle].cipher_suite == new_suite  # type: ignore[attr-defined]
    chat_all(reborn, f"reborn in suite {new_suite}")
    self_update(reborn[0], [reborn[1]])
    self_update(reborn[1], [reborn[0]])


def test_wrong_derive_rule_breaks_path_commits(
    peers: dict[str, Peer],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Same code point and parameters, but mlswire's own (hpke-pq) DeriveKeyPair: the
    join works (no node key is derived), then mlswire rejects ts-mls's first commit with
    a path: the key pair it derives from the path secret is not the one ts-mls sent
    (RFC 9420 §7.6). ts-mls does not make that check: it takes mlswire's mismatching
    path, and would fail only later, decrypting to such a node."""
    entry = dialects.find("ts-mls:83")
    wrong = dialects.suite_for(dataclasses.replace(entry, rule="hpke-pq"))
    monkeypatch.setitem(suites_mod._SUITES, 83, wrong)
    alice, bob = two_members(peers, "ts-mls", "mlswire", 83)
    chat(alice, [bob], "joined fine")
    mismatching = bob.peer.commit(bob.g)
    assert alice.peer.process(alice.g, mismatching.commit).kind == "commit"  # unchecked
    result = alice.peer.commit(alice.g)
    with pytest.raises(PeerRejected, match="(?i)public key|derive|match"):
        bob.peer.process(bob.g, result.commit)


def test_ts_mls_driver_offers_its_pq_suites(peers: dict[str, Peer]) -> None:  # noqa: F811
    peer = peer_for(peers, "ts-mls")
    offered = peer._call("hello")["suites"]  # type: ignore[attr-defined]
    assert set(range(77, 89)) <= set(offered)
    assert not set(suites_mod.PQ_CIPHER_SUITES) & set(offered)  # no common numbering


@pytest.mark.parametrize("suite", [77, 79])
def test_kdf_hash_as_mls_hash_breaks_the_join(
    peers: dict[str, Peer],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    suite: int,
) -> None:
    """ts-mls 77-80 hash with SHA-256/384 and derive with HKDF-SHA512. Taking the MLS
    hash from the KDF (as every RFC 9420 suite may) breaks the first hash-based
    identifier: the Welcome names mlswire's KeyPackage by a SHA-256/384 RefHash that
    mlswire, hashing with SHA-512, does not recognise (RFC 9420 §12.4.3.1)."""
    entry = dialects.find(f"ts-mls:{suite}")
    assert entry.hash_id in (1, 2) and entry.kdf_id == 3
    wrong = dialects.suite_for(dataclasses.replace(entry, hash_id=0))
    monkeypatch.setitem(suites_mod._SUITES, suite, wrong)
    with pytest.raises(PeerRejected, match="(?i)key ?package|welcome"):
        two_members(peers, "ts-mls", "mlswire", suite)


def test_mls_rs_bindings_offer_no_pq_suite() -> None:
    """Why mls-rs's PQ suites (65001-65003, 65100) are not interop-tested: the PyPI
    bindings expose suite 1 only. When this fails, they offer more: test them."""
    try:
        import mls_rs_uniffi
    except ImportError:
        missing("mls-rs bindings not installed: pip install agentvault-mls-rs-uniffi")
    assert [s.name for s in mls_rs_uniffi.CipherSuite] == ["CURVE25519_AES128"]  # suite 1
