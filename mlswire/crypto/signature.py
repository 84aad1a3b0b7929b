"""The signature schemes of the MLS cipher suites (TLS 1.3 SignatureScheme values).

Keys and signatures use the encodings MLS carries (RFC 9420 §5.1.1, §5.1.2):

* Ed25519 / Ed448 (RFC 8032): raw 32/57-byte keys, 64/114-byte signatures;
* ECDSA P-256/SHA-256, P-384/SHA-384, P-521/SHA-512: public keys are uncompressed
  SEC1 points, private keys fixed-length big-endian scalars, signatures DER-encoded
  ``Ecdsa-Sig-Value`` as in TLS 1.3;
* ML-DSA-44/65/87 (FIPS 204, pure, empty context; draft-ietf-tls-mldsa 0x0904-0x0906):
  32-byte seed private keys, raw public keys and signatures (see ``_MlDsa``).

ECDSA and randomness: OpenSSL draws the ECDSA nonce itself, so an injected ``rng``
cannot feed it. With an injected ``rng`` signing switches to deterministic ECDSA
(RFC 6979), so reproducible runs produce reproducible signatures; with ``rng=None``
the nonce is OpenSSL's random one. EdDSA is deterministic either way.

Ed25519 through libsodium when PyNaCl is installed (the ``accel`` extra): its verify
takes about half the time of OpenSSL's here (57 against 108 µs) and its signing two
thirds (26 against 41 µs). Ed25519 signing is deterministic (RFC 8032), so the
signatures are the same bytes. libsodium's verify accepts a subset of what OpenSSL's
accepts (both check the cofactorless equation on the encoded R; libsodium also refuses
small-order and non-canonical points), so a signature libsodium refuses is checked
again by OpenSSL and the answer is OpenSSL's: the results are identical, only faster
for the signatures that verify (``tests/test_ed25519_accel.py``).
:func:`use_libsodium` turns it off and on.

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
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, mldsa

try:  # the optional accelerator (module docstring)
    from nacl.bindings import crypto_sign as _sodium_sign
    from nacl.bindings import crypto_sign_open as _sodium_open
    from nacl.exceptions import BadSignatureError as _SodiumBadSignature

    HAVE_LIBSODIUM = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_LIBSODIUM = False

from mlswire.errors import CryptoError

from . import mldsa as pure_mldsa
from .curves import P256, P384, P521, EcCurve
from .primitives import Rng, SeededRng, random_bytes

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


_EdPrivate = ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey
_EdPublic = ed25519.Ed25519PublicKey | ed448.Ed448PublicKey


class _EdDSA(SignatureScheme[_EdPrivate, _EdPublic]):
    """Ed25519 or Ed448 (RFC 8032): raw keys of ``key_len`` bytes, deterministic signing."""

    def __init__(
        self,
        scheme_id: int,
        name: str,
        key_len: int,
        private_cls: type[ed25519.Ed25519PrivateKey] | type[ed448.Ed448PrivateKey],
        public_cls: type[ed25519.Ed25519PublicKey] | type[ed448.Ed448PublicKey],
    ) -> None:
        self.key_len = key_len
        self.private_cls = private_cls
        self.public_cls = public_cls
        super().__init__(scheme_id, name)

    def _load(self, kind: str, raw: bytes, loader: Any) -> Any:
        if len(raw) != self.key_len:
            raise CryptoError(
                f"{self.name} {kind} key must be {self.key_len} bytes, not {len(raw)}"
            )
        try:
            return loader(raw)
        except ValueError as e:
            raise CryptoError(f"{self.name} {kind} key: {e}") from None

    def load_public(self, pk: bytes) -> _EdPublic:
        return self._load("public", pk, self.public_cls.from_public_bytes)  # type: ignore[no-any-return]

    def load_private(self, sk: bytes) -> _EdPrivate:
        return self._load("private", sk, self.private_cls.from_private_bytes)  # type: ignore[no-any-return]

    def public_of(self, sk: _EdPrivate) -> bytes:
        return sk.public_key().public_bytes_raw()

    def key_pair(self, rng: Rng | None) -> tuple[bytes, bytes]:
        sk = random_bytes(rng, self.key_len)
        return sk, self.public_of(self.load_private(sk))

    def sign(self, sk: bytes, msg: bytes, rng: Rng | None) -> bytes:
        return self.private_key_cached(sk).sign(msg)

    def verify(self, pk: bytes, msg: bytes, sig: bytes) -> None:
        key = self.public_key_cached(pk)
        try:
            key.verify(sig, msg)
        except InvalidSignature:
            raise CryptoError(f"{self.name} signature does not verify") from None


class _Ed25519(_EdDSA):
    """Ed25519, with libsodium doing the work while ``sodium`` is set, where it gives the
    same answer as OpenSSL (module docstring); every other case, and every error, is
    :class:`_EdDSA`'s."""

    def __init__(self) -> None:
        super().__init__(0x0807, "ed25519", 32, ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)
        self.sodium = HAVE_LIBSODIUM
        # libsodium's secret key is seed || public key: computing the public key costs
        # as much as a signature, so it is made once per signing key.
        self._sodium_secret = functools.lru_cache(maxsize=SIGNING_KEY_CACHE_SIZE)(
            self._load_sodium_secret
        )

    def _load_sodium_secret(self, sk: bytes) -> bytes:
        return sk + self.public_of(self.private_key_cached(sk))  # checks the key

    def sign(self, sk: bytes, msg: bytes, rng: Rng | None) -> bytes:
        if not self.sodium:
            return super().sign(sk, msg, rng)
        # crypto_sign returns signature || message.
        return _sodium_sign(msg, self._sodium_secret(sk))[:64]

    def verify(self, pk: bytes, msg: bytes, sig: bytes) -> None:
        if self.sodium and len(sig) == 64 and len(pk) == 32:
            try:
                _sodium_open(sig + msg, pk)
                return
            except _SodiumBadSignature:
                pass  # OpenSSL decides (it may accept what libsodium refuses)
        super().verify(pk, msg, sig)

    def clear_caches(self) -> None:
        super().clear_caches()
        self._sodium_secret.cache_clear()


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


