"""psk_secret.json: the psk_secret of RFC 9420 §8.4 for a list of external PSKs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..crypto.suites import cipher_suite
from ..engine import psk as psks
from . import expect, unhex
from ._build import per_case
from ._rng import Drbg

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


# --- generation: case i injects i external PSKs (0, 1, 2, ... as the official file) ----
DEFAULT_COUNT = 4


def generate(
    suite: int | None,
    rng: Drbg,
    count: int | None = None,
    *,
    progress: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    cs = cipher_suite(suite if suite is not None else 1)
    out: list[dict[str, Any]] = []
    for i, r in per_case(rng, DEFAULT_COUNT if count is None else count, progress):
        chosen = [(r(32), r(cs.hash_len), psks.fresh_psk_nonce(cs, r)) for _ in range(i)]
        pairs = [(psks.external_psk_id(psk_id, nonce), psk) for psk_id, psk, nonce in chosen]
        out.append(
            {
                "cipher_suite": cs.suite_id,
                "psks": [
                    {"psk_id": psk_id.hex(), "psk": psk.hex(), "psk_nonce": nonce.hex()}
                    for psk_id, psk, nonce in chosen
                ],
                "psk_secret": psks.psk_secret(cs, pairs).hex(),
            }
        )
    return out
