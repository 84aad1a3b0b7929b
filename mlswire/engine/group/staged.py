"""A validated commit, not yet applied (stage, then merge: docs/GROUP_ENGINE.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...schema import PreSharedKeyID, Proposal, ReInit, Sender
from ..proposals import AppliedProposals
from .epoch import EpochState
from .results import Member

if TYPE_CHECKING:
    from .group import Group


class StagedCommit:
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
        self._group = group
        self._base = base
        self._new = new
        self._applied = applied
        self.sender = sender
        self.committer_leaf = committer_leaf
        self.merged = False

    @property
    def epoch(self) -> int:
        """The epoch the commit creates."""
        return self._base.context.epoch + 1

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


__all__ = ["StagedCommit"]
