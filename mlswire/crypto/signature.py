"""The signature schemes of the MLS cipher suites (TLS 1.3 SignatureScheme values).

Keys and signatures use the encodings MLS carries (RFC 9420 §5.1.1, §5.1.2):

* Ed25519 / Ed448 (RFC 8032): raw 32/57-byte keys, 64/114-byte signatures;
* ECDSA P-256/SHA-256, P-384/SHA-384, P-521/SHA-512: public keys are uncompressed
  SEC1 points, private keys fixed-length big-endian scalars, signatures DER-encoded
  ``Ecdsa-Sig-Value`` as in TLS 1.3.

ECDSA and randomness: OpenSSL draws the ECDSA nonce itself, so an injected ``rng``
cannot feed it. With an injected ``rng`` signing switches to deterministic ECDSA
(RFC 6979), so reproducible runs produce reproducible signatures; with ``rng=None``
the nonce is OpenSSL's random one. EdDSA is deterministic either way.

Parsed key objects are cached per scheme (bounded LRU): verification keys because the
same members' keys verify many messages, signing keys because a member signs many
messages with one key and loading a raw Ed25519/ECDSA private key costs as much as a
signature (it computes the public key). :func:`clear_key_caches` in ``suites`` drops them.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519

from mlswire.errors import CryptoError

from .hpke import P256, P384, P521, EcCurve
from .primitives import Rng, random_bytes

SK = TypeVar("SK")
PK = TypeVar("PK")

VERIFY_KEY_CACHE_SIZE = 1024
SIGNING_KEY_CACHE_SIZE = 64


class SignatureScheme(ABC, Generic[SK, PK]):
    """One TLS 1.3 SignatureScheme over raw MLS key encodings."""

    def __init__(self, scheme_id: int, name: str) -> None:
        self.scheme_id = scheme_id
        self.name = name
        self.public_key_cached = functools.lru_cache(maxsize=VERIFY_KEY_CACHE_SIZE)(
            self.load_public
        )
        self.private_key_cached = functools.lru_cache(maxsize=SIGNING_KEY_CACHE_SIZE)(
            self.load_private
        )

    @abstractmethod
    def load_public(self, pk: bytes) -> PK: ...

    @abstractmethod
    def load_private(self, sk: bytes) -> SK: ...

    @abstractmethod
    def public_of(self, sk: SK) -> bytes: ...

    @abstractmethod
    def key_pair(self, rng: Rng | None) -> tuple[bytes, bytes]: ...

    @abstractmethod
    def sign(self, sk: bytes, msg: bytes, rng: Rng | None) -> bytes: ...

    @abstractmethod
    def verify(self, pk: bytes, msg: bytes, sig: bytes) -> None: ...

    def public_from_private(self, sk: bytes) -> bytes:
        return self.public_of(self.private_key_cached(sk))

    def clear_caches(self) -> None:
        self.public_key_cached.cache_clear()
        self.private_key_cached.cache_clear()


class _Ed25519(SignatureScheme[ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey]):
    def __init__(self) -> None:
        super().__init__(0x0807, "ed25519")

    def load_public(self, pk: bytes) -> ed25519.Ed25519PublicKey:
        if len(pk) != 32:
            raise CryptoError(f"Ed25519 public key must be 32 bytes, not {len(pk)}")
        try:
            return ed25519.Ed25519PublicKey.from_public_bytes(pk)
        except ValueError as e:
            raise CryptoError(f"Ed25519 public key: {e}") from None

    def load_private(self, sk: bytes) -> ed25519.Ed25519PrivateKey:
        if len(sk) != 32:
            raise CryptoError(f"Ed25519 private key must be 32 bytes, not {len(sk)}")
        try:
            return ed25519.Ed25519PrivateKey.from_private_bytes(sk)
        except ValueError as e:
            raise CryptoError(f"Ed25519 private key: {e}") from None

    def public_of(self, sk: ed25519.Ed25519PrivateKey) -> bytes:
        return sk.public_key().public_bytes_raw()

    def key_pair(self, rng: Rng | None) -> tuple[bytes, bytes]:
        sk = random_bytes(rng, 32)
        return sk, self.public_of(self.load_private(sk))

    def sign(self, sk: bytes, msg: bytes, rng: Rng | None) -> bytes:
        return self.private_key_cached(sk).sign(msg)

    def verify(self, pk: bytes, msg: bytes, sig: bytes) -> None:
        key = self.public_key_cached(pk)
        try:
            key.verify(sig, msg)
        except InvalidSignature:
            raise CryptoError("Ed25519 signature does not verify") from None


class _Ed448(SignatureScheme[ed448.Ed448PrivateKey, ed448.Ed448PublicKey]):
    def __init__(self) -> None:
        super().__init__(0x0808, "ed448")

    def load_public(self, pk: bytes) -> ed448.Ed448PublicKey:
        if len(pk) != 57:
            raise CryptoError(f"Ed448 public key must be 57 bytes, not {len(pk)}")
        try:
            return ed448.Ed448PublicKey.from_public_bytes(pk)
        except ValueError as e:
            raise CryptoError(f"Ed448 public key: {e}") from None

    def load_private(self, sk: bytes) -> ed448.Ed448PrivateKey:
        if len(sk) != 57:
            raise CryptoError(f"Ed448 private key must be 57 bytes, not {len(sk)}")
        try:
            return ed448.Ed448PrivateKey.from_private_bytes(sk)
        except ValueError as e:
            raise CryptoError(f"Ed448 private key: {e}") from None

    def public_of(self, sk: ed448.Ed448PrivateKey) -> bytes:
        return sk.public_key().public_bytes_raw()

    def key_pair(self, rng: Rng | None) -> tuple[bytes, bytes]:
        sk = random_bytes(rng, 57)
        return sk, self.public_of(self.load_private(sk))

    def sign(self, sk: bytes, msg: bytes, rng: Rng | None) -> bytes:
        return self.private_key_cached(sk).sign(msg)

    def verify(self, pk: bytes, msg: bytes, sig: bytes) -> None:
        key = self.public_key_cached(pk)
        try:
            key.verify(sig, msg)
        except InvalidSignature:
            raise CryptoError("Ed448 signature does not verify") from None


class _Ecdsa(SignatureScheme[ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey]):
    def __init__(
        self, scheme_id: int, name: str, curve: EcCurve, alg: hashes.HashAlgorithm
    ) -> None:
        super().__init__(scheme_id, name)
        self.c = curve
        self._random = ec.ECDSA(alg)
        self._deterministic = ec.ECDSA(alg, deterministic_signing=True)

    def load_public(self, pk: bytes) -> ec.EllipticCurvePublicKey:
        return self.c.load_public(pk)

    def load_private(self, sk: bytes) -> ec.EllipticCurvePrivateKey:
        return self.c.load_private(sk)

    def public_of(self, sk: ec.EllipticCurvePrivateKey) -> bytes:
        return self.c.public_bytes(sk.public_key())

    def key_pair(self, rng: Rng | None) -> tuple[bytes, bytes]:
        if rng is None:
            key = ec.generate_private_key(self.c.curve)
        else:
            nsk = self.c.nsk
            d = self.c.scalar_from_candidates(lambda _counter: random_bytes(rng, nsk))
            key = ec.derive_private_key(d, self.c.curve)
        return self.c.private_bytes(key), self.public_of(key)

    def sign(self, sk: bytes, msg: bytes, rng: Rng | None) -> bytes:
        algorithm = self._random if rng is None else self._deterministic
        return self.private_key_cached(sk).sign(msg, algorithm)

    def verify(self, pk: bytes, msg: bytes, sig: bytes) -> None:
        key = self.public_key_cached(pk)
        try:
            key.verify(sig, msg, self._random)
        except (InvalidSignature, ValueError):
            raise CryptoError(f"{self.name} signature does not verify") from None


SIGNATURE_SCHEMES: dict[int, SignatureScheme[Any, Any]] = {
    0x0403: _Ecdsa(0x0403, "ecdsa_secp256r1_sha256", P256, hashes.SHA256()),
    0x0503: _Ecdsa(0x0503, "ecdsa_secp384r1_sha384", P384, hashes.SHA384()),
    0x0603: _Ecdsa(0x0603, "ecdsa_secp521r1_sha512", P521, hashes.SHA512()),
    0x0807: _Ed25519(),
    0x0808: _Ed448(),
}

__all__ = ["SIGNATURE_SCHEMES", "SignatureScheme"]
