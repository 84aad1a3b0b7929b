"""Small helpers the group modules share: reading MLSMessages, building the common
proposals and extensions, signing a non-member's PublicMessage."""

from __future__ import annotations

import os

from ...codecs import get_codec, tls
from ...crypto.primitives import Rng
from ...crypto.suites import CipherSuite
from ...errors import ValidationError
from ...limits import Limits
from ...schema import (
    Add,
    Extension,
    ExtensionType,
    FramedContent,
    GroupContextExtensions,
    KeyPackage,
    MLSMessage,
    PreSharedKey,
    PreSharedKeyID,
    Proposal,
    ProposalType,
    ProtocolVersion,
    PublicMessage,
    Remove,
    WireFormat,
)
from .. import framing


def random_bytes(rng: Rng | None, n: int) -> bytes:
    return (rng or os.urandom)(n)


def canonical(data: bytes, encoding: str, limits: Limits) -> bytes:
    """The TLS bytes of an MLSMessage received in ``encoding``: signatures, MACs, hashes
    and own-message recognition all work on the TLS form (docs/GROUP_ENGINE.md,
    design rule 1). The size limit is checked here, before any parser (CBOR, JSON)
    sees the input."""
    limits.check_size(len(data), "MLSMessage")
    if encoding == "tls":
        return data
    return tls.encode(get_codec(encoding).decode(data, MLSMessage), MLSMessage)


def decode_message(data: bytes, limits: Limits | None = None) -> MLSMessage:
    # A PrivateMessage (every application message) is read directly when it can be.
    # remember: KeyPackages and LeafNodes keep the bytes they came in as their encoding
    # (their signatures, references and the tree hash need it next; tls.REMEMBER_KEY).
    msg = framing.decode_private_message(data, limits) or tls.decode(
        data, MLSMessage, limits=limits, remember=True
    )
    if msg.version != ProtocolVersion.mls10:
        raise ValidationError("RFC 9420 §6: MLSMessage.version is mls10", f"{msg.version!r}")
    return msg


def as_key_package(data: bytes | KeyPackage) -> KeyPackage:
    if isinstance(data, KeyPackage):
        return data
    msg = decode_message(data)
    if msg.wire_format != WireFormat.mls_key_package or msg.key_package is None:
        raise ValidationError(
            "RFC 9420 §6: expected an MLSMessage carrying a KeyPackage", f"{msg.wire_format!r}"
        )
    if msg.key_package.version != msg.version:
        # §10: the KeyPackage's own version is what other members see in the Add.
        raise ValidationError(
            "RFC 9420 §10: the KeyPackage's version is its MLSMessage's",
            f"{msg.key_package.version!r} in {msg.version!r}",
        )
    return msg.key_package


def encode_message(msg: MLSMessage) -> bytes:
    return tls.encode(msg, MLSMessage)


def extension(ext_type: int, data: bytes) -> Extension:
    return Extension(extension_type=ExtensionType(ext_type), extension_data=data)


# --- proposal constructors (mls-rs writes the same as small private helpers) ----------------


def add_proposal(key_package: bytes | KeyPackage) -> Proposal:
    return Proposal(
        proposal_type=ProposalType.add, add=Add(key_package=as_key_package(key_package))
    )


def remove_proposal(leaf_index: int) -> Proposal:
    return Proposal(proposal_type=ProposalType.remove, remove=Remove(removed=leaf_index))


def psk_proposal(psk_id: PreSharedKeyID) -> Proposal:
    return Proposal(proposal_type=ProposalType.psk, psk=PreSharedKey(psk=psk_id))


def group_context_extensions_proposal(extensions: tuple[Extension, ...]) -> Proposal:
    return Proposal(
        proposal_type=ProposalType.group_context_extensions,
        group_context_extensions=GroupContextExtensions(extensions=extensions),
    )


def non_member_message(
    cs: CipherSuite, signature_private_key: bytes, content: FramedContent, rng: Rng | None
) -> bytes:
    """A PublicMessage from a sender that is not a member (an external sender or a
    new_member_proposal): no membership tag, and the signature does not cover the
    GroupContext (§6.1)."""
    ac = framing.authenticate(
        cs, signature_private_key, content, WireFormat.mls_public_message, None, rng=rng
    )
    message = PublicMessage(content=content, auth=ac.auth, membership_tag=None)
    return tls.encode(framing.to_mls_message(message), MLSMessage)
