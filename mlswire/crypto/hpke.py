"""HPKE base mode (RFC 9180) over the five DHKEMs that MLS cipher suites use.

The KEMs (RFC 9180 §4.1, §7.1) work on the wire encodings MLS carries: raw 32/56-byte
X25519/X448 keys, uncompressed SEC1 points and fixed-length big-endian scalars for
P-256/P-384/P-521. ``DeriveKeyPair`` follows §7.1.3, including the rejection sampling
with a bit mask for the NIST curves.

Which implementation seals and opens. ``cryptography`` 50 ships an HPKE module
(``cryptography.hazmat.primitives.hpke``, "native" below, Rust over OpenSSL). It covers
DHKEM(X25519), DHKEM(P-256), DHKEM(P-384) and DHKEM(P-521) with all three HKDFs and all
three AEADs, i.e. suites 1, 2, 3, 5 and 7, but has no DHKEM(X448) (suites 4 and 6). Its
public API also takes no associated data, no ephemeral key or randomness source, and
exports no secrets. Measured against the RFC 9180 code of this module ("python", on
``cryptography`` X25519/X448/EC, ``hmac.digest`` and ``HKDFExpand``), process CPU time,
median of 7 interleaved rounds, 32-byte plaintext, 64-byte info, cryptography 50.0.2
(OpenSSL 4.0.3), 2-core development VM, ops/s:

=====  =============  ===========  ===========  ===========  ===========  ===========
suite  KEM            native seal  python seal  native open  python open  used
=====  =============  ===========  ===========  ===========  ===========  ===========
1      DHKEM(X25519)  11,625       10,136       11,183       10,109       native both
3      DHKEM(X25519)  11,648       9,993        11,397       9,948        native both
2      DHKEM(P-256)   9,232        8,927        7,688        7,143        native both
7      DHKEM(P-384)   1,532        1,573        1,183        1,159        python seal,
                                                                          native open
5      DHKEM(P-521)   1,842        1,876        1,410        1,375        python seal,
                                                                          native open
4, 6   DHKEM(X448)    (none)       2,496        (none)       2,499        python
=====  =============  ===========  ===========  ===========  ===========  ===========

(The P-384/P-521 seal differences, 2-3 %, are small but were the same in every run.)
So the native module seals for the KEMs in :data:`NATIVE_SEAL_KEMS` and opens for
those in :data:`NATIVE_OPEN_KEMS`, and only when ``aad`` is empty (as in every MLS
use: RFC 9420 §5.1.3 EncryptWithLabel) and, for sealing, no ``rng`` was injected (an
injected rng must determine the ephemeral key, which the native module cannot take).
Everything else, and export, runs the code below. Both give the same bytes: the tests
run the RFC 9180 vectors through each backend and cross-decrypt between them.

Many seals under one ``info``. The key schedule (RFC 9180 §5.1) hashes ``info``
(``info_hash = LabeledExtract("", "info_hash", info)``) in every SetupBaseS. A Welcome
seals the GroupSecrets of each new member under the same info, an EncryptContext that
holds the whole encrypted GroupInfo (RFC 9420 §12.4.3.1), ratchet tree included: 767 KiB
at 4096 members, so adding k members hashed k times that. :meth:`HpkeSuite.prepare_info`
hashes it once into an :class:`HpkeInfo`; a seal given that handle runs the code below
with the finished key-schedule context (the native module takes only the raw info).
µs per seal of 100 bytes, process CPU time, median of 7 interleaved rounds, same VM and
versions as above ("prepared" leaves out the one hash made when preparing):

=====  ======  ======  ========  ======  ========  ========
suite  native  python  prepared  native  python    prepared
       64 B    64 B    64 B      1 MiB   1 MiB     1 MiB
=====  ======  ======  ========  ======  ========  ========
1      86      89      87        721     728       86
2      109     103     101       762     758       101
4      (none)  395     393       (none)  1,699     392
5      538     516     513       1,841   1,819     514
7      648     618     616       1,939   1,913     616
=====  ======  ======  ========  ======  ========  ========

A prepared seal costs the same whatever the size of the info (hashing runs at about
1.6 GB/s, so 1 MiB is ~0.63 ms a seal otherwise) and is within 1 µs of the fastest
single seal even for a 64-byte info, so it is the choice for every suite whenever one
info is sealed under more than once. The plain ``bytes`` path keeps the per-KEM choice
of the first table for one-off seals. (This run had native P-256 seals 6 % slower than
python ones, unlike the first table; that choice was not re-examined here.)
"""

