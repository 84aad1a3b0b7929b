"""ML-DSA-44/65/87 (FIPS 204, pure, empty context, seed private keys) as MLS signature
schemes, cross-checked with ``cryptography``; the pure-Python deterministic signer is
reachable only through the seeded vector generator's rng."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import mldsa as native

from mlswire.crypto import mldsa
from mlswire.crypto.primitives import SeededRng
from mlswire.crypto.signature import SIGNATURE_SCHEMES
from mlswire.errors import CryptoError
from mlswire.vectors._rng import Drbg

SCHEMES = {
    0x0904: (mldsa.ML_DSA_44, native.MLDSA44PrivateKey, 1312, 2420),
    0x0905: (mldsa.ML_DSA_65, native.MLDSA65PrivateKey, 1952, 3309),
    0x0906: (mldsa.ML_DSA_87, native.MLDSA87PrivateKey, 2592, 4627),
}


@pytest.mark.parametrize("scheme_id", list(SCHEMES), ids=lambda i: f"{i:#06x}")
def test_ml_dsa_scheme(scheme_id: int) -> None:
    params, native_cls, pk_len, sig_len = SCHEMES[scheme_id]
    scheme = SIGNATURE_SCHEMES[scheme_id]
    sk, pk = scheme.key_pair(None)
    assert (len(sk), len(pk)) == (32, pk_len)
    assert pk == native_cls.from_seed_bytes(sk).public_key().public_bytes_raw()
    assert pk == mldsa.public_key(params, sk)  # the pure KeyGen agrees

    hedged = scheme.sign(sk, b"message", None)
    assert len(hedged) == sig_len == params.sig_len
    scheme.verify(pk, b"message", hedged)
    assert scheme.sign(sk, b"message", None) != hedged  # fresh randomness each time

    seeded = scheme.sign(sk, b"message", Drbg("x"))
    assert seeded == scheme.sign(sk, b"message", Drbg("y"))  # deterministic variant
    native_cls.from_seed_bytes(sk).public_key().verify(seeded, b"message")  # OpenSSL accepts
    scheme.verify(pk, b"message", seeded)

    for bad_msg, bad_sig in ((b"other", seeded), (b"message", seeded[:-1] + b"\x01")):
        with pytest.raises(CryptoError):
            scheme.verify(pk, bad_msg, bad_sig)
    with pytest.raises(CryptoError):
        scheme.verify(pk[:-1], b"message", seeded)
    with pytest.raises(CryptoError):
        scheme.sign(sk + b"\x00", b"message", None)


@pytest.mark.parametrize("params", [mldsa.ML_DSA_44, mldsa.ML_DSA_65, mldsa.ML_DSA_87])
def test_deterministic_signatures_verify_under_openssl(params: mldsa.MlDsaParams) -> None:
    """Many messages (so the rejection loop takes different numbers of rounds)."""
    native_cls = {44: native.MLDSA44PrivateKey, 65: native.MLDSA65PrivateKey}.get(
        int(params.name[-2:]), native.MLDSA87PrivateKey
    )
    for _ in range(6):
        seed = os.urandom(32)
        public = native_cls.from_seed_bytes(seed).public_key()
        msg = os.urandom(int.from_bytes(os.urandom(1), "big"))
        public.verify(mldsa.sign_deterministic(params, seed, msg), msg)


def test_only_the_vector_generator_makes_seeded_rngs() -> None:
    """Derandomized ML-KEM encapsulation and deterministic ML-DSA signing run only for a
    SeededRng: the vector generator's Drbg is its one subclass, and no module outside
    mlswire/vectors (and the crypto module that defines it) names either class."""
    assert [
        cls.__name__ for cls in SeededRng.__subclasses__() if cls.__module__.startswith("mlswire")
    ] == ["Drbg"]
    root = Path(__file__).resolve().parent.parent / "mlswire"
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("vectors/") or rel in {
            "crypto/primitives.py",
            "crypto/pq_kem.py",
            "crypto/signature.py",
        }:
            continue
        names = {n.id for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Name)}
        names |= {
            a.name
            for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, ast.ImportFrom)
            for a in n.names
        }
        assert not names & {"SeededRng", "Drbg"}, rel
