"""The MLS cipher suites of RFC 9420 §17.1, and the eleven post-quantum suites of
draft-ietf-mls-pq-ciphersuites-06 under mlswire's provisional numbering, as one table
and one object per suite.

>>> suite = cipher_suite(0x0001)
>>> suite.name, suite.hash_len, suite.aead_key_len
('MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519', 32, 16)

Everything takes and returns ``bytes`` in the encodings MLS puts on the wire. Every
failure of a cryptographic operation (bad tag, bad signature, malformed or invalid
key) raises :class:`mlswire.errors.CryptoError`; an unknown suite id raises
:class:`mlswire.errors.UnsupportedCipherSuite`. Functions that need randomness take
``rng`` (``rng(n) -> n bytes``, default :func:`os.urandom`); with an injected ``rng``
results are reproducible (HPKE's ephemeral key is ``DeriveKeyPair(rng(Nsk))``).

The labeled functions of RFC 9420 §5 (ExpandWithLabel, SignWithLabel,
EncryptWithLabel, RefHash, ...) are built on these primitives where the TLS structs
they hash live; this module knows nothing of MLS structs.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlswire.errors import CryptoError, UnsupportedCipherSuite

from .hpke import KEMS, HpkeInfo, HpkePrivateKey, HpkeSuite, Kem
from .primitives import AEADS, KDFS, Rng
from .signature import SIGNATURE_SCHEMES, SignatureScheme


@dataclass(frozen=True)
class SuiteSpec:
    """One row of the RFC 9420 §17.1 table."""

    suite_id: int
    name: str
    kem_id: int
    kdf_id: int
    aead_id: int
    signature_scheme_id: int
    # The suite's own hash ("Hash" of RFC 9420 §5.1: RefHash, tree, parent and transcript
    # hashes, the exporter's Hash(context), and HMAC for MAC), named by the KDF id whose
    # hash it is; 0: the KDF's hash, as in every RFC 9420 and draft-06 suite. Secrets
    # (Extract, Expand, DeriveSecret, KDF.Nh) always follow the KDF. ts-mls 1.x suites
    # 77-80 pair HKDF-SHA512 with SHA-256 / SHA-384 here.
    hash_id: int = 0


# RFC 9420 §17.1: Value | KEM | KDF | AEAD | Hash | Signature. In every suite of the RFC
# (and of the PQ draft) the Hash is the KDF's hash, so hash_id is left at 0.
SUITE_TABLE: tuple[SuiteSpec, ...] = (
    SuiteSpec(0x0001, "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519", 0x0020, 1, 1, 0x0807),
    SuiteSpec(0x0002, "MLS_128_DHKEMP256_AES128GCM_SHA256_P256", 0x0010, 1, 1, 0x0403),
    SuiteSpec(0x0003, "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519", 0x0020, 1, 3, 0x0807),
    SuiteSpec(0x0004, "MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448", 0x0021, 3, 2, 0x0808),
    SuiteSpec(0x0005, "MLS_256_DHKEMP521_AES256GCM_SHA512_P521", 0x0012, 3, 2, 0x0603),
    SuiteSpec(0x0006, "MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448", 0x0021, 3, 3, 0x0808),
    SuiteSpec(0x0007, "MLS_256_DHKEMP384_AES256GCM_SHA384_P384", 0x0011, 2, 2, 0x0503),
)


class CipherSuite:
    """The primitives of one MLS cipher suite; obtain it with :func:`cipher_suite`."""

    def __init__(self, spec: SuiteSpec, kem: Kem | None = None) -> None:
        """``kem``: the KEM whose DeriveKeyPair the suite uses, when it is not the
        standard one of ``spec.kem_id`` (another stack's dialect,
        :mod:`mlswire.crypto.dialects`); encapsulation is the same either way."""
        self.spec = spec
        self.suite_id = spec.suite_id
        self.name = spec.name
        kdf = self._kdf = KDFS[spec.kdf_id]
        # Hash and MAC: the KDF's hash unless the suite names another (SuiteSpec.hash_id)
        digest = self._digest = KDFS[spec.hash_id or spec.kdf_id]
        aead = self._aead = AEADS[spec.aead_id]
        kem = kem if kem is not None else KEMS[spec.kem_id]
        if kem.kem_id != spec.kem_id:
            raise CryptoError(f"KEM {kem.kem_id:#06x} given for a suite of KEM {spec.kem_id:#06x}")
        self._hpke = HpkeSuite(spec.kem_id, spec.kdf_id, spec.aead_id)
        self._sig: SignatureScheme[Any, Any] = SIGNATURE_SCHEMES[spec.signature_scheme_id]

        self.kem_id, self.kdf_id, self.aead_id = spec.kem_id, spec.kdf_id, spec.aead_id
        self.hash_name: str = digest.hash_name  # the MLS Hash: "sha256" / "sha384" / "sha512"
        self.kem_name: str = kem.name
        self.aead_name: str = aead.name
        self.signature_scheme: str = self._sig.name  # TLS 1.3 SignatureScheme name
        self.signature_scheme_id: int = spec.signature_scheme_id
        self.hash_len: int = kdf.nh  # KDF.Nh: the length of every secret, nonce and sample
        self.digest_len: int = digest.nh  # output of Hash and MAC (= hash_len unless hash_id)
        self.aead_key_len: int = aead.nk  # Nk
        self.aead_nonce_len: int = aead.nn  # Nn
        self.aead_tag_len: int = aead.nt
        self.kem_output_len: int = kem.nenc  # Nenc
        self.kem_secret_len: int = kem.nsecret  # Nsecret
        self.hpke_public_key_len: int = kem.npk  # Npk
        self.hpke_private_key_len: int = kem.nsk  # Nsk

        self._hpke_kem = kem

    def __repr__(self) -> str:
        return f"<CipherSuite 0x{self.suite_id:04x} {self.name}>"

    # --- hash, MAC, KDF -----------------------------------------------------------------
    def hash(self, data: bytes) -> bytes:
        """Hash(data) with the suite's hash (digest_len bytes)."""
        return self._digest.hash(data)

    def mac(self, key: bytes, data: bytes) -> bytes:
        """MAC(key, data): HMAC with the suite's hash (RFC 9420 §5.1)."""
        return self._digest.mac(key, data)

    def mac_verify(self, key: bytes, data: bytes, tag: bytes) -> None:
        """Check ``tag == MAC(key, data)`` in constant time; CryptoError if not."""
        if not hmac.compare_digest(self._digest.mac(key, data), tag):
            raise CryptoError("MAC does not verify")

    def kdf_extract(self, salt: bytes, ikm: bytes) -> bytes:
        """KDF.Extract(salt, ikm): HKDF-Extract (KDF.Nh bytes)."""
        return self._kdf.extract(salt, ikm)

    def kdf_expand(self, prk: bytes, info: bytes, length: int) -> bytes:
        """KDF.Expand(prk, info, length): HKDF-Expand; CryptoError unless 0 < length <= 255*Nh."""
        return self._kdf.expand(prk, info, length)

    def kdf_expand_blocks(self, prk: bytes, infos: tuple[bytes, ...]) -> list[bytes]:
        """KDF.Expand(prk, info, Nh) for each info, keying the HMAC once; a shorter
        output is a prefix (one-block HKDF-Expand is T(1) cut to length)."""
        return self._kdf.expand_blocks(prk, infos)

    # --- AEAD ----------------------------------------------------------------------------
    def aead_seal(self, key: bytes, nonce: bytes, aad: bytes, plaintext: bytes) -> bytes:
        """AEAD.Seal: ciphertext || tag. CryptoError on a wrong key or nonce length."""
        return self._aead.seal(key, nonce, aad, plaintext)

    def aead_open(self, key: bytes, nonce: bytes, aad: bytes, ciphertext: bytes) -> bytes:
        """AEAD.Open; CryptoError when the tag (or key, nonce, aad) is wrong."""
        return self._aead.open(key, nonce, aad, ciphertext)

    # --- HPKE (RFC 9180 base mode) ---------------------------------------------------------
    def hpke_seal(
        self, pk: bytes, info: bytes | HpkeInfo, aad: bytes, pt: bytes, rng: Rng | None = None
    ) -> tuple[bytes, bytes]:
        """SealBase(pk, info, aad, pt) -> (kem_output, ciphertext).

        ``info`` is the raw info or a handle from :meth:`hpke_info`."""
        return self._hpke.seal(pk, info, aad, pt, rng)

    def hpke_info(self, info: bytes) -> HpkeInfo:
        """Prepare ``info`` for several seals under it: the key schedule hashes it here,
        once, instead of in every seal (RFC 9180 §5.1; see :mod:`mlswire.crypto.hpke`)."""
        return self._hpke.prepare_info(info)

    def hpke_open(
        self, sk: bytes | HpkePrivateKey, kem_output: bytes, info: bytes, aad: bytes, ct: bytes
    ) -> bytes:
        """OpenBase(kem_output, sk, info, aad, ct) -> plaintext; CryptoError on failure.

        ``sk`` is the serialized private key or a handle from :meth:`hpke_private_key`."""
        return self._hpke.open(sk, kem_output, info, aad, ct)

    def hpke_export_sender(
        self,
        pk: bytes,
        info: bytes,
        exporter_context: bytes,
        length: int,
        rng: Rng | None = None,
    ) -> tuple[bytes, bytes]:
        """SetupBaseS(pk, info) + Export(exporter_context, length) -> (kem_output, secret).

        RFC 9420 §8.3 (external init) uses this with info = "" and
        exporter_context = "MLS 1.0 external init secret"."""
        return self._hpke.export_sender(pk, info, exporter_context, length, rng)

    def hpke_export_receiver(
        self,
        sk: bytes | HpkePrivateKey,
        kem_output: bytes,
        info: bytes,
        exporter_context: bytes,
        length: int,
    ) -> bytes:
        """SetupBaseR(kem_output, sk, info) + Export(exporter_context, length)."""
        return self._hpke.export_receiver(sk, kem_output, info, exporter_context, length)

    def derive_key_pair(self, ikm: bytes) -> tuple[bytes, bytes]:
        """DeriveKeyPair(ikm) of the suite's KEM -> (private key, public key) bytes."""
        return self._hpke_kem.derive_key_pair(ikm)

    def generate_key_pair(self, rng: Rng | None = None) -> tuple[bytes, bytes]:
        """GenerateKeyPair() -> (private, public); DeriveKeyPair(rng(Nsk)) when rng is given."""
        return self._hpke_kem.generate_key_pair(rng)

    def hpke_private_key(self, sk: bytes) -> HpkePrivateKey:
        """Parse (and check) an HPKE private key once, for several opens with it."""
        return self._hpke_kem.prepare(sk)

    def public_key_from_private(self, sk: bytes) -> bytes:
        """The HPKE public key (SerializePublicKey) of a serialized private key."""
        return self._hpke_kem.public_key_of(sk)

    # --- signatures ------------------------------------------------------------------------
    def sign(self, sk: bytes, msg: bytes, rng: Rng | None = None) -> bytes:
        """Signature.Sign(sk, msg) (ECDSA: DER; deterministic RFC 6979 when rng is given)."""
        return self._sig.sign(sk, msg, rng)

    def verify(self, pk: bytes, msg: bytes, sig: bytes) -> None:
        """Signature.Verify(pk, msg, sig); returns None or raises CryptoError."""
        self._sig.verify(pk, msg, sig)

    def signature_key_pair(self, rng: Rng | None = None) -> tuple[bytes, bytes]:
        """A fresh signature key pair (private, public)."""
        return self._sig.key_pair(rng)

    def signature_public_key_from_private(self, sk: bytes) -> bytes:
        """The signature public key of a raw private key."""
        return self._sig.public_from_private(sk)


