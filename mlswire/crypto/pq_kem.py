"""The post-quantum HPKE KEMs of draft-ietf-hpke-pq: ML-KEM-512/768/1024 (0x0040-0x0042)
and the hybrids MLKEM768-P256 (0x0050), MLKEM1024-P384 (0x0051) and MLKEM768-X25519
(X-Wing, 0x647a), with their private keys in seed format (64 bytes for ML-KEM, 32 for
the hybrids).

What runs where, and why:

* ML-KEM-768/1024 key expansion, encapsulation and decapsulation use ``cryptography``
  (``asymmetric.mlkem``, OpenSSL): it has both parameter sets and takes the 64-byte
  seed. ML-KEM-512 runs on :mod:`mlswire.crypto.mlkem` (``cryptography`` lacks it).
* The hybrids are composed here from ``cryptography``'s ML-KEM, X25519 and ECDH with
  ``hashlib``'s SHAKE256 (key expansion) and SHA3-256 (the combiner), following the CG
  framework of draft-irtf-cfrg-hybrid-kems as instantiated by
  draft-irtf-cfrg-concrete-hybrid-kems. ``cryptography``'s HPKE module has X-Wing and
  MLKEM1024-P384 inside its single-shot seal, but exposes neither the KEM nor the
  expanded key nor export, and has no MLKEM768-P256 at all.
* ``DeriveKeyPair`` is a rule, not a constant: the standard one is hpke-pq's
  ``SHAKE256.LabeledDerive(ikm, "DeriveKeyPair", "", Nsk)``; other stacks use others
  (see :mod:`mlswire.crypto.dialects`), so each KEM object takes its rule.

Randomness. Encapsulation draws fresh randomness from the OS through ``cryptography``
(``encapsulate()`` takes none). Only when the ``rng`` is a
:class:`~mlswire.crypto.primitives.SeededRng` (the seeded vector generator's) is the
encapsulation derandomized: ML-KEM's ``m`` and the hybrids' ephemeral seed come from
that rng and ML-KEM runs the pure-Python ``Encaps_internal``. Any other injected rng
cannot fix a PQ encapsulation, and the OS randomness is used.
"""

from __future__ import annotations

import functools
import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, mlkem, x25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from mlswire.errors import CryptoError

from . import mlkem as pure
from .curves import P256, P384, EcCurve
from .kem import HPKE_VERSION, HpkePrivateKey, Kem
from .primitives import ONE_STAGE_KDFS, Rng, SeededRng, random_bytes

PUBLIC_KEY_CACHE_SIZE = 1024

SeedRule = Callable[[bytes], bytes]
"""A DeriveKeyPair rule: ikm -> the KEM's private key seed (Nsk bytes)."""


def hpke_pq_rule(kem_id: int, nsk: int) -> SeedRule:
    """draft-ietf-hpke-pq DeriveKeyPair: SHAKE256.LabeledDerive(ikm, "DeriveKeyPair", "", Nsk)."""
    suite_id = HPKE_VERSION + b"KEM" + kem_id.to_bytes(2, "big")
    shake256 = ONE_STAGE_KDFS[0x0011]
    return lambda ikm: shake256.labeled_derive(suite_id, ikm, b"DeriveKeyPair", b"", nsk)


def _seeded(rng: Rng | None) -> SeededRng | None:
    return rng if isinstance(rng, SeededRng) else None


