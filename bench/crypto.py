"""Benchmark of the mlswire.crypto primitives against ``cryptography`` itself.

For every MLS cipher suite this prints operations per second of HPKE seal, HPKE open,
sign, verify and DeriveKeyPair through mlswire (raw-byte keys in, bytes out) next to
the same operation done directly on ``cryptography`` in the same run:

* "floor": the tightest direct use, with key objects parsed once outside the loop
  (``cryptography``'s own HPKE where it has the suite; for DHKEM(X448), which it lacks,
  and for DeriveKeyPair, which it does not expose, RFC 9180 written straight on its
  HKDF / X448 / EC calls);
* "floor+parse": the same, but parsing the key from the same raw bytes mlswire gets
  on every call (the like-for-like comparison for a bytes-in API).

The overhead columns are time ratios, mlswire ÷ floor (1.00 = no overhead). Times are
process CPU time, median of several interleaved rounds. No assertions: run it and read.

    python bench/crypto.py [--suites 1,2] [--seconds 0.2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hpke as native
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, x448, x25519
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from mlswire.crypto import SUPPORTED_CIPHER_SUITES, CipherSuite, cipher_suite
from mlswire.crypto.hpke import P256, P384, P521, EcCurve

Op = Callable[[], object]

HASHES: dict[str, hashes.HashAlgorithm] = {
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}
NATIVE_KEM = {
    0x10: native.KEM.P256,
    0x11: native.KEM.P384,
    0x12: native.KEM.P521,
    0x20: native.KEM.X25519,
}
NATIVE_KDF = {1: native.KDF.HKDF_SHA256, 2: native.KDF.HKDF_SHA384, 3: native.KDF.HKDF_SHA512}
NATIVE_AEAD = {
    1: native.AEAD.AES_128_GCM,
    2: native.AEAD.AES_256_GCM,
    3: native.AEAD.CHACHA20_POLY1305,
}
CURVES: dict[int, EcCurve] = {0x10: P256, 0x11: P384, 0x12: P521}
KEM_HASH = {0x10: "sha256", 0x11: "sha384", 0x12: "sha512", 0x20: "sha256", 0x21: "sha512"}


def ops_per_second(op: Op, seconds: float) -> float:
    timer = timeit.Timer(op, timer=time.process_time)
    n = 1
    while True:
        elapsed = timer.timeit(number=n)
        if elapsed >= seconds / 5:
            break
        n *= 2
    n = max(1, int(n * seconds / elapsed))
    return n / timer.timeit(number=n)


# --- straight-line RFC 9180 on cryptography calls, for what cryptography does not offer ----


def _direct_dkp(suite: CipherSuite) -> Callable[[bytes], tuple[bytes, bytes]]:
    kem_id = suite.kem_id
    alg = HASHES[KEM_HASH[kem_id]]
    sid = b"HPKE-v1KEM" + kem_id.to_bytes(2, "big")
    nsk = suite.hpke_private_key_len

    if kem_id in CURVES:
        c = CURVES[kem_id]
        cand = nsk.to_bytes(2, "big") + sid + b"candidate"

        def dkp_ec(ikm: bytes) -> tuple[bytes, bytes]:
            prk = HKDF.extract(alg, b"", sid + b"dkp_prk" + ikm)
            for counter in range(256):
                b = HKDFExpand(alg, nsk, cand + bytes((counter,))).derive(prk)
                d = int.from_bytes(bytes((b[0] & c.bitmask,)) + b[1:], "big")
                if 0 < d < c.order:
                    key = ec.derive_private_key(d, c.curve)
                    pk = key.public_key().public_bytes(
                        Encoding.X962, PublicFormat.UncompressedPoint
                    )
                    return d.to_bytes(nsk, "big"), pk
            raise ValueError("DeriveKeyPair failed")

        return dkp_ec

    sk_info = nsk.to_bytes(2, "big") + sid + b"sk"
    priv_cls = x25519.X25519PrivateKey if kem_id == 0x20 else x448.X448PrivateKey

    def dkp_x(ikm: bytes) -> tuple[bytes, bytes]:
        prk = HKDF.extract(alg, b"", sid + b"dkp_prk" + ikm)
        sk = HKDFExpand(alg, nsk, sk_info).derive(prk)
        return sk, priv_cls.from_private_bytes(sk).public_key().public_bytes_raw()

    return dkp_x


def _direct_x448_hpke(suite: CipherSuite) -> tuple[Callable[..., object], Callable[..., object]]:
    """Base-mode seal/open for DHKEM(X448) written flat on cryptography calls."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

    alg = HASHES[suite.hash_name]
    nh = suite.hash_len
    aead = AESGCM if suite.aead_id in (1, 2) else ChaCha20Poly1305
    ksid = b"HPKE-v1KEM" + suite.kem_id.to_bytes(2, "big")
    hsid = (
        b"HPKE-v1HPKE"
        + suite.kem_id.to_bytes(2, "big")
        + suite.kdf_id.to_bytes(2, "big")
        + suite.aead_id.to_bytes(2, "big")
    )
    ks_prefix = b"\x00" + HKDF.extract(alg, b"", hsid + b"psk_id_hash")
    nk, nn = suite.aead_key_len, suite.aead_nonce_len

    def schedule(dh: bytes, kem_context: bytes, info: bytes) -> tuple[bytes, bytes]:
        eae = HKDF.extract(alg, b"", ksid + b"eae_prk" + dh)
        shared = HKDFExpand(alg, nh, nh.to_bytes(2, "big") + ksid + b"shared_secret" + kem_context)
        secret = HKDF.extract(alg, shared.derive(eae), hsid + b"secret")
        ctx = ks_prefix + HKDF.extract(alg, b"", hsid + b"info_hash" + info)
        key = HKDFExpand(alg, nk, nk.to_bytes(2, "big") + hsid + b"key" + ctx).derive(secret)
        nonce = HKDFExpand(alg, nn, nn.to_bytes(2, "big") + hsid + b"base_nonce" + ctx)
        return key, nonce.derive(secret)

    def seal(pk: x448.X448PublicKey, pk_bytes: bytes, info: bytes, pt: bytes) -> object:
        eph = x448.X448PrivateKey.generate()
        enc = eph.public_key().public_bytes_raw()
        key, nonce = schedule(eph.exchange(pk), enc + pk_bytes, info)
        return enc, aead(key).encrypt(nonce, pt, b"")

    def open_(
        sk: x448.X448PrivateKey, pk_bytes: bytes, enc: bytes, info: bytes, ct: bytes
    ) -> object:
        dh = sk.exchange(x448.X448PublicKey.from_public_bytes(enc))
        key, nonce = schedule(dh, enc + pk_bytes, info)
        return aead(key).decrypt(nonce, ct, b"")

    return seal, open_


