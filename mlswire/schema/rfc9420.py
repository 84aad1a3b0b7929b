"""Every structure, enum and type alias of RFC 9420, declared once.

Field names, order and types follow the RFC text; ``tests/test_schema_rfc.py`` checks
that against ../shared/spec/rfc9420-mls-protocol.md. Section numbers point at where the
RFC defines each type.
"""

from __future__ import annotations

import sys
from typing import Annotated

from .base import Enum as _Enum
from .base import (
    FixedOpaque,
    Named,
    OpenEnum,
    Struct,
    VarOpaque,
    Vec,
    opaque,
    otherwise,
    padding,
    register,
    uint16,
    uint32,
    uint64,
    when,
)

# ---------------------------------------------------------------------------
# Registry types (§17): open uint16 enums whose unknown values round-trip.


class CipherSuite(OpenEnum):
    reserved = 0x0000
    MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 = 0x0001
    MLS_128_DHKEMP256_AES128GCM_SHA256_P256 = 0x0002
    MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519 = 0x0003
    MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448 = 0x0004
    MLS_256_DHKEMP521_AES256GCM_SHA512_P521 = 0x0005
    MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448 = 0x0006
    MLS_256_DHKEMP384_AES256GCM_SHA384_P384 = 0x0007


class WireFormat(OpenEnum):
    reserved = 0x0000
    mls_public_message = 0x0001
    mls_private_message = 0x0002
    mls_welcome = 0x0003
    mls_group_info = 0x0004
    mls_key_package = 0x0005


class ExtensionType(OpenEnum):
    reserved = 0x0000
    application_id = 0x0001
    ratchet_tree = 0x0002
    required_capabilities = 0x0003
    external_pub = 0x0004
    external_senders = 0x0005


class ProposalType(OpenEnum):
    reserved = 0x0000
    add = 0x0001
    update = 0x0002
    remove = 0x0003
    psk = 0x0004
    reinit = 0x0005
    external_init = 0x0006
    group_context_extensions = 0x0007


class CredentialType(OpenEnum):
    reserved = 0x0000
    basic = 0x0001
    x509 = 0x0002


# ---------------------------------------------------------------------------
# Closed enums.


class ProtocolVersion(_Enum):  # §6
    __wire_size__ = 2
    reserved = 0
    mls10 = 1


class ContentType(_Enum):  # §6
    reserved = 0
    application = 1
    proposal = 2
    commit = 3


class SenderType(_Enum):  # §6
    reserved = 0
    member = 1
    external = 2
    new_member_proposal = 3
    new_member_commit = 4


class LeafNodeSource(_Enum):  # §7.2
    reserved = 0
    key_package = 1
    update = 2
    commit = 3


class NodeType(_Enum):  # §7.8
    reserved = 0
    leaf = 1
    parent = 2


class PSKType(_Enum):  # §8.4
    reserved = 0
    external = 1
    resumption = 2


class ResumptionPSKUsage(_Enum):  # §8.4
    reserved = 0
    application = 1
    reinit = 2
    branch = 3


class ProposalOrRefType(_Enum):  # §12.4
    reserved = 0
    proposal = 1
    reference = 2


# ---------------------------------------------------------------------------
# Aliases (§5).

HPKEPublicKey = Annotated[bytes, VarOpaque(), Named("HPKEPublicKey")]
SignaturePublicKey = Annotated[bytes, VarOpaque(), Named("SignaturePublicKey")]
HashReference = Annotated[bytes, VarOpaque(), Named("HashReference")]
KeyPackageRef = Annotated[bytes, VarOpaque(), Named("KeyPackageRef")]
ProposalRef = Annotated[bytes, VarOpaque(), Named("ProposalRef")]
MAC = Annotated[bytes, VarOpaque(), Named("MAC")]


# ---------------------------------------------------------------------------
# §5: labeled operations.


class SignContent(Struct, kw_only=True):
    label: opaque
    content: opaque


class EncryptContext(Struct, kw_only=True):
    label: opaque
    context: opaque


class RefHashInput(Struct, kw_only=True):
    label: opaque
    value: opaque


class KDFLabel(Struct, kw_only=True):  # §8
    length: uint16
    label: opaque
    context: opaque