class MlKem(Kem):
    """ML-KEM as an HPKE KEM (draft-ietf-hpke-pq §3): sk is the 64-byte seed d || z."""

    def __init__(
        self,
        kem_id: int,
        params: pure.MlKemParams,
        native: type[mlkem.MLKEM768PrivateKey] | type[mlkem.MLKEM1024PrivateKey] | None,
        native_public: type[mlkem.MLKEM768PublicKey] | type[mlkem.MLKEM1024PublicKey] | None,
        rule: SeedRule | None = None,
    ) -> None:
        self.kem_id = kem_id
        self.params = params
        self.name = params.name
        self.nsecret = 32
        self.nenc = params.ct_len
        self.npk = params.ek_len
        self.nsk = 64
        self._native = native
        self._native_public = native_public
        self.rule: SeedRule = rule or hpke_pq_rule(kem_id, 64)
        self._public_cached = functools.lru_cache(maxsize=PUBLIC_KEY_CACHE_SIZE)(self._load_public)

    def with_rule(self, rule: SeedRule) -> MlKem:
        return MlKem(self.kem_id, self.params, self._native, self._native_public, rule)

    # --- keys -------------------------------------------------------------------------
    def _load_public(self, pk: bytes) -> Any:
        if len(pk) != self.npk:
            raise CryptoError(f"{self.name} public key must be {self.npk} bytes, not {len(pk)}")
        if self._native_public is None:
            pure.check_encapsulation_key(self.params, pk)
            return pk
        try:
            return self._native_public.from_public_bytes(pk)
        except ValueError:
            raise CryptoError(f"{self.name} public key fails the FIPS 203 check") from None

    def key_object(self, seed: bytes) -> tuple[Any, bytes]:
        """(decapsulation object, public key) of a 64-byte seed."""
        if len(seed) != 64:
            raise CryptoError(f"{self.name} private key (seed) must be 64 bytes, not {len(seed)}")
        if self._native is None:
            ek, dk = pure.keygen(self.params, seed)
            return dk, ek
        key = self._native.from_seed_bytes(seed)
        return key, key.public_key().public_bytes_raw()

    def prepare(self, sk: bytes) -> HpkePrivateKey:
        obj, pk = self.key_object(sk)
        return HpkePrivateKey(self.kem_id, obj, pk)

    def derive_key_pair(self, ikm: bytes) -> tuple[bytes, bytes]:
        seed = self.rule(ikm)
        return seed, self.key_object(seed)[1]

    def generate_key_pair(self, rng: Rng | None) -> tuple[bytes, bytes]:
        if rng is None:
            seed = os.urandom(64)
        else:  # like the DHKEMs: DeriveKeyPair(rng(Nsk))
            return self.derive_key_pair(random_bytes(rng, self.nsk))
        return seed, self.key_object(seed)[1]

    def clear_caches(self) -> None:
        self._public_cached.cache_clear()

    # --- KEM ----------------------------------------------------------------------------
    def encap(self, pk_r: bytes, rng: Rng | None) -> tuple[bytes, bytes]:
        key = self._public_cached(pk_r)
        seeded = _seeded(rng)
        if seeded is not None:  # the seeded vector generator only (module docstring)
            return pure.encaps_internal(self.params, pk_r, random_bytes(seeded, 32))
        if self._native_public is None:
            return pure.encaps_internal(self.params, pk_r, os.urandom(32))
        shared, ct = key.encapsulate()
        return shared, ct

    def decap(self, enc: bytes, sk_r: bytes | HpkePrivateKey) -> bytes:
        if len(enc) != self.nenc:
            raise CryptoError(f"{self.name} ciphertext must be {self.nenc} bytes, not {len(enc)}")
        obj = self._private(sk_r)
        if self._native is None:
            return pure.decaps(self.params, obj, enc)
        try:
            return bytes(obj.decapsulate(enc))
        except ValueError as e:
            raise CryptoError(f"{self.name} decapsulation: {e}") from None

    def _private(self, sk_r: bytes | HpkePrivateKey) -> Any:
        if isinstance(sk_r, HpkePrivateKey):
            if sk_r.kem_id != self.kem_id:
                raise CryptoError(f"private key is for KEM {sk_r.kem_id:#06x}, not {self.name}")
            return sk_r.key
        return self.key_object(sk_r)[0]


class _Group(ABC):
    """The traditional half of a hybrid: a nominal group (concrete-hybrid-kems §3.1)."""

    nseed: int
    nelem: int

    @abstractmethod
    def random_scalar(self, seed: bytes) -> Any:
        """RandomScalar(seed): the private scalar (key object) for an Nseed-byte seed."""

    @abstractmethod
    def generate(self) -> Any: ...

    @abstractmethod
    def element(self, sk: Any) -> bytes:
        """Exp(g, sk), serialized."""

    @abstractmethod
    def dh(self, sk: Any, pk: bytes) -> bytes:
        """ElementToSharedSecret(Exp(pk, sk)); CryptoError on an invalid pk."""


