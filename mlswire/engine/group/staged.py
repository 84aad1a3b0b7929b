"""A validated commit, not yet applied (stage, then merge: docs/GROUP_ENGINE.md), as a
member holds it (:class:`StagedCommit`) and as a :class:`~.public_group.PublicGroup`
holds it (:class:`PublicStagedCommit`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...schema import GroupContext, PreSharedKeyID, Proposal, ReInit, Sender
from ..proposals import AppliedProposals
from .epoch import EpochState, PublicEpoch
from .results import Member

if TYPE_CHECKING:
    from .group import Group
    from .public_group import PublicGroup


class CommitEffects:
    """What a validated commit does: the members it adds, removes and updates, the PSKs
    and ReInit it commits."""

    def __init__(
        self, epoch: int, applied: AppliedProposals, sender: Sender, committer_leaf: int | None
    ) -> None:
        self.epoch = epoch  # the epoch the commit creates
        self._applied = applied
        self.sender = sender
        self.committer_leaf = committer_leaf
        self.merged = False

    @property
    def added(self) -> tuple[Member, ...]:
        return tuple(
            Member(i, kp.leaf_node.credential, kp.leaf_node.signature_key)
            for i, kp in self._applied.added
        )

    @property
    def removed(self) -> tuple[Member, ...]:
        return tuple(
            Member(i, leaf.credential, leaf.signature_key) for i, leaf in self._applied.removed
        )

    @property
    def updated(self) -> tuple[int, ...]:
        return tuple(self._applied.updated)

    @property
    def psks(self) -> tuple[PreSharedKeyID, ...]:
        return tuple(self._applied.psks)

    @property
    def reinit(self) -> ReInit | None:
        """The committed ReInit, if any: after the merge the group is inactive."""
        return self._applied.reinit

    @property
    def custom_proposals(self) -> tuple[Proposal, ...]:
        """Committed proposals of types unknown to mlswire, carried through for the
        application (every member declared support for their types)."""
        return tuple(self._applied.custom)


class StagedCommit(CommitEffects):
    """A validated Commit, not yet applied: what it will change, and :meth:`merge`."""

    def __init__(
        self,
        group: Group,
        base: EpochState,
        new: EpochState | None,
        applied: AppliedProposals,
        sender: Sender,
        committer_leaf: int | None,
    ) -> None:
        super().__init__(base.context.epoch + 1, applied, sender, committer_leaf)
        self._group = group
        self._base = base
        self._new = new

    @property
    def removes_self(self) -> bool:
        """This commit removes the member processing it: after merge the group is
        inactive."""
        return self._new is None

    @property
    def epoch_authenticator(self) -> bytes | None:
        return None if self._new is None else self._new.secrets.epoch_authenticator

    def merge(self) -> None:
        """Make the new epoch the group's current one (idempotent)."""
        if self.merged:
            return
        self._group._merge(self)
        self.merged = True


class PublicStagedCommit(CommitEffects):
    """A commit a :class:`~.public_group.PublicGroup` validated, not yet applied."""

    def __init__(
        self,
        group: PublicGroup,
        base: PublicEpoch,
        new: PublicEpoch,
        applied: AppliedProposals,
        sender: Sender,
        committer_leaf: int,
    ) -> None:
        super().__init__(base.context.epoch + 1, applied, sender, committer_leaf)
        self._group = group
        self._base = base
        self._new = new

    @property
    def group_context(self) -> GroupContext:
        """The GroupContext of the epoch the commit creates."""
        return self._new.context

    def merge(self) -> None:
        """Make the new epoch the public group's current one (idempotent)."""
        if self.merged:
            return
        self._group._merge(self)
        self.merged = True


__all__ = ["CommitEffects", "PublicStagedCommit", "StagedCommit"]