# ---------------------------------------------------------------------------
# §5.3: credentials.


class Certificate(Struct, kw_only=True):
    cert_data: opaque


class Credential(Struct, kw_only=True):
    credential_type: CredentialType
    identity: Annotated[opaque | None, when("Credential.credential_type", CredentialType.basic)] = (
        None
    )
    certificates: Annotated[
        Vec[Certificate] | None, when("Credential.credential_type", CredentialType.x509)
    ] = None
    # Not in the RFC: the body of a credential type this schema does not know, kept as
    # one opaque<V> (both RFC-defined bodies start with a <V> header, as do the
    # registered ones), so that unknown credentials round-trip.
    custom: Annotated[opaque | None, otherwise("Credential.credential_type")] = None


# ---------------------------------------------------------------------------
# §6: message framing.


class Sender(Struct, kw_only=True):
    sender_type: SenderType
    leaf_index: Annotated[uint32 | None, when("Sender.sender_type", SenderType.member)] = None
    sender_index: Annotated[uint32 | None, when("Sender.sender_type", SenderType.external)] = None


class FramedContent(Struct, kw_only=True):
    group_id: opaque
    epoch: uint64
    sender: Sender
    authenticated_data: opaque
    content_type: ContentType
    application_data: Annotated[
        opaque | None, when("FramedContent.content_type", ContentType.application)
    ] = None
    proposal: Annotated[
        Proposal | None, when("FramedContent.content_type", ContentType.proposal)
    ] = None
    commit: Annotated[Commit | None, when("FramedContent.content_type", ContentType.commit)] = None


class FramedContentTBS(Struct, kw_only=True):
    version: ProtocolVersion = ProtocolVersion.mls10
    wire_format: WireFormat
    content: FramedContent
    context: Annotated[
        GroupContext | None,
        when(
            "FramedContentTBS.content.sender.sender_type",
            SenderType.member,
            SenderType.new_member_commit,
        ),
    ] = None


class FramedContentAuthData(Struct, kw_only=True):
    signature: opaque
    confirmation_tag: Annotated[
        MAC | None, when("FramedContent.content_type", ContentType.commit)
    ] = None


class AuthenticatedContent(Struct, kw_only=True):
    wire_format: WireFormat
    content: FramedContent
    auth: FramedContentAuthData


class PublicMessage(Struct, kw_only=True):  # §6.2
    content: FramedContent
    auth: FramedContentAuthData
    membership_tag: Annotated[
        MAC | None, when("PublicMessage.content.sender.sender_type", SenderType.member)
    ] = None


class AuthenticatedContentTBM(Struct, kw_only=True):
    content_tbs: FramedContentTBS
    auth: FramedContentAuthData


class PrivateMessage(Struct, kw_only=True):  # §6.3
    group_id: opaque
    epoch: uint64
    content_type: ContentType
    authenticated_data: opaque
    encrypted_sender_data: opaque
    ciphertext: opaque


class PrivateMessageContent(Struct, kw_only=True):  # §6.3.1
    application_data: Annotated[
        opaque | None, when("PrivateMessage.content_type", ContentType.application)
    ] = None
    proposal: Annotated[
        Proposal | None, when("PrivateMessage.content_type", ContentType.proposal)
    ] = None
    commit: Annotated[Commit | None, when("PrivateMessage.content_type", ContentType.commit)] = None
    auth: FramedContentAuthData
    padding: padding = b""


class PrivateContentAAD(Struct, kw_only=True):
    group_id: opaque
    epoch: uint64
    content_type: ContentType
    authenticated_data: opaque


class SenderData(Struct, kw_only=True):  # §6.3.2
    leaf_index: uint32
    generation: uint32
    reuse_guard: Annotated[bytes, FixedOpaque(4)]


class SenderDataAAD(Struct, kw_only=True):
    group_id: opaque
    epoch: uint64
    content_type: ContentType


# ---------------------------------------------------------------------------
# §7: the ratchet tree.


class ParentNode(Struct, kw_only=True):  # §7.1
    encryption_key: HPKEPublicKey
    parent_hash: opaque
    unmerged_leaves: Vec[uint32]