class _X25519Group(_Group):
    nseed = 32
    nelem = 32

    def random_scalar(self, seed: bytes) -> x25519.X25519PrivateKey:
        return x25519.X25519PrivateKey.from_private_bytes(seed)

    def generate(self) -> x25519.X25519PrivateKey:
        return x25519.X25519PrivateKey.generate()

    def element(self, sk: x25519.X25519PrivateKey) -> bytes:
        return sk.public_key().public_bytes_raw()

    def dh(self, sk: x25519.X25519PrivateKey, pk: bytes) -> bytes:
        try:
            return sk.exchange(x25519.X25519PublicKey.from_public_bytes(pk))
        except ValueError as e:
            raise CryptoError(f"X25519: {e}") from None


class _NistGroup(_Group):
    def __init__(self, curve: EcCurve, nreject: int) -> None:
        self.c = curve
        self.nscalar = curve.nsk
        self.nseed = nreject * curve.nsk
        self.nelem = curve.npk

    def random_scalar(self, seed: bytes) -> ec.EllipticCurvePrivateKey:
        # Rejection sampling over Nscalar-byte candidates (concrete-hybrid-kems §3.1.1)
        n = self.nscalar
        for start in range(0, len(seed) - n + 1, n):
            d = int.from_bytes(seed[start : start + n], "big")
            if 0 < d < self.c.order:
                return ec.derive_private_key(d, self.c.curve)
        raise CryptoError(f"{self.c.name} RandomScalar: rejection sampling failed")

    def generate(self) -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(self.c.curve)

    def element(self, sk: ec.EllipticCurvePrivateKey) -> bytes:
        return sk.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)

    def dh(self, sk: ec.EllipticCurvePrivateKey, pk: bytes) -> bytes:
        try:
            return sk.exchange(ec.ECDH(), self.c.load_public(pk))
        except ValueError as e:
            raise CryptoError(f"{self.c.name} ECDH: {e}") from None


