"""The checks of a received proposal or commit that need no secret (§12.1-§12.4.2):
who signed it, whether the proposal list is valid, whether the path's leaf and keys are
acceptable, and the GroupContext and transcript of the epoch it creates.

Both the member's :class:`~.group.Group` (:mod:`.receive`) and the secret-less
:class:`~.public_group.PublicGroup` run received messages through these functions, so
the two cannot disagree on a commit's validity (OpenMLS builds ``MlsGroup`` on
``PublicGroup`` for the same reason)."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from ...codecs import tls
from ...crypto import labeled
from ...crypto.suites import CipherSuite
from ...errors import StateError, ValidationError
from ...schema import (
    AuthenticatedContent,
    Commit,
    FramedContent,
    GroupContext,
    LeafNodeSource,
    Proposal,
    ProposalOrRefType,
    ProposalType,
    Sender,
    SenderType,
)
from ..proposals import AppliedProposals, ProposalItem, apply_proposals
from ..ratchet_tree import RatchetTree
from ..transcript import update_transcript
from ..tree_validation import verify_leaf_signature
from ..validation import (
    MemberSummary,
    ValidationPolicy,
    check_resync_leaf,
    check_successor,
    external_senders,
    validate_key_package,
    validate_leaf_node,
)
from .config import GroupConfig
from .epoch import PublicEpoch, touched_nodes
from .results import ProposalMessage


def sender_signature_key(epoch: PublicEpoch, sender: Sender) -> bytes:
    """The signature key of a member or external sender (§6.1, §12.1.8.1)."""
    if sender.sender_type == SenderType.member:
        tree = epoch.tree
        i = sender.leaf_index
        leaf = tree.leaf(i) if i is not None and 0 <= i < tree.n_leaves else None
        if leaf is None:
            raise ValidationError(
                "RFC 9420 §6.1: the sender is a member of the group",
                "the leaf is blank or outside the tree",
                f"leaf {i}",
            )
        return leaf.signature_key
    if sender.sender_type == SenderType.external:
        senders = external_senders(epoch.context.extensions)
        i = sender.sender_index
        if i is None or not 0 <= i < len(senders):
            raise ValidationError(
                "RFC 9420 §12.1.8.1: sender_index names an external sender",
                where=f"external sender {i}",
            )
        return senders[i].signature_key
    raise ValidationError(
        "RFC 9420 §6.1: sender type known to this step", f"{sender.sender_type!r}"
    )


def public_message_key(epoch: PublicEpoch, fc: FramedContent, sender: Sender) -> bytes:
    """The key a PublicMessage's signature verifies with: a non-member signs with the key
    of the leaf it brings (§12.4.3.2 the path's, §12.1.8 the KeyPackage's)."""
    if sender.sender_type == SenderType.new_member_commit:
        if fc.commit is None or fc.commit.path is None:
            raise ValidationError("RFC 9420 §12.4.3.2: an external Commit carries a path")
        return fc.commit.path.leaf_node.signature_key
    if sender.sender_type == SenderType.new_member_proposal:
        if fc.proposal is None or fc.proposal.add is None:
            raise ValidationError("RFC 9420 §12.1.8: a new_member_proposal is an Add")
        return fc.proposal.add.key_package.leaf_node.signature_key
    return sender_signature_key(epoch, sender)


def proposal_ref(cs: CipherSuite, ac: AuthenticatedContent) -> bytes:
    return labeled.make_proposal_ref(cs, tls.encode(ac, AuthenticatedContent))


def check_proposal(proposal: Proposal, sender: Sender) -> None:
    """The per-proposal checks that need no commit context (§12.1). An Add's
    KeyPackage is not checked here: apply_proposals checks every committed one."""
    t = proposal.proposal_type
    if t == ProposalType.external_init:
        raise ValidationError("RFC 9420 §12.1.6: ExternalInit only in an external Commit")
    if t == ProposalType.update and (
        sender.sender_type != SenderType.member or proposal.update is None
    ):
        raise ValidationError("RFC 9420 §12.1.2: an Update comes from a member")
    if sender.sender_type in (
        SenderType.external,
        SenderType.new_member_proposal,
    ) and t not in (
        ProposalType.add,
        ProposalType.remove,
        ProposalType.psk,
        ProposalType.reinit,
        ProposalType.group_context_extensions,
    ):
        raise ValidationError(
            "RFC 9420 §12.1.8: external senders propose Add, Remove, PSK, ReInit or "
            "GroupContextExtensions",
            f"{t!r}",
        )


def receive_proposal(
    epoch: PublicEpoch, ac: AuthenticatedContent, policy: ValidationPolicy, config: GroupConfig
) -> ProposalMessage:
    """Check a received proposal and cache it for the next commit of the epoch."""
    fc = ac.content
    assert fc.proposal is not None
    check_proposal(fc.proposal, fc.sender)
    add = fc.proposal.add
    if add is not None:
        # Refuse a bad KeyPackage before it is cached (§10.1 on receipt), its leaf's
        # signature and credential included; the leaf's §7.3 uniqueness waits for the
        # commit, whose Removes may make room for it. Adds committed by value are
        # checked once, in apply_proposals.
        validate_key_package(epoch.suite, add.key_package, "Add")
        leaf = add.key_package.leaf_node
        where = "Add.key_package.leaf_node"  # source key_package: no group, no index
        verify_leaf_signature(epoch.suite, leaf, b"", 0, where)
        if not policy.accepts_credential(leaf.credential, leaf.signature_key):
            raise ValidationError("RFC 9420 §5.3.1: the credential is acceptable", where=where)
    hook = policy.external_proposal_ok
    if (
        fc.sender.sender_type in (SenderType.external, SenderType.new_member_proposal)
        and hook is not None
        and not hook(fc.proposal, fc.sender)
    ):
        raise ValidationError(
            "RFC 9420 §12.1.8: the external proposal is authorized",
            f"{fc.proposal.proposal_type!r} from {fc.sender.sender_type!r}",
        )
    ref = proposal_ref(epoch.suite, ac)
    cache = epoch.proposals
    if ref not in cache and len(cache) >= config.max_proposals:
        # The cache lives until the next commit: without a bound, a member (or an
        # external sender) could fill memory with proposals nobody commits.
        raise StateError(
            f"the proposal cache is full ({config.max_proposals} proposals, "
            "GroupConfig.max_proposals); commit or clear before receiving more"
        )
    cache[ref] = ProposalItem(fc.proposal, fc.sender, ref)
    return ProposalMessage(fc.proposal, fc.sender, ref)


def resolve_proposals(
    epoch: PublicEpoch, commit: Commit, sender: Sender, config: GroupConfig
) -> list[ProposalItem]:
    """The committed proposals: by value, or by reference from the epoch's cache."""
    if len(commit.proposals) > config.max_proposals:
        # Before any proposal is looked up or validated: that work is per proposal.
        raise ValidationError(
            "resource limit: proposals in one Commit (GroupConfig.max_proposals)",
            f"{len(commit.proposals)} proposals, at most {config.max_proposals}",
            "Commit.proposals",
        )
    items: list[ProposalItem] = []
    for i, por in enumerate(commit.proposals):
        if por.type == ProposalOrRefType.reference:
            assert por.reference is not None
            if sender.sender_type == SenderType.new_member_commit:
                # §12.4.3.2: the joiner cannot know which proposals of the epoch are
                # valid, so nothing it commits may come from the proposal cache.
                raise ValidationError(
                    "RFC 9420 §12.4.3.2: an external Commit includes no proposals by reference",
                    f"ProposalRef {por.reference.hex()}",
                    f"proposals[{i}]",
                )
            item = epoch.proposals.get(por.reference)
            if item is None:
                raise ValidationError(
                    "RFC 9420 §12.4: a proposal committed by reference was received in this epoch",
                    f"unknown ProposalRef {por.reference.hex()}",
                    f"proposals[{i}]",
                )
            items.append(item)
        elif por.type == ProposalOrRefType.proposal and por.proposal is not None:
            # Updates and ExternalInits by value are list rules (§12.2: an Update
            # by value would be the committer's own; ExternalInit only in an
            # external commit): apply_proposals reports them.
            if por.proposal.proposal_type not in (
                ProposalType.update,
                ProposalType.external_init,
            ):
                check_proposal(por.proposal, sender)
            items.append(ProposalItem(por.proposal, sender, None))
        else:
            raise ValidationError(
                "RFC 9420 §12.4: ProposalOrRef is a proposal or a reference",
                where=f"proposals[{i}]",
            )
    return items


