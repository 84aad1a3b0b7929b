"""A member creating a Commit (§12.4): choose the proposals, make the path, seal the
commit (sign, transcript, key schedule, confirmation tag), assemble the Welcome and
GroupInfo. :func:`seal_commit` is also what an external joiner seals with
(:mod:`.external`); the receiver's mirror is :func:`.receive.stage_commit`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec

from ...crypto.primitives import Rng
from ...crypto.suites import CipherSuite
from ...errors import ValidationError
from ...schema import (
    AuthenticatedContent,
    Commit,
    FramedContent,
    GroupContext,
    MLSMessage,
    Proposal,
    ProposalOrRef,
    ProposalOrRefType,
    ProposalType,
    ResumptionPSKUsage,
    WireFormat,
)
from .. import framing, treekem
from .. import key_schedule as ks
from .. import tree_math as tm
from ..proposals import AppliedProposals, ProposalItem, apply_proposals
from ..ratchet_tree import RatchetTree
from ..transcript import confirmation_tag, confirmed_transcript_hash, interim_transcript_hash
from ..welcome import NewMember, create_welcome
from . import send
from ._wire import encode_message
from .epoch import begin_epoch, prune_private, touched_nodes
from .group_info import group_info_message, signed_group_info
from .results import CommitOutput
from .staged import StagedCommit

if TYPE_CHECKING:
    from .group import Group


@dataclass(frozen=True)
class SealedCommit:
    """A signed and confirmed Commit and the epoch it starts."""

    content: AuthenticatedContent
    context: GroupContext
    secrets: ks.EpochSecrets
    confirmation_tag: bytes
    interim: bytes


def seal_commit(
    cs: CipherSuite,
    signature_private_key: bytes,
    content: FramedContent,
    wire_format: WireFormat,
    context: GroupContext,
    interim: bytes,
    *,
    template: GroupContext,
    new_tree: RatchetTree,
    init_secret: bytes,
    commit_secret: bytes | None,
    psk_secret: bytes | None,
    rng: Rng | None,
) -> SealedCommit:
    """The sender's side of §8.1-§8.2 for a Commit: sign the content under the current
    ``context``, extend the transcript from its ``interim`` hash, derive the new epoch
    (``template`` with the new tree hash and transcript hash) and its confirmation tag."""
    signature = framing.sign_framed_content(
        cs, signature_private_key, content, wire_format, context, rng
    )
    confirmed = confirmed_transcript_hash(cs, interim, wire_format, content, signature)
    new_context = msgspec.structs.replace(
        template, tree_hash=new_tree.tree_hash(), confirmed_transcript_hash=confirmed
    )
    secrets = ks.derive_epoch(cs, init_secret, new_context, commit_secret, psk_secret)
    tag = confirmation_tag(cs, secrets.confirmation_key, confirmed)
    ac = framing.authenticated_content(content, wire_format, signature, tag)
    return SealedCommit(ac, new_context, secrets, tag, interim_transcript_hash(cs, confirmed, tag))


def _choose(
    group: Group,
    by_value: list[ProposalItem],
    psk_usages: tuple[ResumptionPSKUsage, ...],
) -> tuple[list[ProposalItem], AppliedProposals]:
    """The cached proposals to commit by reference, and what the whole list does."""
    st = group._state
    me = group.own_leaf_index
    sender = group._sender()
    policy = group._policy()
    cached: list[ProposalItem] = []
    for item in st.proposals.values():
        p = item.proposal
        # §12.2: our own Updates are replaced by the path; Removes of us cannot be
        # committed by us.
        if p.proposal_type == ProposalType.update and item.sender.leaf_index == me:
            continue
        if (
            p.proposal_type == ProposalType.remove
            and p.remove is not None
            and p.remove.removed == me
        ):
            continue
        cached.append(item)

    def validated(chosen: list[ProposalItem]) -> AppliedProposals:
        return apply_proposals(
            st.tree,
            st.context,
            st.summary,
            [*chosen, *by_value],
            sender,
            policy,
            psk_usages=psk_usages,
        )

    try:
        return cached, validated(cached)
    except ValidationError:
        # §12.1: include the received proposals "as long as this results in a valid
        # proposal list": keep each cached one, in order, that the list stays valid
        # with (one made invalid by another, e.g. an Update of a member a Remove also
        # names, is left out). Our own by-value proposals are not dropped: if they
        # are invalid, the last call raises their error.
        kept: list[ProposalItem] = []
        for item in cached:
            try:
                validated([*kept, item])
            except ValidationError:
                continue
            kept.append(item)
        return kept, validated(kept)


def create_commit(
    group: Group,
    proposals: Sequence[Proposal],
    *,
    update_path: bool = True,
    authenticated_data: bytes = b"",
    psk_usages: tuple[ResumptionPSKUsage, ...] = (ResumptionPSKUsage.application,),
) -> CommitOutput:
    """Commit ``proposals`` (by value) and the pending ones (by reference); the commit
    is the group's pending commit until merged. ``psk_usages``: the resumption PSK
    usages allowed (reinit/branch for a successor group's first commit)."""
    group._require("commit")
    st = group._state
    cs = st.suite
    me = group.own_leaf_index
    rng = group._rng
    signature_key = group.client.signature_private_key
    sender = group._sender()
    cached, applied = _choose(group, [ProposalItem(p, sender, None) for p in proposals], psk_usages)
    refs = [
        ProposalOrRef(type=ProposalOrRefType.reference, reference=item.ref) for item in cached
    ] + [ProposalOrRef(type=ProposalOrRefType.proposal, proposal=p) for p in proposals]
    template = msgspec.structs.replace(
        st.context, epoch=st.context.epoch + 1, extensions=applied.extensions
    )
    tree = applied.tree
    private = prune_private(st.private, tree, st.tree)
    summary = applied.summary
    created: treekem.CreatedPath | None = None
    commit_secret: bytes | None = None
    new_tree = tree
    if update_path or applied.path_required:
        created = treekem.create_update_path(
            tree,
            me,
            signature_key,
            template,
            exclude=[i for i, _ in applied.added],
            leaf_node=group._own_leaf(),
            rng=rng,
        )
        new_tree = created.tree
        private = created.private
        commit_secret = created.commit_secret
        summary = summary.copy()
        summary.sync(tree, new_tree, touched_nodes(new_tree, [me]))
    content = framing.framed_content(
        group_id=group.group_id,
        epoch=group.epoch,
        sender=sender,
        commit=Commit(
            proposals=tuple(refs),
            path=created.update_path if created is not None else None,
        ),
        authenticated_data=authenticated_data,
    )
    sealed = seal_commit(
        cs,
        signature_key,
        content,
        group.config.wire_format,
        st.context,
        st.interim,
        template=template,
        new_tree=new_tree,
        init_secret=st.secrets.init_secret,
        commit_secret=commit_secret,
        psk_secret=group._psk_secret(applied.psks),
        rng=rng,
    )
    commit_bytes = send.protect(group, sealed.content)
    welcome_msg: bytes | None = None
    group_info_msg: bytes | None = None
    if applied.added:
        info = signed_group_info(
            cs,
            signature_key,
            me,
            sealed.context,
            sealed.confirmation_tag,
            sealed.secrets,
            tree=new_tree if group.config.ratchet_tree_extension else None,
            external_pub=group.config.external_pub,
            rng=rng,
        )
        new_members = []
        for leaf, kp in applied.added:
            secret = None
            if created is not None:
                lca = tm.common_ancestor(tm.leaf_to_node(leaf), tm.leaf_to_node(me))
                secret = created.path_secrets.get(lca)
            new_members.append(NewMember(kp, secret))
        welcome = create_welcome(sealed.secrets, info, new_members, applied.psks, rng=rng)
        welcome_msg = encode_message(
            MLSMessage(wire_format=WireFormat.mls_welcome, welcome=welcome)
        )
        group_info_msg = group_info_message(info)
    new = begin_epoch(
        group.config, sealed.context, new_tree, summary, private, sealed.secrets, sealed.interim
    )
    output = CommitOutput(commit_bytes, welcome_msg, group_info_msg)
    group._set_pending(StagedCommit(group, st, new, applied, sender, me), output)
    return output


__all__ = ["SealedCommit", "create_commit", "seal_commit"]
