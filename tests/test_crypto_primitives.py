"""Tests of mlswire.crypto: the primitives of the seven RFC 9420 cipher suites.

Independent checks:
* RFC 9180 Appendix A base-mode vectors (DHKEM X25519, P-256, P-521; several KDF/AEAD
  combinations), parsed from the RFC text: DeriveKeyPair, seal with the given
  ephemeral key, open, export.
* The official MLS crypto-basics vectors for all seven suites: signatures and HPKE
  ciphertexts produced by other implementations, checked with the raw primitives over
  SignContent / EncryptContext / KDFLabel / RefHashInput bytes encoded by hand here.
* The official MLS key-schedule vectors: external_pub = DeriveKeyPair(external_secret)
  for all seven suites (the only vectors for DHKEM(P-384) and DHKEM(X448)).
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mlswire.crypto import (
    SUPPORTED_CIPHER_SUITES,
    CipherSuite,
    HpkeSuite,
    cipher_suite,
    clear_key_caches,
)
from mlswire.crypto.hpke import KEMS, P256, P384, P521, EcCurve
from mlswire.errors import CryptoError, UnsupportedCipherSuite

from .conftest import SHARED, require, vectors_dir

RFC9180 = SHARED / "spec" / "rfc9180-hpke.md"

SUITES = [cipher_suite(i) for i in SUPPORTED_CIPHER_SUITES]
SUITE_IDS = [f"0x{s.suite_id:04x}" for s in SUITES]


def suites() -> pytest.MarkDecorator:
    return pytest.mark.parametrize("suite", SUITES, ids=SUITE_IDS)


def fixed_rng(*chunks: bytes) -> Callable[[int], bytes]:
    """An rng that hands out the given byte strings in order (lengths must match)."""
    it = iter(chunks)

    def rng(n: int) -> bytes:
        out = next(it)
        assert len(out) == n, (len(out), n)
        return out

    return rng


def counter_rng(seed: int = 0) -> Callable[[int], bytes]:
    """A deterministic rng (not random, just reproducible)."""
    counter = itertools.count()

    def rng(n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += cipher_suite(1).hash(seed.to_bytes(4, "big") + next(counter).to_bytes(8, "big"))
        return out[:n]

    return rng


def flip(data: bytes, i: int = -1) -> bytes:
    b = bytearray(data)
    b[i] ^= 0x01
    return bytes(b)


# --- the RFC 9420 §2.1.2 variable-length vector header, for hand-built structs -----------


def varint(n: int) -> bytes:
    if n < 1 << 6:
        return n.to_bytes(1, "big")
    if n < 1 << 14:
        return (0x4000 | n).to_bytes(2, "big")
    return (0x8000_0000 | n).to_bytes(4, "big")


def opaque_v(data: bytes) -> bytes:
    return varint(len(data)) + data


def mls_label(label: str) -> bytes:
    return opaque_v(b"MLS 1.0 " + label.encode())


# --- RFC 9180 Appendix A, parsed from the RFC text -----------------------------------------


def _blocks(text: str) -> Iterator[str]:
    yield from re.findall(r"^~~~\n(.*?)^~~~", text, flags=re.M | re.S)


def _fields(block: str) -> list[dict[str, str]]:
    """``name: hex`` records (values may wrap onto following lines); a blank line or a
    repeated name starts a new record."""
    records: list[dict[str, str]] = [{}]
    name = None
    for line in block.splitlines():
        line = line.strip()
        if not line:
            if records[-1]:
                records.append({})
            name = None
            continue
        m = re.fullmatch(r"([a-z_A-Z ]+):\s*([0-9a-f]*)", line)
        if m:
            name = m.group(1)
            if name in records[-1]:
                records.append({})
            records[-1][name] = m.group(2)
        else:
            assert name is not None and re.fullmatch(r"[0-9a-f]+", line), line
            records[-1][name] += line
    return [r for r in records if r]


def rfc9180_base_vectors() -> list[dict[str, Any]]:
    text = RFC9180.read_text()
    out = []
    sections = re.split(r"^## (DHKEM.*)$", text, flags=re.M)
    for title, body in zip(sections[1::2], sections[2::2], strict=True):
        base = body.split("### PSK Setup Information")[0]
        blocks = list(_blocks(base))
        setup = _fields(blocks[0])[0]
        if setup["aead_id"] == "65535":  # export-only AEAD: no encryptions to check
            continue
        vector: dict[str, Any] = {"title": title, **setup}
        vector["encryptions"] = _fields(blocks[1])
        vector["exports"] = _fields(blocks[2])
        out.append(vector)
    return out


RFC_VECTORS = rfc9180_base_vectors() if RFC9180.exists() else []
# Without the RFC text, one placeholder case per test says why it has nothing to run
# (require() skips, or fails where the texts are expected) instead of an empty set.
RFC_PARAMS = [pytest.param(v, id=v["title"]) for v in RFC_VECTORS] or [
    pytest.param(None, id="rfc9180-text-missing")
]


def test_rfc9180_vectors_found() -> None:
    require(RFC9180)
    kems = {int(v["kem_id"]) for v in RFC_VECTORS}
    assert kems == {0x0010, 0x0012, 0x0020}  # the RFC has no P-384 or X448 vectors
    assert len(RFC_VECTORS) == 6


def _hpke(v: dict[str, Any] | None, backend: str | None = None) -> HpkeSuite:
    if v is None:
        require(RFC9180)
        raise AssertionError("unreachable: require() skips or fails")
    return HpkeSuite(int(v["kem_id"]), int(v["kdf_id"]), int(v["aead_id"]), backend)


@pytest.mark.parametrize("v", RFC_PARAMS)
def test_rfc9180_derive_key_pair(v: dict[str, Any]) -> None:
    kem = _hpke(v).kem
    for who in "ER":
        sk, pk = kem.derive_key_pair(bytes.fromhex(v[f"ikm{who}"]))
        assert sk.hex() == v[f"sk{who}m"]
        assert pk.hex() == v[f"pk{who}m"]


@pytest.mark.parametrize("v", RFC_PARAMS)
@pytest.mark.parametrize("backend", [None, "python", "native"])
def test_rfc9180_seal_open_export(v: dict[str, Any], backend: str | None) -> None:
    hpke = _hpke(v, backend)
    info = bytes.fromhex(v["info"])
    ikm_e = bytes.fromhex(v["ikmE"])
    pk_r, sk_r = bytes.fromhex(v["pkRm"]), bytes.fromhex(v["skRm"])
    first = v["encryptions"][0]
    assert first["sequence number"] == "0"  # single-shot seal/open is sequence 0
    pt, aad, ct = (bytes.fromhex(first[k]) for k in ("pt", "aad", "ct"))

    enc, got = hpke.seal(pk_r, info, aad, pt, rng=fixed_rng(ikm_e))
    assert enc.hex() == v["enc"]
    assert got == ct
    assert hpke.open(sk_r, enc, info, aad, ct) == pt
    with pytest.raises(CryptoError):
        hpke.open(sk_r, enc, info, flip(aad), ct)

    for e in v["exports"]:
        ctx, length = bytes.fromhex(e["exporter_context"]), int(e["L"])
        enc2, secret = hpke.export_sender(pk_r, info, ctx, length, rng=fixed_rng(ikm_e))
        assert enc2 == enc
        assert secret.hex() == e["exported_value"]
        assert hpke.export_receiver(sk_r, enc, info, ctx, length).hex() == e["exported_value"]


@pytest.mark.parametrize("v", RFC_PARAMS)
def test_rfc9180_seal_with_prepared_info(v: dict[str, Any]) -> None:
    """A seal under an HpkeInfo (info hashed once) is the RFC's SealBase: same enc and ct."""
    hpke = _hpke(v)
    first = v["encryptions"][0]
    pt, aad, ct = (bytes.fromhex(first[k]) for k in ("pt", "aad", "ct"))
    info = hpke.prepare_info(bytes.fromhex(v["info"]))
    for _ in range(2):  # the handle is reusable
        enc, got = hpke.seal(
            bytes.fromhex(v["pkRm"]), info, aad, pt, rng=fixed_rng(bytes.fromhex(v["ikmE"]))
        )
        assert enc.hex() == v["enc"]
        assert got == ct


