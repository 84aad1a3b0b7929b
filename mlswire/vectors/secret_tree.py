"""secret-tree.json: sender-data key/nonce, and every listed generation of every leaf's
handshake and application ratchets (RFC 9420 §6.3.2, §9)."""

from __future__ import annotations

from typing import Any

from ..crypto.suites import cipher_suite
from ..engine.secret_tree import RatchetType, SecretTree, sender_data_key_nonce
from . import expect, unhex

FAMILY = "secret-tree"
KEYS = frozenset({"cipher_suite", "sender_data", "encryption_secret", "leaves"})


def check(case: dict[str, Any]) -> None:
    cs = cipher_suite(case["cipher_suite"])

    sd = case["sender_data"]
    key, nonce = sender_data_key_nonce(cs, unhex(sd["sender_data_secret"]), unhex(sd["ciphertext"]))
    expect("sender_data key", key, unhex(sd["key"]))
    expect("sender_data nonce", nonce, unhex(sd["nonce"]))

    leaves = case["leaves"]
    # The listed generations are increasing, so each is consumed in turn through the
    # receive path; the window covers the jumps (0 -> 15) between them.
    tree = SecretTree(cs, unhex(case["encryption_secret"]), len(leaves))
    for leaf, generations in enumerate(leaves):
        for entry in generations:
            g = entry["generation"]
            for kind in RatchetType:
                got = tree.consume_receive_key(leaf, kind, g)
                expect(
                    f"leaf {leaf} generation {g} {kind.value}_key",
                    got.key,
                    unhex(entry[f"{kind.value}_key"]),
                )
                expect(
                    f"leaf {leaf} generation {g} {kind.value}_nonce",
                    got.nonce,
                    unhex(entry[f"{kind.value}_nonce"]),
                )
