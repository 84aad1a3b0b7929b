"""secret-tree.json: sender-data key/nonce, and every listed generation of every leaf's
handshake and application ratchets (RFC 9420 §6.3.2, §9)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..crypto.suites import CipherSuite, cipher_suite
from ..engine.secret_tree import RatchetType, SecretTree, sender_data_key_nonce
from . import expect, unhex
from ._build import per_case
from ._rng import Drbg

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


# --- generation -----------------------------------------------------------------------
DEFAULT_COUNT = 2
LEAF_COUNTS = (1, 8, 32)  # as the official file; later cases draw 1..64 leaves


def _case(cs: CipherSuite, r: Drbg, index: int) -> dict[str, Any]:
    n_leaves = LEAF_COUNTS[index] if index < len(LEAF_COUNTS) else r.between(1, 64)
    # Generation 0 and one later generation for every leaf: the jump exercises the
    # ratchet's forward derivation (within the receive window check() relies on).
    generations = [0, r.between(1, 30)]
    sender_data_secret = r(cs.hash_len)
    ciphertext = r(r.between(16, 96))
    key, nonce = sender_data_key_nonce(cs, sender_data_secret, ciphertext)
    encryption_secret = r(cs.hash_len)
    tree = SecretTree(cs, encryption_secret, n_leaves)
    leaves: list[list[dict[str, Any]]] = []
    for leaf in range(n_leaves):
        entries = []
        for g in generations:
            entry: dict[str, Any] = {"generation": g}
            for kind in RatchetType:
                got = tree.consume_receive_key(leaf, kind, g)
                entry[f"{kind.value}_key"] = got.key.hex()
                entry[f"{kind.value}_nonce"] = got.nonce.hex()
            entries.append(entry)
        leaves.append(entries)
    return {
        "cipher_suite": cs.suite_id,
        "sender_data": {
            "sender_data_secret": sender_data_secret.hex(),
            "ciphertext": ciphertext.hex(),
            "key": key.hex(),
            "nonce": nonce.hex(),
        },
        "encryption_secret": encryption_secret.hex(),
        "leaves": leaves,
    }


def generate(
    suite: int | None,
    rng: Drbg,
    count: int | None = None,
    *,
    progress: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    cs = cipher_suite(suite if suite is not None else 1)
    n = DEFAULT_COUNT if count is None else count
    return [_case(cs, r, i) for i, r in per_case(rng, n, progress)]