@suites()
def test_hpke_prepared_info(suite: CipherSuite) -> None:
    sk, pk = suite.derive_key_pair(b"prepared info")
    big = os.urandom(100_000)  # the size class of a Welcome's EncryptContext
    for raw in (b"", b"info", big):
        info = suite.hpke_info(raw)
        for aad in (b"", b"aad"):
            kem_output, ct = suite.hpke_seal(pk, info, aad, b"pt")  # fresh ephemeral key
            assert suite.hpke_open(sk, kem_output, raw, aad, ct) == b"pt"
            with pytest.raises(CryptoError):
                suite.hpke_open(sk, kem_output, raw + b"x", aad, ct)
        # With an injected ephemeral key, prepared and raw info give the same bytes.
        assert suite.hpke_seal(pk, info, b"", b"pt", rng=counter_rng(5)) == suite.hpke_seal(
            pk, raw, b"", b"pt", rng=counter_rng(5)
        )
    with pytest.raises(CryptoError):  # a small-order point, as for a raw info
        suite.hpke_seal(bytes(suite.hpke_public_key_len), suite.hpke_info(b""), b"", b"pt")


def test_hpke_info_belongs_to_its_suite() -> None:
    # Suites 1 and 3 share KEM and KDF but not the AEAD, which is part of the labels.
    info = cipher_suite(1).hpke_info(b"info")
    _, pk = cipher_suite(3).derive_key_pair(b"r")
    with pytest.raises(CryptoError, match="another HPKE suite"):
        cipher_suite(3).hpke_seal(pk, info, b"", b"pt")
    assert "0x0020" in repr(info)