class Capabilities(Struct, kw_only=True):  # §7.2
    versions: Vec[ProtocolVersion]
    cipher_suites: Vec[CipherSuite]
    extensions: Vec[ExtensionType]
    proposals: Vec[ProposalType]
    credentials: Vec[CredentialType]


class Lifetime(Struct, kw_only=True):
    not_before: uint64
    not_after: uint64


class Extension(Struct, kw_only=True):
    extension_type: ExtensionType
    extension_data: opaque


class LeafNode(Struct, kw_only=True):
    encryption_key: HPKEPublicKey
    signature_key: SignaturePublicKey
    credential: Credential
    capabilities: Capabilities
    leaf_node_source: LeafNodeSource
    lifetime: Annotated[
        Lifetime | None, when("LeafNode.leaf_node_source", LeafNodeSource.key_package)
    ] = None
    parent_hash: Annotated[
        opaque | None, when("LeafNode.leaf_node_source", LeafNodeSource.commit)
    ] = None
    extensions: Vec[Extension]
    signature: opaque


class LeafNodeTBS(Struct, kw_only=True):
    encryption_key: HPKEPublicKey
    signature_key: SignaturePublicKey
    credential: Credential
    capabilities: Capabilities
    leaf_node_source: LeafNodeSource
    lifetime: Annotated[
        Lifetime | None, when("LeafNodeTBS.leaf_node_source", LeafNodeSource.key_package)
    ] = None
    parent_hash: Annotated[
        opaque | None, when("LeafNodeTBS.leaf_node_source", LeafNodeSource.commit)
    ] = None
    extensions: Vec[Extension]
    group_id: Annotated[
        opaque | None,
        when("LeafNodeTBS.leaf_node_source", LeafNodeSource.update, LeafNodeSource.commit),
    ] = None
    leaf_index: Annotated[
        uint32 | None,
        when("LeafNodeTBS.leaf_node_source", LeafNodeSource.update, LeafNodeSource.commit),
    ] = None


class HPKECiphertext(Struct, kw_only=True):  # §7.6
    kem_output: opaque
    ciphertext: opaque


class UpdatePathNode(Struct, kw_only=True):
    encryption_key: HPKEPublicKey
    encrypted_path_secret: Vec[HPKECiphertext]


class UpdatePath(Struct, kw_only=True):
    leaf_node: LeafNode
    nodes: Vec[UpdatePathNode]


class LeafNodeHashInput(Struct, kw_only=True):  # §7.8
    leaf_index: uint32
    leaf_node: LeafNode | None


class ParentNodeHashInput(Struct, kw_only=True):
    parent_node: ParentNode | None
    left_hash: opaque
    right_hash: opaque


class TreeHashInput(Struct, kw_only=True):
    node_type: NodeType
    leaf_node: Annotated[
        LeafNodeHashInput | None, when("TreeHashInput.node_type", NodeType.leaf)
    ] = None
    parent_node: Annotated[
        ParentNodeHashInput | None, when("TreeHashInput.node_type", NodeType.parent)
    ] = None


class ParentHashInput(Struct, kw_only=True):  # §7.9
    encryption_key: HPKEPublicKey
    parent_hash: opaque
    original_sibling_tree_hash: opaque


# ---------------------------------------------------------------------------
# §8: key schedule.


class GroupContext(Struct, kw_only=True):  # §8.1
    version: ProtocolVersion = ProtocolVersion.mls10
    cipher_suite: CipherSuite
    group_id: opaque
    epoch: uint64
    tree_hash: opaque
    confirmed_transcript_hash: opaque
    extensions: Vec[Extension]


class ConfirmedTranscriptHashInput(Struct, kw_only=True):  # §8.2
    wire_format: WireFormat
    content: FramedContent
    signature: opaque


class InterimTranscriptHashInput(Struct, kw_only=True):
    confirmation_tag: MAC


