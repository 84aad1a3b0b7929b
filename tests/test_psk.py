"""PSKs (RFC 9420 §8.4, §12.1.4) beyond psk_secret.json: resumption ids, the rules on
PSK lists, and missing PSKs."""

from __future__ import annotations

import pytest

from mlswire.codecs import tls
from mlswire.crypto.suites import cipher_suite
from mlswire.engine import psk
from mlswire.errors import StateError, ValidationError
from mlswire.schema import PreSharedKeyID, PSKType, ResumptionPSKUsage

CS = cipher_suite(1)
NONCE = b"\x5a" * 32


def test_no_psks_give_the_zero_vector() -> None:
    assert psk.psk_secret(CS, []) == bytes(32)
    assert psk.psk_secret(cipher_suite(5), []) == bytes(64)


def test_order_and_ids_matter() -> None:
    a = (psk.external_psk_id(b"a", NONCE), b"\x01" * 32)
    b = (psk.external_psk_id(b"b", NONCE), b"\x02" * 32)
    assert psk.psk_secret(CS, [a, b]) != psk.psk_secret(CS, [b, a])
    # The same value under another id (or nonce) is a different input: PSKLabel binds it.
    a2 = (psk.external_psk_id(b"a", b"\x5b" * 32), b"\x01" * 32)
    assert psk.psk_secret(CS, [a]) != psk.psk_secret(CS, [a2])


def test_resumption_id_round_trips_and_differs_from_external() -> None:
    rid = psk.resumption_psk_id(ResumptionPSKUsage.application, b"group", 7, NONCE)
    assert rid.psktype == PSKType.resumption
    assert tls.decode(tls.encode(rid, PreSharedKeyID), PreSharedKeyID) == rid
    value = b"\x03" * 32
    ext = psk.external_psk_id(b"group", NONCE)
    assert psk.psk_secret(CS, [(rid, value)]) != psk.psk_secret(CS, [(ext, value)])


def test_fresh_nonce_has_hash_length_and_uses_the_rng() -> None:
    assert len(psk.fresh_psk_nonce(cipher_suite(7))) == 48
    assert psk.fresh_psk_nonce(CS, rng=lambda n: b"\x01" * n) == b"\x01" * 32


def test_nonce_of_the_wrong_length_is_rejected() -> None:
    with pytest.raises(ValidationError, match="psk_nonce") as info:
        psk.check_psk_ids(CS, [psk.external_psk_id(b"a", NONCE), psk.external_psk_id(b"b", b"x")])
    assert info.value.where == "psks[1]"


def test_the_same_psk_twice_is_rejected_even_with_fresh_nonces() -> None:
    ids = [psk.external_psk_id(b"a", NONCE), psk.external_psk_id(b"a", b"\x01" * 32)]
    with pytest.raises(ValidationError, match="§12.2"):
        psk.check_psk_ids(CS, ids)
    ids = [
        psk.resumption_psk_id(ResumptionPSKUsage.application, b"g", 1, NONCE),
        psk.resumption_psk_id(ResumptionPSKUsage.application, b"g", 1, b"\x02" * 32),
    ]
    with pytest.raises(ValidationError, match="§12.2"):
        psk.check_psk_ids(CS, ids)
    # Different epochs of one group are different PSKs.
    ids[1] = psk.resumption_psk_id(ResumptionPSKUsage.application, b"g", 2, NONCE)
    psk.check_psk_ids(CS, ids)


@pytest.mark.parametrize("usage", [ResumptionPSKUsage.reinit, ResumptionPSKUsage.branch])
def test_reinit_and_branch_only_where_allowed_and_only_once(usage: ResumptionPSKUsage) -> None:
    special = psk.resumption_psk_id(usage, b"old", 9, NONCE)
    with pytest.raises(ValidationError, match="§12.1.4"):
        psk.check_psk_ids(CS, [special])
    psk.check_psk_ids(CS, [special], allowed_usages=[usage])
    other = psk.resumption_psk_id(usage, b"older", 3, NONCE)
    with pytest.raises(ValidationError, match="at most one"):
        psk.check_psk_ids(CS, [special, other], allowed_usages=[usage])


def test_reserved_psktype_is_rejected() -> None:
    bad = PreSharedKeyID(psktype=PSKType.reserved, psk_nonce=NONCE)
    with pytest.raises(ValidationError, match="psktype"):
        psk.check_psk_ids(CS, [bad])


def test_missing_psk_raises_state_error_naming_it() -> None:
    held = psk.external_psk_id(b"held", NONCE)
    missing = psk.resumption_psk_id(ResumptionPSKUsage.application, b"\xab\xcd", 4, NONCE)

    def lookup(psk_id: PreSharedKeyID) -> bytes | None:
        return b"\x01" * 32 if psk_id == held else None

    assert psk.resolve_psks([held], lookup) == [(held, b"\x01" * 32)]
    with pytest.raises(StateError, match=r"psks\[1\].*abcd epoch 4"):
        psk.resolve_psks([held, missing], lookup)
    with pytest.raises(StateError, match="external PSK 68656c64"):
        psk.resolve_psks([held], None)
