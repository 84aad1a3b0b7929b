"""crypto-basics.json: RefHash, ExpandWithLabel, DeriveSecret, DeriveTreeSecret,
SignWithLabel and EncryptWithLabel, per cipher suite."""

from __future__ import annotations

from typing import Any

from ..crypto import labeled
from ..crypto.suites import cipher_suite
from . import expect, unhex

FAMILY = "crypto-basics"
KEYS = frozenset({"cipher_suite", "ref_hash", "expand_with_label", "sign_with_label"})


def check(case: dict[str, Any]) -> None:
    cs = cipher_suite(case["cipher_suite"])

    v = case["ref_hash"]
    expect("ref_hash", labeled.ref_hash(cs, v["label"], unhex(v["value"])), unhex(v["out"]))

    v = case["expand_with_label"]
    out = labeled.expand_with_label(cs, unhex(v["secret"]), v["label"], unhex(v["context"]), v["length"])
    expect("expand_with_label", out, unhex(v["out"]))

    v = case["derive_secret"]
    expect("derive_secret", labeled.derive_secret(cs, unhex(v["secret"]), v["label"]), unhex(v["out"]))

    v = case["derive_tree_secret"]
    out = labeled.derive_tree_secret(cs, unhex(v["secret"]), v["label"], v["generation"], v["length"])
    expect("derive_tree_secret", out, unhex(v["out"]))

    # Signatures may be randomized (ECDSA): verify the vector's, then our own.
    v = case["sign_with_label"]
    priv, pub, content = unhex(v["priv"]), unhex(v["pub"]), unhex(v["content"])
    labeled.verify_with_label(cs, pub, v["label"], content, unhex(v["signature"]))
    ours = labeled.sign_with_label(cs, priv, v["label"], content)
    labeled.verify_with_label(cs, pub, v["label"], content, ours)

    # Encryption is randomized: decrypt the vector's, then round-trip our own.
    v = case["encrypt_with_label"]
    priv, pub, context = unhex(v["priv"]), unhex(v["pub"]), unhex(v["context"])
    plaintext = unhex(v["plaintext"])
    got = labeled.decrypt_with_label(
        cs, priv, v["label"], context, unhex(v["kem_output"]), unhex(v["ciphertext"])
    )
    expect("encrypt_with_label (decrypt the vector's)", got, plaintext)
    kem_output, ciphertext = labeled.encrypt_with_label(cs, pub, v["label"], context, plaintext)
    again = labeled.decrypt_with_label(cs, priv, v["label"], context, kem_output, ciphertext)
    expect("encrypt_with_label (round trip)", again, plaintext)
