"""Welcome (RFC 9420 §12.4.3): round trips for every suite, and each way a Welcome can
be wrong for its recipient: not addressed to it, tampered, badly signed, a wrong
confirmation tag, a missing PSK, a cipher suite mismatch."""

from __future__ import annotations

import json

import pytest

from mlswire.codecs import tls
from mlswire.crypto.labeled import encrypt_with_label
from mlswire.crypto.suites import SUPPORTED_CIPHER_SUITES, CipherSuite, cipher_suite
from mlswire.engine import key_schedule as ks
from mlswire.engine import psk as psk_mod
from mlswire.engine import transcript
from mlswire.engine import welcome as wl
from mlswire.errors import CryptoError, DecodeError, MLSError, StateError, ValidationError
from mlswire.schema import (
    Capabilities,
    Credential,
    CredentialType,
    EncryptedGroupSecrets,
    GroupContext,
    GroupInfo,
    HPKECiphertext,
    KeyPackage,
    LeafNode,
    LeafNodeSource,
    Lifetime,
    MLSMessage,
    PreSharedKeyID,
    ProtocolVersion,
    ResumptionPSKUsage,
    Welcome,
    WireFormat,
)
from mlswire.schema import CipherSuite as SuiteId

from .conftest import require, vectors_dir


def _key_package(
    cs: CipherSuite, name: bytes, suite: int | None = None
) -> tuple[KeyPackage, bytes]:
    """A KeyPackage with a fresh init key (its own signature is not checked here)."""
    init_priv, init_pub = cs.generate_key_pair()
    _, sig_pub = cs.signature_key_pair()
    leaf = LeafNode(
        encryption_key=cs.generate_key_pair()[1],
        signature_key=sig_pub,
        credential=Credential(credential_type=CredentialType.basic, identity=name),
        capabilities=Capabilities(
            versions=(ProtocolVersion.mls10,),
            cipher_suites=(SuiteId(cs.suite_id),),
            extensions=(),
            proposals=(),
            credentials=(CredentialType.basic,),
        ),
        leaf_node_source=LeafNodeSource.key_package,
        lifetime=Lifetime(not_before=0, not_after=2**64 - 1),
        extensions=(),
        signature=b"unchecked",
    )
    kp = KeyPackage(
        version=ProtocolVersion.mls10,
        cipher_suite=SuiteId(cs.suite_id if suite is None else suite),
        init_key=init_pub,
        leaf_node=leaf,
        extensions=(),
        signature=b"unchecked",
    )
    return kp, init_priv


class _Group:
    """The committer's side: one epoch's secrets, a signed GroupInfo, and its signer key."""

    def __init__(self, suite: int, psk_secret: bytes | None = None, epoch: int = 4) -> None:
        cs = self.cs = cipher_suite(suite)
        self.sign_priv, self.sign_pub = cs.signature_key_pair()
        self.context = GroupContext(
            cipher_suite=SuiteId(suite),
            group_id=b"the group",
            epoch=epoch,
            tree_hash=b"\x01" * cs.hash_len,
            confirmed_transcript_hash=b"\x02" * cs.hash_len,
            extensions=(),
        )
        self.epoch = ks.derive_epoch(
            cs, b"\x03" * cs.hash_len, self.context, b"\x04" * cs.hash_len, psk_secret
        )
        tag = transcript.confirmation_tag(
            cs, self.epoch.confirmation_key, self.context.confirmed_transcript_hash
        )
        self.group_info = self.sign(tag)

    def sign(self, tag: bytes, key: bytes | None = None) -> GroupInfo:
        return wl.sign_group_info(
            self.cs,
            key or self.sign_priv,
            group_context=self.context,
            confirmation_tag=tag,
            signer=0,
        )


