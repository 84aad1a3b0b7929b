"""The secret tree (RFC 9420 §9): lazy derivation, ratchets, the deletion schedule,
out-of-order windows, and state that round-trips through plain data."""

from __future__ import annotations

import pytest

from mlswire.crypto.labeled import derive_tree_secret, expand_with_label
from mlswire.crypto.suites import CipherSuite, cipher_suite
from mlswire.engine import tree_math as tm
from mlswire.engine.secret_tree import (
    RatchetType,
    SecretTree,
    apply_reuse_guard,
    ratchet_type,
    sender_data_key_nonce,
)
from mlswire.errors import StateError, ValidationError
from mlswire.schema import ContentType

CS = cipher_suite(1)
SECRET = bytes(range(32))
APP = RatchetType.APPLICATION
HS = RatchetType.HANDSHAKE


def reference_key(
    cs: CipherSuite, secret: bytes, n: int, leaf: int, kind: RatchetType, generation: int
) -> tuple[bytes, bytes]:
    """The §9 derivation written the plain way: walk down from the root, then ratchet."""
    node = tm.root(n)
    target = 2 * leaf
    while node != target:
        if target < node:
            secret = expand_with_label(cs, secret, "tree", b"left", cs.hash_len)
            node = tm.left(node)
        else:
            secret = expand_with_label(cs, secret, "tree", b"right", cs.hash_len)
            node = tm.right(node, n)
    secret = expand_with_label(cs, secret, kind.value, b"", cs.hash_len)
    for j in range(generation):
        secret = derive_tree_secret(cs, secret, "secret", j, cs.hash_len)
    return (
        derive_tree_secret(cs, secret, "key", generation, cs.aead_key_len),
        derive_tree_secret(cs, secret, "nonce", generation, cs.aead_nonce_len),
    )


@pytest.mark.parametrize("n", [1, 2, 3, 5, 7, 8, 9])
def test_matches_the_plain_derivation_in_any_leaf_order(n: int) -> None:
    tree = SecretTree(CS, SECRET, n)
    for leaf in reversed(range(n)):  # an order other than the natural one
        for kind in RatchetType:
            got = tree.consume_receive_key(leaf, kind, 2)
            assert (got.key, got.nonce) == reference_key(CS, SECRET, n, leaf, kind, 2)


def test_construction_is_lazy_and_parents_are_deleted() -> None:
    n = 1024
    tree = SecretTree(CS, SECRET, n)
    assert tree.nodes == {tm.root(n): SECRET}
    tree.next_send_key(5, APP)
    # The root went away once both its children existed; one sibling per level is held.
    assert tm.root(n) not in tree.nodes
    assert len(tree.nodes) == 10  # log2(1024) siblings along the path of leaf 5
    assert set(tree.nodes) == set(tm.copath(tm.leaf_to_node(5), n))
    # The leaf secret itself is gone too: only its two ratchets remain.
    assert tm.leaf_to_node(5) not in tree.nodes
    assert 5 in tree.ratchets[HS] and 5 in tree.ratchets[APP]


def test_sender_and_receiver_agree() -> None:
    sender, receiver = SecretTree(CS, SECRET, 4), SecretTree(CS, SECRET, 4)
    for g in range(3):
        sent = sender.next_send_key(2, HS)
        assert sent.generation == g
        got = receiver.consume_receive_key(2, HS, g)
        assert (got.key, got.nonce) == (sent.key, sent.nonce)


def test_consumed_key_cannot_be_used_again() -> None:
    tree = SecretTree(CS, SECRET, 2)
    tree.consume_receive_key(1, APP, 0)
    with pytest.raises(StateError, match="already used"):
        tree.consume_receive_key(1, APP, 0)
    with pytest.raises(StateError, match="already used"):
        tree.receive_key(1, APP, 0)


def test_send_keys_are_never_handed_out_twice() -> None:
    tree = SecretTree(CS, SECRET, 2)
    a, b = tree.next_send_key(0, APP), tree.next_send_key(0, APP)
    assert (a.generation, b.generation) == (0, 1)
    assert a.key != b.key
    with pytest.raises(StateError, match="already used"):
        tree.receive_key(0, APP, 1)


def test_out_of_order_within_the_window() -> None:
    tree = SecretTree(CS, SECRET, 2, out_of_order_window=5)
    want = {g: reference_key(CS, SECRET, 2, 1, APP, g) for g in range(6)}
    for g in (5, 2, 4, 0, 3, 1):
        got = tree.consume_receive_key(1, APP, g)
        assert (got.key, got.nonce) == want[g]
    assert tree.ratchets[APP][1].skipped == {}


