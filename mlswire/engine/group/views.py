"""What a member's :class:`Group` and a :class:`PublicGroup` both show of the epoch they
hold: written once, over the public part of the epoch state (``self._state``)."""

from __future__ import annotations

from ...schema import Credential, Extension, GroupContext
from .epoch import PublicEpoch
from .results import Member, ProposalMessage, members_of


class PublicViews:
    """Read-only views of the current epoch's public state."""

    _state: PublicEpoch

    @property
    def group_id(self) -> bytes:
        return self._state.context.group_id

    @property
    def epoch(self) -> int:
        return self._state.context.epoch

    @property
    def cipher_suite(self) -> int:
        return self._state.tree.suite_id

    @property
    def group_context(self) -> GroupContext:
        return self._state.context

    @property
    def tree_hash(self) -> bytes:
        return self._state.context.tree_hash

    @property
    def extensions(self) -> tuple[Extension, ...]:
        return tuple(self._state.context.extensions)

    @property
    def members(self) -> dict[int, Member]:
        """The roster: leaf index -> member, for every non-blank leaf (O(N))."""
        return members_of(self._state.tree)

    def member_by_identity(self, identity: bytes) -> Member | None:
        """The member whose credential carries ``identity`` (basic credentials; O(N))."""
        return next((m for m in self.members.values() if m.identity == identity), None)

    def member_by_credential(self, credential: Credential) -> Member | None:
        """The member with exactly this credential (any credential type; O(N))."""
        return next((m for m in self.members.values() if m.credential == credential), None)

    @property
    def pending_proposals(self) -> tuple[ProposalMessage, ...]:
        """The proposals received (or sent) this epoch, waiting for a commit."""
        return tuple(
            ProposalMessage(item.proposal, item.sender, ref)
            for ref, item in self._state.proposals.items()
        )

    def ratchet_tree(self) -> bytes:
        """The TLS-encoded ``ratchet_tree`` extension data of the current tree."""
        return self._state.tree.encode()
