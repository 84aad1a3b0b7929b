"""What the engine hands back: members, commit outputs, received messages, held
KeyPackages (plain frozen values, like h11's events)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...schema import Credential, KeyPackage, Proposal, Sender
from ..ratchet_tree import RatchetTree


@dataclass(frozen=True)
class Member:
    """A member as seen in the tree."""

    leaf_index: int
    credential: Credential
    signature_key: bytes

    @property
    def identity(self) -> bytes | None:
        """The identity of a basic credential (None for other credential types)."""
        return self.credential.identity


@dataclass(frozen=True)
class CommitOutput:
    """What a commit produces: the Commit MLSMessage for the group, the Welcome for new
    members (if any) and a signed GroupInfo MLSMessage (for external joiners)."""

    commit: bytes
    welcome: bytes | None
    group_info: bytes | None


@dataclass(frozen=True)
class ApplicationMessage:
    data: bytes
    sender: int
    authenticated_data: bytes = b""
    epoch: int = 0


@dataclass(frozen=True)
class ProposalMessage:
    """A received proposal, now cached for the next commit of this epoch."""

    proposal: Proposal
    sender: Sender
    ref: bytes


@dataclass(frozen=True)
class KeyPackageSecrets:
    """A KeyPackage this client made or registered and its private keys, held until a
    Welcome uses it (§10, §9.2: then deleted)."""

    key_package: KeyPackage
    init_private_key: bytes = field(repr=False)
    encryption_private_key: bytes = field(repr=False)


def members_of(tree: RatchetTree) -> dict[int, Member]:
    """Leaf index -> member, for every non-blank leaf of ``tree`` (O(N))."""
    out: dict[int, Member] = {}
    for i in tree.members():
        leaf = tree.leaf(i)
        assert leaf is not None
        out[i] = Member(i, leaf.credential, leaf.signature_key)
    return out


__all__ = [
    "ApplicationMessage",
    "CommitOutput",
    "KeyPackageSecrets",
    "Member",
    "ProposalMessage",
    "members_of",
]
