"""A group without a member's secrets (OpenMLS ``PublicGroup``, mls-rs
``ExternalGroup``): what a Delivery Service or a monitor embeds to follow a group.

>>> from mlswire.engine.group import Client, PublicGroup
>>> alice, bob = Client.generate(b"alice"), Client.generate(b"bob")
>>> config = GroupConfig(handshake_wire_format="public")
>>> group = alice.create_group(b"team", config=config)
>>> observer = PublicGroup.from_group_info(group.group_info())
>>> out = group.add_members([bob.key_package()])
>>> staged = observer.process(out.commit)
>>> [m.identity for m in staged.added]
[b'bob']
>>> staged.merge(); group.merge_pending_commit()
>>> observer.group_context == group.group_context
True

Started from a GroupInfo (and the ratchet tree, from its extension or out of band), it
verifies and applies PublicMessage proposals and commits, external commits included,
with the member's own public checks (:mod:`.public`): the sender's signature, the
proposal list, the path's leaf, parent hashes and ciphertext counts, the new tree hash
and transcript hashes. What it cannot check, having no secret of the epoch:

* the membership tag of a member's PublicMessage (needs the membership key);
* the confirmation tag of a commit (needs the confirmation key): a commit signed by a
  member but with a wrong confirmation tag is accepted here and refused by the members;
* the path secrets (HPKE ciphertexts) and the derived path keys;
* PSK values, and an external commit's ExternalInit KEM output;
* anything in a PrivateMessage (it is refused with a :class:`StateError`).

It cannot produce a GroupInfo either: that needs a member's signature key and the
epoch's confirmation key and ``external_pub``. Persist it with :meth:`to_bytes`.
"""

from __future__ import annotations

from dataclasses import replace as dc_replace

from ...crypto.suites import cipher_suite
from ...errors import CryptoError, StateError, UsageError
from ...schema import ContentType, Extension, GroupContext, GroupInfo, PublicMessage, ReInit
from .. import framing, treekem
from ..transcript import interim_transcript_hash
from ..validation import ValidationPolicy
from ..welcome import verify_group_info
from ._wire import canonical, decode_message
from .config import GroupConfig
from .epoch import PublicEpoch
from .group_info import check_joined_group, read_group_info, tree_and_signer
from .public import (
    next_context,
    public_message_key,
    receive_proposal,
    summary_after,
    validate_commit,
)
from .results import Member, ProposalMessage, members_of
from .snapshot import PublicGroupSnapshot, decode_public_snapshot, encode_public_snapshot
from .staged import PublicStagedCommit


