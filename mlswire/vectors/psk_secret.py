"""psk_secret.json: the psk_secret of RFC 9420 §8.4 for a list of external PSKs."""

from __future__ import annotations

from typing import Any

from ..crypto.suites import cipher_suite
from ..engine import psk as psks
from . import expect, unhex

FAMILY = "psk_secret"
KEYS = frozenset({"cipher_suite", "psks", "psk_secret"})


def check(case: dict[str, Any]) -> None:
    cs = cipher_suite(case["cipher_suite"])
    pairs = [
        (psks.external_psk_id(unhex(p["psk_id"]), unhex(p["psk_nonce"])), unhex(p["psk"]))
        for p in case["psks"]
    ]
    # The generator's nonces are KDF.Nh random bytes and its ids distinct, so the ids
    # also pass the rules a receiver applies.
    psks.check_psk_ids(cs, [psk_id for psk_id, _ in pairs])
    expect("psk_secret", psks.psk_secret(cs, pairs), unhex(case["psk_secret"]))