class PreSharedKeyID(Struct, kw_only=True):  # §8.4
    psktype: PSKType
    psk_id: Annotated[opaque | None, when("PreSharedKeyID.psktype", PSKType.external)] = None
    usage: Annotated[
        ResumptionPSKUsage | None, when("PreSharedKeyID.psktype", PSKType.resumption)
    ] = None
    psk_group_id: Annotated[opaque | None, when("PreSharedKeyID.psktype", PSKType.resumption)] = (
        None
    )
    psk_epoch: Annotated[uint64 | None, when("PreSharedKeyID.psktype", PSKType.resumption)] = None
    psk_nonce: opaque


class PSKLabel(Struct, kw_only=True):
    id: PreSharedKeyID
    index: uint16
    count: uint16


# ---------------------------------------------------------------------------
# §10: key packages; §11: extensions carried in groups.


class KeyPackage(Struct, kw_only=True):
    version: ProtocolVersion
    cipher_suite: CipherSuite
    init_key: HPKEPublicKey
    leaf_node: LeafNode
    extensions: Vec[Extension]
    signature: opaque


class KeyPackageTBS(Struct, kw_only=True):
    version: ProtocolVersion
    cipher_suite: CipherSuite
    init_key: HPKEPublicKey
    leaf_node: LeafNode
    extensions: Vec[Extension]


class RequiredCapabilities(Struct, kw_only=True):  # §11.1
    extension_types: Vec[ExtensionType]
    proposal_types: Vec[ProposalType]
    credential_types: Vec[CredentialType]


ApplicationId = Annotated[bytes, VarOpaque(), Named("ApplicationId")]  # §5.3.3


# ---------------------------------------------------------------------------
# §12: proposals and commits.


class Add(Struct, kw_only=True):
    key_package: KeyPackage


class Update(Struct, kw_only=True):
    leaf_node: LeafNode


class Remove(Struct, kw_only=True):
    removed: uint32


class PreSharedKey(Struct, kw_only=True):
    psk: PreSharedKeyID


class ReInit(Struct, kw_only=True):
    group_id: opaque
    version: ProtocolVersion
    cipher_suite: CipherSuite
    extensions: Vec[Extension]


class ExternalInit(Struct, kw_only=True):
    kem_output: opaque


class GroupContextExtensions(Struct, kw_only=True):
    extensions: Vec[Extension]


class ExternalSender(Struct, kw_only=True):  # §12.1.8.1
    signature_key: SignaturePublicKey
    credential: Credential


ExternalSenders = Annotated[Vec[ExternalSender], Named("ExternalSenders")]


_P = "Proposal.proposal_type"


class Proposal(Struct, kw_only=True):
    proposal_type: ProposalType
    add: Annotated[Add | None, when(_P, ProposalType.add)] = None
    update: Annotated[Update | None, when(_P, ProposalType.update)] = None
    remove: Annotated[Remove | None, when(_P, ProposalType.remove)] = None
    psk: Annotated[PreSharedKey | None, when(_P, ProposalType.psk)] = None
    reinit: Annotated[ReInit | None, when(_P, ProposalType.reinit)] = None
    external_init: Annotated[ExternalInit | None, when(_P, ProposalType.external_init)] = None
    group_context_extensions: Annotated[
        GroupContextExtensions | None, when(_P, ProposalType.group_context_extensions)
    ] = None
    # Not in the RFC: the body of a proposal type this schema does not know, as one
    # opaque<V> (the convention mls-rs and OpenMLS use for custom proposals).
    custom: Annotated[opaque | None, otherwise(_P)] = None


class ProposalOrRef(Struct, kw_only=True):  # §12.4
    type: ProposalOrRefType
    proposal: Annotated[Proposal | None, when("ProposalOrRef.type", ProposalOrRefType.proposal)] = (
        None
    )
    reference: Annotated[
        ProposalRef | None, when("ProposalOrRef.type", ProposalOrRefType.reference)
    ] = None


class Commit(Struct, kw_only=True):
    proposals: Vec[ProposalOrRef]
    path: UpdatePath | None


# ---------------------------------------------------------------------------
# §12.4.3: GroupInfo and Welcome.


class GroupInfo(Struct, kw_only=True):
    group_context: GroupContext
    extensions: Vec[Extension]
    confirmation_tag: MAC
    signer: uint32
    signature: opaque


