"""§6 message framing: the F-rows of docs/VALIDATION.md."""

from __future__ import annotations

import msgspec

from ...engine import framing
from ...engine.group import external_proposal, external_senders_extension
from ...errors import CryptoError, DecodeError, StateError, ValidationError
from ...schema import Commit, ProtocolVersion, Sender, SenderType
from .. import forge
from ..forge import content_of, decode, encode, encode_public, public, sign_public
from . import Build, Input, World, case
from ._common import remove


@case(
    "F1",
    "framing",
    "§6",
    "MLSMessage.version is mls10",
    ValidationError,
    r"§6: MLSMessage\.version is mls10",
)
def _f1(w: World) -> Build:
    a, _b, _c = w.group(3)

    def build(broken: bool) -> bytes:
        msg = decode(forge.forge_proposal(a, remove(2)))
        if broken:
            msg = msgspec.structs.replace(msg, version=ProtocolVersion.reserved)
        return encode(msg)

    return lambda broken: w.msg(build(broken))


@case(
    "F2",
    "framing",
    "§6",
    "a group processes only PublicMessage / PrivateMessage",
    ValidationError,
    r"§6: expected a PublicMessage or PrivateMessage",
)
def _f2(w: World) -> Build:
    a, _b, _c = w.group(3)
    d = w.client()
    # a KeyPackage sent as if it were a group message; control: a proposal
    return lambda broken: w.msg(
        forge.raw_key_package(d) if broken else forge.forge_proposal(a, remove(2))
    )


@case(
    "F3",
    "framing",
    "§6",
    "the message's group_id is the group's",
    ValidationError,
    r"§6: message group_id differs",
)
def _f3(w: World) -> Build:
    a, _b, _c = w.group(3)
    return lambda broken: w.msg(
        sign_public(
            a, content_of(a, group_id=b"another group" if broken else None, proposal=remove(2))
        )
    )


@case(
    "F4",
    "framing",
    "§6, §12.4.2",
    "the epoch is the group's (not an earlier one)",
    StateError,
    r"PublicMessage: epoch \d+ is too old",
)
def _f4(w: World) -> Build:
    a, _b, _c = w.group(3)
    w.advance(0)
    return lambda broken: w.msg(
        sign_public(a, content_of(a, epoch=a.epoch - 1 if broken else None, proposal=remove(2)))
    )


@case(
    "F5",
    "framing",
    "§6, §12.4.2",
    "the epoch is the group's (not a later one)",
    StateError,
    r"PublicMessage: epoch \d+ is from the future",
)
def _f5(w: World) -> Build:
    a, _b, _c = w.group(3)
    return lambda broken: w.msg(
        sign_public(a, content_of(a, epoch=a.epoch + 1 if broken else None, proposal=remove(2)))
    )


@case(
    "F6",
    "framing",
    "§6",
    "application data MUST use PrivateMessage",
    ValidationError,
    r"§6: application data in a PublicMessage",
)
def _f6(w: World) -> Build:
    a, _b, _c = w.group(3)
    return lambda broken: w.msg(
        sign_public(a, content_of(a, application_data=b"hi")) if broken else a.encrypt(b"hi")
    )


@case(
    "F7",
    "framing",
    "§6.1",
    "an external sender only sends proposals",
    ValidationError,
    r"§6\.1: an external sender only sends proposals",
)
def _f7(w: World) -> Build:
    server = w.client(b"server")
    ext = external_senders_extension([(server.signature_public_key, server.credential)])
    a, _b, _c = w.group(3, extensions=[ext])
    sender = Sender(sender_type=SenderType.external, sender_index=0)
    kp = forge.key_package(w.client())

    def build(broken: bool) -> bytes:
        if broken:
            commit = Commit(proposals=(forge.by_value(forge.add(kp)),), path=None)
            content = content_of(a, sender=sender, commit=commit)
        else:
            content = content_of(a, sender=sender, proposal=forge.add(kp))
        return sign_public(
            a,
            content,
            signature_key=server.signature_private_key,
            confirmation_tag=bytes(a._state.suite.hash_len) if broken else None,
        )

    return lambda broken: w.msg(build(broken))


@case(
    "F8",
    "framing",
    "§6.1, §12.4.3.2",
    "a new_member_commit sender only sends commits",
    ValidationError,
    r"§6\.1: a new_member_commit sender only sends commits",
)
def _f8(w: World) -> Build:
    a, _b, _c = w.group(3)
    nmc = Sender(sender_type=SenderType.new_member_commit)
    return lambda broken: w.msg(
        sign_public(a, content_of(a, sender=nmc if broken else None, proposal=remove(2)))
    )


@case(
    "F9",
    "framing",
    "§6.1, §12.1.8.2",
    "a new_member_proposal sender only sends Add proposals",
    ValidationError,
    r"§6\.1: a new_member_proposal sender only sends Add proposals",
)
def _f9(w: World) -> Build:
    a, _b, _c = w.group(3)
    nmp = Sender(sender_type=SenderType.new_member_proposal)
    return lambda broken: w.msg(
        sign_public(a, content_of(a, sender=nmp if broken else None, proposal=remove(2)))
    )


@case(
    "F10",
    "framing",
    "§6.1, §12.4.2",
    "a member sender is a non-blank leaf",
    ValidationError,
    r"§6\.1: the sender is a member of the group",
)
def _f10(w: World) -> Build:
    a, _b, _c = w.group(3)
    # leaf 3 is blank; signed with a's key and tagged: only the sender is wrong
    return lambda broken: w.msg(
        sign_public(
            a, content_of(a, sender=framing.member_sender(3 if broken else 0), proposal=remove(2))
        )
    )


