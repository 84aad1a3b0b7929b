"""Negative tests for docs/VALIDATION.md: message framing (§6): version, wire format,
group and epoch, which sender may send what, membership tag, signature, and the
PrivateMessage layers (sender data, content, generations, padding)."""

from __future__ import annotations

import msgspec

from mlswire.engine import framing
from mlswire.engine.group import (
    Client,
    Group,
    GroupConfig,
    external_proposal,
    external_senders_extension,
)
from mlswire.errors import CryptoError, DecodeError, StateError, ValidationError
from mlswire.schema import (
    Commit,
    Proposal,
    ProposalType,
    ProtocolVersion,
    Remove,
    Sender,
    SenderType,
    WireFormat,
)

from ._forge import (
    add,
    breaks_only,
    by_value,
    content_of,
    decode,
    encode,
    encode_public,
    flip_private,
    forge_proposal,
    hand_made_private,
    key_package,
    make_group,
    public,
    rejects,
    sign_public,
)

PRIVATE = GroupConfig()


def remove(leaf: int) -> Proposal:
    return Proposal(proposal_type=ProposalType.remove, remove=Remove(removed=leaf))


def _pair() -> tuple[Group, Group]:
    _, (a, b, _c) = make_group(3)
    return a, b


def test_framing_version_mls10() -> None:
    a, b = _pair()
    msg = decode(forge_proposal(a, remove(2)))
    rejects(
        b,
        encode(msgspec.structs.replace(msg, version=ProtocolVersion.reserved)),
        ValidationError,
        r"§6: MLSMessage\.version is mls10",
    )


def test_framing_wire_format() -> None:
    a, b = _pair()
    rejects(
        b,
        Client.generate(b"d").key_package(),
        ValidationError,
        r"§6: expected a PublicMessage or PrivateMessage",
    )
    assert a.epoch == b.epoch


def test_framing_group_id() -> None:
    a, b = _pair()
    content = content_of(a, group_id=b"another group", proposal=remove(2))
    rejects(b, sign_public(a, content), ValidationError, r"§6: message group_id differs")


def test_framing_epoch_too_old() -> None:
    a, b = _pair()
    content = content_of(a, epoch=a.epoch - 1, proposal=remove(2))
    rejects(b, sign_public(a, content), StateError, r"PublicMessage: epoch \d+ is too old")


def test_framing_epoch_from_future() -> None:
    a, b = _pair()
    content = content_of(a, epoch=a.epoch + 1, proposal=remove(2))
    rejects(b, sign_public(a, content), StateError, r"PublicMessage: epoch \d+ is from the future")


def test_framing_application_not_public() -> None:
    a, b = _pair()
    content = content_of(a, application_data=b"in the clear")
    rejects(b, sign_public(a, content), ValidationError, r"§6: application data in a PublicMessage")


def test_framing_external_sender_only_proposals() -> None:
    # the group's external sender, signing with its key, sends a commit that needs no
    # path (one Add); control: the same Add as its proposal
    server = Client.generate(b"server")
    ext = external_senders_extension([(server.signature_public_key, server.credential)])
    _, (a, b, _c) = make_group(3, extensions=[ext])
    sender = Sender(sender_type=SenderType.external, sender_index=0)
    kp = key_package(Client.generate(b"d"))

    def build(broken: bool) -> bytes:
        if broken:
            commit = Commit(proposals=(by_value(add(kp)),), path=None)
            content = content_of(a, sender=sender, commit=commit)
        else:
            content = content_of(a, sender=sender, proposal=add(kp))
        return sign_public(
            a,
            content,
            signature_key=server.signature_private_key,
            confirmation_tag=bytes(32) if broken else None,
        )

    breaks_only(b, build, ValidationError, r"§6\.1: an external sender only sends proposals")


def test_framing_new_member_commit_only_commits() -> None:
    a, b = _pair()
    content = content_of(
        a, sender=Sender(sender_type=SenderType.new_member_commit), proposal=remove(2)
    )
    rejects(
        b,
        sign_public(a, content),
        ValidationError,
        r"§6\.1: a new_member_commit sender only sends commits",
    )


def test_framing_new_member_proposal_only_add() -> None:
    a, b = _pair()
    content = content_of(
        a, sender=Sender(sender_type=SenderType.new_member_proposal), proposal=remove(2)
    )
    rejects(
        b,
        sign_public(a, content),
        ValidationError,
        r"§6\.1: a new_member_proposal sender only sends Add proposals",
    )