_MlDsaPrivate = mldsa.MLDSA44PrivateKey | mldsa.MLDSA65PrivateKey | mldsa.MLDSA87PrivateKey
_MlDsaPublic = mldsa.MLDSA44PublicKey | mldsa.MLDSA65PublicKey | mldsa.MLDSA87PublicKey


class _MlDsa(SignatureScheme[_MlDsaPrivate, _MlDsaPublic]):
    """ML-DSA (FIPS 204), pure mode with the empty context, as TLS uses it
    (draft-ietf-tls-mldsa): private keys are the 32-byte KeyGen seed, public keys and
    signatures the standard's encodings.

    Signing is ``cryptography``'s hedged signing (fresh randomness in each signature),
    except for a :class:`~mlswire.crypto.primitives.SeededRng`, the seeded vector
    generator's: then the deterministic variant of FIPS 204 runs in pure Python
    (:mod:`mlswire.crypto.mldsa`), so seeded vector runs are byte-identical.
    """

    def __init__(
        self,
        scheme_id: int,
        name: str,
        params: pure_mldsa.MlDsaParams,
        private_cls: Any,
        public_cls: Any,
        public_len: int,
    ) -> None:
        self.params = params
        self.private_cls = private_cls
        self.public_cls = public_cls
        self.public_len = public_len
        super().__init__(scheme_id, name)

    def load_public(self, pk: bytes) -> _MlDsaPublic:
        if len(pk) != self.public_len:
            raise CryptoError(
                f"{self.name} public key must be {self.public_len} bytes, not {len(pk)}"
            )
        try:
            return self.public_cls.from_public_bytes(pk)  # type: ignore[no-any-return]
        except ValueError as e:
            raise CryptoError(f"{self.name} public key: {e}") from None

    def load_private(self, sk: bytes) -> _MlDsaPrivate:
        if len(sk) != 32:
            raise CryptoError(f"{self.name} private key (seed) must be 32 bytes, not {len(sk)}")
        return self.private_cls.from_seed_bytes(sk)  # type: ignore[no-any-return]

    def public_of(self, sk: _MlDsaPrivate) -> bytes:
        return sk.public_key().public_bytes_raw()

    def key_pair(self, rng: Rng | None) -> tuple[bytes, bytes]:
        sk = random_bytes(rng, 32)
        return sk, self.public_of(self.load_private(sk))

    def sign(self, sk: bytes, msg: bytes, rng: Rng | None) -> bytes:
        key = self.private_key_cached(sk)  # checks the seed
        if isinstance(rng, SeededRng):  # the seeded vector generator only
            return pure_mldsa.sign_deterministic(self.params, sk, msg)
        return key.sign(msg)

    def verify(self, pk: bytes, msg: bytes, sig: bytes) -> None:
        key = self.public_key_cached(pk)
        try:
            key.verify(sig, msg)
        except (InvalidSignature, ValueError):
            raise CryptoError(f"{self.name} signature does not verify") from None


SIGNATURE_SCHEMES: dict[int, SignatureScheme[Any, Any]] = {
    0x0403: _Ecdsa(0x0403, "ecdsa_secp256r1_sha256", P256, hashes.SHA256()),
    0x0503: _Ecdsa(0x0503, "ecdsa_secp384r1_sha384", P384, hashes.SHA384()),
    0x0603: _Ecdsa(0x0603, "ecdsa_secp521r1_sha512", P521, hashes.SHA512()),
    0x0807: _Ed25519(),
    0x0808: _EdDSA(0x0808, "ed448", 57, ed448.Ed448PrivateKey, ed448.Ed448PublicKey),
    # draft-ietf-tls-mldsa code points
    0x0904: _MlDsa(
        0x0904,
        "mldsa44",
        pure_mldsa.ML_DSA_44,
        mldsa.MLDSA44PrivateKey,
        mldsa.MLDSA44PublicKey,
        1312,
    ),
    0x0905: _MlDsa(
        0x0905,
        "mldsa65",
        pure_mldsa.ML_DSA_65,
        mldsa.MLDSA65PrivateKey,
        mldsa.MLDSA65PublicKey,
        1952,
    ),
    0x0906: _MlDsa(
        0x0906,
        "mldsa87",
        pure_mldsa.ML_DSA_87,
        mldsa.MLDSA87PrivateKey,
        mldsa.MLDSA87PublicKey,
        2592,
    ),
}


def use_libsodium(on: bool) -> bool:
    """Run Ed25519 through libsodium (``on``, possible when PyNaCl is installed, and the
    default then) or through OpenSSL alone; returns whether libsodium is in use now."""
    scheme = SIGNATURE_SCHEMES[0x0807]
    assert isinstance(scheme, _Ed25519)
    scheme.sodium = on and HAVE_LIBSODIUM
    return scheme.sodium


__all__ = ["HAVE_LIBSODIUM", "SIGNATURE_SCHEMES", "SignatureScheme", "use_libsodium"]
