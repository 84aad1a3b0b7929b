"""The post-quantum HPKE KEMs against the hpke-pq draft's 13 vectors and the X-Wing
draft's 3 KEM vectors (../shared/spec/pq/), plus cross-checks with ``cryptography``."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import pytest
from cryptography.hazmat.primitives import hpke as native
from cryptography.hazmat.primitives.asymmetric import mlkem as native_mlkem

from mlswire.crypto import mlkem
from mlswire.crypto.hpke import KEMS, HpkeSuite
from mlswire.crypto.pq_kem import ML_KEM_512, ML_KEM_768, ML_KEM_1024, X_WING, HybridKem
from mlswire.crypto.primitives import SeededRng
from mlswire.errors import CryptoError

from .conftest import SHARED, require

PQ = SHARED / "spec" / "pq"
HPKE_PQ = PQ / "hpke-pq-test-vectors.json"
XWING = PQ / "xwing-test-vectors.json"


def _load(path: Any) -> list[dict[str, Any]]:
    return json.loads(path.read_text()) if path.exists() else []  # type: ignore[no-any-return]


HPKE_VECTORS = _load(HPKE_PQ)
HPKE_IDS = [f"kem{v['kem_id']:#06x}-kdf{v['kdf_id']}-aead{v['aead_id']}" for v in HPKE_VECTORS]
XWING_VECTORS = _load(XWING)


class Replay(SeededRng):
    """Hands out fixed bytes in order: the vectors' encapsulation randomness."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __call__(self, n: int) -> bytes:
        out, self.data = self.data[:n], self.data[n:]
        assert len(out) == n, "vector randomness exhausted"
        return out


def test_vector_files_found() -> None:
    require(HPKE_PQ)
    require(XWING)
    assert len(HPKE_VECTORS) == 13
    assert len(XWING_VECTORS) == 3
    kems = {v["kem_id"] for v in HPKE_VECTORS}
    assert {0x0040, 0x0041, 0x0042, 0x0050, 0x0051, 0x647A} <= kems


@pytest.mark.parametrize("v", HPKE_VECTORS, ids=HPKE_IDS)
def test_hpke_pq_vector(v: dict[str, Any]) -> None:
    hpke = HpkeSuite(v["kem_id"], v["kdf_id"], v["aead_id"])
    kem = hpke.kem
    sk, pk = kem.derive_key_pair(bytes.fromhex(v["ikmR"]))
    if v["kem_id"] == 0x0021:
        # This vector's X448 private key is serialized clamped (RFC 7748 §5), mlswire's
        # unclamped as in RFC 9180's own vectors and MLS's: the same key either way.
        assert _clamp448(sk) == _clamp448(bytes.fromhex(v["skRm"]))
    else:
        assert sk.hex() == v["skRm"]
    assert pk.hex() == v["pkRm"]

    info = bytes.fromhex(v["info"])
    ikm_e = bytes.fromhex(v["ikmE"])
    shared, enc = kem.encap(pk, Replay(ikm_e))
    assert enc.hex() == v["enc"]
    assert shared.hex() == v["shared_secret"]
    assert kem.decap(enc, sk).hex() == v["shared_secret"]
    assert kem.decap(enc, kem.prepare(sk)).hex() == v["shared_secret"]

    ctx = hpke._key_schedule_context(info)
    key, base_nonce = hpke._key_nonce(shared, ctx)
    assert key.hex() == v["key"]
    assert base_nonce.hex() == v["base_nonce"]
    for e in v["encryptions"]:  # every listed sequence number, on the derived key
        pt, aad, nonce = (bytes.fromhex(e[k]) for k in ("pt", "aad", "nonce"))
        assert hpke.aead.seal(key, nonce, aad, pt).hex() == e["ct"]

    first = v["encryptions"][0]  # single-shot SealBase/OpenBase is sequence 0
    assert first["nonce"] == v["base_nonce"]
    pt, aad, ct = (bytes.fromhex(first[k]) for k in ("pt", "aad", "ct"))
    enc2, got = hpke.seal(pk, info, aad, pt, rng=Replay(ikm_e))
    assert (enc2, got) == (enc, ct)
    assert hpke.open(sk, enc, info, aad, ct) == pt
    with pytest.raises(CryptoError):
        hpke.open(sk, enc, info, aad + b"x", ct)

    for x in v["exports"]:
        ectx, length = bytes.fromhex(x["exporter_context"]), int(x["L"])
        assert hpke.export_receiver(sk, enc, info, ectx, length).hex() == x["exported_value"]
        enc3, secret = hpke.export_sender(pk, info, ectx, length, rng=Replay(ikm_e))
        assert (enc3, secret.hex()) == (enc, x["exported_value"])


def _clamp448(sk: bytes) -> bytes:
    return bytes([sk[0] & 0xFC]) + sk[1:-1] + bytes([sk[-1] | 0x80])


@pytest.mark.parametrize("v", XWING_VECTORS, ids=[f"xwing{i}" for i in range(len(XWING_VECTORS))])
def test_xwing_kem_vector(v: dict[str, str]) -> None:
    """The X-Wing draft's vectors: GenerateKeyPairDerand(seed), EncapsulateDerand(pk, eseed)."""
    seed = bytes.fromhex(v["seed"])
    prepared = X_WING.prepare(seed)
    assert prepared.public_key.hex() == v["pk"]
    assert v["sk"] == v["seed"]  # the private key is the seed
    shared, ct = X_WING.encap(prepared.public_key, Replay(bytes.fromhex(v["eseed"])))
    assert ct.hex() == v["ct"]
    assert shared.hex() == v["ss"]
    assert X_WING.decap(ct, seed).hex() == v["ss"]