def test_framing_member_sender_is_member() -> None:
    a, b = _pair()
    # leaf 3 is blank; the membership tag is correct, so the sender lookup is what fails
    content = content_of(a, sender=framing.member_sender(3), proposal=remove(2))
    rejects(
        b, sign_public(a, content), ValidationError, r"§6\.1: the sender is a member of the group"
    )


def test_framing_external_sender_index() -> None:
    a, b = _pair()
    server = Client.generate(b"server")
    message = external_proposal(1, server.signature_private_key, 0, a.group_id, a.epoch, remove(2))
    rejects(b, message, ValidationError, r"§12\.1\.8\.1: sender_index names an external sender")


def test_framing_membership_tag() -> None:
    a, b = _pair()
    pm = public(forge_proposal(a, remove(2)))
    assert pm.membership_tag is not None
    tag = bytes([pm.membership_tag[0] ^ 1]) + pm.membership_tag[1:]
    rejects(
        b,
        encode_public(msgspec.structs.replace(pm, membership_tag=tag)),
        CryptoError,
        r"§6\.2: membership_tag of member leaf 0 does not verify",
    )


def test_framing_signature() -> None:
    a, b = _pair()
    # signed by another key, tagged correctly: only the signature is wrong
    forged = sign_public(
        a,
        content_of(a, proposal=remove(2)),
        signature_key=Client.generate(b"x").signature_private_key,
    )
    rejects(
        b,
        forged,
        CryptoError,
        r"§6\.1: FramedContentTBS signature of member leaf 0 does not verify",
    )


def test_framing_new_member_proposal_signed_by_key_package() -> None:
    a, b = _pair()
    d = Client.generate(b"d")
    content = content_of(
        a, sender=Sender(sender_type=SenderType.new_member_proposal), proposal=add(key_package(d))
    )
    # signed by a member instead of the client whose KeyPackage it carries
    rejects(
        b,
        sign_public(a, content),
        CryptoError,
        r"§6\.1: FramedContentTBS signature of new_member_proposal does not verify",
    )


# --- PrivateMessage (§6.3) ------------------------------------------------------------------


def _private_pair() -> tuple[Group, Group]:
    _, (a, b) = make_group(2, PRIVATE)
    return a, b


def test_private_sender_data_decrypts() -> None:
    a, b = _private_pair()
    forged = flip_private(a.encrypt(b"hi"), "encrypted_sender_data", 0)
    rejects(b, forged, CryptoError, r"§6\.3\.2: PrivateMessage sender data does not decrypt")


def test_private_content_decrypts() -> None:
    a, b = _private_pair()
    # the last byte (AEAD tag) is outside the sample that keys the sender data
    forged = flip_private(a.encrypt(b"hi"), "ciphertext", -1)
    rejects(
        b,
        forged,
        CryptoError,
        r"§6\.3\.1: PrivateMessage content from leaf 0 generation 0 does not decrypt",
    )


def test_private_generation_not_reused() -> None:
    a, b = _private_pair()
    message = a.encrypt(b"once")
    b.process(message)
    rejects(b, message, StateError, r"generation 0 was already used")


def test_private_signature() -> None:
    a, b = _private_pair()
    st = a._state
    content = content_of(a, application_data=b"hi")
    wf = WireFormat.mls_private_message
    bad = framing.sign_framed_content(
        st.suite, Client.generate(b"x").signature_private_key, content, wf, st.context
    )
    ac = framing.authenticated_content(content, wf, bad)
    pm = framing.protect_private(
        st.suite, ac, secret_tree=st.secret_tree, sender_data_secret=st.secrets.sender_data_secret
    )
    rejects(
        b,
        encode(framing.to_mls_message(pm)),
        CryptoError,
        r"§6\.1: FramedContentTBS signature of member leaf 0 does not verify",
    )


def test_private_padding_zero() -> None:
    a, b = _private_pair()
    message = hand_made_private(a, leaf=a.own_leaf_index, padding=b"\x00\x01")
    rejects(b, message, DecodeError, r"PrivateMessageContent\.padding: padding must be all zero")


def test_private_sender_data_leaf_is_member() -> None:
    # §6.3.2: the SenderData leaf_index names a non-blank leaf (leaf 3 of a 3-member
    # group is blank; the message is otherwise well formed and decrypts)
    _, (a, b, _c) = make_group(3, PRIVATE)
    rejects(
        b,
        hand_made_private(a, leaf=3),
        ValidationError,
        r"§6\.1: the sender is a member of the group.*leaf 3",
    )
