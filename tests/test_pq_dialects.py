"""The dialect registry (mlswire.crypto.dialects): other stacks' PQ code points, their
DeriveKeyPair rules, and registering one so a group runs in it."""

from __future__ import annotations

import hashlib
import hmac
import os

import pytest

from mlswire.crypto import dialects
from mlswire.crypto.primitives import KDFS
from mlswire.crypto.suites import (
    PQ_SUITE_BASE,
    PQ_SUITE_TABLE,
    SUITE_TABLE,
    CipherSuite,
    SuiteSpec,
    cipher_suite,
    parse_suite,
)
from mlswire.engine.group import ApplicationMessage
from mlswire.errors import CryptoError

from ._forge import make_group
from .test_group import assert_in_sync, deliver


def test_mls_hash_can_differ_from_the_kdf_hash() -> None:
    """RFC 9420 §5.1 lists the suite's hash and its HPKE KDF separately: Hash and MAC
    (HMAC) use the hash, Extract/Expand and every KDF.Nh-long secret the KDF. A suite of
    HKDF-SHA512 with SHA-256 (ts-mls 77's pairing) keeps them apart."""
    mixed = CipherSuite(SuiteSpec(0xFFF0, "mixed", 0x0020, 3, 2, 0x0807, hash_id=1))
    key, data = os.urandom(64), b"abc"
    assert mixed.hash(data) == hashlib.sha256(data).digest()
    assert mixed.mac(key, data) == hmac.new(key, data, "sha256").digest()
    mixed.mac_verify(key, data, hmac.new(key, data, "sha256").digest())
    with pytest.raises(CryptoError):
        mixed.mac_verify(key, data, hmac.new(key, data, "sha512").digest()[:32])
    assert mixed.kdf_extract(key, data) == hmac.new(key, data, "sha512").digest()
    assert mixed.kdf_expand(key, b"i", 64) == KDFS[3].expand(key, b"i", 64)
    assert (mixed.hash_len, mixed.digest_len, mixed.hash_name) == (64, 32, "sha256")


@pytest.mark.parametrize("spec", SUITE_TABLE + PQ_SUITE_TABLE, ids=lambda s: f"{s.suite_id:#06x}")
def test_standard_suites_hash_with_their_kdf(spec: SuiteSpec) -> None:
    cs = cipher_suite(spec.suite_id)
    assert spec.hash_id == 0 and cs.digest_len == cs.hash_len
    assert cs.hash(b"x") == hashlib.new(KDFS[spec.kdf_id].hash_name, b"x").digest()


def test_rules_differ_and_are_what_they_say() -> None:
    ikm = os.urandom(64)
    standard = cipher_suite(PQ_SUITE_BASE + 1)  # TBD1: X-Wing, hpke-pq rule
    ts_xwing = dialects.suite_for(dialects.find("ts-mls:83"))
    sk_std, _ = standard.derive_key_pair(ikm)
    sk_ts, pk_ts = ts_xwing.derive_key_pair(ikm)
    assert sk_ts == hashlib.shake_256(ikm).digest(32) != sk_std
    assert ts_xwing.public_key_from_private(sk_ts) == pk_ts
    ts_mlkem = dialects.suite_for(dialects.find("ts-mls:81"))
    sk, _ = ts_mlkem.derive_key_pair(ikm)
    assert sk == ikm  # raw-seed: the node secret is the ML-KEM seed
    with pytest.raises(CryptoError):
        ts_mlkem.derive_key_pair(ikm[:32])


def test_mlspp_is_the_draft_under_other_numbers() -> None:
    for code, tbd in ((8, 2), (9, 4), (10, 5)):
        entry = dialects.find(f"mlspp:{code}")
        mine = cipher_suite(PQ_SUITE_BASE + tbd)
        assert (entry.kem_id, entry.kdf_id, entry.aead_id, entry.signature_scheme_id) == (
            mine.kem_id,
            mine.kdf_id,
            mine.aead_id,
            mine.signature_scheme_id,
        )
        assert entry.rule == "hpke-pq" and entry.same_as == f"TBD{tbd}"
        ikm = os.urandom(48)
        assert dialects.suite_for(entry).derive_key_pair(ikm) == mine.derive_key_pair(ikm)


def test_a_group_runs_in_a_dialect() -> None:
    suite = parse_suite("ts-mls:0x55")  # 85: ML-KEM-1024 + ML-DSA-87, raw-seed rule
    assert suite == 85 and cipher_suite(85).name == "MLS_256_MLKEM1024_AES256GCM_SHA512_MLDSA87"
    _clients, (a, b, c) = make_group(3, suite=suite)
    out = b.update()
    deliver(out.commit, b, [a, c])
    assert_in_sync([a, b, c])
    got = c.process(a.encrypt(b"dialect"))
    assert isinstance(got, ApplicationMessage) and got.data == b"dialect"