@pytest.mark.parametrize("params", [mlkem.ML_KEM_768, mlkem.ML_KEM_1024], ids=lambda p: p.name)
def test_pure_mlkem_matches_cryptography(params: mlkem.MlKemParams) -> None:
    """The pure-Python ML-KEM (used for ML-KEM-512 and derandomized encapsulation) makes
    the same keys as OpenSSL's, and each decapsulates what the other encapsulates."""
    cls = (
        native_mlkem.MLKEM768PrivateKey
        if params is mlkem.ML_KEM_768
        else native_mlkem.MLKEM1024PrivateKey
    )
    for _ in range(3):
        seed = os.urandom(64)
        native_key = cls.from_seed_bytes(seed)
        ek, dk = mlkem.keygen(params, seed)
        assert ek == native_key.public_key().public_bytes_raw()
        ss, ct = mlkem.encaps_internal(params, ek, os.urandom(32))
        assert native_key.decapsulate(ct) == ss
        ss2, ct2 = native_key.public_key().encapsulate()
        assert mlkem.decaps(params, dk, ct2) == ss2
        bad = bytes([ct2[0] ^ 1]) + ct2[1:]  # implicit rejection agrees too
        assert mlkem.decaps(params, dk, bad) == native_key.decapsulate(bad)


def test_mlkem512_round_trip_and_rejection() -> None:
    sk, pk = ML_KEM_512.generate_key_pair(None)
    shared, enc = ML_KEM_512.encap(pk, None)
    assert ML_KEM_512.decap(enc, sk) == shared
    assert ML_KEM_512.decap(bytes([enc[0] ^ 1]) + enc[1:], sk) != shared


@pytest.mark.parametrize(
    ("kem_id", "native_kem"),
    [(0x647A, native.KEM.MLKEM768_X25519), (0x0051, native.KEM.MLKEM1024_P384)],
)
def test_hybrid_interoperates_with_cryptography_hpke(kem_id: int, native_kem: Any) -> None:
    """``cryptography``'s HPKE (OpenSSL's X-Wing and MLKEM1024-P384) opens mlswire's seals
    and mlswire opens its seals: same KEM, same key schedule, keys in seed format."""
    ours = HpkeSuite(kem_id, 2 if kem_id == 0x0051 else 1, 2 if kem_id == 0x0051 else 1)
    kdf = native.KDF.HKDF_SHA384 if kem_id == 0x0051 else native.KDF.HKDF_SHA256
    aead = native.AEAD.AES_256_GCM if kem_id == 0x0051 else native.AEAD.AES_128_GCM
    theirs = native.Suite(native_kem, kdf, aead)
    kem = ours.kem
    assert isinstance(kem, HybridKem)
    sk, pk = kem.derive_key_pair(os.urandom(32))
    enc, ct = ours.seal(pk, b"info", b"", b"post-quantum hello")
    native_sk = _native_hybrid_private(kem_id, sk)
    assert theirs.decrypt(enc + ct, native_sk, b"info") == b"post-quantum hello"
    out = theirs.encrypt(b"back", native_sk.public_key(), b"info")
    assert ours.open(sk, out[: kem.nenc], b"info", b"", out[kem.nenc :]) == b"back"


def _native_hybrid_private(kem_id: int, seed: bytes) -> Any:
    """OpenSSL's composite key, built from the two component keys that the hybrid's
    expandDecapsKey gives (SHAKE256(seed) -> ML-KEM seed || group scalar seed)."""
    from cryptography.hazmat.primitives.asymmetric import ec, x25519

    full = hashlib.shake_256(seed).digest(64 + 48)
    if kem_id == 0x647A:
        pq = native_mlkem.MLKEM768PrivateKey.from_seed_bytes(full[:64])
        return native.MLKEM768X25519PrivateKey(
            pq, x25519.X25519PrivateKey.from_private_bytes(full[64:96])
        )
    pq4 = native_mlkem.MLKEM1024PrivateKey.from_seed_bytes(full[:64])
    scalar = int.from_bytes(full[64:112], "big")  # one candidate: rejection odds < 2^-190
    return native.MLKEM1024P384PrivateKey(pq4, ec.derive_private_key(scalar, ec.SECP384R1()))


def test_bad_keys_and_ciphertexts_raise_crypto_errors() -> None:
    for kem in (ML_KEM_512, ML_KEM_768, ML_KEM_1024, X_WING, KEMS[0x0050], KEMS[0x0051]):
        sk, pk = kem.derive_key_pair(bytes(32))
        with pytest.raises(CryptoError):
            kem.encap(pk[:-1], None)
        with pytest.raises(CryptoError):
            kem.decap(bytes(kem.nenc - 1), sk)
        with pytest.raises(CryptoError):
            kem.prepare(sk + b"\x00")
    with pytest.raises(CryptoError):  # an unreduced coefficient fails FIPS 203's check
        ML_KEM_768.encap(b"\xff" * ML_KEM_768.npk, None)
