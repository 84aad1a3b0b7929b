"""Hash, HMAC, HKDF and AEAD: the symmetric primitives of an MLS cipher suite.

Backends (all OpenSSL underneath):

* hashing uses :mod:`hashlib`, CPython's one-shot binding to OpenSSL: for the short
  inputs MLS hashes (tree nodes, labels, transcript fragments) it is about 4x faster
  per call than building a ``cryptography`` ``Hash`` object (2.4M vs 0.64M calls/s);
* HMAC and HKDF-Extract both use ``cryptography``'s one-shot ``HKDF.extract``:
  HKDF-Extract(salt, ikm) *is* HMAC-Hash(salt, ikm) (RFC 5869 §2.2), and that call
  is the fastest HMAC available here (650k calls/s for SHA-256 on 80 bytes, against
  515k for :func:`hmac.digest` and 430k for an ``hmac.HMAC`` object);
* HKDF-Expand to at most one block (every MLS key, nonce and secret) is
  T(1) = HMAC(prk, info || 0x01) cut to length (RFC 5869 §2.3), through the same
  one-shot call (1.5 µs against 2.1 µs for building an ``HKDFExpand``); longer
  outputs use ``cryptography``'s ``HKDFExpand``;
* several one-block expansions of one secret (a ratchet step's key, nonce and next
  secret; a message's sender-data key and nonce) key one HMAC once and copy it per
  output: :meth:`Kdf.expand_blocks` (CPython's OpenSSL HMAC object, whose ``copy`` is
  one C call: 2.4 µs for three outputs against 3.6 µs for three one-shot calls);
* AEADs use ``cryptography``'s ``AESGCM`` and ``ChaCha20Poly1305``.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

from mlswire.errors import CryptoError

from .turboshake import turboshake128, turboshake256

try:  # CPython's OpenSSL HMAC, without the pure-Python wrapper of hmac.HMAC around it
    from _hashlib import hmac_new as _hmac_new
except ImportError:  # pragma: no cover - a Python built without OpenSSL's hashlib
    from hmac import new as _hmac_new  # type: ignore[assignment]

Rng = Callable[[int], bytes]
"""A randomness source: ``rng(n)`` returns ``n`` random bytes (default :func:`os.urandom`)."""


class SeededRng(ABC):
    """A reproducible randomness source: the seeded test-vector generator's.

    Reproducing a classical run needs only an injected ``rng`` (HPKE ephemerals are
    ``DeriveKeyPair(rng(Nsk))``, ECDSA turns deterministic). ML-KEM encapsulation and
    ML-DSA signing need more: derandomized algorithms (FIPS 203 ``Encaps_internal``,
    FIPS 204 deterministic signing) that mlswire runs in pure Python. They are meant
    for test vectors only, never for live traffic, so they run only for an rng of this
    type; its one implementation is :class:`mlswire.vectors._rng.Drbg` (a test checks
    that nothing else in mlswire subclasses it). Any other ``rng`` leaves PQ
    encapsulation and ML-DSA signing to ``cryptography`` and the OS's randomness.
    """

    __slots__ = ()

    @abstractmethod
    def __call__(self, n: int) -> bytes: ...


def random_bytes(rng: Rng | None, n: int) -> bytes:
    """``n`` bytes from ``rng`` (or the OS), checking that the source kept its promise."""
    if rng is None:
        return os.urandom(n)
    out = rng(n)
    if not isinstance(out, bytes) or len(out) != n:
        got = len(out) if isinstance(out, (bytes, bytearray)) else type(out).__name__
        raise CryptoError(f"randomness source returned {got} instead of {n} bytes")
    return out


class Kdf:
    """HKDF over one SHA-2 hash (RFC 5869), plus the bare hash and HMAC."""

    __slots__ = ("_alg", "_max_expand", "_new", "hash_name", "kdf_id", "name", "nh")

    def __init__(self, kdf_id: int, hash_name: str) -> None:
        self.kdf_id = kdf_id
        self.hash_name = hash_name
        self.name = "HKDF-" + hash_name.upper()
        self._new: Callable[[bytes], hashlib._Hash] = getattr(hashlib, hash_name)
        algs: dict[str, hashes.HashAlgorithm] = {
            "sha256": hashes.SHA256(),
            "sha384": hashes.SHA384(),
            "sha512": hashes.SHA512(),
        }
        self._alg = algs[hash_name]
        self.nh: int = self._alg.digest_size
        self._max_expand = 255 * self.nh

    def hash(self, data: bytes) -> bytes:
        return self._new(data).digest()

    def mac(self, key: bytes, data: bytes) -> bytes:
        # HMAC(key, data) through HKDF-Extract(salt=key, ikm=data): the same function.
        return HKDF.extract(self._alg, key, data)

    def extract(self, salt: bytes, ikm: bytes) -> bytes:
        # An empty salt is the same HMAC key as Nh zero bytes (HMAC pads keys with
        # zeros), which is what RFC 5869 asks for.
        return HKDF.extract(self._alg, salt, ikm)

    def expand(self, prk: bytes, info: bytes, length: int) -> bytes:
        if not 0 < length <= self._max_expand:
            raise CryptoError(
                f"{self.name} cannot expand to {length} bytes (1..{self._max_expand})"
            )
        if length <= self.nh:
            return HKDF.extract(self._alg, prk, info + b"\x01")[:length]
        return HKDFExpand(self._alg, length, info).derive(prk)

    def expand_blocks(self, prk: bytes, infos: tuple[bytes, ...]) -> list[bytes]:
        """T(1) = HMAC(prk, info || 0x01) for each ``info``: HKDF-Expand(prk, info, L) is
        its first L bytes for every L <= Nh (RFC 5869 §2.3). The HMAC is keyed once."""
        keyed = _hmac_new(prk, digestmod=self.hash_name)
        out = []
        for info in infos:
            h = keyed.copy()
            h.update(info)
            h.update(b"\x01")
            out.append(h.digest())
        return out


class Aead:
    """One AEAD algorithm of RFC 9180 §7.3 (ids 1, 2, 3)."""

    __slots__ = ("_cls", "aead_id", "name", "nk", "nn", "nt")

    def __init__(self, aead_id: int) -> None:
        self.aead_id = aead_id
        self._cls: type[AESGCM] | type[ChaCha20Poly1305]
        if aead_id == 1:
            self.name, self.nk, self._cls = "AES-128-GCM", 16, AESGCM
        elif aead_id == 2:
            self.name, self.nk, self._cls = "AES-256-GCM", 32, AESGCM
        elif aead_id == 3:
            self.name, self.nk, self._cls = "ChaCha20Poly1305", 32, ChaCha20Poly1305
        else:  # pragma: no cover - the suite table only names the three above
            raise CryptoError(f"unknown AEAD id {aead_id}")
        self.nn = 12
        self.nt = 16

    def _check(self, key: bytes, nonce: bytes) -> None:
        if len(key) != self.nk:
            raise CryptoError(f"{self.name} key must be {self.nk} bytes, not {len(key)}")
        if len(nonce) != self.nn:
            raise CryptoError(f"{self.name} nonce must be {self.nn} bytes, not {len(nonce)}")

    def seal(self, key: bytes, nonce: bytes, aad: bytes, plaintext: bytes) -> bytes:
        self._check(key, nonce)
        return self._cls(key).encrypt(nonce, plaintext, aad)

    def open(self, key: bytes, nonce: bytes, aad: bytes, ciphertext: bytes) -> bytes:
        self._check(key, nonce)
        if len(ciphertext) < self.nt:
            raise CryptoError(f"{self.name} ciphertext shorter than its {self.nt}-byte tag")
        try:
            return self._cls(key).decrypt(nonce, ciphertext, aad)
        except InvalidTag:
            raise CryptoError(
                f"{self.name} decryption failed (bad key, nonce, aad or tag)"
            ) from None


class OneStageKdf:
    """A one-stage (XOF) HPKE KDF of draft-ietf-hpke-pq §5: SHAKE128/256 (``hashlib``)
    and TurboSHAKE128/256 (:mod:`mlswire.crypto.turboshake`). HPKE only: MLS suites
    need the two-stage Extract/Expand of HKDF."""

    __slots__ = ("_derive", "kdf_id", "name", "nh")

    def __init__(self, kdf_id: int, name: str, nh: int, derive: Callable[[bytes, int], bytes]):
        self.kdf_id = kdf_id
        self.name = name
        self.nh = nh
        self._derive = derive

    def derive(self, ikm: bytes, length: int) -> bytes:
        return self._derive(ikm, length)

    def labeled_derive(
        self, suite_id: bytes, ikm: bytes, label: bytes, context: bytes, length: int
    ) -> bytes:
        """LabeledDerive (draft-ietf-hpke-hpke §4); ``suite_id`` includes "HPKE-v1"."""
        if not 0 < length <= 0xFFFF:
            raise CryptoError(f"{self.name} cannot derive {length} bytes")
        labeled = ikm + suite_id + len(label).to_bytes(2, "big") + label + length.to_bytes(2, "big")
        return self._derive(labeled + context, length)


def _shake(name: str) -> Callable[[bytes, int], bytes]:
    new = getattr(hashlib, name)
    return lambda data, length: new(data).digest(length)


ONE_STAGE_KDFS: dict[int, OneStageKdf] = {
    0x0010: OneStageKdf(0x0010, "SHAKE128", 32, _shake("shake_128")),
    0x0011: OneStageKdf(0x0011, "SHAKE256", 64, _shake("shake_256")),
    0x0012: OneStageKdf(0x0012, "TurboSHAKE128", 32, turboshake128),
    0x0013: OneStageKdf(0x0013, "TurboSHAKE256", 64, turboshake256),
}

KDFS: dict[int, Kdf] = {1: Kdf(1, "sha256"), 2: Kdf(2, "sha384"), 3: Kdf(3, "sha512")}
AEADS: dict[int, Aead] = {1: Aead(1), 2: Aead(2), 3: Aead(3)}

__all__ = [
    "AEADS",
    "KDFS",
    "ONE_STAGE_KDFS",
    "Aead",
    "Kdf",
    "OneStageKdf",
    "Rng",
    "SeededRng",
    "random_bytes",
]