@pytest.mark.parametrize("v", RFC_PARAMS)
def test_native_and_python_hpke_interoperate(v: dict[str, Any]) -> None:
    native, python = _hpke(v, "native"), _hpke(v, "python")
    assert native.backends == ("native", "native")
    assert python.backends == ("python", "python")
    pk_r, sk_r = bytes.fromhex(v["pkRm"]), bytes.fromhex(v["skRm"])
    for a, b in ((native, python), (python, native)):
        enc, ct = a.seal(pk_r, b"info", b"", b"plaintext")
        assert b.open(sk_r, enc, b"info", b"", ct) == b"plaintext"
        with pytest.raises(CryptoError):
            b.open(sk_r, enc, b"other info", b"", ct)


# --- the suite table ------------------------------------------------------------------------

EXPECTED = {
    # id: (kem, kdf, aead, hash, signature, Nh, Nk, Nn, Npk, Nsk)
    1: (0x20, 1, 1, "sha256", "ed25519", 32, 16, 12, 32, 32),
    2: (0x10, 1, 1, "sha256", "ecdsa_secp256r1_sha256", 32, 16, 12, 65, 32),
    3: (0x20, 1, 3, "sha256", "ed25519", 32, 32, 12, 32, 32),
    4: (0x21, 3, 2, "sha512", "ed448", 64, 32, 12, 56, 56),
    5: (0x12, 3, 2, "sha512", "ecdsa_secp521r1_sha512", 64, 32, 12, 133, 66),
    6: (0x21, 3, 3, "sha512", "ed448", 64, 32, 12, 56, 56),
    7: (0x11, 2, 2, "sha384", "ecdsa_secp384r1_sha384", 48, 32, 12, 97, 48),
}


@suites()
def test_suite_table(suite: CipherSuite) -> None:
    kem, kdf, aead, h, sig, nh, nk, nn, npk, nsk = EXPECTED[suite.suite_id]
    assert (suite.kem_id, suite.kdf_id, suite.aead_id) == (kem, kdf, aead)
    assert (suite.hash_name, suite.signature_scheme) == (h, sig)
    assert (suite.hash_len, suite.aead_key_len, suite.aead_nonce_len) == (nh, nk, nn)
    assert (suite.hpke_public_key_len, suite.hpke_private_key_len) == (npk, nsk)
    assert suite.kem_output_len == npk
    assert cipher_suite(suite.suite_id) is suite
    assert len(suite.hash(b"abc")) == nh
    assert len(suite.kdf_extract(b"", b"ikm")) == nh
    assert len(suite.mac(b"k", b"data")) == nh


def test_supported_ids() -> None:
    assert SUPPORTED_CIPHER_SUITES == (1, 2, 3, 4, 5, 6, 7)


@pytest.mark.parametrize("bad", [0, 8, 0x0A0A, 0xF000, 0xFFFF, -1])
def test_unknown_suite(bad: int) -> None:
    with pytest.raises(UnsupportedCipherSuite) as info:
        cipher_suite(bad)
    assert info.value.suite == bad
    assert f"0x{bad:04x}" in str(info.value)
    assert isinstance(info.value, CryptoError)