@pytest.mark.parametrize("suite", SUPPORTED_CIPHER_SUITES)
def test_round_trip_for_two_members(suite: int) -> None:
    group = _Group(suite)
    alice, alice_priv = _key_package(group.cs, b"alice")
    bob, bob_priv = _key_package(group.cs, b"bob")
    path_secret = b"\x09" * group.cs.hash_len
    welcome = wl.create_welcome(
        group.epoch,
        group.group_info,
        [wl.NewMember(alice), wl.NewMember(bob, path_secret)],
    )
    # Through the wire and back, as a recipient would get it.
    wire = tls.encode(MLSMessage(wire_format=WireFormat.mls_welcome, welcome=welcome), MLSMessage)
    received = tls.decode(wire, MLSMessage).welcome
    for kp, priv, expected_path in ((alice, alice_priv, None), (bob, bob_priv, path_secret)):
        opened = wl.open_welcome(received, kp, priv)
        hashes = opened.verify(group.sign_pub)
        assert opened.epoch == group.epoch
        assert opened.group_info == group.group_info
        assert opened.psk_secret == bytes(group.cs.hash_len)
        got_path = opened.group_secrets.path_secret
        assert (got_path.path_secret if got_path else None) == expected_path
        assert hashes.confirmed == group.context.confirmed_transcript_hash
        assert hashes.interim == transcript.interim_transcript_hash(
            group.cs, hashes.confirmed, group.group_info.confirmation_tag
        )


def test_entries_are_encrypt_with_label_of_the_encrypted_group_info() -> None:
    """create_welcome seals every entry under one prepared EncryptContext; each entry is
    still EncryptWithLabel(init_key, "Welcome", encrypted_group_info, GroupSecrets):
    byte for byte what one-entry encrypt_group_secrets gives with the same randomness."""
    group = _Group(1)
    members = [_key_package(group.cs, b"member %d" % i) for i in range(3)]
    rng_bytes = [b"\x11" * 32, b"\x22" * 32, b"\x33" * 32]
    it = iter(rng_bytes)
    welcome = wl.create_welcome(
        group.epoch,
        group.group_info,
        [wl.NewMember(kp) for kp, _ in members],
        rng=lambda n: next(it),
    )
    for (kp, priv), entry, eph in zip(members, welcome.secrets, rng_bytes, strict=True):
        secrets = wl.decrypt_group_secrets(group.cs, priv, entry, welcome.encrypted_group_info)
        assert secrets.joiner_secret == group.epoch.joiner_secret
        alone = wl.encrypt_group_secrets(
            group.cs, kp, welcome.encrypted_group_info, secrets, rng=lambda n, e=eph: e
        )
        assert alone == entry


def test_round_trip_with_psks() -> None:
    cs = cipher_suite(1)
    ids = [
        psk_mod.external_psk_id(b"ext", b"\x01" * 32),
        psk_mod.resumption_psk_id(ResumptionPSKUsage.application, b"old", 2, b"\x02" * 32),
    ]
    values = {tls.encode(i, PreSharedKeyID): bytes([n]) * 32 for n, i in enumerate(ids)}
    pairs = [(i, values[tls.encode(i, PreSharedKeyID)]) for i in ids]
    group = _Group(1, psk_mod.psk_secret(cs, pairs))
    kp, priv = _key_package(cs, b"carol")
    welcome = wl.create_welcome(group.epoch, group.group_info, [wl.NewMember(kp)], psks=ids)

    def lookup(psk_id: PreSharedKeyID) -> bytes | None:
        return values.get(tls.encode(psk_id, PreSharedKeyID))

    opened = wl.open_welcome(welcome, kp, priv, psks=lookup)
    opened.verify(group.sign_pub)
    assert opened.epoch == group.epoch
    assert list(opened.group_secrets.psks) == ids

    with pytest.raises(StateError, match="not available"):
        wl.open_welcome(welcome, kp, priv)  # no lookup: the PSKs cannot be found


def test_welcome_for_another_key_package_raises() -> None:
    group = _Group(1)
    alice, _ = _key_package(group.cs, b"alice")
    eve, eve_priv = _key_package(group.cs, b"eve")
    welcome = wl.create_welcome(group.epoch, group.group_info, [wl.NewMember(alice)])
    with pytest.raises(wl.WelcomeNotForKeyPackage) as info:
        wl.open_welcome(welcome, eve, eve_priv)
    assert isinstance(info.value, ValidationError) and isinstance(info.value, MLSError)
    assert wl.key_package_ref(group.cs, eve).hex() in str(info.value)