@case(
    "F11",
    "framing",
    "§12.1.8.1",
    "sender_index names an external sender of external_senders",
    ValidationError,
    r"§12\.1\.8\.1: sender_index names an external sender",
)
def _f11(w: World) -> Build:
    server = w.client(b"server")
    ext = external_senders_extension([(server.signature_public_key, server.credential)])
    a, _b, _c = w.group(3, extensions=[ext])
    return lambda broken: w.msg(
        external_proposal(
            w.suite,
            server.signature_private_key,
            1 if broken else 0,
            a.group_id,
            a.epoch,
            remove(2),
            rng=w.rng,
        )
    )


@case(
    "F12",
    "framing",
    "§6.2",
    "a member's PublicMessage membership_tag verifies",
    CryptoError,
    r"§6\.2: membership_tag of member leaf 0 does not verify",
)
def _f12(w: World) -> Build:
    a, _b, _c = w.group(3)

    def build(broken: bool) -> bytes:
        pm = public(forge.forge_proposal(a, remove(2)))
        assert pm.membership_tag is not None
        if broken:
            tag = bytes([pm.membership_tag[0] ^ 1]) + pm.membership_tag[1:]
            pm = msgspec.structs.replace(pm, membership_tag=tag)
        return encode_public(pm)

    return lambda broken: w.msg(build(broken))


@case(
    "F13",
    "framing",
    "§6.1",
    "the FramedContentTBS signature verifies (PublicMessage)",
    CryptoError,
    r"§6\.1: FramedContentTBS signature of member leaf 0 does not verify",
)
def _f13(w: World) -> Build:
    a, _b, _c = w.group(3)
    other = w.client(b"x")
    return lambda broken: w.msg(
        sign_public(
            a,
            content_of(a, proposal=remove(2)),
            signature_key=other.signature_private_key if broken else None,
        )
    )


@case(
    "F14",
    "framing",
    "§6.1, §12.1.8.2",
    "a new_member_proposal is signed with the key of the KeyPackage it adds",
    CryptoError,
    r"§6\.1: FramedContentTBS signature of new_member_proposal does not verify",
)
def _f14(w: World) -> Build:
    a, _b, _c = w.group(3)
    d = w.client(b"d")
    kp = forge.key_package(d)
    nmp = Sender(sender_type=SenderType.new_member_proposal)
    return lambda broken: w.msg(
        sign_public(
            a,
            content_of(a, sender=nmp, proposal=forge.add(kp)),
            signature_key=None if broken else d.signature_private_key,
        )
    )


@case(
    "F15",
    "framing",
    "§6.3.2",
    "PrivateMessage sender data decrypts",
    CryptoError,
    r"§6\.3\.2: PrivateMessage sender data does not decrypt",
)
def _f15(w: World) -> Build:
    a, _b, _c = w.group(3)

    def build(broken: bool) -> bytes:
        m = a.encrypt(b"hi")
        return forge.flip_private(m, "encrypted_sender_data", 0) if broken else m

    return lambda broken: w.msg(build(broken))


@case(
    "F16",
    "framing",
    "§6.3.1",
    "PrivateMessage content decrypts",
    CryptoError,
    r"§6\.3\.1: PrivateMessage content from leaf 0 generation \d+ does not decrypt",
)
def _f16(w: World) -> Build:
    a, _b, _c = w.group(3)

    def build(broken: bool) -> bytes:
        # the last byte (AEAD tag) is outside the sample that keys the sender data
        m = a.encrypt(b"hi")
        return forge.flip_private(m, "ciphertext", -1) if broken else m

    return lambda broken: w.msg(build(broken))


@case(
    "F17",
    "framing",
    "§6.1",
    "the FramedContentTBS signature verifies (PrivateMessage)",
    CryptoError,
    r"§6\.1: FramedContentTBS signature of member leaf 0 does not verify",
)
def _f17(w: World) -> Build:
    a, _b, _c = w.group(3)
    other = w.client(b"x")
    return lambda broken: w.msg(
        forge.private_signed_by(
            a, other.signature_private_key if broken else a.client.signature_private_key
        )
    )


@case(
    "F18",
    "framing",
    "§6.3.2, §9.2",
    "a generation's key is used once",
    StateError,
    r"generation \d+ was already used",
)
def _f18(w: World) -> Build:
    a, _b, _c = w.group(3)

    def build(broken: bool) -> tuple[bytes, bytes]:
        first = a.encrypt(b"once")
        return first, first if broken else a.encrypt(b"twice")

    def make(broken: bool) -> Input:
        first, second = build(broken)
        return w.msg(second, first)

    return make


@case(
    "F19",
    "framing",
    "§6.3.1",
    "padding MUST be all zero bytes (the receiver verifies)",
    DecodeError,
    r"PrivateMessageContent\.padding: padding must be all zero",
)
def _f19(w: World) -> Build:
    a, _b, _c = w.group(3)
    return lambda broken: w.msg(
        forge.hand_made_private(a, leaf=0, padding=b"\x00\x01" if broken else b"\x00\x00")
    )


@case(
    "F20",
    "framing",
    "§6.3.2",
    "the SenderData leaf_index names a non-blank leaf",
    ValidationError,
    r"§6\.1: the sender is a member of the group.*leaf 3",
)
def _f20(w: World) -> Build:
    a, _b, _c = w.group(3)
    return lambda broken: w.msg(forge.hand_made_private(a, leaf=3 if broken else 0))