def test_known_answers_for_hash_and_mac() -> None:
    # FIPS 180-2 "abc" and RFC 4231 test case 2
    assert cipher_suite(1).hash(b"abc").hex().startswith("ba7816bf8f01cfea")
    assert cipher_suite(7).hash(b"abc").hex().startswith("cb00753f45a35e8b")
    assert cipher_suite(5).hash(b"abc").hex().startswith("ddaf35a193617aba")
    data, key = b"what do ya want for nothing?", b"Jefe"
    assert cipher_suite(1).mac(key, data).hex().startswith("5bdcc146bf60754e")
    assert cipher_suite(7).mac(key, data).hex().startswith("af45d2e376484031")
    assert cipher_suite(4).mac(key, data).hex().startswith("164b7a7bfcf819e2")
    # RFC 4231 test case 6: a key longer than the hash block
    long_key, text = b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First"
    assert cipher_suite(1).mac(long_key, text).hex().startswith("60e431591ee0b67f")
    assert cipher_suite(5).mac(long_key, text).hex().startswith("80b24263c7c1a3eb")
    assert cipher_suite(1).mac(b"", b"").hex().startswith("b613679a0814d9ec")


def test_hkdf_rfc5869_case_1() -> None:
    suite = cipher_suite(1)
    ikm = bytes.fromhex("0b" * 22)
    salt = bytes.fromhex("000102030405060708090a0b0c")
    info = bytes.fromhex("f0f1f2f3f4f5f6f7f8f9")
    prk = suite.kdf_extract(salt, ikm)
    assert prk.hex() == "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"
    okm = suite.kdf_expand(prk, info, 42)
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )


@suites()
def test_kdf_expand_length_limits(suite: CipherSuite) -> None:
    prk = bytes(suite.hash_len)
    assert len(suite.kdf_expand(prk, b"", 255 * suite.hash_len)) == 255 * suite.hash_len
    for bad in (0, 255 * suite.hash_len + 1):
        with pytest.raises(CryptoError):
            suite.kdf_expand(prk, b"", bad)


@suites()
def test_mac_verify(suite: CipherSuite) -> None:
    tag = suite.mac(b"key", b"data")
    suite.mac_verify(b"key", b"data", tag)
    for bad in (flip(tag), tag[:-1], b""):
        with pytest.raises(CryptoError):
            suite.mac_verify(b"key", b"data", bad)


# --- AEAD --------------------------------------------------------------------------------


@suites()
def test_aead(suite: CipherSuite) -> None:
    key, nonce = os.urandom(suite.aead_key_len), os.urandom(suite.aead_nonce_len)
    ct = suite.aead_seal(key, nonce, b"aad", b"plaintext")
    assert len(ct) == len(b"plaintext") + 16
    assert suite.aead_open(key, nonce, b"aad", ct) == b"plaintext"
    bad_inputs = [
        (flip(key), nonce, b"aad", ct),
        (key, flip(nonce), b"aad", ct),
        (key, nonce, b"aaD", ct),
        (key, nonce, b"aad", flip(ct)),  # the tag
        (key, nonce, b"aad", flip(ct, 0)),  # the body
        (key, nonce, b"aad", ct[:15]),
        (key[:-1], nonce, b"aad", ct),
        (key, nonce[:-1], b"aad", ct),
    ]
    for args in bad_inputs:
        with pytest.raises(CryptoError):
            suite.aead_open(*args)
    with pytest.raises(CryptoError):
        suite.aead_seal(key + b"x", nonce, b"", b"")


def test_aead_known_answer() -> None:
    # RFC 8439 §2.8.2 (ChaCha20-Poly1305) through suite 3
    key = bytes(range(0x80, 0xA0))
    nonce = bytes.fromhex("070000004041424344454647")
    aad = bytes.fromhex("50515253c0c1c2c3c4c5c6c7")
    pt = (
        b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip"
        b" for the future, sunscreen would be it."
    )
    ct = cipher_suite(3).aead_seal(key, nonce, aad, pt)
    assert ct.hex().startswith("d31a8d34648e60db7b86afbc53ef7ec2")
    assert ct.hex().endswith("1ae10b594f09e26a7e902ecbd0600691")


# --- HPKE for every suite -------------------------------------------------------------------