# draft-ietf-mls-pq-ciphersuites-06 §4 defines eleven suites, all with value "TBD".
# Until IANA assigns them, mlswire numbers them 0xFD00 + n for TBDn: MLS's private-use
# range (RFC 9420 §17.1, 0xF000-0xFFFF), away from the private-use numbers other stacks
# already use for PQ suites (Wire 0xF001-0xF00B, ts-mls 2.x 0xF007-0xF012, OpenMLS
# 0xF042; docs/POST_QUANTUM.md has the whole map). KEM ids are draft-ietf-hpke-pq's,
# signature schemes draft-ietf-tls-mldsa's.
PQ_SUITE_BASE = 0xFD00
PQ_SUITE_TABLE: tuple[SuiteSpec, ...] = (
    SuiteSpec(0xFD01, "MLS_128_MLKEM768X25519_AES128GCM_SHA256_Ed25519", 0x647A, 1, 1, 0x0807),
    SuiteSpec(0xFD02, "MLS_128_MLKEM768X25519_AES256GCM_SHA384_Ed25519", 0x647A, 2, 2, 0x0807),
    SuiteSpec(0xFD03, "MLS_128_MLKEM768P256_AES128GCM_SHA256_P256", 0x0050, 1, 1, 0x0403),
    SuiteSpec(0xFD04, "MLS_128_MLKEM768P256_AES256GCM_SHA384_P256", 0x0050, 2, 2, 0x0403),
    SuiteSpec(0xFD05, "MLS_192_MLKEM1024P384_AES256GCM_SHA384_P384", 0x0051, 2, 2, 0x0503),
    SuiteSpec(0xFD06, "MLS_128_MLKEM768_AES256GCM_SHA384_Ed25519", 0x0041, 2, 2, 0x0807),
    SuiteSpec(0xFD07, "MLS_128_MLKEM768_AES256GCM_SHA384_P256", 0x0041, 2, 2, 0x0403),
    SuiteSpec(0xFD08, "MLS_192_MLKEM1024_AES256GCM_SHA384_P384", 0x0042, 2, 2, 0x0503),
    SuiteSpec(
        0xFD09, "MLS_128_MLKEM768X25519_CHACHA20POLY1305_SHA384_MLDSA44", 0x647A, 2, 3, 0x0904
    ),
    SuiteSpec(0xFD0A, "MLS_192_MLKEM768_AES256GCM_SHA384_MLDSA65", 0x0041, 2, 2, 0x0905),
    SuiteSpec(0xFD0B, "MLS_256_MLKEM1024_AES256GCM_SHA384_MLDSA87", 0x0042, 2, 2, 0x0906),
)