@dataclass
class ValidatedCommit:
    """A received commit whose public checks passed: what its proposals do, who
    committed it, and the tree its path (if any) is merged into."""

    items: list[ProposalItem]
    applied: AppliedProposals
    committer: int
    external: bool
    # The GroupContext of the new epoch, but for its tree hash and transcript hash.
    template: GroupContext
    # The tree the path is merged into (with an external joiner's leaf already added).
    path_base: RatchetTree

    @property
    def added(self) -> list[int]:
        return [i for i, _ in self.applied.added]


def validate_commit(
    epoch: PublicEpoch, ac: AuthenticatedContent, policy: ValidationPolicy, config: GroupConfig
) -> ValidatedCommit:
    """Every check of a received Commit that needs no secret, up to merging its path:
    the proposal list (§12.2), the resource limits, the path's presence (§12.4) and its
    leaf and public keys (§12.4.2, §7.3)."""
    cs = epoch.suite
    fc = ac.content
    commit = fc.commit
    assert commit is not None
    sender = fc.sender
    external = sender.sender_type == SenderType.new_member_commit
    items = resolve_proposals(epoch, commit, sender, config)
    applied = apply_proposals(epoch.tree, epoch.context, epoch.summary, items, sender, policy)
    # Adds (bounded by max_proposals) can at most double the tree; refuse a tree past
    # the limit before the path, tree hashes and secret tree are computed over it.
    new_leaves = applied.tree.n_leaves
    if external and applied.tree.leftmost_blank_leaf() is None:
        new_leaves += 1  # the joiner's leaf, added past the right edge
    if new_leaves > config.max_tree_leaves:
        raise ValidationError(
            "resource limit: leaves of the ratchet tree (GroupConfig.max_tree_leaves)",
            f"the Commit grows the tree to {new_leaves} leaves, at most {config.max_tree_leaves}",
            "Commit.proposals",
        )
    if applied.path_required and commit.path is None:
        raise ValidationError(
            "RFC 9420 §12.4: the Commit needs a path (empty, or with Update, Remove, "
            "ExternalInit or GroupContextExtensions proposals)"
        )
    tree = applied.tree
    if external:
        assert commit.path is not None
        committer = tree.leftmost_blank_leaf()
        if committer is None:
            committer = tree.n_leaves
    else:
        assert sender.leaf_index is not None
        committer = sender.leaf_index
    template = msgspec.structs.replace(
        epoch.context, epoch=epoch.context.epoch + 1, extensions=applied.extensions
    )
    base = tree
    path = commit.path
    if path is not None:
        replacing = tree.leaf(committer) if committer < tree.n_leaves else None
        if replacing is not None and path.leaf_node.encryption_key == replacing.encryption_key:
            # §12.4.2 names this check on its own; without it the reused key would only
            # surface as the less precise §7.3 uniqueness error below.
            raise ValidationError(
                "RFC 9420 §12.4.2: the UpdatePath leaf's encryption_key differs from the "
                "committer's current leaf",
                where="Commit.path.leaf_node",
            )
        validate_leaf_node(
            cs,
            path.leaf_node,
            source=LeafNodeSource.commit,
            group_id=epoch.context.group_id,
            leaf_index=committer,
            extensions=applied.extensions,
            summary=applied.summary,
            policy=policy,
            where="Commit.path.leaf_node",
            replacing=replacing,
        )
        if external and applied.removed:
            check_resync_leaf(
                applied.removed[0][1], path.leaf_node, policy, "Commit.path.leaf_node"
            )
        elif replacing is not None:
            check_successor(replacing, path.leaf_node, policy, "Commit.path.leaf_node")
        in_path = {path.leaf_node.encryption_key}
        for k, node in enumerate(path.nodes):
            key = node.encryption_key
            if key in applied.summary.encryption_keys or key in in_path:
                raise ValidationError(
                    "RFC 9420 §12.4.2: UpdatePath public keys are new to the tree",
                    "in the tree" if key not in in_path else "twice in the path",
                    where=f"Commit.path.nodes[{k}]",
                )
            in_path.add(key)
        if external:
            base = tree.copy()
            got = base.add_leaf(path.leaf_node)
            assert got == committer
    return ValidatedCommit(items, applied, committer, external, template, base)