from __future__ import annotations

import functools
from abc import abstractmethod
from typing import Any, Generic, TypeVar

from cryptography.hazmat.primitives import hpke as native
from cryptography.hazmat.primitives.asymmetric import ec, x448, x25519

from mlswire.errors import CryptoError

from .curves import P256, P384, P521, EcCurve
from .kem import HPKE_VERSION, HpkePrivateKey, Kem
from .pq_kem import PQ_KEMS
from .primitives import AEADS, KDFS, ONE_STAGE_KDFS, Aead, Kdf, OneStageKdf, Rng, random_bytes

SK = TypeVar("SK")
PK = TypeVar("PK")

_VERSION = HPKE_VERSION
_MODE_BASE = b"\x00"

# Public-key objects parsed from wire bytes are kept (they are public, and the same
# recipient and verification keys recur); private HPKE keys are never cached, so a
# deleted epoch secret does not live on in a cache (RFC 9420 §9.2).
PUBLIC_KEY_CACHE_SIZE = 1024


class DhKem(Kem, Generic[SK, PK]):
    """DHKEM(Group, HKDF) of RFC 9180 §4.1 over ``cryptography`` key objects."""

    def __init__(self, kem_id: int, name: str, kdf: Kdf, npk: int, nsk: int) -> None:
        self.kem_id = kem_id
        self.name = name
        self.kdf = kdf
        self.nsecret = kdf.nh
        self.npk = self.nenc = npk
        self.nsk = nsk
        sid = _VERSION + b"KEM" + kem_id.to_bytes(2, "big")
        self._eae_prk = sid + b"eae_prk"
        self._shared_secret = self.nsecret.to_bytes(2, "big") + sid + b"shared_secret"
        self._dkp_prk = sid + b"dkp_prk"
        self._sid = sid
        self.load_public_cached = functools.lru_cache(maxsize=PUBLIC_KEY_CACHE_SIZE)(
            self.load_public
        )

    # --- group operations (subclasses) -----------------------------------------
    @abstractmethod
    def load_public(self, pk: bytes) -> PK:
        """DeserializePublicKey; raises CryptoError on a malformed or invalid key."""

    @abstractmethod
    def load_private(self, sk: bytes) -> SK:
        """DeserializePrivateKey; raises CryptoError on a malformed or invalid key."""

    @abstractmethod
    def public_of(self, sk: SK) -> bytes:
        """SerializePublicKey(pk(sk))."""

    @abstractmethod
    def serialize_private(self, sk: SK) -> bytes: ...

    @abstractmethod
    def generate(self) -> SK: ...

    @abstractmethod
    def derive_private(self, ikm: bytes) -> SK:
        """The private half of DeriveKeyPair(ikm)."""

    @abstractmethod
    def exchange(self, sk: SK, pk: PK) -> bytes:
        """DH(sk, pk); raises CryptoError when the result is invalid (e.g. all zero)."""

    # --- RFC 9180 KEM ------------------------------------------------------------
    def _dkp_prk_of(self, ikm: bytes) -> bytes:
        return self.kdf.extract(b"", self._dkp_prk + ikm)

    def _labeled_expand(self, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
        return self.kdf.expand(prk, length.to_bytes(2, "big") + self._sid + label + info, length)

    def extract_and_expand(self, dh: bytes, kem_context: bytes) -> bytes:
        eae_prk = self.kdf.extract(b"", self._eae_prk + dh)
        return self.kdf.expand(eae_prk, self._shared_secret + kem_context, self.nsecret)

    def derive_key_pair(self, ikm: bytes) -> tuple[bytes, bytes]:
        sk = self.derive_private(ikm)
        return self.serialize_private(sk), self.public_of(sk)

    def generate_key_pair(self, rng: Rng | None) -> tuple[bytes, bytes]:
        sk = self.ephemeral(rng)
        return self.serialize_private(sk), self.public_of(sk)

    def clear_caches(self) -> None:
        self.load_public_cached.cache_clear()

    def ephemeral(self, rng: Rng | None) -> SK:
        """The ephemeral key of Encap: fresh, or DeriveKeyPair(rng(Nsk)) when injected."""
        if rng is None:
            return self.generate()
        return self.derive_private(random_bytes(rng, self.nsk))

    def encap(self, pk_r: bytes, rng: Rng | None) -> tuple[bytes, bytes]:
        """Encap(pkR) -> (shared_secret, enc)."""
        pk_obj = self.load_public_cached(pk_r)
        sk_e = self.ephemeral(rng)
        enc = self.public_of(sk_e)
        dh = self.exchange(sk_e, pk_obj)
        return self.extract_and_expand(dh, enc + pk_r), enc

    def prepare(self, sk: bytes) -> HpkePrivateKey:
        """Parse and check a private key once, for repeated opens."""
        obj = self.load_private(sk)
        return HpkePrivateKey(self.kem_id, obj, self.public_of(obj))

    def private_object(self, sk: bytes | HpkePrivateKey) -> Any:
        if isinstance(sk, HpkePrivateKey):
            if sk.kem_id != self.kem_id:
                raise CryptoError(f"private key is for KEM {sk.kem_id:#06x}, not {self.name}")
            return sk.key
        return self.load_private(sk)

    def decap(self, enc: bytes, sk_r: bytes | HpkePrivateKey) -> bytes:
        """Decap(enc, skR) -> shared_secret."""
        key = sk_r if isinstance(sk_r, HpkePrivateKey) else self.prepare(sk_r)
        sk_obj = self.private_object(key)
        pk_e = self.load_public(enc)  # ephemeral: not worth a cache slot
        dh = self.exchange(sk_obj, pk_e)
        return self.extract_and_expand(dh, enc + key.public_key)


class HpkeInfo:
    """HPKE ``info`` with its part of the key schedule done (``HpkeSuite.prepare_info``).

    Holds ``mode || psk_id_hash || info_hash`` (RFC 9180 §5.1, base mode), which is all
    the key schedule needs of ``info``: sealing with it costs the same however long the
    info was. It belongs to the HPKE suite that made it (the hash and labels differ).
    """

    __slots__ = ("key_schedule_context", "suite")

    def __init__(self, suite: tuple[int, int, int], key_schedule_context: bytes) -> None:
        self.suite = suite  # (kem_id, kdf_id, aead_id)
        self.key_schedule_context = key_schedule_context

    def __repr__(self) -> str:
        kem, kdf, aead = self.suite
        return f"<HpkeInfo suite=({kem:#06x}, {kdf}, {aead})>"


class _X25519Kem(DhKem[x25519.X25519PrivateKey, x25519.X25519PublicKey]):
    def __init__(self) -> None:
        super().__init__(0x0020, "DHKEM(X25519, HKDF-SHA256)", KDFS[1], 32, 32)

    def load_public(self, pk: bytes) -> x25519.X25519PublicKey:
        if len(pk) != 32:
            raise CryptoError(f"X25519 public key must be 32 bytes, not {len(pk)}")
        return x25519.X25519PublicKey.from_public_bytes(pk)

    def load_private(self, sk: bytes) -> x25519.X25519PrivateKey:
        if len(sk) != 32:
            raise CryptoError(f"X25519 private key must be 32 bytes, not {len(sk)}")
        return x25519.X25519PrivateKey.from_private_bytes(sk)

    def public_of(self, sk: x25519.X25519PrivateKey) -> bytes:
        return sk.public_key().public_bytes_raw()

    def serialize_private(self, sk: x25519.X25519PrivateKey) -> bytes:
        return sk.private_bytes_raw()

    def generate(self) -> x25519.X25519PrivateKey:
        return x25519.X25519PrivateKey.generate()

    def derive_private(self, ikm: bytes) -> x25519.X25519PrivateKey:
        sk = self._labeled_expand(self._dkp_prk_of(ikm), b"sk", b"", 32)
        return x25519.X25519PrivateKey.from_private_bytes(sk)

    def derive_key_pair(self, ikm: bytes) -> tuple[bytes, bytes]:
        sk = self._labeled_expand(self._dkp_prk_of(ikm), b"sk", b"", 32)
        return sk, x25519.X25519PrivateKey.from_private_bytes(sk).public_key().public_bytes_raw()

    def exchange(self, sk: x25519.X25519PrivateKey, pk: x25519.X25519PublicKey) -> bytes:
        try:
            return sk.exchange(pk)  # OpenSSL refuses an all-zero result (small order pk)
        except ValueError as e:
            raise CryptoError(f"X25519: {e}") from None


class _X448Kem(DhKem[x448.X448PrivateKey, x448.X448PublicKey]):
    def __init__(self) -> None:
        super().__init__(0x0021, "DHKEM(X448, HKDF-SHA512)", KDFS[3], 56, 56)

    def load_public(self, pk: bytes) -> x448.X448PublicKey:
        if len(pk) != 56:
            raise CryptoError(f"X448 public key must be 56 bytes, not {len(pk)}")
        return x448.X448PublicKey.from_public_bytes(pk)

    def load_private(self, sk: bytes) -> x448.X448PrivateKey:
        if len(sk) != 56:
            raise CryptoError(f"X448 private key must be 56 bytes, not {len(sk)}")
        return x448.X448PrivateKey.from_private_bytes(sk)

    def public_of(self, sk: x448.X448PrivateKey) -> bytes:
        return sk.public_key().public_bytes_raw()

    def serialize_private(self, sk: x448.X448PrivateKey) -> bytes:
        return sk.private_bytes_raw()

    def generate(self) -> x448.X448PrivateKey:
        return x448.X448PrivateKey.generate()

    def derive_private(self, ikm: bytes) -> x448.X448PrivateKey:
        sk = self._labeled_expand(self._dkp_prk_of(ikm), b"sk", b"", 56)
        return x448.X448PrivateKey.from_private_bytes(sk)

    def derive_key_pair(self, ikm: bytes) -> tuple[bytes, bytes]:
        sk = self._labeled_expand(self._dkp_prk_of(ikm), b"sk", b"", 56)
        return sk, x448.X448PrivateKey.from_private_bytes(sk).public_key().public_bytes_raw()

    def exchange(self, sk: x448.X448PrivateKey, pk: x448.X448PublicKey) -> bytes:
        try:
            return sk.exchange(pk)
        except ValueError as e:
            raise CryptoError(f"X448: {e}") from None


class _EcKem(DhKem[ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey]):
    def __init__(self, kem_id: int, curve: EcCurve, kdf: Kdf) -> None:
        self.c = curve
        self._ecdh = ec.ECDH()
        super().__init__(kem_id, f"DHKEM({curve.name}, {kdf.name})", kdf, curve.npk, curve.nsk)
        # LabeledExpand(dkp_prk, "candidate", counter, Nsk) without the counter byte
        self._candidate = curve.nsk.to_bytes(2, "big") + self._sid + b"candidate"

    def load_public(self, pk: bytes) -> ec.EllipticCurvePublicKey:
        return self.c.load_public(pk)

    def load_private(self, sk: bytes) -> ec.EllipticCurvePrivateKey:
        return self.c.load_private(sk)

    def public_of(self, sk: ec.EllipticCurvePrivateKey) -> bytes:
        return self.c.public_bytes(sk.public_key())

    def serialize_private(self, sk: ec.EllipticCurvePrivateKey) -> bytes:
        return self.c.private_bytes(sk)

    def generate(self) -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(self.c.curve)

    def _derive_scalar(self, ikm: bytes) -> int:
        prk = self._dkp_prk_of(ikm)
        kdf, nsk, info = self.kdf, self.nsk, self._candidate
        return self.c.scalar_from_candidates(
            lambda counter: kdf.expand(prk, info + bytes((counter,)), nsk)
        )

    def derive_private(self, ikm: bytes) -> ec.EllipticCurvePrivateKey:
        return ec.derive_private_key(self._derive_scalar(ikm), self.c.curve)

    def derive_key_pair(self, ikm: bytes) -> tuple[bytes, bytes]:
        # The scalar is at hand: skip the private_numbers() round trip of the default.
        d = self._derive_scalar(ikm)
        key = ec.derive_private_key(d, self.c.curve)
        return d.to_bytes(self.nsk, "big"), self.c.public_bytes(key.public_key())

    def exchange(self, sk: ec.EllipticCurvePrivateKey, pk: ec.EllipticCurvePublicKey) -> bytes:
        try:
            return sk.exchange(self._ecdh, pk)  # the x coordinate, Ndh bytes
        except ValueError as e:
            raise CryptoError(f"{self.c.name} ECDH: {e}") from None


KEMS: dict[int, Kem] = {
    0x0010: _EcKem(0x0010, P256, KDFS[1]),
    0x0011: _EcKem(0x0011, P384, KDFS[2]),
    0x0012: _EcKem(0x0012, P521, KDFS[3]),
    0x0020: _X25519Kem(),
    0x0021: _X448Kem(),
}

KEMS.update(PQ_KEMS)

_NATIVE_KEM_IDS: dict[int, native.KEM] = {
    0x0010: native.KEM.P256,
    0x0011: native.KEM.P384,
    0x0012: native.KEM.P521,
    0x0020: native.KEM.X25519,
}
_NATIVE_KDF_IDS = {1: native.KDF.HKDF_SHA256, 2: native.KDF.HKDF_SHA384, 3: native.KDF.HKDF_SHA512}
_NATIVE_AEAD_IDS = {
    1: native.AEAD.AES_128_GCM,
    2: native.AEAD.AES_256_GCM,
    3: native.AEAD.CHACHA20_POLY1305,
}

# Where the native module is faster (see the table in the module docstring).
NATIVE_SEAL_KEMS: frozenset[int] = frozenset({0x0010, 0x0020})
NATIVE_OPEN_KEMS: frozenset[int] = frozenset({0x0010, 0x0011, 0x0012, 0x0020})


class HpkeSuite:
    """HPKE base mode (RFC 9180 §5, single-shot §6) for one (KEM, KDF, AEAD)."""

    def __init__(self, kem_id: int, kdf_id: int, aead_id: int, backend: str | None = None) -> None:
        """``backend``: ``None`` picks the faster per operation (the module table),
        ``"native"`` uses ``cryptography``'s HPKE wherever it can, ``"python"`` never."""
        try:
            self.kem: Kem = KEMS[kem_id]
            self.kdf: Kdf | OneStageKdf = KDFS[kdf_id] if kdf_id in KDFS else ONE_STAGE_KDFS[kdf_id]
            self.aead: Aead = AEADS[aead_id]
        except KeyError:
            raise CryptoError(
                f"unsupported HPKE suite ({kem_id:#06x}, {kdf_id}, {aead_id})"
            ) from None
        if backend not in (None, "native", "python"):
            raise ValueError(f"unknown HPKE backend {backend!r}")
        suite = None
        # the native module has no one-stage KDFs
        if kem_id in _NATIVE_KEM_IDS and kdf_id in _NATIVE_KDF_IDS and backend != "python":
            suite = native.Suite(
                _NATIVE_KEM_IDS[kem_id], _NATIVE_KDF_IDS[kdf_id], _NATIVE_AEAD_IDS[aead_id]
            )
        auto = backend is None
        # the native module only ever runs for the DHKEMs
        self._dh: DhKem[Any, Any] | None = self.kem if isinstance(self.kem, DhKem) else None
        self._native_seal = suite if not auto or kem_id in NATIVE_SEAL_KEMS else None
        self._native_open = suite if not auto or kem_id in NATIVE_OPEN_KEMS else None
        sid = (
            _VERSION
            + b"HPKE"
            + kem_id.to_bytes(2, "big")
            + kdf_id.to_bytes(2, "big")
            + aead_id.to_bytes(2, "big")
        )
        self._sid = sid
        self._ids = (kem_id, kdf_id, aead_id)
        self._info_hash = sid + b"info_hash"
        self._secret_label = sid + b"secret"  # || psk, and psk = "" in base mode
        self._key = self.aead.nk.to_bytes(2, "big") + sid + b"key"
        self._nonce = self.aead.nn.to_bytes(2, "big") + sid + b"base_nonce"
        self._exp = self.kdf.nh.to_bytes(2, "big") + sid + b"exp"
        self._sec = sid + b"sec"
        self._one_stage = self.kdf if isinstance(self.kdf, OneStageKdf) else None
        if isinstance(self.kdf, Kdf):
            psk_id_hash = self.kdf.extract(b"", sid + b"psk_id_hash")  # psk_id = ""
            self._ks_prefix = _MODE_BASE + psk_id_hash
        else:
            self._ks_prefix = _MODE_BASE + b"\x00\x00"  # mode || lengthPrefixed(psk_id="")

    @property
    def backends(self) -> tuple[str, str]:
        """Which code seals and which opens (when aad is empty and no rng is injected)."""
        return (
            "native" if self._native_seal is not None else "python",
            "native" if self._native_open is not None else "python",
        )

    # --- key schedule (RFC 9180 §5.1) ------------------------------------------------
    def _key_schedule_context(self, info: bytes) -> bytes:
        """``mode || psk_id_hash || info_hash``: the only part of the schedule that reads
        ``info`` (base mode, psk_id = ""). One-stage KDFs (draft-ietf-hpke-hpke §5.1)
        take ``mode || lengthPrefixed(psk_id) || lengthPrefixed(info)`` instead."""
        if self._one_stage is not None:
            if len(info) > 0xFFFF:
                raise CryptoError(f"HPKE info of {len(info)} bytes is too long for {self.kdf.name}")
            return self._ks_prefix + len(info).to_bytes(2, "big") + info
        assert isinstance(self.kdf, Kdf)
        return self._ks_prefix + self.kdf.extract(b"", self._info_hash + info)

    def prepare_info(self, info: bytes) -> HpkeInfo:
        """Hash ``info`` once for several seals under it (see the module docstring)."""
        return HpkeInfo(self._ids, self._key_schedule_context(info))

    def _prepared_context(self, info: HpkeInfo) -> bytes:
        if info.suite != self._ids:
            raise CryptoError(f"{info!r} was prepared for another HPKE suite than {self._ids}")
        return info.key_schedule_context

    def _secret(self, shared_secret: bytes) -> bytes:
        assert isinstance(self.kdf, Kdf)
        return self.kdf.extract(shared_secret, self._secret_label)

    def _one_stage_secrets(self, kdf: OneStageKdf, shared: bytes, ctx: bytes) -> bytes:
        """key || base_nonce || exporter_secret of a one-stage KDF (draft-ietf-hpke-hpke
        §5.1): LabeledDerive(lengthPrefixed(psk) || lengthPrefixed(shared_secret),
        "secret", context, Nk + Nn + Nh), psk = "" in base mode."""
        secrets = b"\x00\x00" + len(shared).to_bytes(2, "big") + shared
        length = self.aead.nk + self.aead.nn + kdf.nh
        return kdf.labeled_derive(self._sid, secrets, b"secret", ctx, length)

    def _key_nonce(self, shared_secret: bytes, ctx: bytes) -> tuple[bytes, bytes]:
        if self._one_stage is not None:
            out = self._one_stage_secrets(self._one_stage, shared_secret, ctx)
            nk, nn = self.aead.nk, self.aead.nn
            return out[:nk], out[nk : nk + nn]
        secret = self._secret(shared_secret)
        kdf = self.kdf
        assert isinstance(kdf, Kdf)
        return (
            kdf.expand(secret, self._key + ctx, self.aead.nk),
            kdf.expand(secret, self._nonce + ctx, self.aead.nn),
        )

    def _export(
        self, shared_secret: bytes, info: bytes, exporter_context: bytes, length: int
    ) -> bytes:
        ctx = self._key_schedule_context(info)
        if self._one_stage is not None:
            kdf1 = self._one_stage
            out = self._one_stage_secrets(kdf1, shared_secret, ctx)
            exporter_secret = out[self.aead.nk + self.aead.nn :]
            return kdf1.labeled_derive(self._sid, exporter_secret, b"sec", exporter_context, length)
        secret = self._secret(shared_secret)
        assert isinstance(self.kdf, Kdf)
        exporter_secret = self.kdf.expand(secret, self._exp + ctx, self.kdf.nh)
        return self.kdf.expand(
            exporter_secret, length.to_bytes(2, "big") + self._sec + exporter_context, length
        )

    # --- single-shot API ---------------------------------------------------------------
    def seal(
        self, pk_r: bytes, info: bytes | HpkeInfo, aad: bytes, pt: bytes, rng: Rng | None = None
    ) -> tuple[bytes, bytes]:
        """SealBase(pkR, info, aad, pt) -> (enc, ct). ``info`` is the raw info, or an
        :class:`HpkeInfo` from :meth:`prepare_info` when sealing several times under it."""
        if isinstance(info, HpkeInfo):
            ctx = self._prepared_context(info)  # the native module cannot take it
        elif self._native_seal is not None and rng is None and not aad:
            assert self._dh is not None  # native suites are DHKEM suites
            pk_obj = self._dh.load_public_cached(pk_r)
            try:
                out = self._native_seal.encrypt(pt, pk_obj, info)
            except ValueError as e:  # e.g. a small-order X25519 key: all-zero DH
                raise CryptoError(f"HPKE seal: {e}") from None
            n = self.kem.nenc
            return out[:n], out[n:]
        else:
            ctx = self._key_schedule_context(info)
        shared, enc = self.kem.encap(pk_r, rng)
        key, nonce = self._key_nonce(shared, ctx)
        return enc, self.aead.seal(key, nonce, aad, pt)

    def open(
        self, sk_r: bytes | HpkePrivateKey, enc: bytes, info: bytes, aad: bytes, ct: bytes
    ) -> bytes:
        """OpenBase(enc, skR, info, aad, ct) -> pt; CryptoError when anything is wrong."""
        kem = self.kem
        if len(enc) != kem.nenc:
            raise CryptoError(f"{kem.name} kem_output must be {kem.nenc} bytes, not {len(enc)}")
        if self._native_open is not None and not aad:
            assert self._dh is not None
            sk_obj = self._dh.private_object(sk_r)
            try:
                return self._native_open.decrypt(enc + ct, sk_obj, info)
            except Exception as e:  # InvalidTag, ValueError (bad point) - all one answer
                raise CryptoError(f"HPKE open failed ({type(e).__name__})") from None
        shared = kem.decap(enc, sk_r)
        key, nonce = self._key_nonce(shared, self._key_schedule_context(info))
        return self.aead.open(key, nonce, aad, ct)

    def export_sender(
        self, pk_r: bytes, info: bytes, exporter_context: bytes, length: int, rng: Rng | None = None
    ) -> tuple[bytes, bytes]:
        """SetupBaseS(pkR, info) then Context.Export(exporter_context, L) -> (enc, secret)."""
        shared, enc = self.kem.encap(pk_r, rng)
        return enc, self._export(shared, info, exporter_context, length)

    def export_receiver(
        self,
        sk_r: bytes | HpkePrivateKey,
        enc: bytes,
        info: bytes,
        exporter_context: bytes,
        length: int,
    ) -> bytes:
        """SetupBaseR(enc, skR, info) then Context.Export(exporter_context, L)."""
        if len(enc) != self.kem.nenc:
            raise CryptoError(f"{self.kem.name} kem_output must be {self.kem.nenc} bytes")
        shared = self.kem.decap(enc, sk_r)
        return self._export(shared, info, exporter_context, length)


__all__ = [
    "KEMS",
    "NATIVE_OPEN_KEMS",
    "NATIVE_SEAL_KEMS",
    "P256",
    "P384",
    "P521",
    "DhKem",
    "EcCurve",
    "HpkeInfo",
    "HpkePrivateKey",
    "HpkeSuite",
    "Kem",
]