class HybridKem(Kem):
    """A CG-framework hybrid of ML-KEM and a nominal group (draft-irtf-cfrg-hybrid-kems),
    as an HPKE KEM (draft-ietf-hpke-pq §4): sk is a 32-byte seed, pk = ek_PQ || ek_T,
    enc = ct_PQ || ct_T, shared secret SHA3-256(ss_PQ || ss_T || ct_T || ek_T || label)."""

    def __init__(
        self,
        kem_id: int,
        name: str,
        pq: MlKem,
        group: _Group,
        label: bytes,
        rule: SeedRule | None = None,
    ) -> None:
        self.kem_id = kem_id
        self.name = name
        self.pq = pq
        self.group = group
        self.label = label
        self.nsecret = 32
        self.nenc = pq.nenc + group.nelem
        self.npk = pq.npk + group.nelem
        self.nsk = 32
        self.rule: SeedRule = rule or hpke_pq_rule(kem_id, 32)

    def with_rule(self, rule: SeedRule) -> HybridKem:
        return HybridKem(self.kem_id, self.name, self.pq, self.group, self.label, rule)

    def _expand(self, seed: bytes) -> tuple[Any, Any, bytes, bytes]:
        """expandDecapsKey(seed) -> (dk_PQ, dk_T, ek_PQ, ek_T)."""
        if len(seed) != 32:
            raise CryptoError(f"{self.name} private key (seed) must be 32 bytes, not {len(seed)}")
        full = hashlib.shake_256(seed).digest(64 + self.group.nseed)
        dk_pq, ek_pq = self.pq.key_object(full[:64])
        dk_t = self.group.random_scalar(full[64:])
        return dk_pq, dk_t, ek_pq, self.group.element(dk_t)

    def prepare(self, sk: bytes) -> HpkePrivateKey:
        dk_pq, dk_t, ek_pq, ek_t = self._expand(sk)
        return HpkePrivateKey(self.kem_id, (dk_pq, dk_t, ek_t), ek_pq + ek_t)

    def derive_key_pair(self, ikm: bytes) -> tuple[bytes, bytes]:
        seed = self.rule(ikm)
        _, _, ek_pq, ek_t = self._expand(seed)
        return seed, ek_pq + ek_t

    def generate_key_pair(self, rng: Rng | None) -> tuple[bytes, bytes]:
        if rng is not None:
            return self.derive_key_pair(random_bytes(rng, self.nsk))
        seed = os.urandom(32)
        _, _, ek_pq, ek_t = self._expand(seed)
        return seed, ek_pq + ek_t

    def clear_caches(self) -> None:
        self.pq.clear_caches()

    def _combine(self, ss_pq: bytes, ss_t: bytes, ct_t: bytes, ek_t: bytes) -> bytes:
        return hashlib.sha3_256(ss_pq + ss_t + ct_t + ek_t + self.label).digest()

    def encap(self, pk_r: bytes, rng: Rng | None) -> tuple[bytes, bytes]:
        if len(pk_r) != self.npk:
            raise CryptoError(f"{self.name} public key must be {self.npk} bytes, not {len(pk_r)}")
        ek_pq, ek_t = pk_r[: self.pq.npk], pk_r[self.pq.npk :]
        seeded = _seeded(rng)
        # randomness order: the PQ encapsulation's, then the group's (EncapsDerand)
        ss_pq, ct_pq = self.pq.encap(ek_pq, seeded)
        if seeded is not None:
            sk_e = self.group.random_scalar(random_bytes(seeded, self.group.nseed))
        else:
            sk_e = self.group.generate()
        ct_t = self.group.element(sk_e)
        ss_t = self.group.dh(sk_e, ek_t)
        return self._combine(ss_pq, ss_t, ct_t, ek_t), ct_pq + ct_t

    def decap(self, enc: bytes, sk_r: bytes | HpkePrivateKey) -> bytes:
        if len(enc) != self.nenc:
            raise CryptoError(f"{self.name} ciphertext must be {self.nenc} bytes, not {len(enc)}")
        key = sk_r if isinstance(sk_r, HpkePrivateKey) else self.prepare(sk_r)
        if key.kem_id != self.kem_id:
            raise CryptoError(f"private key is for KEM {key.kem_id:#06x}, not {self.name}")
        dk_pq, dk_t, ek_t = key.key
        ct_pq, ct_t = enc[: self.pq.nenc], enc[self.pq.nenc :]
        ss_pq = self.pq.decap(ct_pq, HpkePrivateKey(self.pq.kem_id, dk_pq, b""))
        ss_t = self.group.dh(dk_t, ct_t)
        return self._combine(ss_pq, ss_t, ct_t, ek_t)


ML_KEM_512 = MlKem(0x0040, pure.ML_KEM_512, None, None)
ML_KEM_768 = MlKem(0x0041, pure.ML_KEM_768, mlkem.MLKEM768PrivateKey, mlkem.MLKEM768PublicKey)
ML_KEM_1024 = MlKem(0x0042, pure.ML_KEM_1024, mlkem.MLKEM1024PrivateKey, mlkem.MLKEM1024PublicKey)
MLKEM768_P256 = HybridKem(
    0x0050, "MLKEM768-P256", ML_KEM_768, _NistGroup(P256, 3), b"MLKEM768-P256"
)
MLKEM1024_P384 = HybridKem(
    0x0051, "MLKEM1024-P384", ML_KEM_1024, _NistGroup(P384, 1), b"MLKEM1024-P384"
)
X_WING = HybridKem(0x647A, "MLKEM768-X25519", ML_KEM_768, _X25519Group(), b"\\.//^\\")

PQ_KEMS: dict[int, Kem] = {
    k.kem_id: k
    for k in (ML_KEM_512, ML_KEM_768, ML_KEM_1024, MLKEM768_P256, MLKEM1024_P384, X_WING)
}

__all__ = [
    "MLKEM768_P256",
    "MLKEM1024_P384",
    "ML_KEM_512",
    "ML_KEM_768",
    "ML_KEM_1024",
    "PQ_KEMS",
    "X_WING",
    "HybridKem",
    "MlKem",
    "SeedRule",
    "hpke_pq_rule",
]
