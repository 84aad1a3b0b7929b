"""Ed25519 through libsodium (PyNaCl) gives exactly OpenSSL's answers: the same signature
bytes, and the same accept/reject decision for every input, including the inputs that
libsodium refuses and OpenSSL accepts (small-order points), where mlswire must answer
as OpenSSL does."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519

from mlswire.crypto import signature
from mlswire.errors import CryptoError

nacl = pytest.importorskip("nacl.bindings", reason="PyNaCl (the accel extra) is not installed")

SCHEME = signature.SIGNATURE_SCHEMES[0x0807]
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
IDENTITY = b"\x01" + bytes(31)  # the neutral element, y = 1
ORDER_2 = (P - 1).to_bytes(32, "little")  # y = -1, a point of order 2


@pytest.fixture(autouse=True)
def _sodium_on() -> Iterator[None]:
    assert signature.use_libsodium(True)
    yield
    signature.use_libsodium(True)


def openssl_accepts(pk: bytes, msg: bytes, sig: bytes) -> bool:
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(pk).verify(sig, msg)
    except (InvalidSignature, ValueError):
        return False
    return True


def sodium_accepts(pk: bytes, msg: bytes, sig: bytes) -> bool:
    try:
        nacl.crypto_sign_open(sig + msg, pk)
    except Exception:
        return False
    return True


def mlswire_accepts(pk: bytes, msg: bytes, sig: bytes) -> bool:
    try:
        SCHEME.verify(pk, msg, sig)
    except CryptoError:
        return False
    return True


def test_signatures_are_openssls_bytes() -> None:
    rnd = random.Random(20)
    for _ in range(200):
        sk = rnd.randbytes(32)
        msg = rnd.randbytes(rnd.randrange(0, 400))
        want = ed25519.Ed25519PrivateKey.from_private_bytes(sk).sign(msg)
        assert SCHEME.sign(sk, msg, None) == want
        assert mlswire_accepts(SCHEME.public_from_private(sk), msg, want)


def test_every_decision_is_openssls() -> None:
    rnd = random.Random(21)
    cases: list[tuple[bytes, bytes, bytes]] = []
    for _ in range(100):
        sk = rnd.randbytes(32)
        pk = SCHEME.public_from_private(sk)
        msg = rnd.randbytes(rnd.randrange(1, 200))
        sig = SCHEME.sign(sk, msg, None)
        cases.append((pk, msg, sig))
        bit = rnd.randrange(512)
        flipped = bytearray(sig)
        flipped[bit // 8] ^= 1 << (bit % 8)
        cases.append((pk, msg, bytes(flipped)))  # tampered signature
        cases.append((pk, msg + b"x", sig))  # another message
        s = int.from_bytes(sig[32:], "little")
        cases.append((pk, msg, sig[:32] + (s + L).to_bytes(32, "little")))  # S >= L
        cases.append((pk, msg, sig[:63]))  # short signature
    for pk in (IDENTITY, ORDER_2):
        for r in (IDENTITY, ORDER_2):
            cases.append((pk, b"hi", r + bytes(32)))
    decisions = [(openssl_accepts(*c), sodium_accepts(*c), mlswire_accepts(*c)) for c in cases]
    assert [m for _, _, m in decisions] == [o for o, _, _ in decisions]
    # Both kinds of case are there: accepted ones, and ones only OpenSSL accepts (a
    # small-order key with the neutral R and S = 0), where the fallback decides.
    assert sum(o for o, _, _ in decisions) == 100 + 2
    assert sum(o and not s for o, s, _ in decisions) == 2


def test_bad_keys_fail_as_before() -> None:
    for pk in (b"\x00" * 31, b"\x00" * 33):
        with pytest.raises(CryptoError, match="ed25519 public key must be 32 bytes"):
            SCHEME.verify(pk, b"m", bytes(64))
    with pytest.raises(CryptoError, match="ed25519 private key must be 32 bytes"):
        SCHEME.sign(b"\x01" * 31, b"m", None)


def test_switch_off_uses_openssl_alone() -> None:
    sk = bytes(range(32))
    pk = SCHEME.public_from_private(sk)
    sig = SCHEME.sign(sk, b"m", None)
    assert not signature.use_libsodium(False)
    assert SCHEME.sign(sk, b"m", None) == sig
    SCHEME.verify(pk, b"m", sig)
    with pytest.raises(CryptoError):
        SCHEME.verify(pk, b"n", sig)