_SUITES: dict[int, CipherSuite] = {
    spec.suite_id: CipherSuite(spec) for spec in SUITE_TABLE + PQ_SUITE_TABLE
}

#: The seven suites of RFC 9420 (the default everywhere a list of suites is implied).
SUPPORTED_CIPHER_SUITES: tuple[int, ...] = tuple(spec.suite_id for spec in SUITE_TABLE)
#: The eleven draft-ietf-mls-pq-ciphersuites-06 suites, TBD1..TBD11 in order.
PQ_CIPHER_SUITES: tuple[int, ...] = tuple(spec.suite_id for spec in PQ_SUITE_TABLE)


def cipher_suite(suite_id: int) -> CipherSuite:
    """The :class:`CipherSuite` with this id (RFC 9420 or mlswire's provisional PQ
    numbering); UnsupportedCipherSuite otherwise."""
    try:
        return _SUITES[suite_id]
    except KeyError:
        raise UnsupportedCipherSuite(suite_id) from None


# ``dialect:code`` names are resolved by mlswire.crypto.dialects, which sets this when
# it loads (mlswire/crypto/__init__ loads it); a hook rather than an import, because
# dialects builds on this module.
_dialect_resolver: Callable[[str], int] | None = None


def set_dialect_resolver(resolve: Callable[[str], int]) -> None:
    global _dialect_resolver
    _dialect_resolver = resolve


