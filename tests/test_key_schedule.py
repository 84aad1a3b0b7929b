"""The key schedule (RFC 9420 §8) beyond key-schedule.json: an independent HKDF
derivation, the zero-secret conventions, the joiner's path, exporter and external init,
and the errors for inputs of the wrong size."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac

import pytest

from mlswire.codecs import tls
from mlswire.crypto.suites import SUPPORTED_CIPHER_SUITES, cipher_suite
from mlswire.engine import key_schedule as ks
from mlswire.errors import MLSError, ValidationError
from mlswire.schema import CipherSuite as SuiteId
from mlswire.schema import GroupContext

# Suite -> hashlib name, for the from-scratch derivation below.
_HASHES = {
    1: "sha256",
    2: "sha256",
    3: "sha256",
    4: "sha512",
    5: "sha512",
    6: "sha512",
    7: "sha384",
}


def _context(suite: int, epoch: int = 3) -> GroupContext:
    return GroupContext(
        cipher_suite=SuiteId(suite),
        group_id=b"group",
        epoch=epoch,
        tree_hash=b"\x11" * 32,
        confirmed_transcript_hash=b"\x22" * 32,
        extensions=(),
    )


class _Reference:
    """RFC 5869 HKDF and RFC 9420 §8 written out with hashlib/hmac only, to cross-check
    the implementation without going through mlswire's crypto layer."""

    def __init__(self, hash_name: str) -> None:
        self.h = hash_name
        self.nh = hashlib.new(hash_name).digest_size

    def extract(self, salt: bytes, ikm: bytes) -> bytes:
        return hmac.new(salt, ikm, self.h).digest()

    def expand(self, prk: bytes, info: bytes, length: int) -> bytes:
        out, block, i = b"", b"", 1
        while len(out) < length:
            block = hmac.new(prk, block + info + bytes([i]), self.h).digest()
            out += block
            i += 1
        return out[:length]

    @staticmethod
    def opaque(data: bytes) -> bytes:
        # opaque<V> with the RFC 9000 varint header (1 or 2 bytes for what we hash here)
        assert len(data) < 0x4000
        n = len(data)
        return (bytes([n]) if n < 0x40 else (0x4000 | n).to_bytes(2, "big")) + data

    def expand_with_label(self, secret: bytes, label: str, context: bytes, length: int) -> bytes:
        info = length.to_bytes(2, "big") + self.opaque(b"MLS 1.0 " + label.encode())
        return self.expand(secret, info + self.opaque(context), length)

    def derive_secret(self, secret: bytes, label: str) -> bytes:
        return self.expand_with_label(secret, label, b"", self.nh)


@pytest.mark.parametrize("suite", [1, 7, 4])
def test_matches_an_independent_derivation(suite: int) -> None:
    cs = cipher_suite(suite)
    ref = _Reference(_HASHES[suite])
    init, commit, psk = b"\x01" * ref.nh, b"\x02" * ref.nh, b"\x03" * ref.nh
    context = _context(suite)
    encoded = tls.encode(context, GroupContext)
    got = ks.derive_epoch(cs, init, context, commit, psk)

    joiner = ref.expand_with_label(ref.extract(init, commit), "joiner", encoded, ref.nh)
    member = ref.extract(joiner, psk)
    epoch_secret = ref.expand_with_label(member, "epoch", encoded, ref.nh)
    assert got.joiner_secret == joiner
    assert got.welcome_secret == ref.derive_secret(member, "welcome")
    table = {
        "sender_data_secret": "sender data",
        "encryption_secret": "encryption",
        "exporter_secret": "exporter",
        "external_secret": "external",
        "confirmation_key": "confirm",
        "membership_key": "membership",
        "resumption_psk": "resumption",
        "epoch_authenticator": "authentication",
        "init_secret": "init",
    }
    for attribute, label in table.items():
        assert getattr(got, attribute) == ref.derive_secret(epoch_secret, label), attribute

    exported = got.export("app", b"ctx", 20)
    inner = ref.derive_secret(got.exporter_secret, "app")
    assert exported == ref.expand_with_label(
        inner, "exported", hashlib.new(ref.h, b"ctx").digest(), 20
    )

    key, nonce = got.welcome_key_nonce()
    assert key == ref.expand_with_label(got.welcome_secret, "key", b"", cs.aead_key_len)
    assert nonce == ref.expand_with_label(got.welcome_secret, "nonce", b"", cs.aead_nonce_len)


@pytest.mark.parametrize("suite", SUPPORTED_CIPHER_SUITES)
def test_absent_commit_and_psk_secrets_are_zero_vectors(suite: int) -> None:
    cs = cipher_suite(suite)
    init = b"\x05" * cs.hash_len
    zero = ks.zero_secret(cs)
    assert zero == bytes(cs.hash_len)
    implicit = ks.derive_epoch(cs, init, _context(suite))
    explicit = ks.derive_epoch(cs, init, _context(suite), zero, zero)
    assert implicit == explicit
    assert implicit != ks.derive_epoch(cs, init, _context(suite), b"\x01" * cs.hash_len)


