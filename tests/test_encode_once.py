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


# --- trees and signing inputs (issue 20, session 4: joins and bulk adds) -------------------


def _official(name: str) -> list[dict[str, str]]:
    import json

    from .conftest import require, vectors_dir

    return list(json.loads(require(vectors_dir() / name).read_text()))


def _fresh(value: object, tp: object) -> bytes:
    # The codec's encoding of an equal value that no memo has seen: decoded again from
    # its own encoding without remembering, then encoded field by field.
    from mlswire.codecs.tls import _MEMO_TABLES

    data = tls.encode(value, tp)
    copy = tls.decode(data, tp)
    for memo in _MEMO_TABLES.values():
        assert id(copy) not in memo
    return tls.encode(copy, tp)


def test_decode_remember_keeps_the_bytes_the_codec_would_write() -> None:
    from mlswire.codecs.tls import _MEMO_TABLES
    from mlswire.schema import KeyPackage, LeafNode

    cases = _official("tree-validation.json")
    assert cases
    leaves = 0
    for case in cases:
        data = bytes.fromhex(case["tree"])
        plain = tls.decode(data, "RatchetTree")
        nodes = tls.decode(data, "RatchetTree", remember=True)
        assert nodes == plain
        # Equal Capabilities within one remembering decode are one object.
        caps = [n.leaf_node.capabilities for n in nodes if n is not None and n.leaf_node]
        assert len({id(c) for c in caps}) == len({tls.encode(c, "Capabilities") for c in caps})
        for node in nodes:
            if node is not None and node.leaf_node is not None:
                leaf = node.leaf_node
                assert _MEMO_TABLES["LeafNode"][id(leaf)][0] is leaf
                assert tls.encode(leaf, LeafNode) == _fresh(leaf, LeafNode)
                leaves += 1
    assert leaves > 100
    for case in _official("messages.json")[:40]:
        msg = tls.decode(bytes.fromhex(case["mls_key_package"]), "MLSMessage", remember=True)
        kp = msg.key_package
        assert _MEMO_TABLES["KeyPackage"][id(kp)][1] == _fresh(kp, KeyPackage)


def test_tree_hash_inputs_and_tbs_are_the_codecs() -> None:
    from mlswire.engine.ratchet_tree import leaf_hash_input, parent_hash_input
    from mlswire.engine.tree_validation import leaf_node_tbs
    from mlswire.engine.validation import key_package_tbs
    from mlswire.schema import (
        KeyPackage,
        KeyPackageTBS,
        LeafNode,
        LeafNodeHashInput,
        LeafNodeSource,
        LeafNodeTBS,
        NodeType,
        ParentNode,
        ParentNodeHashInput,
        TreeHashInput,
    )

    r = random.Random(20)
    sources: set[LeafNodeSource] = set()
    parents = 0
    for case in _official("tree-validation.json"):
        for x, node in enumerate(tls.decode(bytes.fromhex(case["tree"]), "RatchetTree")):
            if x % 2 == 0:
                leaf = None if node is None else node.leaf_node
                i = r.choice([x // 2, 2**32 - 1])
                want = TreeHashInput(
                    node_type=NodeType.leaf,
                    leaf_node=LeafNodeHashInput(leaf_index=i, leaf_node=leaf),
                )
                assert leaf_hash_input(i, leaf) == tls.encode(want, TreeHashInput)
                if leaf is None:
                    continue
                # The trees hold key_package and commit leaves; an update leaf is one
                # without lifetime and parent hash.
                as_update = msgspec.structs.replace(
                    leaf, leaf_node_source=LeafNodeSource.update, lifetime=None, parent_hash=None
                )
                for value in (leaf, as_update):
                    sources.add(value.leaf_node_source)
                    gid = r.randbytes(r.choice([0, 5, 64, 300]))
                    in_group = value.leaf_node_source != LeafNodeSource.key_package
                    fields = {f: getattr(value, f) for f in LeafNode.__struct_fields__}
                    del fields["signature"]
                    tbs = LeafNodeTBS(
                        **fields,
                        group_id=gid if in_group else None,
                        leaf_index=i if in_group else None,
                    )
                    assert leaf_node_tbs(value, gid, i) == _fresh(tbs, LeafNodeTBS)
            else:
                parent = None if node is None else node.parent_node
                parents += parent is not None
                left, right = r.randbytes(r.choice([32, 64, 100])), r.randbytes(32)
                want = TreeHashInput(
                    node_type=NodeType.parent,
                    parent_node=ParentNodeHashInput(
                        parent_node=parent, left_hash=left, right_hash=right
                    ),
                )
                assert parent_hash_input(parent, left, right) == tls.encode(want, TreeHashInput)
    assert sources == set(LeafNodeSource) - {LeafNodeSource.reserved} and parents > 50
    wide = ParentNode(encryption_key=b"k" * 70, parent_hash=b"", unmerged_leaves=(1, 2**32 - 1))
    want = TreeHashInput(
        node_type=NodeType.parent,
        parent_node=ParentNodeHashInput(parent_node=wide, left_hash=b"", right_hash=b"r" * 64),
    )
    assert parent_hash_input(wide, b"", b"r" * 64) == tls.encode(want, TreeHashInput)
    for case in _official("messages.json")[:40]:
        kp = tls.decode(bytes.fromhex(case["mls_key_package"]), "MLSMessage").key_package
        tbs = KeyPackageTBS(
            **{f: getattr(kp, f) for f in KeyPackage.__struct_fields__ if f != "signature"}
        )
        assert key_package_tbs(kp) == _fresh(tbs, KeyPackageTBS)


def test_shared_capabilities_across_decodes_only_without_limits() -> None:
    from mlswire.limits import Limits
    from mlswire.schema import Capabilities, KeyPackage

    case = _official("messages.json")[0]
    data = bytes.fromhex(case["mls_key_package"])
    one = tls.decode(data, "MLSMessage", remember=True).key_package.leaf_node.capabilities
    two = tls.decode(data, "MLSMessage", remember=True).key_package.leaf_node.capabilities
    assert one is two  # no limits: shared across calls
    assert tls.decode(data, "MLSMessage").key_package.leaf_node.capabilities is not one
    # A limit below the input's size takes the limited decoder: sharing within the call
    # only, so each value was checked against the limits of the call that made it.
    tight = Limits(max_message_size=len(data), max_vector_elements=len(data) - 1)
    three = tls.decode(data, "MLSMessage", limits=tight, remember=True)
    caps = three.key_package.leaf_node.capabilities
    assert caps is not one and caps == one
    assert tls.encode(caps, Capabilities) == _fresh(caps, Capabilities)
    assert tls.encode(three.key_package, KeyPackage) == data[4:]