def register_suite(cs: CipherSuite) -> None:
    """Make ``cs`` what :func:`cipher_suite` returns for its id (a dialect's suite,
    :func:`mlswire.crypto.dialects.use`). Registering the same suite again is a no-op;
    an id already taken by another suite is refused."""
    have = _SUITES.get(cs.suite_id)
    if have is not None and have is not cs:
        raise CryptoError(
            f"cipher suite 0x{cs.suite_id:04x} is already {have.name}; cannot also be {cs.name}"
        )
    _SUITES[cs.suite_id] = cs


def parse_suite(text: str) -> int:
    """A suite as a person names it: decimal or 0x-hex id, the suite's name
    (case-insensitive), ``TBD1``..``TBD11`` for the PQ draft's suites, or
    ``dialect:code`` for another stack's suite (which registers it, see
    :mod:`mlswire.crypto.dialects`).
    CryptoError (UnsupportedCipherSuite for an unknown id) when nothing matches."""
    word = text.strip()
    if ":" in word:  # another stack's code point: "ts-mls:83"
        if _dialect_resolver is None:  # pragma: no cover - mlswire.crypto loads it
            raise CryptoError("no dialect registry loaded (import mlswire.crypto.dialects)")
        return _dialect_resolver(word)
    try:
        suite_id = int(word, 0)
    except ValueError:
        upper = word.upper()
        if upper.startswith("TBD") and upper[3:].isdigit() and 1 <= int(upper[3:]) <= 11:
            return PQ_SUITE_BASE + int(upper[3:])
        for cs in _SUITES.values():
            if cs.name.upper() == upper:
                return cs.suite_id
        raise CryptoError(
            f"no cipher suite named {word!r} (give an id, a suite name or TBD1..TBD11)"
        ) from None
    cipher_suite(suite_id)
    return suite_id


def clear_key_caches() -> None:
    """Drop every cached parsed key object (public HPKE keys, signature keys)."""
    for kem in KEMS.values():
        kem.clear_caches()
    for scheme in SIGNATURE_SCHEMES.values():
        scheme.clear_caches()


__all__ = [
    "PQ_CIPHER_SUITES",
    "PQ_SUITE_BASE",
    "PQ_SUITE_TABLE",
    "SUITE_TABLE",
    "SUPPORTED_CIPHER_SUITES",
    "CipherSuite",
    "SuiteSpec",
    "cipher_suite",
    "clear_key_caches",
    "parse_suite",
    "register_suite",
    "set_dialect_resolver",
]
