"""A member sending in its group (§6): sign, then frame as a PublicMessage (with the
membership tag) or encrypt as a PrivateMessage; proposals are cached for our own next
commit and remembered so that their echo is recognised."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...codecs import tls
from ...schema import (
    AuthenticatedContent,
    FramedContent,
    LeafNodeSource,
    MLSMessage,
    Proposal,
    ProposalType,
    Update,
    WireFormat,
)
from .. import framing
from ..proposals import ProposalItem
from .public import proposal_ref

if TYPE_CHECKING:
    from .group import Group


def authenticate(
    group: Group, content: FramedContent, wire_format: WireFormat
) -> AuthenticatedContent:
    st = group._state
    return framing.authenticate(
        st.suite,
        group.client.signature_private_key,
        content,
        wire_format,
        st.context,
        rng=group._rng,
    )


def protect(group: Group, ac: AuthenticatedContent) -> bytes:
    """The MLSMessage bytes of signed content, in the wire format it was signed for."""
    st = group._state
    cs = st.suite
    if ac.wire_format == WireFormat.mls_public_message:
        message = framing.protect_public(
            cs, ac, group_context=st.context, membership_key=st.secrets.membership_key
        )
        return tls.encode(framing.to_mls_message(message), MLSMessage)
    block = group.config.padding_block
    private = framing.protect_private(
        cs,
        ac,
        secret_tree=st.secret_tree,
        sender_data_secret=st.secrets.sender_data_secret,
        padding=framing.pad_to_multiple(block) if block > 0 else framing.no_padding,
        rng=group._rng,
    )
    return framing.private_message_bytes(private)


def propose(group: Group, proposal: Proposal, update_key: bytes | None) -> bytes:
    """A proposal of ours, cached by reference for the next commit of the epoch."""
    st = group._state
    sender = group._sender()
    content = framing.framed_content(
        group_id=group.group_id, epoch=group.epoch, sender=sender, proposal=proposal
    )
    ac = authenticate(group, content, group.config.wire_format)
    ref = proposal_ref(st.suite, ac)
    out = protect(group, ac)
    st.proposals[ref] = ProposalItem(proposal, sender, ref)
    st.sent[st.suite.hash(out)] = ref
    if update_key is not None:
        st.update_keys[ref] = update_key
    return out


def update_proposal(group: Group) -> tuple[Proposal, bytes]:
    """An Update of our leaf with a fresh HPKE key, and that key's private half."""
    sk, pk = group._state.suite.generate_key_pair(group._rng)
    leaf = group.client._leaf_node(
        pk,
        LeafNodeSource.update,
        extensions=group._own_leaf().extensions,
        group_id=group.group_id,
        leaf_index=group.own_leaf_index,
        rng=group._rng,
    )
    return Proposal(proposal_type=ProposalType.update, update=Update(leaf_node=leaf)), sk


__all__ = ["authenticate", "propose", "protect", "update_proposal"]
