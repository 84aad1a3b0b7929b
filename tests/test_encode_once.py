"""The hand-built encodings of the hot paths (issue 20: encode once) are the codec's
bytes: FramedContentTBS (with its memo), AuthenticatedContentTBM, the two PrivateMessage
AADs, KDFLabel, SignContent, one-block HKDF-Expand and the reuse guard."""

from __future__ import annotations

import random

import msgspec
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from mlswire.codecs import tls
from mlswire.crypto import labeled
from mlswire.crypto.primitives import KDFS
from mlswire.crypto.suites import cipher_suite
from mlswire.engine import framing
from mlswire.engine.secret_tree import apply_reuse_guard
from mlswire.errors import ValidationError
from mlswire.schema import (
    AuthenticatedContentTBM,
    CipherSuite,
    ContentType,
    FramedContent,
    FramedContentAuthData,
    FramedContentTBS,
    GroupContext,
    KDFLabel,
    PrivateContentAAD,
    PrivateMessage,
    Proposal,
    ProposalType,
    Remove,
    Sender,
    SenderDataAAD,
    SenderType,
    SignContent,
    WireFormat,
)

CS = cipher_suite(1)
GC = GroupContext(
    cipher_suite=CipherSuite(1),
    group_id=b"g" * 70,  # a two-byte length header
    epoch=2**40 + 3,
    tree_hash=b"\x01" * 32,
    confirmed_transcript_hash=b"\x02" * 32,
    extensions=(),
)
SENDERS = [
    Sender(sender_type=SenderType.member, leaf_index=5),
    Sender(sender_type=SenderType.external, sender_index=1),
    Sender(sender_type=SenderType.new_member_commit),
    Sender(sender_type=SenderType.new_member_proposal),
]
PROPOSAL = Proposal(proposal_type=ProposalType.remove, remove=Remove(removed=1))


def _content(sender: Sender, aad: bytes = b"") -> FramedContent:
    return framing.framed_content(
        group_id=GC.group_id,
        epoch=GC.epoch,
        sender=sender,
        proposal=PROPOSAL,
        authenticated_data=aad,
    )


@pytest.mark.parametrize("sender", SENDERS, ids=lambda s: s.sender_type.name)
@pytest.mark.parametrize("wf", [WireFormat.mls_public_message, WireFormat.mls_private_message])
def test_content_tbs_is_the_codecs_framed_content_tbs(sender: Sender, wf: WireFormat) -> None:
    fc = _content(sender, b"x" * 300)
    with_context = sender.sender_type in (SenderType.member, SenderType.new_member_commit)
    want = tls.encode(
        FramedContentTBS(wire_format=wf, content=fc, context=GC if with_context else None),
        FramedContentTBS,
    )
    assert framing.content_tbs(fc, wf, GC) == want
    assert framing.content_tbs(fc, wf, GC) == want  # from the memo
    other = GroupContext(**{**{f: getattr(GC, f) for f in GC.__struct_fields__}, "epoch": 9})
    want_other = tls.encode(
        FramedContentTBS(wire_format=wf, content=fc, context=other if with_context else None),
        FramedContentTBS,
    )
    assert framing.content_tbs(fc, wf, other) == want_other  # the memo is per context
    assert (want_other == want) is not with_context


def test_content_tbs_of_a_member_without_a_context_is_refused() -> None:
    with pytest.raises(ValidationError, match="covers the GroupContext"):
        framing.content_tbs(_content(SENDERS[0]), WireFormat.mls_public_message, None)


def test_membership_tag_is_the_mac_of_the_codecs_tbm() -> None:
    key = bytes(range(32))
    fc = _content(SENDERS[0], b"ad")
    sk, _ = CS.signature_key_pair()
    ac = framing.authenticate(CS, sk, fc, WireFormat.mls_public_message, GC)
    tbm = AuthenticatedContentTBM(
        content_tbs=FramedContentTBS(wire_format=ac.wire_format, content=fc, context=GC),
        auth=ac.auth,
    )
    ctx = {"FramedContent.content_type": ContentType.proposal}
    assert framing.membership_tag(CS, key, ac, GC) == CS.mac(
        key, tls.encode(tbm, AuthenticatedContentTBM, context=ctx)
    )
    assert isinstance(ac.auth, FramedContentAuthData)