class PublicGroup:
    """The public state of a group (tree, GroupContext, transcript, proposals), kept
    in step with the group by the PublicMessages it is given."""

    def __init__(
        self,
        epoch: PublicEpoch,
        *,
        config: GroupConfig | None = None,
        policy: ValidationPolicy | None = None,
        pending_reinit: ReInit | None = None,
    ) -> None:
        self.config = config or GroupConfig()
        self.policy = policy or ValidationPolicy()
        self._state = epoch
        # A ReInit was merged: the group has ended (§11.2), nothing more is processed.
        self.pending_reinit = pending_reinit

    @classmethod
    def from_group_info(
        cls,
        group_info: bytes | GroupInfo,
        ratchet_tree: bytes | None = None,
        *,
        config: GroupConfig | None = None,
        policy: ValidationPolicy | None = None,
        encoding: str = "tls",
    ) -> PublicGroup:
        """Start from a GroupInfo (MLSMessage bytes in ``encoding``, or the value) and the
        ratchet tree (its extension, else ``ratchet_tree`` given out of band): the
        GroupInfo's signature and the whole tree are checked as a joiner checks them
        (§12.4.3.1), but for the confirmation tag (no confirmation key here)."""
        config = config or GroupConfig()
        policy = policy or ValidationPolicy()
        if isinstance(group_info, GroupInfo):
            info = group_info
        else:
            info = read_group_info(canonical(group_info, encoding, config.limits), config)
        context = info.group_context
        cs = cipher_suite(int(context.cipher_suite))
        tree, signer = tree_and_signer(info, ratchet_tree, config, "12.4.3")
        try:
            verify_group_info(cs, info, signer.signature_key)
        except CryptoError as e:
            raise CryptoError(f"RFC 9420 §12.4.3: GroupInfo signature does not verify ({e})") from e
        summary = check_joined_group(cs, info, tree, None, policy, "GroupInfo")
        interim = interim_transcript_hash(
            cs, context.confirmed_transcript_hash, info.confirmation_tag
        )
        epoch = PublicEpoch(context=context, tree=tree, summary=summary, interim=interim)
        return cls(epoch, config=config, policy=policy)

    # --- views ----------------------------------------------------------------------------
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

    @property
    def pending_proposals(self) -> tuple[ProposalMessage, ...]:
        return tuple(
            ProposalMessage(item.proposal, item.sender, ref)
            for ref, item in self._state.proposals.items()
        )

    def ratchet_tree(self) -> bytes:
        """The TLS-encoded ``ratchet_tree`` extension data of the current tree."""
        return self._state.tree.encode()

    # --- processing -----------------------------------------------------------------------
    def process(
        self, message: bytes, *, encoding: str = "tls"
    ) -> ProposalMessage | PublicStagedCommit:
        """Verify a PublicMessage of the current epoch: a proposal is cached (for a
        later commit by reference) and returned; a commit is staged (``merge()`` it, or
        :meth:`merge`). On any error the state is unchanged."""
        if self.pending_reinit is not None:
            raise UsageError("the group was reinitialized: follow the new group instead")
        message = canonical(message, encoding, self.config.limits)
        framed = framing.framed_message(decode_message(message, self.config.limits))
        if not isinstance(framed, PublicMessage):
            raise StateError("a PublicGroup reads PublicMessages only (it holds no secrets)")
        st = self._state
        fc = framed.content
        ac = framing.unprotect_public(
            st.suite,
            framed,
            group_context=st.context,
            signature_key=lambda sender: public_message_key(st, fc, sender),
            check_membership_tag=False,
        )
        # The member's policy (Group._policy): lifetimes are checked if both say so.
        p = self.policy
        policy = dc_replace(p, check_lifetime=self.config.check_lifetime and p.check_lifetime)
        if ac.content.content_type == ContentType.proposal:
            return receive_proposal(st, ac, policy, self.config)
        commit = ac.content.commit
        assert commit is not None
        v = validate_commit(st, ac, policy, self.config)
        new_tree = v.applied.tree
        if commit.path is not None:
            new_tree = treekem.check_update_path(
                v.path_base, v.committer, commit.path, st.context.group_id, exclude=v.added
            )
        context, interim = next_context(st, ac, v, new_tree)
        new = PublicEpoch(
            context=context, tree=new_tree, summary=summary_after(v, new_tree), interim=interim
        )
        return PublicStagedCommit(self, st, new, v.applied, ac.content.sender, v.committer)

    def merge(self, staged: PublicStagedCommit) -> None:
        """Apply a staged commit (the same as ``staged.merge()``)."""
        staged.merge()

    def _merge(self, staged: PublicStagedCommit) -> None:
        if staged._group is not self or staged._base is not self._state:
            raise UsageError(
                f"the staged commit for epoch {staged.epoch} no longer applies: the group is "
                f"at epoch {self.epoch}"
            )
        self._state = staged._new
        if staged.reinit is not None:
            self.pending_reinit = staged.reinit

    # --- persistence ----------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """The public group's state, versioned (:mod:`.snapshot`); the policy is not
        stored (pass it to :meth:`from_bytes`)."""
        snap = PublicGroupSnapshot(self.config, self._state, self.pending_reinit)
        return encode_public_snapshot(snap)

    @classmethod
    def from_bytes(cls, data: bytes, *, policy: ValidationPolicy | None = None) -> PublicGroup:
        snap = decode_public_snapshot(data)
        return cls(
            snap.epoch, config=snap.config, policy=policy, pending_reinit=snap.pending_reinit
        )


__all__ = ["PublicGroup", "PublicStagedCommit"]
