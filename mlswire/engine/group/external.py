"""Joining by external Commit (§12.4.3.2) and proposing as an external sender
(§12.1.8.1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import msgspec

from ...codecs import tls
from ...crypto.primitives import Rng
from ...crypto.suites import cipher_suite
from ...errors import CryptoError, StateError, ValidationError
from ...schema import (
    Commit,
    Credential,
    Extension,
    ExtensionType,
    ExternalInit,
    ExternalPub,
    ExternalSender,
    LeafNodeSource,
    MLSMessage,
    Proposal,
    ProposalOrRef,
    ProposalOrRefType,
    ProposalType,
    Sender,
    SenderType,
    WireFormat,
)
from .. import framing, treekem
from .. import key_schedule as ks
from .. import psk as psk_mod
from ..proposals import ProposalItem, apply_proposals
from ..transcript import interim_transcript_hash
from ..validation import find_extension
from ..welcome import verify_group_info
from ._wire import extension, non_member_message, psk_proposal, remove_proposal
from .commit import seal_commit
from .config import GroupConfig
from .epoch import begin_epoch, touched_nodes
from .group import Group
from .group_info import check_joined_group, joined_tree_policy, read_group_info, tree_and_signer

if TYPE_CHECKING:
    from .client import Client


def external_join(
    client: Client,
    group_info_bytes: bytes,
    ratchet_tree: bytes | None,
    config: GroupConfig,
    remove_leaf: int | None,
    external_psks: tuple[bytes, ...],
    rng: Rng | None,
) -> tuple[Group, bytes]:
    """The joiner's group (in the new epoch) and its external Commit (§12.4.3.2)."""
    info = read_group_info(group_info_bytes, config)
    context = info.group_context
    suite_id = int(context.cipher_suite)
    if suite_id != client.suite_id:
        raise ValidationError(
            "RFC 9420 §12.4.3.2: the group's cipher suite is the client's",
            f"0x{suite_id:04x}",
        )
    cs = client.suite
    if remove_leaf is None and client.participates_in(context.group_id):
        # §12.4.3 as for a Welcome; a resync (remove_leaf) rejoins a group the client
        # still holds a stale copy of, by design.
        raise ValidationError(
            "RFC 9420 §12.4.3.1: the group_id is unique among the client's groups",
            f"already in group {context.group_id.hex()} (a resync passes remove_leaf)",
            "GroupInfo.group_context.group_id",
        )
    tree, signer = tree_and_signer(info, ratchet_tree, config, "12.4.3.2")
    try:
        verify_group_info(cs, info, signer.signature_key)
    except CryptoError as e:
        raise CryptoError(f"RFC 9420 §12.4.3: GroupInfo signature does not verify ({e})") from e
    summary = check_joined_group(
        cs, info, tree, client.capabilities, client.policy, "GroupInfo", replaced=remove_leaf
    )
    pub_ext = find_extension(info.extensions, ExtensionType.external_pub)
    if pub_ext is None:
        raise ValidationError(
            "RFC 9420 §12.4.3.2: an external join needs the GroupInfo's external_pub"
        )
    external_pub: ExternalPub = tls.decode(pub_ext.extension_data, ExternalPub)
    kem_output, init_secret = ks.external_init_sender(cs, external_pub.external_pub, rng)
    proposals: list[Proposal] = [
        Proposal(
            proposal_type=ProposalType.external_init,
            external_init=ExternalInit(kem_output=kem_output),
        )
    ]
    if remove_leaf is not None:
        proposals.append(remove_proposal(remove_leaf))
    psk_ids = [psk_mod.external_psk_id(p, psk_mod.fresh_psk_nonce(cs, rng)) for p in external_psks]
    proposals += [psk_proposal(i) for i in psk_ids]
    psk_values = [(i, client.external_psks.get(i.psk_id or b"")) for i in psk_ids]
    missing = [i for i, v in psk_values if v is None]
    if missing:
        raise StateError(f"external PSK {missing[0].psk_id!r} is not held by this client")
    psk_secret = (
        psk_mod.psk_secret(cs, [(i, v) for i, v in psk_values if v is not None])
        if psk_values
        else None
    )
    sender = Sender(sender_type=SenderType.new_member_commit)
    applied = apply_proposals(
        tree,
        context,
        summary,
        [ProposalItem(p, sender, None) for p in proposals],
        sender,
        joined_tree_policy(client.policy),
    )
    base = applied.tree.copy()
    # The leaf's fields (credential, capabilities); create_update_path gives it its
    # key, parent hash and signature.
    placeholder = client._leaf_node(b"", LeafNodeSource.commit, rng=rng)
    me = base.add_leaf(placeholder)
    template = msgspec.structs.replace(
        context, epoch=context.epoch + 1, extensions=applied.extensions
    )
    created = treekem.create_update_path(
        base, me, client.signature_private_key, template, leaf_node=placeholder, rng=rng
    )
    new_tree = created.tree
    content = framing.framed_content(
        group_id=context.group_id,
        epoch=context.epoch,
        sender=sender,
        commit=Commit(
            proposals=tuple(
                ProposalOrRef(type=ProposalOrRefType.proposal, proposal=p) for p in proposals
            ),
            path=created.update_path,
        ),
    )
    sealed = seal_commit(
        cs,
        client.signature_private_key,
        content,
        WireFormat.mls_public_message,  # §12.4.3.2: not a member yet
        context,
        interim_transcript_hash(cs, context.confirmed_transcript_hash, info.confirmation_tag),
        template=template,
        new_tree=new_tree,
        init_secret=init_secret,
        commit_secret=created.commit_secret,
        psk_secret=psk_secret,
        rng=rng,
    )
    message = framing.protect_public(cs, sealed.content, group_context=context)
    new_summary = applied.summary.copy()
    new_summary.sync(applied.tree, new_tree, touched_nodes(new_tree, [me]))
    state = begin_epoch(
        config,
        sealed.context,
        new_tree,
        new_summary,
        created.private,
        sealed.secrets,
        sealed.interim,
    )
    group = Group(client, config, state, rng=rng)
    return group, tls.encode(framing.to_mls_message(message), MLSMessage)


def external_proposal(
    suite: int,
    signature_private_key: bytes,
    sender_index: int,
    group_id: bytes,
    epoch: int,
    proposal: Proposal,
    *,
    rng: Rng | None = None,
) -> bytes:
    """A proposal from the external sender at ``sender_index`` of the group's
    ``external_senders`` extension (§12.1.8.1), as a PublicMessage MLSMessage. External
    senders are not members: there is no membership tag, and the signature does not
    cover the GroupContext."""
    content = framing.framed_content(
        group_id=group_id,
        epoch=epoch,
        sender=Sender(sender_type=SenderType.external, sender_index=sender_index),
        proposal=proposal,
    )
    return non_member_message(cipher_suite(suite), signature_private_key, content, rng)


def external_senders_extension(senders: Sequence[tuple[bytes, Credential]]) -> Extension:
    """The ``external_senders`` GroupContext extension for (signature key, credential)
    pairs, in sender_index order."""
    value = tuple(ExternalSender(signature_key=k, credential=c) for k, c in senders)
    return extension(ExtensionType.external_senders, tls.encode(value, "ExternalSenders"))


__all__ = ["external_join", "external_proposal", "external_senders_extension"]