def test_too_far_ahead() -> None:
    tree = SecretTree(CS, SECRET, 2, max_forward_distance=10)
    tree.consume_receive_key(1, APP, 10)  # exactly the limit is fine
    with pytest.raises(StateError, match="too far ahead"):
        tree.receive_key(1, APP, 22)
    with pytest.raises(StateError, match="too far ahead"):
        tree.consume_receive_key(1, APP, 22)
    tree.consume_receive_key(1, APP, 21)


def test_too_old() -> None:
    tree = SecretTree(CS, SECRET, 2, out_of_order_window=3)
    tree.consume_receive_key(1, HS, 10)
    # 7, 8, 9 are kept; 6 and below fell out of the window.
    with pytest.raises(StateError, match="too old"):
        tree.consume_receive_key(1, HS, 6)
    assert sorted(tree.ratchets[HS][1].skipped) == [7, 8, 9]
    tree.consume_receive_key(1, HS, 8)
    with pytest.raises(StateError, match="already used"):
        tree.consume_receive_key(1, HS, 8)
    # Moving on evicts what leaves the window; the number kept stays bounded.
    tree.consume_receive_key(1, HS, 12)
    assert sorted(tree.ratchets[HS][1].skipped) == [9, 11]
    with pytest.raises(StateError, match="too old"):
        tree.consume_receive_key(1, HS, 8)
    tree.consume_receive_key(1, HS, 9)


def test_window_zero_is_strictly_in_order() -> None:
    tree = SecretTree(CS, SECRET, 2, out_of_order_window=0)
    tree.consume_receive_key(0, APP, 3)
    assert tree.ratchets[APP][0].skipped == {}
    with pytest.raises(StateError, match="too old"):
        tree.consume_receive_key(0, APP, 2)


def test_skipped_keys_stay_bounded() -> None:
    tree = SecretTree(CS, SECRET, 2, out_of_order_window=4, max_forward_distance=100)
    for g in (50, 100, 150):
        tree.consume_receive_key(0, APP, g)
        assert len(tree.ratchets[APP][0].skipped) <= 4


def test_failed_lookups_change_nothing() -> None:
    tree = SecretTree(CS, SECRET, 8, out_of_order_window=2, max_forward_distance=5)
    before = tree.to_state()
    tree.receive_key(3, APP, 4)  # reading never changes state
    with pytest.raises(StateError):
        tree.consume_receive_key(3, APP, 6)
    with pytest.raises(ValidationError):
        tree.consume_receive_key(8, APP, 0)
    assert tree.to_state() == before


def test_leaf_and_generation_out_of_range() -> None:
    tree = SecretTree(CS, SECRET, 3)
    with pytest.raises(ValidationError, match="leaf 3"):
        tree.receive_key(3, APP, 0)
    with pytest.raises(ValidationError, match="leaf -1"):
        tree.next_send_key(-1, APP)
    with pytest.raises(ValidationError, match="uint32"):
        tree.receive_key(0, APP, 1 << 32)
    with pytest.raises(ValidationError):
        SecretTree(CS, SECRET, 0)


def test_state_round_trip_keeps_working() -> None:
    tree = SecretTree(CS, SECRET, 8, out_of_order_window=4)
    tree.consume_receive_key(6, APP, 3)
    tree.next_send_key(1, HS)
    again = SecretTree.from_state(tree.to_state())
    assert again.to_state() == tree.to_state()
    # Both continue identically, and the reloaded one still refuses consumed keys.
    assert again.consume_receive_key(6, APP, 1) == tree.consume_receive_key(6, APP, 1)
    assert again.next_send_key(1, HS) == tree.next_send_key(1, HS)
    with pytest.raises(StateError, match="already used"):
        again.receive_key(6, APP, 3)


def test_reuse_guard_and_sender_data() -> None:
    nonce = bytes(range(12))
    guarded = apply_reuse_guard(nonce, b"\xff\x00\xff\x00")
    assert guarded == bytes([0xFF, 1, 0xFD, 3]) + nonce[4:]
    assert apply_reuse_guard(guarded, b"\xff\x00\xff\x00") == nonce
    with pytest.raises(ValidationError):
        apply_reuse_guard(nonce, b"abc")
    # The sample is the first Nh bytes: anything after it does not matter.
    short = sender_data_key_nonce(CS, SECRET, b"x" * 32)
    assert sender_data_key_nonce(CS, SECRET, b"x" * 32 + b"tail") == short
    assert sender_data_key_nonce(CS, SECRET, b"x" * 31) != short
    key, nonce = short
    assert (len(key), len(nonce)) == (CS.aead_key_len, CS.aead_nonce_len)


def test_ratchet_type_of_content() -> None:
    assert ratchet_type(ContentType.application) is APP
    assert ratchet_type(ContentType.proposal) is HS
    assert ratchet_type(ContentType.commit) is HS
    with pytest.raises(ValidationError):
        ratchet_type(ContentType.reserved)