def summary_after(validated: ValidatedCommit, new_tree: RatchetTree) -> MemberSummary:
    """The member summary of the tree after the commit's path is merged: only the
    committer's leaf and direct path changed."""
    applied = validated.applied
    if new_tree is applied.tree:
        return applied.summary
    summary = applied.summary.copy()
    summary.sync(applied.tree, new_tree, touched_nodes(new_tree, [validated.committer]))
    return summary


def next_context(
    epoch: PublicEpoch,
    ac: AuthenticatedContent,
    validated: ValidatedCommit,
    new_tree: RatchetTree,
) -> tuple[GroupContext, bytes]:
    """The new epoch's GroupContext and interim transcript hash (§8.2): both public, from
    the committed content and its confirmation tag."""
    hashes = update_transcript(epoch.suite, epoch.interim, ac)
    context = msgspec.structs.replace(
        validated.template,
        tree_hash=new_tree.tree_hash(),
        confirmed_transcript_hash=hashes.confirmed,
    )
    return context, hashes.interim


__all__ = [
    "ValidatedCommit",
    "check_proposal",
    "next_context",
    "proposal_ref",
    "public_message_key",
    "receive_proposal",
    "resolve_proposals",
    "sender_signature_key",
    "summary_after",
    "validate_commit",
]