def test_wrong_init_private_key_raises_crypto_error() -> None:
    group = _Group(2)
    alice, _ = _key_package(group.cs, b"alice")
    other_priv, _ = group.cs.generate_key_pair()
    welcome = wl.create_welcome(group.epoch, group.group_info, [wl.NewMember(alice)])
    with pytest.raises(CryptoError):
        wl.open_welcome(welcome, alice, other_priv)


def test_tampered_group_info_signature_raises_crypto_error() -> None:
    group = _Group(1)
    alice, priv = _key_package(group.cs, b"alice")
    sig = bytearray(group.group_info.signature)
    sig[5] ^= 0x01
    tampered = GroupInfo(
        group_context=group.group_info.group_context,
        extensions=group.group_info.extensions,
        confirmation_tag=group.group_info.confirmation_tag,
        signer=group.group_info.signer,
        signature=bytes(sig),
    )
    welcome = wl.create_welcome(group.epoch, tampered, [wl.NewMember(alice)])
    opened = wl.open_welcome(welcome, alice, priv)  # decrypts: the damage is inside
    with pytest.raises(CryptoError):
        opened.verify(group.sign_pub)


def test_group_info_signed_by_someone_else_raises_crypto_error() -> None:
    group = _Group(3)
    alice, priv = _key_package(group.cs, b"alice")
    mallory_priv, _ = group.cs.signature_key_pair()
    forged = group.sign(group.group_info.confirmation_tag, key=mallory_priv)
    welcome = wl.create_welcome(group.epoch, forged, [wl.NewMember(alice)])
    with pytest.raises(CryptoError):
        wl.open_welcome(welcome, alice, priv).verify(group.sign_pub)


def test_wrong_confirmation_tag_in_group_info_raises() -> None:
    group = _Group(1)
    alice, priv = _key_package(group.cs, b"alice")
    # Properly signed, but the tag is not MAC(confirmation_key, confirmed_transcript_hash).
    wrong = group.sign(b"\x00" * group.cs.hash_len)
    welcome = wl.create_welcome(group.epoch, wrong, [wl.NewMember(alice)])
    opened = wl.open_welcome(welcome, alice, priv)
    with pytest.raises(ValidationError) as info:
        opened.verify(group.sign_pub)
    assert info.value.rule == transcript.CONFIRMATION_TAG_RULE


def test_tampered_encrypted_group_info_raises_crypto_error() -> None:
    group = _Group(1)
    alice, priv = _key_package(group.cs, b"alice")
    welcome = wl.create_welcome(group.epoch, group.group_info, [wl.NewMember(alice)])
    egi = bytearray(welcome.encrypted_group_info)
    egi[-1] ^= 0x01
    # The GroupSecrets are encrypted with encrypted_group_info as context, so tampering
    # with it already breaks the HPKE step; either way the result is a CryptoError.
    bad = Welcome(
        cipher_suite=welcome.cipher_suite,
        secrets=welcome.secrets,
        encrypted_group_info=bytes(egi),
    )
    with pytest.raises(CryptoError):
        wl.open_welcome(bad, alice, priv)
    # A GroupInfo encrypted under the wrong welcome secret fails at the AEAD step.
    with pytest.raises(CryptoError):
        wl.decrypt_group_info(group.cs, b"\x00" * 32, welcome.encrypted_group_info)


def test_garbage_group_secrets_raise_decode_error() -> None:
    cs = cipher_suite(1)
    alice, priv = _key_package(cs, b"alice")
    kem_output, ct = encrypt_with_label(cs, alice.init_key, "Welcome", b"egi", b"\xff\xff")
    entry = EncryptedGroupSecrets(
        new_member=wl.key_package_ref(cs, alice),
        encrypted_group_secrets=HPKECiphertext(kem_output=kem_output, ciphertext=ct),
    )
    welcome = Welcome(cipher_suite=SuiteId(1), secrets=(entry,), encrypted_group_info=b"egi")
    with pytest.raises(DecodeError):
        wl.open_welcome(welcome, alice, priv)


