"""Reading and writing a GroupInfo (§12.4.3): its ratchet tree (from the extension or
out of band), its signer, the checks a client makes of a group it joins, and the
signed GroupInfo a member publishes. Used by the Welcome join (§12.4.3.1), the external
join (§12.4.3.2) and :class:`~.public.PublicGroup`."""

from __future__ import annotations

from dataclasses import replace as dc_replace

from ...codecs import tls
from ...crypto.primitives import Rng
from ...crypto.suites import CipherSuite
from ...errors import StateError, ValidationError
from ...schema import (
    Capabilities,
    Extension,
    ExtensionType,
    ExternalPub,
    GroupContext,
    GroupInfo,
    LeafNode,
    MLSMessage,
    ProtocolVersion,
    WireFormat,
)
from .. import key_schedule as ks
from ..ratchet_tree import RatchetTree
from ..tree_validation import validate_tree
from ..validation import (
    MemberSummary,
    ValidationPolicy,
    check_required_capabilities,
    check_signature_key_encoding,
    check_unique_extensions,
    find_extension,
    required_capabilities,
    supports_extension,
)
from ..welcome import sign_group_info
from ._wire import decode_message, encode_message, extension
from .config import GroupConfig


def read_group_info(data: bytes, config: GroupConfig) -> GroupInfo:
    """The GroupInfo of a GroupInfo MLSMessage (TLS bytes)."""
    msg = decode_message(data, config.limits)
    if msg.wire_format != WireFormat.mls_group_info or msg.group_info is None:
        raise ValidationError("RFC 9420 §6: expected a GroupInfo", f"{msg.wire_format!r}")
    return msg.group_info


def tree_and_signer(
    info: GroupInfo, ratchet_tree: bytes | None, config: GroupConfig, section: str
) -> tuple[RatchetTree, LeafNode]:
    """The group's ratchet tree (the GroupInfo's ``ratchet_tree`` extension, else the one
    given out of band) and the GroupInfo signer's leaf in it. ``section`` names the RFC
    section of the join (``12.4.3.1`` Welcome, ``12.4.3.2`` external)."""
    suite_id = int(info.group_context.cipher_suite)
    tree_ext = find_extension(info.extensions, ExtensionType.ratchet_tree)
    data = tree_ext.extension_data if tree_ext is not None else ratchet_tree
    if data is None:
        what = "Welcome's GroupInfo" if section == "12.4.3.1" else "GroupInfo"
        raise StateError(
            f"RFC 9420 §{section}: the {what} has no ratchet_tree extension and no tree "
            "was given out of band"
        )
    tree = RatchetTree.decode(suite_id, data, max_leaves=config.max_tree_leaves)
    signer = tree.leaf(info.signer) if 0 <= info.signer < tree.n_leaves else None
    if signer is None:
        raise ValidationError(
            f"RFC 9420 §{section}: the GroupInfo signer is a member", where=f"leaf {info.signer}"
        )
    check_signature_key_encoding(suite_id, signer.signature_key, f"leaf {info.signer}")
    return tree, signer


def joined_tree_policy(policy: ValidationPolicy) -> ValidationPolicy:
    # Lifetimes of leaves already in the group are not checked: they may have expired
    # since they were added (§7.3).
    return dc_replace(policy, check_lifetime=False)


def check_joined_group(
    cs: CipherSuite,
    info: GroupInfo,
    tree: RatchetTree,
    joiner: Capabilities | None,
    policy: ValidationPolicy,
    where: str,
    *,
    replaced: int | None = None,
) -> MemberSummary:
    """What a client joining by Welcome (§12.4.3.1) or by external Commit (§12.4.3.2)
    checks of the group: its version and extension lists, the tree (validate_tree, then
    every leaf against the group), and that the joiner supports the group's extensions
    (``joiner`` None: an observer, not a joiner). ``replaced``: the joiner's own old leaf
    that its external Commit removes (a resync); its credential may have been revoked
    since, so the AS is not asked about it. Returns the tree's member summary."""
    context = info.group_context
    if context.version != ProtocolVersion.mls10:
        raise ValidationError(
            "RFC 9420 §12.4.3.1: the group's version is mls10",
            f"{context.version!r}",
            f"{where}.group_context",
        )
    check_unique_extensions(context.extensions, f"{where}.group_context.extensions")
    check_unique_extensions(info.extensions, f"{where}.extensions")
    validate_tree(tree, context.group_id, context.tree_hash)
    summary = MemberSummary.of_tree(tree)
    check_tree_leaves(cs, tree, context, summary, joined_tree_policy(policy), replaced)
    for ext in context.extensions:
        if joiner is not None and not supports_extension(joiner, int(ext.extension_type)):
            raise ValidationError(
                "RFC 9420 §12.4.3: the new member supports the group's extensions",
                f"extension type {int(ext.extension_type)}",
                f"{where}.group_context.extensions",
            )
    return summary


