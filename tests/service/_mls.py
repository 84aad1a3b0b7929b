"""MLS messages built from the schema for DS tests: the DS reads only headers, so these
need no group secrets (the end-to-end test uses the engine for real ones)."""

from __future__ import annotations

import os

from mlswire.client import DeviceKeys
from mlswire.codecs import tls
from mlswire.schema import (
    Capabilities,
    CipherSuite,
    Commit,
    ContentType,
    Credential,
    CredentialType,
    FramedContent,
    FramedContentAuthData,
    KeyPackage,
    LeafNode,
    LeafNodeSource,
    Lifetime,
    MLSMessage,
    PrivateMessage,
    Proposal,
    ProposalType,
    ProtocolVersion,
    PublicMessage,
    Remove,
    Sender,
    SenderType,
    UpdatePath,
    WireFormat,
)


def private_message(
    group_id: bytes,
    epoch: int,
    content_type: ContentType = ContentType.application,
    ciphertext: bytes | None = None,
) -> bytes:
    pm = PrivateMessage(
        group_id=group_id,
        epoch=epoch,
        content_type=content_type,
        authenticated_data=b"",
        encrypted_sender_data=os.urandom(16),
        ciphertext=os.urandom(48) if ciphertext is None else ciphertext,
    )
    return tls.encode(
        MLSMessage(wire_format=WireFormat.mls_private_message, private_message=pm), MLSMessage
    )


def commit(group_id: bytes, epoch: int) -> bytes:
    """A member's commit as a PublicMessage (the DS refuses PrivateMessage handshakes),
    with random bytes for its signature and tags: the DS does not verify them yet."""
    content = FramedContent(
        group_id=group_id,
        epoch=epoch,
        sender=Sender(sender_type=SenderType.member, leaf_index=0),
        authenticated_data=b"",
        content_type=ContentType.commit,
        commit=Commit(proposals=(), path=None),
    )
    return public_message(content)


def proposal(group_id: bytes, epoch: int) -> bytes:
    """A member's Remove proposal as a PublicMessage."""
    content = FramedContent(
        group_id=group_id,
        epoch=epoch,
        sender=Sender(sender_type=SenderType.member, leaf_index=0),
        authenticated_data=b"",
        content_type=ContentType.proposal,
        proposal=Proposal(proposal_type=ProposalType.remove, remove=Remove(removed=1)),
    )
    return public_message(content)


def public_message(content: FramedContent) -> bytes:
    member = content.sender.sender_type == SenderType.member
    pub = PublicMessage(
        content=content,
        auth=FramedContentAuthData(
            signature=os.urandom(64),
            confirmation_tag=os.urandom(32) if content.content_type == ContentType.commit else None,
        ),
        membership_tag=os.urandom(32) if member else None,
    )
    return tls.encode(
        MLSMessage(wire_format=WireFormat.mls_public_message, public_message=pub), MLSMessage
    )


def _leaf(keys: DeviceKeys, source: LeafNodeSource) -> LeafNode:
    assert keys.credential is not None
    return LeafNode(
        encryption_key=os.urandom(32),
        signature_key=keys.signature_public_key,
        credential=tls.decode(keys.credential, Credential),
        capabilities=Capabilities(
            versions=(ProtocolVersion.mls10,),
            cipher_suites=(CipherSuite(keys.suite),),
            extensions=(),
            proposals=(),
            credentials=(CredentialType.x509,),
        ),
        leaf_node_source=source,
        lifetime=Lifetime(not_before=0, not_after=2**63)
        if source == LeafNodeSource.key_package
        else None,
        parent_hash=b"" if source == LeafNodeSource.commit else None,
        extensions=(),
        signature=os.urandom(64),
    )


def external_commit(group_id: bytes, epoch: int, keys: DeviceKeys) -> bytes:
    """A PublicMessage commit from a new member (external join) whose path leaf carries
    ``keys``' signature key."""
    content = FramedContent(
        group_id=group_id,
        epoch=epoch,
        sender=Sender(sender_type=SenderType.new_member_commit),
        authenticated_data=b"",
        content_type=ContentType.commit,
        commit=Commit(
            proposals=(), path=UpdatePath(leaf_node=_leaf(keys, LeafNodeSource.commit), nodes=())
        ),
    )
    pub = PublicMessage(
        content=content,
        auth=FramedContentAuthData(signature=os.urandom(64), confirmation_tag=os.urandom(32)),
    )
    return tls.encode(
        MLSMessage(wire_format=WireFormat.mls_public_message, public_message=pub), MLSMessage
    )


def key_package(keys: DeviceKeys) -> bytes:
    kp = KeyPackage(
        version=ProtocolVersion.mls10,
        cipher_suite=CipherSuite(keys.suite),
        init_key=os.urandom(32),
        leaf_node=_leaf(keys, LeafNodeSource.key_package),
        extensions=(),
        signature=os.urandom(64),
    )
    return tls.encode(
        MLSMessage(wire_format=WireFormat.mls_key_package, key_package=kp), MLSMessage
    )


def welcome() -> bytes:
    """A Welcome-shaped MLSMessage (the DS only checks the wire format)."""
    from mlswire.schema import Welcome

    w = Welcome(cipher_suite=CipherSuite(1), secrets=(), encrypted_group_info=os.urandom(64))
    return tls.encode(MLSMessage(wire_format=WireFormat.mls_welcome, welcome=w), MLSMessage)


def group_info(group_id: bytes, epoch: int) -> bytes:
    """A GroupInfo-shaped MLSMessage for ``group_id`` at ``epoch`` (random hashes, tag and
    signature: the DS checks only the group and epoch it names)."""
    from mlswire.schema import GroupContext, GroupInfo

    info = GroupInfo(
        group_context=GroupContext(
            cipher_suite=CipherSuite(1),
            group_id=group_id,
            epoch=epoch,
            tree_hash=os.urandom(32),
            confirmed_transcript_hash=os.urandom(32),
            extensions=(),
        ),
        extensions=(),
        confirmation_tag=os.urandom(32),
        signer=0,
        signature=os.urandom(64),
    )
    return tls.encode(
        MLSMessage(wire_format=WireFormat.mls_group_info, group_info=info), MLSMessage
    )