@pytest.mark.parametrize(("code", "hash_name"), [(77, "sha256"), (80, "sha384")])
def test_a_group_runs_in_a_mixed_hash_dialect(code: int, hash_name: str) -> None:
    """ts-mls 77 (ML-KEM-512, pure-Python FIPS 203) and 80 (ML-KEM-768, ChaCha20): HKDF-
    SHA512 for secrets, SHA-256/384 for the MLS hash; interop-tested in
    tests/interop/test_pq_interop.py."""
    suite = parse_suite(f"ts-mls:{code}")
    cs = cipher_suite(suite)
    assert (cs.hash_name, cs.kdf_id, cs.hash_len) == (hash_name, 3, 64)
    _clients, (a, b, c) = make_group(3, suite=suite)
    out = b.update()
    deliver(out.commit, b, [a, c])
    assert_in_sync([a, b, c])
    got = a.process(c.encrypt(b"mixed hash"))
    assert isinstance(got, ApplicationMessage) and got.data == b"mixed hash"


def test_refusals() -> None:
    with pytest.raises(CryptoError, match="mls-rs"):
        dialects.use("mls-rs:65100")  # its own hybrid: known incompatible
    with pytest.raises(CryptoError, match="KEM 15"):
        dialects.use("mls-rs:65002")  # HPKE suite_id names KEM 15, not 0x0041
    with pytest.raises(CryptoError, match="no suite"):
        dialects.use("ts-mls:1")
    with pytest.raises(CryptoError, match="dialect"):
        dialects.use("nobody:1")
    with pytest.raises(CryptoError):
        dialects.use("ts-mls:eighty")
    # Wire and ts-mls 2.x both claim 0xF007-0xF00B: one process runs one of them
    dialects.use("wire:0xF00B")
    with pytest.raises(CryptoError, match="already"):
        dialects.use("ts-mls2:0xF00B")
    assert dialects.use("wire:0xF00B") == 0xF00B  # again: a no-op


def test_mls_rs_parameters_are_recorded() -> None:
    """mls-rs's PQ suites ride on a classical suite (mls-rs-crypto-awslc lib.rs):
    65001/65002 on suite 1, 65003 on suite 7, 65100 on suite 1."""
    for code, base in ((65001, 1), (65002, 1), (65003, 7), (65100, 1)):
        entry, classical = dialects.find(f"mls-rs:{code}"), cipher_suite(base)
        rest = (entry.kdf_id, entry.aead_id, entry.signature_scheme_id)
        assert rest == (classical.kdf_id, classical.aead_id, classical.signature_scheme_id)
        assert entry.unsupported.startswith("known incompatible")


def test_every_entry_is_listed_with_a_rule_or_a_reason() -> None:
    keys = [e.key for e in dialects.DIALECT_SUITES]
    assert len(keys) == len(set(keys))
    for e in dialects.DIALECT_SUITES:
        assert e.unsupported or e.rule in dialects.RULES, e.key
        if not e.unsupported:
            dialects.suite_for(e)  # builds
    assert set(dialects.DIALECTS) == {"mlspp", "openmls", "wire", "ts-mls", "ts-mls2", "mls-rs"}


def test_suites_command_lists_suites_and_dialects() -> None:
    import json
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "mlswire", "suites", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    doc = json.loads(out.stdout)
    assert len(doc["suites"]) == 7 + 11
    assert [s["tag"] for s in doc["suites"][7:]] == [f"TBD{i} (provisional)" for i in range(1, 12)]
    by_key = {d["suite"]: d for d in doc["dialects"]}
    assert by_key["ts-mls:83"]["derive_key_pair"] == "xwing-draft"
    assert by_key["ts-mls:83"]["checked_by_interop"] is True
    assert by_key["mls-rs:65100"]["runs"] is False
    assert by_key["mlspp:0x0008"]["same_as"] == "TBD2"
    assert (by_key["ts-mls:79"]["kdf"], by_key["ts-mls:79"]["hash"]) == (3, 2)
    assert by_key["ts-mls:79"]["runs"] is True
    text = subprocess.run(
        [sys.executable, "-m", "mlswire", "suites"], capture_output=True, text=True, check=True
    ).stdout
    assert "0xfd0b  MLS_256_MLKEM1024_AES256GCM_SHA384_MLDSA87" in text