def check_tree_leaves(
    cs: CipherSuite,
    tree: RatchetTree,
    context: GroupContext,
    summary: MemberSummary,
    policy: ValidationPolicy,
    replaced: int | None = None,
) -> None:
    """§12.4.3.1 "validate the tree": each leaf meets the group's requirements (the
    signature and uniqueness checks are validate_tree's); the credential of every leaf
    but ``replaced`` is the policy's to accept."""
    required = required_capabilities(context.extensions)
    for i in tree.members():
        leaf = tree.leaf(i)
        assert leaf is not None
        where = f"leaf {i}"
        if ProtocolVersion.mls10 not in leaf.capabilities.versions:
            raise ValidationError("RFC 9420 §7.2: capabilities list mls10", where=where)
        check_unique_extensions(leaf.extensions, where)
        check_required_capabilities(leaf.capabilities, required, where)
        own_type = int(leaf.credential.credential_type)
        if not summary.all_support_credential(own_type):
            raise ValidationError(
                "RFC 9420 §7.3: every member supports each member's credential type",
                f"credential type {own_type}",
                where,
            )
        if policy.strict and cs.suite_id not in {int(c) for c in leaf.capabilities.cipher_suites}:
            raise ValidationError(
                "RFC 9420 §7.2 (strict): capabilities list the group's cipher suite", where=where
            )
        # §7.3 (each tree leaf is validated at join): the leaf's own extensions are
        # ones it declares support for.
        for ext in leaf.extensions:
            if not supports_extension(leaf.capabilities, int(ext.extension_type)):
                raise ValidationError(
                    "RFC 9420 §7.3: LeafNode extensions are listed in its capabilities",
                    f"extension type {int(ext.extension_type)}",
                    where,
                )
        if i != replaced and not policy.accepts_credential(leaf.credential, leaf.signature_key):
            raise ValidationError("RFC 9420 §5.3.1: the credential is acceptable", where=where)


def external_pub_extension(secrets: ks.EpochSecrets) -> Extension:
    """The ``external_pub`` GroupInfo extension of an epoch (§12.4.3.2)."""
    _, pub = secrets.external_key_pair()
    return extension(
        ExtensionType.external_pub, tls.encode(ExternalPub(external_pub=pub), ExternalPub)
    )


def signed_group_info(
    cs: CipherSuite,
    signature_private_key: bytes,
    signer: int,
    context: GroupContext,
    tag: bytes,
    secrets: ks.EpochSecrets,
    *,
    tree: RatchetTree | None,
    external_pub: bool,
    rng: Rng | None,
) -> GroupInfo:
    """A member's signed GroupInfo of an epoch (§12.4.3), with the ratchet tree (when
    ``tree`` is given) and ``external_pub`` (when asked)."""
    extensions: list[Extension] = []
    if tree is not None:
        extensions.append(extension(ExtensionType.ratchet_tree, tree.encode()))
    if external_pub:
        extensions.append(external_pub_extension(secrets))
    return sign_group_info(
        cs,
        signature_private_key,
        group_context=context,
        confirmation_tag=tag,
        signer=signer,
        extensions=extensions,
        rng=rng,
    )


def group_info_message(info: GroupInfo) -> bytes:
    return encode_message(MLSMessage(wire_format=WireFormat.mls_group_info, group_info=info))


__all__ = [
    "check_joined_group",
    "check_tree_leaves",
    "external_pub_extension",
    "group_info_message",
    "joined_tree_policy",
    "read_group_info",
    "signed_group_info",
    "tree_and_signer",
]
