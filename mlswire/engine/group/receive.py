"""A member receiving a message (§6, §12.1, §12.4.2): unprotect it, then hand out the
application data, cache the proposal, or stage the commit. The checks that need no
secret are :mod:`.public`'s; this module adds what needs the member's secrets
(decryption, the membership tag, the path secrets, the new epoch's key schedule and
confirmation tag)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from ...errors import StaleMessageError, StateError
from ...schema import (
    AuthenticatedContent,
    ContentType,
    PrivateMessage,
    ProposalType,
    PublicMessage,
    Sender,
    SenderType,
)
from .. import framing, treekem
from .. import key_schedule as ks
from .. import tree_math as tm
from ..ratchet_tree import RatchetTree
from ..transcript import verify_confirmation_tag
from ._wire import canonical, decode_message
from .epoch import begin_epoch, prune_private
from .public import (
    next_context,
    public_message_key,
    receive_proposal,
    sender_signature_key,
    summary_after,
    validate_commit,
)
from .results import ApplicationMessage, ProposalMessage
from .staged import StagedCommit

if TYPE_CHECKING:
    from .group import Group


def process(
    group: Group, message: bytes, encoding: str
) -> ApplicationMessage | ProposalMessage | StagedCommit:
    message = canonical(message, encoding, group.config.limits)
    pending, output = group._pending, group._pending_output
    if pending is not None and output is not None and message == output.commit:
        pending.merge()
        return pending
    st = group._state
    if st.sent:
        # Our own proposal echoed by the DS: already cached (and, as a
        # PrivateMessage, undecryptable by us: its key was used up when sending).
        ref = st.sent.get(st.suite.hash(message))
        if ref is not None and ref in st.proposals:
            item = st.proposals[ref]
            return ProposalMessage(item.proposal, item.sender, ref)
    msg = decode_message(message, group.config.limits)
    framed = framing.framed_message(msg)
    if isinstance(framed, PrivateMessage) and framed.epoch < group.epoch:
        return _process_past(group, framed)
    group._require("process")
    cs = st.suite
    if isinstance(framed, PublicMessage):
        fc = framed.content
        ac = framing.unprotect_public(
            cs,
            framed,
            group_context=st.context,
            signature_key=lambda sender: public_message_key(st, fc, sender),
            membership_key=st.secrets.membership_key,
        )
        secret_tree = st.secret_tree
    else:
        secret_tree = st.secret_tree
        if framed.content_type != ContentType.application:
            # Handshake messages are staged: consume the key on a copy, kept only if
            # the whole message is accepted.
            secret_tree = secret_tree.copy()
        ac = framing.unprotect_private(
            cs,
            framed,
            group_context=st.context,
            secret_tree=secret_tree,
            sender_data_secret=st.secrets.sender_data_secret,
            signature_key=partial(sender_signature_key, st),
        )
    fc = ac.content
    if fc.content_type == ContentType.application:
        assert fc.application_data is not None and fc.sender.leaf_index is not None
        return ApplicationMessage(
            fc.application_data, fc.sender.leaf_index, fc.authenticated_data, fc.epoch
        )
    if fc.content_type == ContentType.proposal:
        result = receive_proposal(st, ac, group._policy(), group.config)
        st.secret_tree = secret_tree
        return result
    if fc.sender.sender_type == SenderType.member and fc.sender.leaf_index == group.own_leaf_index:
        # Valid, but unusable: we cannot process our own UpdatePath, and the secrets of a
        # commit we cleared are gone.
        raise StaleMessageError(
            "a commit from this member that is not its pending commit "
            "(already merged, cleared, or never created here)"
        )
    return stage_commit(group, ac)


def _process_past(group: Group, framed: PrivateMessage) -> ApplicationMessage:
    if framed.content_type != ContentType.application:
        raise StaleMessageError(
            f"PrivateMessage: epoch {framed.epoch} is too old (the group is at epoch "
            f"{group.epoch}); only application messages of past epochs are kept"
        )
    for past in group._past:
        if past.context.epoch == framed.epoch:
            ac = framing.unprotect_private(
                past.suite,
                framed,
                group_context=past.context,
                secret_tree=past.secret_tree,
                sender_data_secret=past.secrets.sender_data_secret,
                signature_key=partial(sender_signature_key, past),
            )
            fc = ac.content
            assert fc.application_data is not None and fc.sender.leaf_index is not None
            return ApplicationMessage(
                fc.application_data, fc.sender.leaf_index, fc.authenticated_data, fc.epoch
            )
    raise StaleMessageError(
        f"PrivateMessage: epoch {framed.epoch} is too old (the group is at epoch "
        f"{group.epoch} and keeps {group.config.max_past_epochs} past epochs)"
    )


def stage_commit(group: Group, ac: AuthenticatedContent) -> StagedCommit:
    """Validate a received Commit and derive the epoch it creates, without changing the
    group: the public checks (:func:`.public.validate_commit`), then the path secrets,
    the key schedule and the confirmation tag."""
    st = group._state
    cs = st.suite
    commit = ac.content.commit
    assert commit is not None
    sender: Sender = ac.content.sender
    v = validate_commit(st, ac, group._policy(), group.config)
    applied = v.applied
    me = group.own_leaf_index
    removed = me in {i for i, _ in applied.removed}
    private = prune_private(st.private, applied.tree, st.tree)
    if me in applied.updated:
        ref = next(
            (
                it.ref
                for it in v.items
                if it.ref is not None
                and it.proposal.proposal_type == ProposalType.update
                and it.sender.leaf_index == me
            ),
            None,
        )
        sk = st.update_keys.get(ref) if ref is not None else None
        if sk is None:
            raise StateError("a commit applies an Update of ours whose key we do not hold")
        private.keys[tm.leaf_to_node(me)] = sk
    commit_secret: bytes | None = None
    new_tree: RatchetTree = applied.tree
    path = commit.path
    if path is not None:
        if removed:
            # The checks that need no key of the new epoch, as the others make them.
            treekem.check_update_path(
                v.path_base, v.committer, path, st.context.group_id, exclude=v.added
            )
        else:
            processed = treekem.process_update_path(
                v.path_base, v.committer, path, private, v.template, exclude=v.added
            )
            new_tree = processed.tree
            private = processed.private
            commit_secret = processed.commit_secret
    if removed:
        # Nothing of the new epoch is ours to derive (§12.4.2).
        return StagedCommit(group, st, None, applied, sender, v.committer)
    new_context, interim = next_context(st, ac, v, new_tree)
    init_secret = st.secrets.init_secret
    if applied.external_init is not None:
        ext_priv, _ = st.secrets.external_key_pair()
        init_secret = ks.external_init_receiver(cs, ext_priv, applied.external_init)
    secrets = ks.derive_epoch(
        cs, init_secret, new_context, commit_secret, group._psk_secret(applied.psks)
    )
    assert ac.auth.confirmation_tag is not None
    verify_confirmation_tag(
        cs,
        secrets.confirmation_key,
        new_context.confirmed_transcript_hash,
        ac.auth.confirmation_tag,
        "Commit",
    )
    new = begin_epoch(
        group.config,
        new_context,
        new_tree,
        summary_after(v, new_tree),
        private,
        secrets,
        interim,
    )
    return StagedCommit(group, st, new, applied, sender, v.committer)


__all__ = ["process", "stage_commit"]