class GroupInfoTBS(Struct, kw_only=True):
    group_context: GroupContext
    extensions: Vec[Extension]
    confirmation_tag: MAC
    signer: uint32


class PathSecret(Struct, kw_only=True):
    path_secret: opaque


class GroupSecrets(Struct, kw_only=True):
    joiner_secret: opaque
    path_secret: PathSecret | None
    psks: Vec[PreSharedKeyID]


class EncryptedGroupSecrets(Struct, kw_only=True):
    new_member: KeyPackageRef
    encrypted_group_secrets: HPKECiphertext


class Welcome(Struct, kw_only=True):
    cipher_suite: CipherSuite
    secrets: Vec[EncryptedGroupSecrets]
    encrypted_group_info: opaque


class ExternalPub(Struct, kw_only=True):  # §12.4.3.2
    external_pub: HPKEPublicKey


class Node(Struct, kw_only=True):  # §12.4.3.3
    node_type: NodeType
    leaf_node: Annotated[LeafNode | None, when("Node.node_type", NodeType.leaf)] = None
    parent_node: Annotated[ParentNode | None, when("Node.node_type", NodeType.parent)] = None


RatchetTree = Annotated[Vec[Node | None], Named("RatchetTree")]


# ---------------------------------------------------------------------------
# §6: the top-level message.

_W = "MLSMessage.wire_format"


class MLSMessage(Struct, kw_only=True):
    version: ProtocolVersion = ProtocolVersion.mls10
    wire_format: WireFormat
    public_message: Annotated[PublicMessage | None, when(_W, WireFormat.mls_public_message)] = None
    private_message: Annotated[PrivateMessage | None, when(_W, WireFormat.mls_private_message)] = (
        None
    )
    welcome: Annotated[Welcome | None, when(_W, WireFormat.mls_welcome)] = None
    group_info: Annotated[GroupInfo | None, when(_W, WireFormat.mls_group_info)] = None
    key_package: Annotated[KeyPackage | None, when(_W, WireFormat.mls_key_package)] = None


register(sys.modules[__name__])

__all__ = [
    "MAC",
    "Add",
    "ApplicationId",
    "AuthenticatedContent",
    "AuthenticatedContentTBM",
    "Capabilities",
    "Certificate",
    "CipherSuite",
    "Commit",
    "ConfirmedTranscriptHashInput",
    "ContentType",
    "Credential",
    "CredentialType",
    "EncryptContext",
    "EncryptedGroupSecrets",
    "Extension",
    "ExtensionType",
    "ExternalInit",
    "ExternalPub",
    "ExternalSender",
    "ExternalSenders",
    "FramedContent",
    "FramedContentAuthData",
    "FramedContentTBS",
    "GroupContext",
    "GroupContextExtensions",
    "GroupInfo",
    "GroupInfoTBS",
    "GroupSecrets",
    "HPKECiphertext",
    "HPKEPublicKey",
    "HashReference",
    "InterimTranscriptHashInput",
    "KDFLabel",
    "KeyPackage",
    "KeyPackageRef",
    "KeyPackageTBS",
    "LeafNode",
    "LeafNodeHashInput",
    "LeafNodeSource",
    "LeafNodeTBS",
    "Lifetime",
    "MLSMessage",
    "Node",
    "NodeType",
    "PSKLabel",
    "PSKType",
    "ParentHashInput",
    "ParentNode",
    "ParentNodeHashInput",
    "PathSecret",
    "PreSharedKey",
    "PreSharedKeyID",
    "PrivateContentAAD",
    "PrivateMessage",
    "PrivateMessageContent",
    "Proposal",
    "ProposalOrRef",
    "ProposalOrRefType",
    "ProposalRef",
    "ProposalType",
    "ProtocolVersion",
    "PublicMessage",
    "RatchetTree",
    "ReInit",
    "RefHashInput",
    "Remove",
    "RequiredCapabilities",
    "ResumptionPSKUsage",
    "Sender",
    "SenderData",
    "SenderDataAAD",
    "SenderType",
    "SignContent",
    "SignaturePublicKey",
    "TreeHashInput",
    "Update",
    "UpdatePath",
    "UpdatePathNode",
    "Welcome",
    "WireFormat",
]
