"""Per-group settings (:class:`GroupConfig`) and the engine's fixed bounds."""

from __future__ import annotations

from dataclasses import dataclass

from ...limits import (
    DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_MAX_PROPOSALS,
    DEFAULT_MAX_TREE_LEAVES,
    DEFAULT_MAX_VECTOR_ELEMENTS,
    DEFAULT_MAX_VECTOR_LENGTH,
    Limits,
)
from ...schema import WireFormat
from ..secret_tree import DEFAULT_MAX_FORWARD_DISTANCE, DEFAULT_OUT_OF_ORDER_WINDOW

#: The largest uint64 (§7.2 Lifetime.not_after): "never expires".
MAX_LIFETIME = (1 << 64) - 1
#: A new KeyPackage's default lifetime: 90 days.
DEFAULT_LIFETIME = 90 * 24 * 3600
#: Past epochs kept for late application messages. One: a message a member sent just
#: before a commit, delivered just after it, is still read (mls-rs and ts-mls read it
#: too). The cost is forward secrecy for one epoch: the previous epoch's unused
#: application keys and sender data secret stay until the next commit (consumed keys
#: are deleted at once either way, §9.2). 0 drops them at the commit.
DEFAULT_MAX_PAST_EPOCHS = 1


@dataclass(frozen=True)
class GroupConfig:
    """Per-group settings (pure data; saved with the group).

    ``handshake_wire_format``: ``"private"`` (default, PrivateMessage) or ``"public"``
    for proposals and commits. ``ratchet_tree_extension``: put the tree into the
    GroupInfo of Welcomes. ``external_pub``: publish external_pub in GroupInfos.
    ``out_of_order_window`` / ``max_forward_distance``: the secret tree's generation
    window. ``max_past_epochs``: how many earlier epochs' secret trees are kept to
    decrypt late application messages (default 1, see :data:`DEFAULT_MAX_PAST_EPOCHS`;
    0: none). ``resumption_psk_epochs``: how many
    epochs' resumption PSKs are kept. ``padding_block``: pad PrivateMessage plaintexts
    to a multiple of this many bytes (0: no padding). ``check_lifetime``: check
    received LeafNode lifetimes against the clock (RECOMMENDED by §7.3).

    Resource limits (:mod:`mlswire.limits`), each checked before the work it bounds:
    ``max_message_size`` (bytes of one received message, Welcome or GroupInfo),
    ``max_vector_length`` (the largest TLS vector length header accepted),
    ``max_vector_elements`` (the most elements in one TLS vector),
    ``max_tree_leaves`` (leaves of a ratchet tree received at join, or grown by a
    commit), ``max_proposals`` (proposals in one Commit, and proposals cached for the
    next one); ``max_forward_distance`` bounds the generations derived for one message.
    """

    handshake_wire_format: str = "private"
    ratchet_tree_extension: bool = True
    external_pub: bool = True
    out_of_order_window: int = DEFAULT_OUT_OF_ORDER_WINDOW
    max_forward_distance: int = DEFAULT_MAX_FORWARD_DISTANCE
    max_past_epochs: int = DEFAULT_MAX_PAST_EPOCHS
    resumption_psk_epochs: int = 8
    padding_block: int = 0
    check_lifetime: bool = True
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    max_vector_length: int = DEFAULT_MAX_VECTOR_LENGTH
    max_vector_elements: int = DEFAULT_MAX_VECTOR_ELEMENTS
    max_tree_leaves: int = DEFAULT_MAX_TREE_LEAVES
    max_proposals: int = DEFAULT_MAX_PROPOSALS

    def __post_init__(self) -> None:
        if self.handshake_wire_format not in ("private", "public"):
            raise ValueError("handshake_wire_format is 'private' or 'public'")
        if min(self.max_message_size, self.max_vector_length, self.max_vector_elements) < 0:
            raise ValueError("max_message_size and max_vector_* must be >= 0")
        if self.max_tree_leaves < 1 or self.max_proposals < 0:
            raise ValueError("max_tree_leaves must be >= 1 and max_proposals >= 0")

    @property
    def limits(self) -> Limits:
        """The codec-level part of the limits, for decoding received messages."""
        return Limits(self.max_message_size, self.max_vector_length, self.max_vector_elements)

    @property
    def wire_format(self) -> WireFormat:
        if self.handshake_wire_format == "public":
            return WireFormat.mls_public_message
        return WireFormat.mls_private_message


__all__ = ["DEFAULT_LIFETIME", "DEFAULT_MAX_PAST_EPOCHS", "MAX_LIFETIME", "GroupConfig"]