def test_joiner_derives_the_same_epoch_as_members() -> None:
    cs = cipher_suite(2)
    init, commit, psk = b"\x0a" * 32, b"\x0b" * 32, b"\x0c" * 32
    context = _context(2)
    member = ks.derive_epoch(cs, init, context, commit, psk)
    joiner = ks.joiner_secret(cs, init, context, commit)
    assert joiner == member.joiner_secret
    assert ks.welcome_secret(cs, joiner, psk) == member.welcome_secret
    assert ks.epoch_from_joiner(cs, joiner, context, psk) == member


def test_group_context_as_value_or_bytes() -> None:
    cs = cipher_suite(1)
    init = b"\x09" * 32
    encoded = tls.encode(_context(1), GroupContext)
    assert ks.encode_group_context(_context(1)) == encoded
    assert ks.derive_epoch(cs, init, _context(1)) == ks.derive_epoch(cs, init, encoded)
    # Each epoch number gives different secrets: the context is bound in.
    assert ks.derive_epoch(cs, init, _context(1, 4)) != ks.derive_epoch(cs, init, encoded)


def test_next_epoch_chains_through_init_secret() -> None:
    cs = cipher_suite(3)
    first = ks.derive_epoch(cs, b"\x00" * 32, _context(3, 0))
    second = ks.derive_epoch(cs, first.init_secret, _context(3, 1))
    assert second.init_secret != first.init_secret
    assert second.epoch_authenticator != first.epoch_authenticator


@pytest.mark.parametrize(
    ("field", "length"), [("commit_secret", 31), ("psk_secret", 33), ("commit_secret", 0)]
)
def test_wrong_sized_inputs_raise_validation_error(field: str, length: int) -> None:
    cs = cipher_suite(1)
    with pytest.raises(ValidationError, match=field) as info:
        ks.derive_epoch(cs, b"\x00" * 32, _context(1), **{field: b"\x01" * length})
    assert "§8" in info.value.rule


def test_joiner_secret_of_the_wrong_size_is_rejected() -> None:
    cs = cipher_suite(4)  # Nh = 64
    with pytest.raises(ValidationError, match="joiner_secret"):
        ks.welcome_secret(cs, b"\x01" * 32)
    with pytest.raises(ValidationError, match="joiner_secret"):
        ks.epoch_from_joiner(cs, b"\x01" * 32, _context(4))


def test_exporter_is_bound_to_label_context_and_length() -> None:
    secrets = ks.derive_epoch(cipher_suite(1), b"\x00" * 32, _context(1))
    base = secrets.export("label", b"context", 32)
    assert len(base) == 32
    assert secrets.export(b"label", b"context", 32) == base
    assert secrets.export("other", b"context", 32) != base
    assert secrets.export("label", b"other", 32) != base
    assert secrets.export("label", b"context", 16) != base[:16]  # length is in KDFLabel


def test_exporter_length_out_of_range_raises_mls_error() -> None:
    secrets = ks.derive_epoch(cipher_suite(1), b"\x00" * 32, _context(1))
    with pytest.raises(MLSError):
        secrets.export("label", b"", 255 * 32 + 1)
    with pytest.raises(MLSError):
        secrets.export("label", b"", 70000)


@pytest.mark.parametrize("suite", SUPPORTED_CIPHER_SUITES)
def test_external_init_round_trip(suite: int) -> None:
    cs = cipher_suite(suite)
    secrets = ks.derive_epoch(cs, b"\x07" * cs.hash_len, _context(suite))
    external_priv, external_pub = secrets.external_key_pair()
    assert (external_priv, external_pub) == ks.external_key_pair(cs, secrets.external_secret)
    kem_output, init_secret = ks.external_init_sender(cs, external_pub)
    assert len(init_secret) == cs.hash_len
    assert ks.external_init_receiver(cs, external_priv, kem_output) == init_secret


def test_external_init_with_a_bad_kem_output_raises_mls_error() -> None:
    cs = cipher_suite(2)
    secrets = ks.derive_epoch(cs, b"\x07" * 32, _context(2))
    external_priv, _ = secrets.external_key_pair()
    with pytest.raises(MLSError):
        ks.external_init_receiver(cs, external_priv, b"\x04" + b"\x00" * 64)


@pytest.mark.parametrize("suite", SUPPORTED_CIPHER_SUITES)
def test_welcome_key_and_nonce_have_the_aead_sizes(suite: int) -> None:
    cs = cipher_suite(suite)
    key, nonce = ks.welcome_key_nonce(cs, b"\x01" * cs.hash_len)
    assert (len(key), len(nonce)) == (cs.aead_key_len, cs.aead_nonce_len)


def test_epoch_secrets_are_immutable_and_do_not_print_secrets() -> None:
    secrets = ks.derive_epoch(cipher_suite(1), b"\x00" * 32, _context(1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        secrets.init_secret = b""  # type: ignore[misc]
    text = repr(secrets)
    for f in dataclasses.fields(secrets):
        value = getattr(secrets, f.name)
        if isinstance(value, bytes):
            assert value.hex() not in text and repr(value) not in text