@pytest.mark.parametrize("aad", [b"", b"a", b"b" * 64, b"c" * 20000])
@pytest.mark.parametrize("ct", [ContentType.application, ContentType.commit])
def test_private_message_aads_are_the_codecs(aad: bytes, ct: ContentType) -> None:
    m = PrivateMessage(
        group_id=GC.group_id,
        epoch=GC.epoch,
        content_type=ct,
        authenticated_data=aad,
        encrypted_sender_data=b"",
        ciphertext=b"",
    )
    assert framing._content_aad(m, ct) == tls.encode(
        PrivateContentAAD(
            group_id=m.group_id, epoch=m.epoch, content_type=ct, authenticated_data=aad
        ),
        PrivateContentAAD,
    )
    assert framing._sender_data_aad(m, ct) == tls.encode(
        SenderDataAAD(group_id=m.group_id, epoch=m.epoch, content_type=ct), SenderDataAAD
    )


@pytest.mark.parametrize("label", ["key", "nonce", b"secret", "x" * 70, ""])
@pytest.mark.parametrize("context", [b"", b"\x00\x00\x00\x07", b"s" * 100])
@pytest.mark.parametrize("length", [12, 32, 300])
def test_kdf_label_and_sign_content_are_the_codecs(
    label: str | bytes, context: bytes, length: int
) -> None:
    full = labeled.PREFIX + (label.encode() if isinstance(label, str) else label)
    for _ in range(2):  # the second time from the memo
        assert labeled.kdf_label(label, context, length) == tls.encode(
            KDFLabel(length=length, label=full, context=context), KDFLabel
        )
        assert labeled.sign_content(label, context) == tls.encode(
            SignContent(label=full, content=context), SignContent
        )


def test_the_label_memo_is_bounded() -> None:
    for i in range(labeled._MEMO_LIMIT + 10):
        labeled.kdf_label(f"exporter {i}", b"", 32)
        labeled.sign_content(f"exporter {i}", b"")
    assert len(labeled._kdf_heads) <= labeled._MEMO_LIMIT
    assert len(labeled._sign_heads) <= labeled._MEMO_LIMIT


@pytest.mark.parametrize("kdf_id", [1, 2, 3])
def test_expand_is_hkdf_expand(kdf_id: int) -> None:
    kdf = KDFS[kdf_id]
    alg = {1: hashes.SHA256(), 2: hashes.SHA384(), 3: hashes.SHA512()}[kdf_id]
    r = random.Random(kdf_id)
    for length in (1, 12, 16, kdf.nh - 1, kdf.nh, kdf.nh + 1, 3 * kdf.nh):
        for prk_len in (0, 5, kdf.nh, 200):
            prk, info = r.randbytes(prk_len), r.randbytes(r.randrange(0, 90))
            assert kdf.expand(prk, info, length) == HKDFExpand(alg, length, info).derive(prk)


def test_reuse_guard_is_a_bytewise_xor() -> None:
    r = random.Random(3)
    for _ in range(100):
        nonce, guard = r.randbytes(12), r.randbytes(4)
        want = bytes(a ^ b for a, b in zip(nonce[:4], guard, strict=True)) + nonce[4:]
        assert apply_reuse_guard(nonce, guard) == want


def test_write_length_is_the_compiled_header() -> None:
    for n in [*range(0, 70_000, 7), 0x3F, 0x40, 0x3FFF, 0x4000, 2**30 - 1]:
        assert tls.write_length(n) == tls._compiled_write_length(n)


def test_remembered_encodings_are_the_values_own() -> None:
    # KeyPackage, LeafNode and Capabilities encodings are remembered per object: an
    # equal copy (another object) and the same object inside another struct encode alike.
    from mlswire.engine.group import Client
    from mlswire.engine.group._wire import as_key_package
    from mlswire.schema import KeyPackage, LeafNode

    data = Client.generate(b"memo").key_package()
    kp = as_key_package(data)
    first = tls.encode(kp, KeyPackage)
    assert tls.encode(kp, KeyPackage) == first
    copy = tls.decode(first, KeyPackage)
    assert copy is not kp and tls.encode(copy, KeyPackage) == first
    leaf = tls.encode(kp.leaf_node, LeafNode)
    assert leaf in first
    changed = msgspec.structs.replace(kp.leaf_node, signature=b"\x01" * 64)
    assert tls.encode(changed, LeafNode) != leaf
    assert tls.encode(changed, LeafNode)[-64:] == b"\x01" * 64
