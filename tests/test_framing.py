"""Message framing (RFC 9420 §6): PublicMessage and PrivateMessage both ways, and every
way a message can be wrong raising an MLSError that says what failed."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from mlswire.codecs import tls
from mlswire.crypto.labeled import Rng
from mlswire.crypto.suites import cipher_suite
from mlswire.engine import framing
from mlswire.engine.secret_tree import SecretTree, ratchet_type, sender_data_key_nonce
from mlswire.errors import CryptoError, MLSError, StateError, ValidationError
from mlswire.schema import (
    AuthenticatedContent,
    CipherSuite,
    ContentType,
    FramedContentAuthData,
    GroupContext,
    MLSMessage,
    PrivateContentAAD,
    PrivateMessage,
    PrivateMessageContent,
    Proposal,
    ProposalType,
    ProtocolVersion,
    PublicMessage,
    Remove,
    Sender,
    SenderData,
    SenderDataAAD,
    SenderType,
    WireFormat,
)

SUITE = 1
CS = cipher_suite(SUITE)
ENCRYPTION_SECRET = bytes(range(32))
SENDER_DATA_SECRET = bytes(range(32, 64))
MEMBERSHIP_KEY = bytes(range(64, 96))
N = 4
LEAF = 2


def _rng(seed: int) -> Rng:
    r = random.Random(seed)
    return lambda n: r.randbytes(n)


SIG_PRIV, SIG_PUB = CS.signature_key_pair(_rng(1))
OTHER_PRIV, OTHER_PUB = CS.signature_key_pair(_rng(2))
GC = GroupContext(
    cipher_suite=CipherSuite(SUITE),
    group_id=b"group",
    epoch=7,
    tree_hash=b"\x01" * 32,
    confirmed_transcript_hash=b"\x02" * 32,
    extensions=(),
)
PROPOSAL = Proposal(proposal_type=ProposalType.remove, remove=Remove(removed=1))


def tree(**kw: Any) -> SecretTree:
    return SecretTree(CS, ENCRYPTION_SECRET, N, **kw)


def content(
    wire_format: WireFormat, *, app: bytes | None = None, leaf: int = LEAF, aad: bytes = b"ad"
) -> AuthenticatedContent:
    fc = framing.framed_content(
        group_id=GC.group_id,
        epoch=GC.epoch,
        sender=framing.member_sender(leaf),
        application_data=app,
        proposal=None if app is not None else PROPOSAL,
        authenticated_data=aad,
    )
    return framing.authenticate(CS, SIG_PRIV, fc, wire_format, GC)


def private(sender_tree: SecretTree, *, app: bytes | None = b"hello", **kw: Any) -> PrivateMessage:
    return framing.protect_private(
        CS,
        content(WireFormat.mls_private_message, app=app),
        secret_tree=sender_tree,
        sender_data_secret=SENDER_DATA_SECRET,
        **kw,
    )


def open_private(
    msg: PrivateMessage,
    receiver: SecretTree,
    *,
    key: bytes | Callable[[Sender], bytes] = SIG_PUB,
    sender_data_secret: bytes = SENDER_DATA_SECRET,
    gc: GroupContext = GC,
) -> AuthenticatedContent:
    return framing.unprotect_private(
        CS,
        msg,
        group_context=gc,
        secret_tree=receiver,
        sender_data_secret=sender_data_secret,
        signature_key=key,
    )


def public() -> PublicMessage:
    return framing.protect_public(
        CS, content(WireFormat.mls_public_message), group_context=GC, membership_key=MEMBERSHIP_KEY
    )


def open_public(
    msg: PublicMessage, *, key: bytes = SIG_PUB, membership_key: bytes = MEMBERSHIP_KEY
) -> AuthenticatedContent:
    return framing.unprotect_public(
        CS, msg, group_context=GC, signature_key=key, membership_key=membership_key
    )


def wire(msg: PrivateMessage | PublicMessage) -> bytes:
    return tls.encode(framing.to_mls_message(msg), MLSMessage)


# --- PublicMessage -----------------------------------------------------------------------


def test_public_round_trip() -> None:
    msg = public()
    assert msg.membership_tag is not None
    got = open_public(tls.decode(wire(msg), MLSMessage).public_message)
    assert got == content(WireFormat.mls_public_message)  # Ed25519 is deterministic
    assert got.content.proposal == PROPOSAL


def test_public_wrong_membership_key_signature_or_tag() -> None:
    msg = public()
    with pytest.raises(CryptoError, match="membership_tag of member leaf 2 does not verify"):
        open_public(msg, membership_key=bytes(32))
    with pytest.raises(CryptoError, match="signature of member leaf 2 does not verify"):
        open_public(msg, key=OTHER_PUB)
    bad_sig = PublicMessage(
        content=msg.content,
        auth=FramedContentAuthData(signature=bytes(64)),
        membership_tag=msg.membership_tag,
    )
    with pytest.raises(CryptoError):  # the tag covers the signature, so the tag fails first
        open_public(bad_sig)
    bad_tag = PublicMessage(content=msg.content, auth=msg.auth, membership_tag=b"\x00" * 32)
    with pytest.raises(CryptoError, match="membership_tag"):
        open_public(bad_tag)


def test_public_refuses_application_data() -> None:
    with pytest.raises(ValidationError, match="MUST use PrivateMessage"):
        framing.protect_public(
            CS,
            content(WireFormat.mls_public_message, app=b"x"),
            group_context=GC,
            membership_key=MEMBERSHIP_KEY,
        )


def test_content_signed_for_one_wire_format_is_refused_by_the_other() -> None:
    with pytest.raises(ValidationError, match="another wire format"):
        framing.protect_public(
            CS,
            content(WireFormat.mls_private_message),
            group_context=GC,
            membership_key=MEMBERSHIP_KEY,
        )
    with pytest.raises(ValidationError, match="another wire format"):
        framing.protect_private(
            CS,
            content(WireFormat.mls_public_message),
            secret_tree=tree(),
            sender_data_secret=SENDER_DATA_SECRET,
        )


def test_public_epoch_and_group_checks() -> None:
    msg = public()
    for epoch, words in ((8, "too old"), (6, "from the future")):
        gc = GroupContext(
            cipher_suite=GC.cipher_suite,
            group_id=GC.group_id,
            epoch=epoch,
            tree_hash=GC.tree_hash,
            confirmed_transcript_hash=GC.confirmed_transcript_hash,
            extensions=(),
        )
        with pytest.raises(StateError, match=words):
            framing.unprotect_public(
                CS, msg, group_context=gc, signature_key=SIG_PUB, membership_key=MEMBERSHIP_KEY
            )


def test_commit_needs_a_confirmation_tag() -> None:
    fc = content(WireFormat.mls_public_message).content
    sig = framing.sign_framed_content(CS, SIG_PRIV, fc, WireFormat.mls_public_message, GC)
    with pytest.raises(ValidationError, match="only a commit"):
        framing.authenticated_content(fc, WireFormat.mls_public_message, sig, b"tag")


def test_external_sender_rules() -> None:
    fc = framing.framed_content(
        group_id=GC.group_id,
        epoch=GC.epoch,
        sender=Sender(sender_type=SenderType.new_member_proposal),
        proposal=PROPOSAL,  # not an Add
    )
    ac = framing.authenticate(CS, SIG_PRIV, fc, WireFormat.mls_public_message, None)
    with pytest.raises(ValidationError, match="only sends Add proposals"):
        framing.protect_public(CS, ac, group_context=GC)


# --- PrivateMessage ----------------------------------------------------------------------


@pytest.mark.parametrize("app", [b"hello", None])
def test_private_round_trip(app: bytes | None) -> None:
    msg = private(tree(), app=app)
    decoded = tls.decode(wire(msg), MLSMessage).private_message
    got = open_private(decoded, tree())
    assert got == content(WireFormat.mls_private_message, app=app)


def test_the_same_private_message_twice_is_refused() -> None:
    receiver = tree()
    msg = private(tree())
    open_private(msg, receiver)
    with pytest.raises(StateError, match="already used"):
        open_private(msg, receiver)


def test_private_out_of_order_and_limits() -> None:
    sender = tree()
    msgs = [private(sender, app=bytes([i])) for i in range(6)]
    receiver = tree(out_of_order_window=2, max_forward_distance=3)
    # Generation 4 jumps 4 ahead of 0: beyond the limit of 3.
    with pytest.raises(StateError, match="too far ahead"):
        open_private(msgs[4], receiver)
    for i in (3, 1, 2, 5):
        assert open_private(msgs[i], receiver).content.application_data == bytes([i])
    # 0 is below the window of 2 under the newest (5) ... and so is 3, already used.
    with pytest.raises(StateError, match="too old"):
        open_private(msgs[0], receiver)
    assert open_private(msgs[4], receiver).content.application_data == b"\x04"
    with pytest.raises(StateError, match="already used"):
        open_private(msgs[4], receiver)


def test_private_wrong_keys_raise_crypto_errors() -> None:
    msg = private(tree())
    receiver = tree()
    before = receiver.to_state()
    with pytest.raises(CryptoError, match="sender data does not decrypt"):
        open_private(msg, receiver, sender_data_secret=bytes(32))
    with pytest.raises(CryptoError, match="content from leaf 2 generation 0 does not decrypt"):
        open_private(msg, SecretTree(CS, bytes(32), N))
    with pytest.raises(CryptoError, match="signature of member leaf 2 does not verify"):
        open_private(msg, receiver, key=OTHER_PUB)
    assert receiver.to_state() == before  # nothing consumed by rejected messages
    open_private(msg, receiver, key=lambda s: SIG_PUB if s.leaf_index == LEAF else b"")


def test_every_flipped_byte_is_refused() -> None:
    data = wire(private(tree(), app=b"flip me"))
    receiver = tree()
    before = receiver.to_state()
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x01
        with pytest.raises(MLSError):
            msg = framing.framed_message(tls.decode(bytes(bad), MLSMessage))
            assert isinstance(msg, PrivateMessage)
            open_private(msg, receiver)
        assert receiver.to_state() == before, f"byte {i}"
    good = framing.framed_message(tls.decode(data, MLSMessage))
    assert isinstance(good, PrivateMessage)
    open_private(good, receiver)


def test_framed_message_checks_version_and_wire_format() -> None:
    msg = framing.to_mls_message(public())
    assert framing.framed_message(msg) == msg.public_message
    with pytest.raises(ValidationError, match="mls10"):
        framing.framed_message(
            MLSMessage(
                version=ProtocolVersion.reserved,
                wire_format=WireFormat.mls_public_message,
                public_message=msg.public_message,
            )
        )
    with pytest.raises(ValidationError, match="PublicMessage or PrivateMessage"):
        framing.framed_message(MLSMessage(wire_format=WireFormat.mls_key_package))


def test_random_ciphertexts_raise_only_mls_errors() -> None:
    msg = private(tree())
    r = random.Random(5)
    for _ in range(200):
        junk = PrivateMessage(
            group_id=msg.group_id,
            epoch=msg.epoch,
            content_type=msg.content_type,
            authenticated_data=msg.authenticated_data,
            encrypted_sender_data=r.randbytes(r.randrange(0, 40)),
            ciphertext=r.randbytes(r.randrange(0, 80)),
        )
        with pytest.raises(MLSError):
            open_private(junk, tree())


def test_padding_policy_and_nonzero_padding() -> None:
    padded = private(tree(), padding=framing.pad_to_multiple(64))
    assert (len(padded.ciphertext) - CS.aead_tag_len) % 64 == 0
    assert open_private(padded, tree()).content.application_data == b"hello"
    assert len(padded.ciphertext) > len(private(tree()).ciphertext)

    # A sender that pads with a non-zero byte: the receiver MUST reject the message.
    ac = content(WireFormat.mls_private_message, app=b"hi")
    ctx = {"PrivateMessage.content_type": ContentType.application}
    body = tls.encode(
        PrivateMessageContent(application_data=b"hi", auth=ac.auth),
        PrivateMessageContent,
        context={**ctx, "FramedContent.content_type": ContentType.application},
    )
    key_nonce = tree().next_send_key(LEAF, ratchet_type(ContentType.application))
    guard = b"\x00\x00\x00\x00"
    aad = tls.encode(
        PrivateContentAAD(
            group_id=GC.group_id,
            epoch=GC.epoch,
            content_type=ContentType.application,
            authenticated_data=b"ad",
        ),
        PrivateContentAAD,
    )
    ct = CS.aead_seal(key_nonce.key, key_nonce.nonce, aad, body + b"\x00\x07")
    sd_key, sd_nonce = sender_data_key_nonce(CS, SENDER_DATA_SECRET, ct)
    sd_aad = tls.encode(
        SenderDataAAD(group_id=GC.group_id, epoch=GC.epoch, content_type=ContentType.application),
        SenderDataAAD,
    )
    sd = tls.encode(SenderData(leaf_index=LEAF, generation=0, reuse_guard=guard), SenderData)
    bad = PrivateMessage(
        group_id=GC.group_id,
        epoch=GC.epoch,
        content_type=ContentType.application,
        authenticated_data=b"ad",
        encrypted_sender_data=CS.aead_seal(sd_key, sd_nonce, sd_aad, sd),
        ciphertext=ct,
    )
    receiver = tree()
    with pytest.raises(MLSError, match="padding must be all zero"):
        open_private(bad, receiver)
    assert receiver.ratchets[ratchet_type(ContentType.application)] == {}


def test_sender_leaf_outside_the_receivers_tree() -> None:
    big = SecretTree(CS, ENCRYPTION_SECRET, 8)
    msg = framing.protect_private(
        CS,
        content(WireFormat.mls_private_message, app=b"x", leaf=6),
        secret_tree=big,
        sender_data_secret=SENDER_DATA_SECRET,
    )
    with pytest.raises(ValidationError, match="leaf 6"):
        open_private(msg, tree())


def test_only_members_send_private_messages() -> None:
    fc = framing.framed_content(
        group_id=GC.group_id,
        epoch=GC.epoch,
        sender=Sender(sender_type=SenderType.external, sender_index=0),
        proposal=PROPOSAL,
    )
    ac = framing.authenticate(CS, SIG_PRIV, fc, WireFormat.mls_private_message, None)
    with pytest.raises(ValidationError, match="only members"):
        framing.protect_private(CS, ac, secret_tree=tree(), sender_data_secret=SENDER_DATA_SECRET)


def test_reuse_guard_is_random_and_carried() -> None:
    a = private(tree(), rng=lambda n: b"\xaa" * n)
    b = private(tree(), rng=lambda n: b"\xbb" * n)
    # Same key and generation, different guards: different ciphertexts, both decrypt.
    assert a.ciphertext != b.ciphertext
    assert open_private(a, tree()).content == open_private(b, tree()).content


def test_private_epoch_checks() -> None:
    msg = private(tree())
    gc = GroupContext(
        cipher_suite=GC.cipher_suite,
        group_id=b"other",
        epoch=GC.epoch,
        tree_hash=GC.tree_hash,
        confirmed_transcript_hash=GC.confirmed_transcript_hash,
        extensions=(),
    )
    with pytest.raises(ValidationError, match="group_id"):
        open_private(msg, tree(), gc=gc)
