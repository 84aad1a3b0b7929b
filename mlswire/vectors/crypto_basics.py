"""crypto-basics.json: RefHash, ExpandWithLabel, DeriveSecret, DeriveTreeSecret,
SignWithLabel and EncryptWithLabel, per cipher suite."""

from __future__ import annotations

from typing import Any

from ..crypto import labeled
from ..crypto.suites import CipherSuite, cipher_suite
from . import expect, unhex
from ._build import per_suite_generator
from ._rng import Drbg

FAMILY = "crypto-basics"
KEYS = frozenset({"cipher_suite", "ref_hash", "expand_with_label", "sign_with_label"})


def check(case: dict[str, Any]) -> None:
    cs = cipher_suite(case["cipher_suite"])

    v = case["ref_hash"]
    expect("ref_hash", labeled.ref_hash(cs, v["label"], unhex(v["value"])), unhex(v["out"]))

    v = case["expand_with_label"]
    out = labeled.expand_with_label(
        cs, unhex(v["secret"]), v["label"], unhex(v["context"]), v["length"]
    )
    expect("expand_with_label", out, unhex(v["out"]))

    v = case["derive_secret"]
    expect(
        "derive_secret", labeled.derive_secret(cs, unhex(v["secret"]), v["label"]), unhex(v["out"])
    )

    v = case["derive_tree_secret"]
    out = labeled.derive_tree_secret(
        cs, unhex(v["secret"]), v["label"], v["generation"], v["length"]
    )
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


# --- generation: one case per suite, random inputs, outputs computed by mlswire ---------
DEFAULT_COUNT = 1


def _case(cs: CipherSuite, r: Drbg) -> dict[str, Any]:
    nh = cs.hash_len
    value = r(32)
    secret, context = r(nh), r(32)
    length = r.between(16, nh)
    derive_in = r(nh)
    tree_in, generation, tree_len = r(nh), r.uint(32), cs.aead_key_len
    sign_priv, sign_pub = cs.signature_key_pair(r)
    content = r(32)
    enc_priv, enc_pub = cs.generate_key_pair(r)
    enc_context, plaintext = r(32), r(32)
    kem_output, ciphertext = labeled.encrypt_with_label(
        cs, enc_pub, "EncryptWithLabel", enc_context, plaintext, rng=r
    )
    return {
        "cipher_suite": cs.suite_id,
        "ref_hash": {
            "label": "RefHash",
            "value": value.hex(),
            "out": labeled.ref_hash(cs, "RefHash", value).hex(),
        },
        "expand_with_label": {
            "secret": secret.hex(),
            "label": "ExpandWithLabel",
            "context": context.hex(),
            "length": length,
            "out": labeled.expand_with_label(cs, secret, "ExpandWithLabel", context, length).hex(),
        },
        "derive_secret": {
            "secret": derive_in.hex(),
            "label": "DeriveSecret",
            "out": labeled.derive_secret(cs, derive_in, "DeriveSecret").hex(),
        },
        "derive_tree_secret": {
            "secret": tree_in.hex(),
            "label": "DeriveTreeSecret",
            "generation": generation,
            "length": tree_len,
            "out": labeled.derive_tree_secret(
                cs, tree_in, "DeriveTreeSecret", generation, tree_len
            ).hex(),
        },
        "sign_with_label": {
            "priv": sign_priv.hex(),
            "pub": sign_pub.hex(),
            "content": content.hex(),
            "label": "SignWithLabel",
            "signature": labeled.sign_with_label(
                cs, sign_priv, "SignWithLabel", content, rng=r
            ).hex(),
        },
        "encrypt_with_label": {
            "priv": enc_priv.hex(),
            "pub": enc_pub.hex(),
            "label": "EncryptWithLabel",
            "context": enc_context.hex(),
            "plaintext": plaintext.hex(),
            "kem_output": kem_output.hex(),
            "ciphertext": ciphertext.hex(),
        },
    }


generate = per_suite_generator(_case, DEFAULT_COUNT)