@suites()
def test_hpke_round_trip(suite: CipherSuite) -> None:
    sk, pk = suite.generate_key_pair()
    assert len(sk) == suite.hpke_private_key_len and len(pk) == suite.hpke_public_key_len
    assert suite.public_key_from_private(sk) == pk
    for info, aad, pt in [
        (b"", b"", b""),
        (b"info", b"", b"msg"),
        (b"i", b"aad", os.urandom(1000)),
    ]:
        kem_output, ct = suite.hpke_seal(pk, info, aad, pt)
        assert len(kem_output) == suite.kem_output_len
        assert len(ct) == len(pt) + 16
        assert suite.hpke_open(sk, kem_output, info, aad, ct) == pt


@suites()
def test_hpke_seal_with_injected_rng_is_deterministic(suite: CipherSuite) -> None:
    sk, pk = suite.derive_key_pair(b"recipient")
    a = suite.hpke_seal(pk, b"info", b"", b"pt", rng=counter_rng(7))
    b = suite.hpke_seal(pk, b"info", b"", b"pt", rng=counter_rng(7))
    c = suite.hpke_seal(pk, b"info", b"", b"pt", rng=counter_rng(8))
    assert a == b != c
    # the ephemeral key is DeriveKeyPair(rng(Nsk))
    eph = counter_rng(7)(suite.hpke_private_key_len)
    assert a[0] == suite.derive_key_pair(eph)[1]
    assert suite.hpke_open(sk, a[0], b"info", b"", a[1]) == b"pt"
    assert suite.generate_key_pair(counter_rng(3)) == suite.derive_key_pair(
        counter_rng(3)(suite.hpke_private_key_len)
    )


@suites()
def test_hpke_failures_raise_crypto_error(suite: CipherSuite) -> None:
    sk, pk = suite.derive_key_pair(b"ikm")
    other_sk, _ = suite.derive_key_pair(b"other ikm")
    kem_output, ct = suite.hpke_seal(pk, b"info", b"", b"secret")
    bad = [
        (other_sk, kem_output, b"info", b"", ct),  # wrong key
        (sk, kem_output, b"info", b"", flip(ct)),  # tag
        (sk, kem_output, b"info", b"", flip(ct, 0)),  # body
        (sk, kem_output, b"info", b"", ct[:10]),  # shorter than a tag
        (sk, kem_output, b"infO", b"", ct),  # info
        (sk, kem_output, b"info", b"aad", ct),  # aad
        (sk, flip(kem_output), b"info", b"", ct),  # kem output (off the curve / other key)
        (sk, kem_output[:-1], b"info", b"", ct),
        (sk, kem_output + b"\x00", b"info", b"", ct),
        (sk + b"\x00", kem_output, b"info", b"", ct),  # malformed private key
    ]
    for args in bad:
        with pytest.raises(CryptoError):
            suite.hpke_open(*args)
    for bad_pk in (pk[:-1], pk + b"\x00", b""):
        with pytest.raises(CryptoError):
            suite.hpke_seal(bad_pk, b"info", b"", b"pt")


@suites()
def test_hpke_prepared_private_key(suite: CipherSuite) -> None:
    sk, pk = suite.derive_key_pair(b"prepared")
    key = suite.hpke_private_key(sk)
    assert key.public_key == pk
    for aad in (b"", b"aad"):  # both backends where a suite has two
        kem_output, ct = suite.hpke_seal(pk, b"info", aad, b"pt")
        assert suite.hpke_open(key, kem_output, b"info", aad, ct) == b"pt"
        assert suite.hpke_open(sk, kem_output, b"info", aad, ct) == b"pt"
    kem_output, secret = suite.hpke_export_sender(pk, b"", b"label", 32)
    assert suite.hpke_export_receiver(key, kem_output, b"", b"label", 32) == secret
    assert suite.hpke_export_receiver(sk, kem_output, b"", b"label", 32) == secret
    other = next(s for s in SUITES if s.kem_id != suite.kem_id)
    with pytest.raises(CryptoError):
        other.hpke_open(key, bytes(other.kem_output_len), b"", b"", bytes(16))
    with pytest.raises(CryptoError):
        suite.hpke_private_key(sk + b"\x00")


