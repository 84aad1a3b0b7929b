"""Interop on post-quantum suites: mixed mlswire/ts-mls groups in ts-mls 1.x's dialect.

ts-mls 1.6.4 numbers its PQ suites 77-88 and derives node key pairs its own way (the
64-byte node secret is the ML-KEM seed; X-Wing seeds are SHAKE256(ikm, 32)); mlswire
runs a group in that dialect once ``dialects.use("ts-mls:<code>")`` registers the code
point (see mlswire/crypto/dialects.py). For every ts-mls 1.x PQ suite (77-88:
ML-KEM-512/768/1024 and X-Wing, Ed25519 and ML-DSA-87, AES-256-GCM and ChaCha20; 77-80
with SHA-256/384 as the MLS hash beside HKDF-SHA512), in both directions, the scenario of test_interop.test_pair: Welcome, messages both ways,
commits with an UpdatePath both ways, a third member added across implementations,
a removal. A tripwire shows that the DeriveKeyPair rule is what makes it work.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from mlswire.crypto import dialects
from mlswire.crypto import suites as suites_mod

from .peers import Peer, PeerRejected
from .test_interop import (
    add,
    assert_in_sync,
    chat,
    chat_all,
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
