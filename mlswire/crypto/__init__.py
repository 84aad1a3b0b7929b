"""Cryptographic primitives of the seven RFC 9420 cipher suites (§17.1).

>>> from mlswire.crypto import cipher_suite
>>> suite = cipher_suite(0x0001)
>>> sk, pk = suite.derive_key_pair(bytes(32))
>>> kem_output, ct = suite.hpke_seal(pk, b"info", b"", b"hello")
>>> suite.hpke_open(sk, kem_output, b"info", b"", ct)
b'hello'
"""

from __future__ import annotations

from . import dialects  # noqa: F401 - registers dialect:code names with parse_suite
from .hpke import HpkeInfo, HpkePrivateKey, HpkeSuite
from .primitives import Rng
from .suites import (
    SUITE_TABLE,
    SUPPORTED_CIPHER_SUITES,
    CipherSuite,
    SuiteSpec,
    cipher_suite,
    clear_key_caches,
)

__all__ = [
    "SUITE_TABLE",
    "SUPPORTED_CIPHER_SUITES",
    "CipherSuite",
    "HpkeInfo",
    "HpkePrivateKey",
    "HpkeSuite",
    "Rng",
    "SuiteSpec",
    "cipher_suite",
    "clear_key_caches",
]
