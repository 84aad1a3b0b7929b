"""Other stacks' post-quantum MLS suites ("dialects"): their code points, the parameter
set each names, and the two things that differ even where the parameters agree: the
DeriveKeyPair rule and the private-key format.

No PQ suite has an IANA code point yet, so every stack numbers them its own way, and
they derive node key pairs differently. MLS re-derives every UpdatePath node's key pair
from its path secret (RFC 9420 §7.4), so a group whose members disagree on the rule
breaks at the first commit with a path even when the code point and parameters agree.
The rules:

``hpke-pq``
    draft-ietf-hpke-pq: ``SHAKE256.LabeledDerive(ikm, "DeriveKeyPair", "", Nsk)``, then
    the KEM's own key generation from that seed. mlswire's own suites use it.
``xwing-draft``
    draft-connolly-cfrg-xwing-kem "use in HPKE": the X-Wing seed is ``SHAKE256(ikm, 32)``,
    unlabeled (``@hpke/hybridkem-x-wing`` 0.7.0, so ts-mls 1.x).
``raw-seed``
    the 64-byte ikm *is* the ML-KEM seed ``d || z`` (``@hpke/ml-kem`` 0.3.0, so ts-mls
    1.x, whose PQ suites all have a 64-byte hash, so MLS hands it 64-byte node secrets).

Private keys: mlswire stores seeds (64 bytes for ML-KEM, 32 for the hybrids and ML-DSA);
ts-mls stores ML-DSA keys expanded (noble's secretKey) and mls-rs ML-KEM keys expanded
(2400 bytes for ML-KEM-768). Only public keys and signatures cross the wire, so the
private-key format matters for importing keys, not for a mixed group.

Facts and sources: ../shared/PEERS.md "Post-quantum" and, for ts-mls 1.6.4, its
``crypto/ciphersuite.js`` and the ``@hpke`` packages it loads (node/). Each entry says
whether it runs in mlswire and, if not, why; ``verified`` says whether the rule was
checked against the stack itself (by the interop tests) or only taken from PEERS.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlswire.errors import CryptoError

from .hpke import KEMS
from .kem import Kem
from .pq_kem import HybridKem, MlKem, SeedRule
from .suites import (
    PQ_SUITE_BASE,
    CipherSuite,
    SuiteSpec,
    cipher_suite,
    register_suite,
    set_dialect_resolver,
)

RULES = ("hpke-pq", "xwing-draft", "raw-seed")


def _xwing_draft(ikm: bytes) -> bytes:
    import hashlib

    return hashlib.shake_256(ikm).digest(32)


def _raw_seed(ikm: bytes) -> bytes:
    if len(ikm) != 64:
        raise CryptoError(f"raw-seed DeriveKeyPair takes a 64-byte ikm, not {len(ikm)}")
    return ikm


def _kem_with_rule(kem_id: int, rule: str) -> Kem:
    kem = KEMS[kem_id]
    if rule == "hpke-pq":
        return kem
    seed_rule: SeedRule = _xwing_draft if rule == "xwing-draft" else _raw_seed
    if isinstance(kem, (MlKem, HybridKem)):
        if rule == "xwing-draft" and not isinstance(kem, HybridKem):
            raise CryptoError("the xwing-draft rule is for X-Wing keys")
        if rule == "raw-seed" and not isinstance(kem, MlKem):
            raise CryptoError("the raw-seed rule is for ML-KEM keys")
        return kem.with_rule(seed_rule)
    raise CryptoError(f"no {rule} DeriveKeyPair for {kem.name}")


@dataclass(frozen=True)
class DialectSuite:
    """One code point of one stack."""

    dialect: str
    code_point: int
    name: str  # the stack's name for it
    kem_id: int
    kdf_id: int
    aead_id: int
    signature_scheme_id: int
    rule: str  # DeriveKeyPair rule (RULES)
    private_key: str  # the stack's private-key format, in words
    same_as: str = ""  # the draft suite with these parameters (TBDn), if any
    unsupported: str = ""  # why mlswire cannot run it ("" when it can)
    verified: bool = False  # rule checked against the stack by mlswire's interop tests
    hash_id: int = 0  # the MLS Hash when it is not the KDF's (SuiteSpec.hash_id)

    @property
    def key(self) -> str:
        """``dialect:code`` as the stack writes the code (ts-mls 1.x and mls-rs in
        decimal, the others in hex); :func:`find` takes either."""
        if self.dialect in ("ts-mls", "mls-rs"):
            return f"{self.dialect}:{self.code_point}"
        return f"{self.dialect}:0x{self.code_point:04X}"


def _tbd(n: int) -> SuiteSpec:
    return cipher_suite(PQ_SUITE_BASE + n).spec


def _like(
    dialect: str, code: int, n: int, rule: str, private_key: str, **kw: object
) -> DialectSuite:
    spec = _tbd(n)
    return DialectSuite(
        dialect,
        code,
        spec.name,
        spec.kem_id,
        spec.kdf_id,
        spec.aead_id,
        spec.signature_scheme_id,
        rule,
        private_key,
        same_as=f"TBD{n}",
        **kw,  # type: ignore[arg-type]
    )


_SEEDS = "seeds (as mlswire)"
_MLS_RS_UNREACHABLE = (
    "Not reachable for a test here: the PyPI bindings (agentvault-mls-rs-uniffi "
    "0.1.1) offer suite 1 only."
)
_MLS_RS_WHY = (
    "known incompatible: its HPKE names the KEM 15 (0x000F, 'not set by any RFC') in "
    "the HPKE suite_id for all three ML-KEM sizes, where draft-ietf-hpke-pq has "
    "0x0040-0x0042, so every HPKE seal, open and export differs; and the same code "
    "point meant Kyber round 3 (aws-lc Kyber*_R3), not ML-KEM, in earlier mls-rs "
    "sources. " + _MLS_RS_UNREACHABLE
)
_TS = "ML-KEM/X-Wing seeds; ML-DSA expanded (noble secretKey)"
_TS_UNVERIFIED_2X = "ts-mls 2.0 rc renumbering of the 1.x suite; rules assumed unchanged"


def _ts_mls(dialect: str, base: int, verified: bool) -> list[DialectSuite]:
    # ts-mls 1.6.4 crypto/ciphersuite.js: every PQ suite has HKDF-SHA512 (KDF 3) for
    # HPKE and MLS secrets; 77-80 give the MLS Hash (digests, HMAC) separately, SHA-256
    # or SHA-384 (KDF ids 1/2 name them); its provider (implementation/default) makes
    # `kdf` from hpke.kdf and `hash` from cs.hash. 77's name says AES128GCM but its
    # hpke.aead is AES256GCM, which is what ts-mls runs and what is listed here.
    rows: list[tuple[str, int, int, int, int]] = [
        ("MLS_128_MLKEM512_AES128GCM_SHA256_Ed25519", 0x0040, 2, 0x0807, 1),
        ("MLS_128_MLKEM512_CHACHA20POLY1305_SHA256_Ed25519", 0x0040, 3, 0x0807, 1),
        ("MLS_256_MLKEM768_AES256GCM_SHA384_Ed25519", 0x0041, 2, 0x0807, 2),
        ("MLS_256_MLKEM768_CHACHA20POLY1305_SHA384_Ed25519", 0x0041, 3, 0x0807, 2),
        ("MLS_256_MLKEM1024_AES256GCM_SHA512_Ed25519", 0x0042, 2, 0x0807, 0),
        ("MLS_256_MLKEM1024_CHACHA20POLY1305_SHA512_Ed25519", 0x0042, 3, 0x0807, 0),
        ("MLS_256_XWING_AES256GCM_SHA512_Ed25519", 0x647A, 2, 0x0807, 0),
        ("MLS_256_XWING_CHACHA20POLY1305_SHA512_Ed25519", 0x647A, 3, 0x0807, 0),
        ("MLS_256_MLKEM1024_AES256GCM_SHA512_MLDSA87", 0x0042, 2, 0x0906, 0),
        ("MLS_256_MLKEM1024_CHACHA20POLY1305_SHA512_MLDSA87", 0x0042, 3, 0x0906, 0),
        ("MLS_256_XWING_AES256GCM_SHA512_MLDSA87", 0x647A, 2, 0x0906, 0),
        ("MLS_256_XWING_CHACHA20POLY1305_SHA512_MLDSA87", 0x647A, 3, 0x0906, 0),
    ]
    out = []
    for i, (name, kem, aead, sig, hash_id) in enumerate(rows):
        rule = "xwing-draft" if kem == 0x647A else "raw-seed"
        out.append(
            DialectSuite(
                dialect,
                base + i,
                name,
                kem,
                3,
                aead,
                sig,
                rule,
                _TS,
                verified=verified,
                hash_id=hash_id,
            )
        )
    return out


DIALECT_SUITES: tuple[DialectSuite, ...] = (
    # MLSpp: the draft's parameters and the hpke-pq rule (PEERS.md)
    _like("mlspp", 0x0008, 2, "hpke-pq", _SEEDS),
    _like("mlspp", 0x0009, 4, "hpke-pq", _SEEDS),
    _like("mlspp", 0x000A, 5, "hpke-pq", _SEEDS),
    # OpenMLS 0.9.0 (traits/src/types.rs, via PEERS.md); X-Wing derivation reported as
    # the X-Wing draft's; its ML-KEM derivation is not recorded: assumed hpke-pq.
    DialectSuite(
        "openmls",
        0x004D,
        "MLS_128_XWING_CHACHA20POLY1305_SHA256_Ed25519 (legacy)",
        0x647A,
        1,
        3,
        0x0807,
        "xwing-draft",
        "seeds",
    ),
    _like("openmls", 0x004F, 1, "xwing-draft", "seeds"),
    _like("openmls", 0x004E, 2, "xwing-draft", "seeds"),
    _like("openmls", 0xF042, 6, "hpke-pq", "seeds"),
    _like("openmls", 0x0050, 7, "hpke-pq", "seeds"),
    _like("openmls", 0x0042, 8, "hpke-pq", "seeds"),
    _like("openmls", 0x0052, 9, "xwing-draft", "seeds"),
    _like("openmls", 0x0051, 10, "hpke-pq", "seeds"),
    _like("openmls", 0x0907, 11, "hpke-pq", "seeds"),
    DialectSuite(
        "openmls",
        0x0906,
        "MLS_256_MLKEM1024_AES256GCM_SHA512_MLDSA87 (not in the draft)",
        0x0042,
        3,
        2,
        0x0906,
        "hpke-pq",
        "seeds",
    ),
    # Wire's OpenMLS fork: the eleven draft suites in TBD order; rules as OpenMLS's
    *(
        _like(
            "wire", 0xF000 + n, n, "xwing-draft" if _tbd(n).kem_id == 0x647A else "hpke-pq", "seeds"
        )
        for n in range(1, 12)
    ),
    *_ts_mls("ts-mls", 77, verified=True),  # tests/interop/test_pq_interop.py
    *_ts_mls("ts-mls2", 0xF007, verified=False),
    # mls-rs (awslabs/mls-rs, read with the search tools): mls-rs-core
    # crypto/cipher_suite.rs numbers them 65001-65003 and 65100 (KYBER512/768/1024,
    # KYBER768_X25519; later ML_KEM_512/768/1024, ML_KEM_768_X25519).
    # mls-rs-crypto-awslc lib.rs builds each on a classical suite: 65001/65002 on suite 1
    # (HKDF-SHA256, AES-128-GCM, SHA-256, Ed25519), 65003 on suite 7 (HKDF-SHA384,
    # AES-256-GCM, SHA-384, ECDSA P-384), 65100 on suite 1. kem/ml_kem.rs: DeriveKeyPair
    # takes a 64-byte ikm as the seed d || z, any other as HKDF-Expand(ikm, "", 64) with
    # the suite's HKDF (MLS node secrets are 32/48 bytes: always the Expand); expanded
    # private keys; and `kem_id()` 15 ("TODO not set by any RFC"), which is what its
    # HPKE (mls-rs-crypto-hpke hpke.rs) puts in the HPKE suite_id.
    *(
        DialectSuite(
            "mls-rs",
            code,
            name,
            kem,
            kdf,
            aead,
            sig,
            "mls-rs",
            "expanded (FIPS 203 dk: 1632 / 2400 / 3168 bytes)",
            unsupported=why,
        )
        for code, name, kem, kdf, aead, sig, why in (
            (65001, "ML_KEM_512 (KYBER512)", 0x0040, 1, 1, 0x0807, _MLS_RS_WHY),
            (65002, "ML_KEM_768 (KYBER768)", 0x0041, 1, 1, 0x0807, _MLS_RS_WHY),
            (65003, "ML_KEM_1024 (KYBER1024)", 0x0042, 2, 2, 0x0503, _MLS_RS_WHY),
            (
                65100,
                "ML_KEM_768_X25519 (KYBER768_X25519)",
                0x647A,
                1,
                1,
                0x0807,
                "known incompatible: its own combiner (mls-rs-crypto-hpke kem_combiner.rs), "
                "not X-Wing: the X25519 half is a full DHKEM(X25519) whose "
                "ExtractAndExpand output and enc enter X-Wing-01's SHA3-256 input; key "
                "pairs come from SHAKE128(ikm) split into the ML-KEM seed (64 bytes) and "
                "the input of DHKEM's own (labeled) DeriveKeyPair; HPKE KEM id 15; "
                "specified only by its source. " + _MLS_RS_UNREACHABLE,
            ),
        )
    ),
)

# ts-mls 2.x renumbers 1.x's suites; its entries overlap Wire's at 0xF007-0xF00B, so the
# two cannot be registered in one process.
DIALECTS: tuple[str, ...] = tuple(dict.fromkeys(d.dialect for d in DIALECT_SUITES))


def find(key: str) -> DialectSuite:
    """The entry for ``dialect:code`` (code decimal or 0x-hex); CryptoError if none."""
    dialect, _, code_text = key.partition(":")
    try:
        code = int(code_text, 0)
    except ValueError:
        raise CryptoError(f"not a dialect suite: {key!r} (dialect:code, e.g. ts-mls:83)") from None
    for entry in DIALECT_SUITES:
        if entry.dialect == dialect.lower() and entry.code_point == code:
            return entry
    known = ", ".join(DIALECTS)
    raise CryptoError(f"no suite {code} ({code:#06x}) in dialect {dialect!r} (dialects: {known})")


def suite_for(entry: DialectSuite) -> CipherSuite:
    """A :class:`CipherSuite` numbered and deriving keys as the dialect does."""
    if entry.unsupported:
        raise CryptoError(f"{entry.key} cannot run in mlswire: {entry.unsupported}")
    spec = SuiteSpec(
        entry.code_point,
        entry.name,
        entry.kem_id,
        entry.kdf_id,
        entry.aead_id,
        entry.signature_scheme_id,
        entry.hash_id,
    )
    return CipherSuite(spec, _kem_with_rule(entry.kem_id, entry.rule))


_REGISTERED: dict[int, CipherSuite] = {}


def use(key: str) -> int:
    """Register the dialect suite ``dialect:code`` with :func:`cipher_suite` (so groups
    can run in it) and return its code point. CryptoError if it cannot run in mlswire or
    its code point is taken (by an RFC 9420 suite or another dialect's)."""
    entry = find(key)
    cs = _REGISTERED.get(entry.code_point)
    if cs is None or cs.name != entry.name or cs.spec.kem_id != entry.kem_id:
        cs = suite_for(entry)
    register_suite(cs)
    _REGISTERED[entry.code_point] = cs
    return entry.code_point


def table() -> list[DialectSuite]:
    return list(DIALECT_SUITES)


set_dialect_resolver(use)  # parse_suite("ts-mls:83") comes here


__all__ = [
    "DIALECTS",
    "DIALECT_SUITES",
    "RULES",
    "DialectSuite",
    "find",
    "suite_for",
    "table",
    "use",
]