def test_cipher_suite_mismatch_is_a_validation_error() -> None:
    group = _Group(1)
    alice, priv = _key_package(group.cs, b"alice")
    welcome = wl.create_welcome(group.epoch, group.group_info, [wl.NewMember(alice)])
    other_suite = replace_suite(alice, 3)
    with pytest.raises(ValidationError, match="cipher_suite"):
        wl.open_welcome(welcome, other_suite, priv)
    with pytest.raises(ValidationError, match="group's suite"):
        wl.create_welcome(group.epoch, group.group_info, [wl.NewMember(other_suite)])


def test_unsupported_suite_in_welcome_is_an_mls_error() -> None:
    group = _Group(1)
    alice, priv = _key_package(group.cs, b"alice")
    welcome = wl.create_welcome(group.epoch, group.group_info, [wl.NewMember(alice)])
    odd = Welcome(
        cipher_suite=SuiteId(0x7A7A),
        secrets=welcome.secrets,
        encrypted_group_info=welcome.encrypted_group_info,
    )
    with pytest.raises(MLSError):
        wl.open_welcome(odd, replace_suite(alice, 0x7A7A), priv)


def test_reinit_psk_requires_epoch_one() -> None:
    cs = cipher_suite(1)
    reinit = psk_mod.resumption_psk_id(ResumptionPSKUsage.reinit, b"old", 9, b"\x01" * 32)
    value = b"\x05" * 32
    secret = psk_mod.psk_secret(cs, [(reinit, value)])
    kp, priv = _key_package(cs, b"dave")

    def lookup(psk_id: PreSharedKeyID) -> bytes | None:
        return value if psk_id == reinit else None

    for epoch, ok in ((1, True), (4, False)):
        group = _Group(1, secret, epoch=epoch)
        welcome = wl.create_welcome(group.epoch, group.group_info, [wl.NewMember(kp)], [reinit])
        if ok:
            wl.open_welcome(welcome, kp, priv, psks=lookup).verify(group.sign_pub)
        else:
            with pytest.raises(ValidationError, match="epoch 1"):
                wl.open_welcome(welcome, kp, priv, psks=lookup)


def test_tampered_official_welcome_fails() -> None:
    case = json.loads(require(vectors_dir() / "welcome.json").read_text())[0]
    kp = tls.decode(bytes.fromhex(case["key_package"]), MLSMessage).key_package
    welcome = tls.decode(bytes.fromhex(case["welcome"]), MLSMessage).welcome
    priv = bytes.fromhex(case["init_priv"])
    signer = bytes.fromhex(case["signer_pub"])
    wl.open_welcome(welcome, kp, priv).verify(signer)  # the untouched one works
    with pytest.raises(CryptoError):
        wl.open_welcome(welcome, kp, priv).verify(bytes(len(signer)))
    gone = Welcome(
        cipher_suite=welcome.cipher_suite,
        secrets=(),
        encrypted_group_info=welcome.encrypted_group_info,
    )
    with pytest.raises(wl.WelcomeNotForKeyPackage):
        wl.open_welcome(gone, kp, priv)


def test_opened_welcome_repr_hides_secrets() -> None:
    group = _Group(1)
    alice, priv = _key_package(group.cs, b"alice")
    welcome = wl.create_welcome(group.epoch, group.group_info, [wl.NewMember(alice)])
    text = repr(wl.open_welcome(welcome, alice, priv))
    assert group.epoch.joiner_secret.hex() not in text
    assert repr(group.epoch.joiner_secret) not in text


def replace_suite(kp: KeyPackage, suite: int) -> KeyPackage:
    return KeyPackage(
        version=kp.version,
        cipher_suite=SuiteId(suite),
        init_key=kp.init_key,
        leaf_node=kp.leaf_node,
        extensions=kp.extensions,
        signature=kp.signature,
    )