@pytest.mark.parametrize("curve", [P256, P384, P521], ids=lambda c: c.name)
def test_nist_public_key_validation(curve: EcCurve) -> None:
    kem = next(k for k in KEMS.values() if k.nsk == curve.nsk and k.npk == curve.npk)
    _, pk = kem.derive_key_pair(b"x")
    compressed = bytes((2 + (pk[-1] & 1),)) + pk[1 : 1 + curve.nsk]
    off_curve = pk[:-1] + bytes(((pk[-1] + 1) & 0xFF,))
    for bad in (compressed, off_curve, b"\x04" + bytes(2 * curve.nsk)):
        with pytest.raises(CryptoError):
            curve.load_public(bad)
    bad_sks = [
        bytes(curve.nsk),
        curve.order.to_bytes(curve.nsk, "big"),
        b"\xff" * curve.nsk,
        b"",
        b"\x01" * (curve.nsk + 1),
    ]
    for bad_sk in bad_sks:
        with pytest.raises(CryptoError):
            curve.load_private(bad_sk)
    # a scalar with its leading zero bytes dropped (seen in the official vectors) is read
    short = curve.load_private(b"\x05")
    assert curve.private_bytes(short) == (5).to_bytes(curve.nsk, "big")


@pytest.mark.parametrize("suite_id", [1, 4])
def test_small_order_x_points_rejected(suite_id: int) -> None:
    suite = cipher_suite(suite_id)
    with pytest.raises(CryptoError):  # the all-zero point gives an all-zero shared secret
        suite.hpke_seal(bytes(suite.hpke_public_key_len), b"", b"", b"pt")
    sk, _ = suite.derive_key_pair(b"r")
    with pytest.raises(CryptoError):
        suite.hpke_open(sk, bytes(suite.kem_output_len), b"", b"", bytes(16))


