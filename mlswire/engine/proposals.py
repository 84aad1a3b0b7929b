"""The proposal list (RFC 9420 §12.2-§12.3): validating a committed list and applying
it to a ratchet tree and GroupContext. What a new leaf or KeyPackage must satisfy is
:mod:`mlswire.engine.validation`'s (its names are re-exported here for one release).

Everything here is a pure function of its inputs: :func:`apply_proposals` works on a
copy of the tree and returns an :class:`AppliedProposals` describing the new tree and
what changed, so a Commit can be staged and dropped (stage, then merge: docs/GROUP_ENGINE.md).

Cost: the checks that the RFC states over "all members" (a new leaf's credential type
is supported by every member, a GroupContextExtensions proposal's extensions are
supported by every member, a non-default proposal type is supported by every member)
are answered from a :class:`MemberSummary` that the group keeps up to date with the
leaves it changes, so a commit does not rescan the tree. Key uniqueness (§7.3) uses
the same summary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial

from ..errors import ValidationError
from ..schema import (
    Extension,
    ExtensionType,
    GroupContext,
    KeyPackage,
    LeafNode,
    LeafNodeSource,
    PreSharedKeyID,
    Proposal,
    ProposalType,
    ReInit,
    ResumptionPSKUsage,
    Sender,
    SenderType,
)
from . import psk as psk_mod
from . import tree_math as tm
from .parallel import prechecked
from .ratchet_tree import RatchetTree
from .validation import (
    DEFAULT_EXTENSION_TYPES,
    DEFAULT_PROPOSAL_TYPES,
    Clock,
    MemberSummary,
    ValidationPolicy,
    check_required_capabilities,
    check_resync_leaf,
    check_successor,
    check_unique_extensions,
    external_senders,
    find_extension,
    key_package_checks,
    required_capabilities,
    supports_extension,
    supports_proposal,
    system_clock,
    validate_key_package,
    validate_leaf_node,
)

# §12.4: proposal types whose presence makes the path mandatory.
PATH_REQUIRED_TYPES = frozenset(
    {
        ProposalType.update,
        ProposalType.remove,
        ProposalType.external_init,
        ProposalType.group_context_extensions,
    }
)


# --- a committed list ----------------------------------------------------------------------


@dataclass(frozen=True)
class ProposalItem:
    """A proposal as committed: the proposal, who proposed it, and its ProposalRef when
    it came by reference."""

    proposal: Proposal
    sender: Sender
    ref: bytes | None = None


@dataclass
class AppliedProposals:
    tree: RatchetTree
    summary: MemberSummary
    extensions: tuple[Extension, ...]
    added: list[tuple[int, KeyPackage]] = field(default_factory=list)
    removed: list[tuple[int, LeafNode]] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    psks: list[PreSharedKeyID] = field(default_factory=list)
    external_init: bytes | None = None  # kem_output
    reinit: ReInit | None = None
    path_required: bool = False
    custom: list[Proposal] = field(default_factory=list)


def _member_leaf(sender: Sender) -> int | None:
    return sender.leaf_index if sender.sender_type == SenderType.member else None


def check_list_shape(
    tree: RatchetTree,
    summary: MemberSummary,
    items: Sequence[ProposalItem],
    by_type: dict[int, list[tuple[int, ProposalItem]]],
    external: bool,
) -> None:
    """The rules of §12.2 on the list as a whole: which types an external Commit holds,
    ExternalInit only there, a ReInit alone, at most one GroupContextExtensions, and
    every type supported by every member (but those the commit removes)."""

    def where(i: int) -> str:
        return f"proposals[{i}]"

    if external:
        allowed = {ProposalType.external_init, ProposalType.remove, ProposalType.psk}
        for i, item in enumerate(items):
            if item.proposal.proposal_type not in allowed:
                raise ValidationError(
                    "RFC 9420 §12.2: an external Commit holds only ExternalInit, Remove, PSK",
                    f"{item.proposal.proposal_type!r}",
                    where(i),
                )
        if len(by_type.get(ProposalType.external_init, [])) != 1:
            raise ValidationError(
                "RFC 9420 §12.2: an external Commit holds exactly one ExternalInit"
            )
        if len(by_type.get(ProposalType.remove, [])) > 1:
            raise ValidationError("RFC 9420 §12.2: an external Commit holds at most one Remove")
    elif ProposalType.external_init in by_type:
        raise ValidationError(
            "RFC 9420 §12.2: only an external Commit holds ExternalInit",
            where=where(by_type[ProposalType.external_init][0][0]),
        )
    if ProposalType.reinit in by_type and len(items) > 1:
        raise ValidationError(
            "RFC 9420 §12.2: a ReInit is the only proposal of its Commit",
            where=where(by_type[ProposalType.reinit][0][0]),
        )
    gce = by_type.get(ProposalType.group_context_extensions, [])
    if len(gce) > 1:
        raise ValidationError(
            "RFC 9420 §12.2: at most one GroupContextExtensions", where=where(gce[1][0])
        )
    for t, entries in by_type.items():
        if not summary.all_support_proposal(t):
            # §12.2: members added or removed by this commit need not support it; the
            # removed ones are rare enough to recount only in that case.
            removed_caps = [
                tree.leaf(e.proposal.remove.removed)
                for _, e in by_type.get(ProposalType.remove, [])
                if e.proposal.remove is not None and 0 <= e.proposal.remove.removed < tree.n_leaves
            ]
            missing = summary.members - summary.proposal_support[t]
            missing -= sum(
                1
                for leaf in removed_caps
                if leaf is not None and t not in {int(p) for p in leaf.capabilities.proposals}
            )
            if missing > 0:
                raise ValidationError(
                    "RFC 9420 §12.2: every member supports the proposal type",
                    f"type {t}",
                    where(entries[0][0]),
                )


def apply_proposals(
    tree: RatchetTree,
    context: GroupContext,
    summary: MemberSummary,
    items: Sequence[ProposalItem],
    committer: Sender,
    policy: ValidationPolicy,
    *,
    psk_usages: Iterable[ResumptionPSKUsage] = (ResumptionPSKUsage.application,),
) -> AppliedProposals:
    """Validate ``items`` as the proposal list of a Commit by ``committer`` (§12.2) and
    apply it (§12.3) to copies of ``tree`` and ``summary``. ``psk_usages``: the
    resumption PSK usages allowed (reinit/branch only in a new group's first commit)."""
    suite = tree.suite
    external = committer.sender_type == SenderType.new_member_commit
    me = _member_leaf(committer)
    by_type: dict[int, list[tuple[int, ProposalItem]]] = {}
    for i, item in enumerate(items):
        by_type.setdefault(int(item.proposal.proposal_type), []).append((i, item))

    def where(i: int) -> str:
        return f"proposals[{i}]"

    check_list_shape(tree, summary, items, by_type, external)
    gce = by_type.get(ProposalType.group_context_extensions, [])

    new = tree.copy()
    new_summary = summary.copy()
    extensions = tuple(context.extensions)
    out = AppliedProposals(new, new_summary, extensions)
    for t in by_type:
        if t in PATH_REQUIRED_TYPES or t not in DEFAULT_PROPOSAL_TYPES:
            # Unknown types: the registry's "path required" is unknown to us, so assume
            # the safe answer.
            out.path_required = True
    if not items:
        out.path_required = True

    # --- GroupContextExtensions first: later checks use the new extensions ---
    if gce:
        i, item = gce[0]
        assert item.proposal.group_context_extensions is not None
        new_ext = tuple(item.proposal.group_context_extensions.extensions)
        check_unique_extensions(new_ext, where(i))
        senders = find_extension(new_ext, ExtensionType.external_senders)
        if senders is not None and senders != find_extension(
            context.extensions, ExtensionType.external_senders
        ):
            # §5.3.1: external senders added or changed are checked like new members.
            for k, es in enumerate(external_senders(new_ext)):
                if not policy.accepts_credential(es.credential, es.signature_key):
                    raise ValidationError(
                        "RFC 9420 §5.3.1: the credential is acceptable",
                        "external sender",
                        f"{where(i)}.external_senders[{k}]",
                    )
        out.extensions = new_ext

    # --- Updates and Removes: one per leaf, none for the committer ---
    claimed: dict[int, int] = {}  # leaf -> the proposal that updates or removes it

    def claim(leaf: int, i: int) -> None:
        if leaf in claimed:
            raise ValidationError(
                "RFC 9420 §12.2: one Update or Remove per leaf",
                f"leaf {leaf} also in proposals[{claimed[leaf]}]",
                where(i),
            )
        claimed[leaf] = i

    for i, item in by_type.get(ProposalType.update, []):
        leaf_index = _member_leaf(item.sender)
        if leaf_index is None:
            raise ValidationError("RFC 9420 §12.1.2: an Update comes from a member", where=where(i))
        if leaf_index == me:
            # By value an Update can only be the committer's own: this refuses it too.
            raise ValidationError("RFC 9420 §12.2: no Update from the committer", where=where(i))
        claim(leaf_index, i)
    removes = by_type.get(ProposalType.remove, [])
    for i, item in removes:
        assert item.proposal.remove is not None
        r = item.proposal.remove.removed
        if not 0 <= r < tree.n_leaves or tree.leaf(r) is None:
            raise ValidationError(
                "RFC 9420 §12.1.3: Remove names a member", f"leaf {r} is blank", where(i)
            )
        if r == me:
            raise ValidationError("RFC 9420 §12.2: no Remove of the committer", where=where(i))
        claim(r, i)

    for i, item in by_type.get(ProposalType.update, []):
        leaf_index = item.sender.leaf_index
        assert leaf_index is not None and item.proposal.update is not None
        old_leaf = tree.leaf(leaf_index)
        if old_leaf is None:
            raise ValidationError("RFC 9420 §12.1.2: an Update comes from a member", where=where(i))
        leaf = item.proposal.update.leaf_node
        if leaf.encryption_key == old_leaf.encryption_key:
            raise ValidationError(
                "RFC 9420 §7.3: an Update's encryption_key differs from the leaf's",
                where=where(i),
            )
        check_successor(old_leaf, leaf, policy, where(i))
        validate_leaf_node(
            suite,
            leaf,
            source=LeafNodeSource.update,
            group_id=context.group_id,
            leaf_index=leaf_index,
            extensions=out.extensions,
            summary=new_summary,
            policy=policy,
            where=where(i),
            replacing=old_leaf,
        )
        _track(new, new_summary, leaf_index, partial(new.update_leaf, leaf_index, leaf))
        out.updated.append(leaf_index)

    for _i, item in removes:
        assert item.proposal.remove is not None
        r = item.proposal.remove.removed
        old_leaf = new.leaf(r)
        assert old_leaf is not None
        _track(new, new_summary, r, partial(new.remove_leaf, r))
        out.removed.append((r, old_leaf))

    if gce:
        # §12.1.7, §11.1: the members the new extensions apply to are those after this
        # Commit: not the removed ones, the updated ones with their new capabilities,
        # and the added ones (each checked as it is added, below).
        i = gce[0][0]
        for ext in out.extensions:
            if not new_summary.all_support_extension(int(ext.extension_type)):
                raise ValidationError(
                    "RFC 9420 §12.1.7: every member supports the new group extensions",
                    f"extension type {int(ext.extension_type)}",
                    where(i),
                )
        required = required_capabilities(out.extensions)
        if required is not None:
            # RFC-required O(N): every member must meet the new required capabilities.
            for m in new.members():
                current = new.leaf(m)
                assert current is not None
                check_required_capabilities(current.capabilities, required, f"leaf {m}")

    # --- Adds, in order ---
    seen_adds: dict[bytes, int] = {}
    hint = 0  # every leaf below it is taken (the adds fill leaves left to right)
    adds = by_type.get(ProposalType.add, [])
    # The KeyPackage and leaf signatures of many Adds are checked ahead on threads;
    # the loop below still decides every error, in order (engine/parallel.py).
    kps = [item.proposal.add.key_package for _, item in adds if item.proposal.add is not None]
    ahead = key_package_checks(kps) if policy.parallelism.worth(2 * len(kps)) else []
    with prechecked(suite, ahead, policy.parallelism):
        for i, item in by_type.get(ProposalType.add, []):
            assert item.proposal.add is not None
            kp = item.proposal.add.key_package
            validate_key_package(suite, kp, where(i))
            sig = kp.leaf_node.signature_key
            if sig in seen_adds:
                raise ValidationError(
                    "RFC 9420 §12.2: no two Adds for the same client",
                    f"same signature key as proposals[{seen_adds[sig]}]",
                    where(i),
                )
            seen_adds[sig] = i
            member = new_summary.signature_keys.get(sig)
            if member is not None:
                # §12.2 (identical signature keys = the same client): Removes are applied
                # before Adds, so a client removed by this same Commit may be re-added.
                raise ValidationError(
                    "RFC 9420 §12.2: no Add for a client already in the group",
                    f"same signature key as leaf {member}",
                    where(i),
                )
            index = new.leftmost_blank_leaf(start=hint)
            if index is None:
                index = new.n_leaves
            validate_leaf_node(
                suite,
                kp.leaf_node,
                source=LeafNodeSource.key_package,
                group_id=context.group_id,
                leaf_index=index,
                extensions=out.extensions,
                summary=new_summary,
                policy=policy,
                where=where(i),
            )
            if new_summary.encryption_keys.get(kp.init_key) is not None:
                raise ValidationError(
                    "RFC 9420 §7.3: keys are unique in the tree", "init_key in use", where(i)
                )
            got = _track_add(new, new_summary, kp.leaf_node, index)
            assert got == index
            hint = index + 1
            out.added.append((index, kp))

    # --- PSKs, in order ---
    psk_ids = []
    for _i, item in by_type.get(ProposalType.psk, []):
        assert item.proposal.psk is not None
        psk_ids.append(item.proposal.psk.psk)
    psk_mod.check_psk_ids(suite, psk_ids, allowed_usages=psk_usages)
    out.psks = psk_ids

    for _i, item in by_type.get(ProposalType.external_init, []):
        assert item.proposal.external_init is not None
        out.external_init = item.proposal.external_init.kem_output
    for i, item in by_type.get(ProposalType.reinit, []):
        assert item.proposal.reinit is not None
        if int(item.proposal.reinit.version) < int(context.version):
            raise ValidationError(
                "RFC 9420 §12.1.5: ReInit does not downgrade the version", where=where(i)
            )
        check_unique_extensions(item.proposal.reinit.extensions, where(i))
        out.reinit = item.proposal.reinit
    for t, entries in by_type.items():
        if t not in DEFAULT_PROPOSAL_TYPES:
            out.custom.extend(e.proposal for _, e in entries)
    return out


def _track(
    tree: RatchetTree, summary: MemberSummary, leaf: int, change: Callable[[], None]
) -> None:
    """Apply ``change`` (which touches ``leaf`` and its direct path) and keep the
    summary in step, looking only at the touched nodes."""
    n = tree.n_leaves
    touched = [2 * leaf, *tm.direct_path(2 * leaf, n)]
    old_values = {x: tree.node(x) for x in touched}
    change()
    width = tree.width
    for x in touched:
        after = tree.node(x) if x < width else None
        if old_values[x] is not after:
            summary.remove_node(x, old_values[x])
            summary.add_node(x, after)


def _track_add(tree: RatchetTree, summary: MemberSummary, leaf_node: LeafNode, start: int) -> int:
    # Adding changes unmerged_leaves above the leaf (keys unchanged) and the leaf itself.
    index = tree.add_leaf(leaf_node, start)
    summary.add_node(2 * index, leaf_node)
    return index


__all__ = [
    "DEFAULT_EXTENSION_TYPES",
    "DEFAULT_PROPOSAL_TYPES",
    "PATH_REQUIRED_TYPES",
    "AppliedProposals",
    "Clock",
    "MemberSummary",
    "ProposalItem",
    "ValidationPolicy",
    "apply_proposals",
    "check_list_shape",
    "check_required_capabilities",
    "check_resync_leaf",
    "check_successor",
    "check_unique_extensions",
    "external_senders",
    "find_extension",
    "required_capabilities",
    "supports_extension",
    "supports_proposal",
    "system_clock",
    "validate_key_package",
    "validate_leaf_node",
]