# --- the rows ------------------------------------------------------------------------------


def rows_for(suite: CipherSuite) -> list[tuple[str, Op, Op, Op | None]]:
    """(operation, mlswire, floor, floor+parse) per operation."""
    info, pt, msg = os.urandom(64), os.urandom(32), os.urandom(256)
    sk, pk = suite.derive_key_pair(os.urandom(suite.hpke_private_key_len))
    kem_output, ct = suite.hpke_seal(pk, info, b"", pt)
    prepared = suite.hpke_private_key(sk)
    ikm = os.urandom(suite.hash_len)

    kem_id = suite.kem_id
    load_pk: Callable[[bytes], object]
    load_sk: Callable[[bytes], object]
    if kem_id in CURVES:
        c = CURVES[kem_id]
        load_pk = lambda b: ec.EllipticCurvePublicKey.from_encoded_point(c.curve, b)  # noqa: E731
        load_sk = lambda b: ec.derive_private_key(int.from_bytes(b, "big"), c.curve)  # noqa: E731
    elif kem_id == 0x20:
        load_pk, load_sk = (
            x25519.X25519PublicKey.from_public_bytes,
            x25519.X25519PrivateKey.from_private_bytes,
        )
    else:
        load_pk, load_sk = (
            x448.X448PublicKey.from_public_bytes,
            x448.X448PrivateKey.from_private_bytes,
        )
    pk_obj, sk_obj = load_pk(pk), load_sk(sk)

    rows: list[tuple[str, Op, Op, Op | None]] = []
    if kem_id in NATIVE_KEM:
        n = native.Suite(NATIVE_KEM[kem_id], NATIVE_KDF[suite.kdf_id], NATIVE_AEAD[suite.aead_id])
        enc_ct = kem_output + ct
        seal_floor: Op = lambda: n.encrypt(pt, pk_obj, info)  # type: ignore[arg-type]  # noqa: E731
        seal_parse: Op = lambda: n.encrypt(pt, load_pk(pk), info)  # type: ignore[arg-type]  # noqa: E731
        open_floor: Op = lambda: n.decrypt(enc_ct, sk_obj, info)  # type: ignore[arg-type]  # noqa: E731
        open_parse: Op = lambda: n.decrypt(kem_output + ct, load_sk(sk), info)  # type: ignore[arg-type]  # noqa: E731
    else:
        dseal, dopen = _direct_x448_hpke(suite)
        seal_floor = lambda: dseal(pk_obj, pk, info, pt)  # noqa: E731
        seal_parse = lambda: dseal(load_pk(pk), pk, info, pt)  # noqa: E731
        open_floor = lambda: dopen(sk_obj, pk, kem_output, info, ct)  # noqa: E731

        def open_parse() -> object:
            key = load_sk(sk)
            return dopen(key, key.public_key().public_bytes_raw(), kem_output, info, ct)  # type: ignore[union-attr]

    rows.append(("HPKE seal", lambda: suite.hpke_seal(pk, info, b"", pt), seal_floor, seal_parse))
    rows.append(
        (
            "HPKE open",
            lambda: suite.hpke_open(sk, kem_output, info, b"", ct),
            open_floor,
            open_parse,
        )
    )
    rows.append(
        (
            "HPKE open, parsed key",
            lambda: suite.hpke_open(prepared, kem_output, info, b"", ct),
            open_floor,
            None,
        )
    )

    ssk, spk = suite.signature_key_pair()
    sig = suite.sign(ssk, msg)
    scheme = suite.signature_scheme
    if scheme.startswith("ecdsa"):
        c = CURVES[kem_id]
        algo = ec.ECDSA(HASHES[suite.hash_name])
        s_obj = ec.derive_private_key(int.from_bytes(ssk, "big"), c.curve)
        v_obj = ec.EllipticCurvePublicKey.from_encoded_point(c.curve, spk)
        sign_floor: Op = lambda: s_obj.sign(msg, algo)  # noqa: E731
        verify_floor: Op = lambda: v_obj.verify(sig, msg, algo)  # noqa: E731

        def sign_parse() -> object:
            return ec.derive_private_key(int.from_bytes(ssk, "big"), c.curve).sign(msg, algo)

        def verify_parse() -> None:
            key = ec.EllipticCurvePublicKey.from_encoded_point(c.curve, spk)
            key.verify(sig, msg, algo)

    else:
        priv = ed25519.Ed25519PrivateKey if scheme == "ed25519" else ed448.Ed448PrivateKey
        pub = ed25519.Ed25519PublicKey if scheme == "ed25519" else ed448.Ed448PublicKey
        e_obj, p_obj = priv.from_private_bytes(ssk), pub.from_public_bytes(spk)
        sign_floor = lambda: e_obj.sign(msg)  # noqa: E731
        sign_parse = lambda: priv.from_private_bytes(ssk).sign(msg)  # noqa: E731
        verify_floor = lambda: p_obj.verify(sig, msg)  # noqa: E731
        verify_parse = lambda: pub.from_public_bytes(spk).verify(sig, msg)  # noqa: E731
    rows.append(("sign", lambda: suite.sign(ssk, msg), sign_floor, sign_parse))
    rows.append(("verify", lambda: suite.verify(spk, msg, sig), verify_floor, verify_parse))

    dkp = _direct_dkp(suite)
    assert dkp(ikm) == suite.derive_key_pair(ikm)
    rows.append(("DeriveKeyPair", lambda: suite.derive_key_pair(ikm), lambda: dkp(ikm), None))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suites", default=",".join(str(s) for s in SUPPORTED_CIPHER_SUITES))
    parser.add_argument("--seconds", type=float, default=0.2, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    args = parser.parse_args(argv)

    import cryptography

    print(f"cryptography {cryptography.__version__}, {os.cpu_count()} CPUs, process CPU time,")
    print(
        f"median of {args.rounds} rounds of {args.seconds}s; overhead = mlswire time / floor time\n"
    )
    print(
        "| suite | operation | mlswire ops/s | floor ops/s | overhead "
        "| floor+parse ops/s | overhead vs floor+parse |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    for suite_id in (int(s, 0) for s in args.suites.split(",")):
        suite = cipher_suite(suite_id)
        for name, mine, floor, parse in rows_for(suite):
            ops = [mine, floor] + ([parse] if parse else [])
            samples: list[list[float]] = [[] for _ in ops]
            for _ in range(args.rounds):
                for i, op in enumerate(ops):
                    samples[i].append(ops_per_second(op, args.seconds))
            rates = [statistics.median(s) for s in samples]
            parse_cols = f"{rates[2]:,.0f} | {rates[2] / rates[0]:.2f}x" if parse else "- | -"
            print(
                f"| 0x{suite_id:04x} | {name} | {rates[0]:,.0f} | {rates[1]:,.0f} "
                f"| {rates[1] / rates[0]:.2f}x | {parse_cols} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