@pytest.mark.parametrize("curve", [P256, P384, P521], ids=lambda c: c.name)
def test_curve_orders(curve: EcCurve) -> None:
    """(n-1)·G = -G: same x, other y (so n is the order of the group)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    g = ec.derive_private_key(1, curve.curve).public_key().public_numbers()
    minus_g = ec.derive_private_key(curve.order - 1, curve.curve).public_key().public_numbers()
    assert g.x == minus_g.x and g.y != minus_g.y
    assert curve.order.bit_length() == {32: 256, 48: 384, 66: 521}[curve.nsk]


def test_derive_key_pair_rejection_sampling_and_bitmask() -> None:
    n256 = P256.order.to_bytes(32, "big")
    candidates = [b"\xff" * 32, bytes(32), n256, (P256.order - 1).to_bytes(32, "big")]
    assert P256.scalar_from_candidates(lambda c: candidates[c]) == P256.order - 1
    # P-521 keeps only the lowest bit of the first byte
    assert P521.scalar_from_candidates(lambda c: b"\xfe" + bytes(64) + b"\x05") == 5
    assert P521.scalar_from_candidates(
        lambda c: b"\xff" * 66 if c == 0 else b"\xff" + bytes(65)
    ) == (1 << 520)
    with pytest.raises(CryptoError):
        P384.scalar_from_candidates(lambda c: bytes(48))


# --- signatures -------------------------------------------------------------------------------


@suites()
def test_signature_round_trip_and_failures(suite: CipherSuite) -> None:
    sk, pk = suite.signature_key_pair()
    assert suite.signature_public_key_from_private(sk) == pk
    sig = suite.sign(sk, b"message")
    suite.verify(pk, b"message", sig)
    _, other_pk = suite.signature_key_pair()
    bad = [
        (pk, b"messagE", sig),
        (pk, b"message", flip(sig)),
        (pk, b"message", flip(sig, len(sig) // 2)),
        (pk, b"message", sig[:-1]),
        (pk, b"message", b""),
        (pk, b"message", b"\x30\x00"),
        (other_pk, b"message", sig),
        (pk[:-1], b"message", sig),
        (b"\x00" * len(pk), b"message", sig),
    ]
    for args in bad:
        with pytest.raises(CryptoError):
            suite.verify(*args)
    for bad_sk in (sk + b"\x00", b""):
        with pytest.raises(CryptoError):
            suite.sign(bad_sk, b"m")


@suites()
def test_signature_key_encodings(suite: CipherSuite) -> None:
    sk, pk = suite.signature_key_pair()
    if suite.signature_scheme.startswith("ecdsa"):
        assert pk[0] == 4 and len(pk) == suite.hpke_public_key_len
        assert len(sk) == suite.hpke_private_key_len
        sig = suite.sign(sk, b"m")
        assert sig[0] == 0x30  # DER SEQUENCE
    else:
        size = 32 if suite.signature_scheme == "ed25519" else 57
        assert len(sk) == len(pk) == size
        assert len(suite.sign(sk, b"m")) == 2 * size


@suites()
def test_signatures_reproducible_with_injected_rng(suite: CipherSuite) -> None:
    sk, pk = suite.signature_key_pair(counter_rng(1))
    assert (sk, pk) == suite.signature_key_pair(counter_rng(1))
    assert sk != suite.signature_key_pair(counter_rng(2))[0]
    a = suite.sign(sk, b"msg", rng=counter_rng(5))
    assert a == suite.sign(sk, b"msg", rng=counter_rng(6))  # RFC 6979 / EdDSA
    suite.verify(pk, b"msg", a)


def test_short_rng_output_is_an_error() -> None:
    with pytest.raises(CryptoError):
        cipher_suite(1).generate_key_pair(rng=lambda n: b"\x00" * (n - 1))


def test_clear_key_caches() -> None:
    suite = cipher_suite(2)
    sk, pk = suite.signature_key_pair()
    suite.verify(pk, b"m", suite.sign(sk, b"m"))
    clear_key_caches()
    suite.verify(pk, b"m", suite.sign(sk, b"m"))


# --- official MLS vectors --------------------------------------------------------------------


def _load(name: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(require(vectors_dir() / name).read_text())
    return data


def crypto_basics(suite: CipherSuite) -> dict[str, Any]:
    case = next(c for c in _load("crypto-basics.json") if c["cipher_suite"] == suite.suite_id)
    return case


def h(s: str) -> bytes:
    return bytes.fromhex(s)


def expand_with_label(suite: CipherSuite, secret: bytes, label: str, ctx: bytes, n: int) -> bytes:
    kdf_label = n.to_bytes(2, "big") + mls_label(label) + opaque_v(ctx)
    return suite.kdf_expand(secret, kdf_label, n)


@suites()
def test_official_crypto_basics_kdf(suite: CipherSuite) -> None:
    c = crypto_basics(suite)
    r = c["ref_hash"]
    ref_input = opaque_v(r["label"].encode()) + opaque_v(h(r["value"]))
    assert suite.hash(ref_input).hex() == r["out"]
    e = c["expand_with_label"]
    out = expand_with_label(suite, h(e["secret"]), e["label"], h(e["context"]), e["length"])
    assert out.hex() == e["out"]
    d = c["derive_secret"]
    assert (
        expand_with_label(suite, h(d["secret"]), d["label"], b"", suite.hash_len).hex() == d["out"]
    )
    t = c["derive_tree_secret"]
    gen = t["generation"].to_bytes(4, "big")
    assert expand_with_label(suite, h(t["secret"]), t["label"], gen, t["length"]).hex() == t["out"]


@suites()
def test_official_crypto_basics_signature(suite: CipherSuite) -> None:
    s = crypto_basics(suite)["sign_with_label"]
    sk, pk = h(s["priv"]), h(s["pub"])
    sign_content = mls_label(s["label"]) + opaque_v(h(s["content"]))
    suite.verify(pk, sign_content, h(s["signature"]))
    assert suite.signature_public_key_from_private(sk) == pk
    suite.verify(pk, sign_content, suite.sign(sk, sign_content))
    with pytest.raises(CryptoError):
        suite.verify(pk, sign_content + b"\x00", h(s["signature"]))


@suites()
def test_official_crypto_basics_hpke(suite: CipherSuite) -> None:
    e = crypto_basics(suite)["encrypt_with_label"]
    sk, pk = h(e["priv"]), h(e["pub"])
    encrypt_context = mls_label(e["label"]) + opaque_v(h(e["context"]))
    pt = h(e["plaintext"])
    assert suite.public_key_from_private(sk) == pk
    assert suite.hpke_open(sk, h(e["kem_output"]), encrypt_context, b"", h(e["ciphertext"])) == pt
    kem_output, ct = suite.hpke_seal(pk, encrypt_context, b"", pt)
    assert suite.hpke_open(sk, kem_output, encrypt_context, b"", ct) == pt
    with pytest.raises(CryptoError):
        suite.hpke_open(sk, h(e["kem_output"]), encrypt_context[:-1], b"", h(e["ciphertext"]))


@suites()
def test_official_key_schedule_external_pub(suite: CipherSuite) -> None:
    case = next(c for c in _load("key-schedule.json") if c["cipher_suite"] == suite.suite_id)
    assert case["epochs"]
    for epoch in case["epochs"]:
        sk, pk = suite.derive_key_pair(h(epoch["external_secret"]))
        assert pk.hex() == epoch["external_pub"]
        assert suite.public_key_from_private(sk) == pk
