"""One member's group (RFC 9420 §8-§12): the core :class:`Group`, whose operations live
in modules named after them (:mod:`.creation`, :mod:`.receive`, :mod:`.commit`,
:mod:`.external`, :mod:`.resumption`), as OpenMLS spreads ``impl MlsGroup`` over files.

>>> from mlswire.engine.group import Client
>>> alice, bob = Client.generate(b"alice"), Client.generate(b"bob")
>>> group = alice.create_group(b"team")
>>> out = group.add_members([bob.key_package()])
>>> group.merge_pending_commit()
>>> bob_group = bob.join_group(out.welcome)
>>> bob_group.process(group.encrypt(b"hi")).data
b'hi'
>>> group.epoch_authenticator == bob_group.epoch_authenticator
True

Stage, then merge: :meth:`Group.process` of a Commit returns a :class:`StagedCommit`;
the group changes only when it is merged. Own commits are pending until
:meth:`Group.merge_pending_commit` (or until the Delivery Service echoes them back to
:meth:`Group.process`). Any message that is rejected raises an
:class:`~mlswire.errors.MLSError` and leaves the group's state (``to_bytes()``)
exactly as it was.

Cost per commit: the tree is staged on a copy (two list copies, O(N) pointer copies
but no hashing or crypto), tree hashes are recomputed along the changed paths only,
and the checks the RFC states over "all members" are answered from
:class:`~mlswire.engine.proposals.MemberSummary` counters kept in step with changed
leaves. What remains O(N) is what the RFC itself makes O(N): the ratchet tree carried
in a Welcome / GroupInfo, validating the whole tree when joining, and a
GroupContextExtensions proposal that adds required_capabilities (every member's leaf
is checked).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace as dc_replace
from typing import TYPE_CHECKING

from ...crypto.primitives import Rng
from ...errors import StateError, UsageError
from ...schema import (
    Credential,
    Extension,
    GroupContext,
    KeyPackage,
    LeafNode,
    PreSharedKeyID,
    Proposal,
    PSKType,
    ReInit,
    ResumptionPSKUsage,
    Sender,
    WireFormat,
)
from .. import framing, treekem
from .. import psk as psk_mod
from ..transcript import confirmation_tag
from ..validation import ValidationPolicy, validate_key_package
from . import commit as commit_mod
from . import receive, resumption, send
from ._wire import (
    add_proposal,
    group_context_extensions_proposal,
    psk_proposal,
    random_bytes,
    remove_proposal,
)
from .config import GroupConfig
from .epoch import EpochState, past_epoch_secrets
from .group_info import group_info_message, signed_group_info
from .lifecycle import GroupStatus, require
from .results import ApplicationMessage, CommitOutput, Member, ProposalMessage, members_of
from .snapshot import GroupSnapshot, PendingSnapshot, decode_snapshot, encode_snapshot
from .staged import StagedCommit

if TYPE_CHECKING:
    from .client import Client


class Group:
    """One member's view of an MLS group (RFC 9420 §8-§12).

    >>> from mlswire.engine.group import Client
    >>> a, b, c = (Client.generate(n) for n in (b"a", b"b", b"c"))
    >>> ga = a.create_group(b"team")
    >>> out = ga.add_members([b.key_package(), c.key_package()])
    >>> ga.merge_pending_commit()
    >>> gb, gc = b.join_group(out.welcome), c.join_group(out.welcome)
    >>> update = gc.update()                  # c refreshes its path (pending for c)
    >>> staged = gb.process(update.commit)    # b stages it: nothing changed yet
    >>> staged.epoch, gb.epoch
    (2, 1)
    >>> staged.merge(); ga.process(update.commit).merge()
    >>> gc.process(update.commit).merged      # the DS echoes c's commit: c merges
    True
    >>> len({g.epoch_authenticator for g in (ga, gb, gc)})
    1
    >>> ga.process(gb.encrypt(b"hello")).data
    b'hello'
    >>> restored = Group.from_bytes(gb.to_bytes(), b)
    >>> restored.export_secret(b"label", b"", 16) == ga.export_secret(b"label", b"", 16)
    True
    """

    def __init__(
        self,
        client: Client,
        config: GroupConfig,
        state: EpochState,
        *,
        rng: Rng | None = None,
        resumption_psks: dict[int, bytes] | None = None,
        past: list[EpochState] | None = None,
    ) -> None:
        self.client = client
        self.config = config
        self._state = state
        self._rng = rng
        self._resumption: dict[int, bytes] = dict(resumption_psks or {})
        self._resumption[state.context.epoch] = state.secrets.resumption_psk
        self._past: list[EpochState] = list(past or [])
        self._pending: StagedCommit | None = None
        # The messages of our pending commit: its echo is recognised by them, and the
        # application may have to send them again after a restart.
        self._pending_output: CommitOutput | None = None
        # Resumption PSKs of other groups, for the first commit of a reinit/branch.
        self._foreign_psks: dict[tuple[bytes, int], bytes] = {}
        self.pending_reinit: ReInit | None = None
        # REMOVED or REINIT once the group has ended for this member (lifecycle.py).
        self._ended: GroupStatus | None = None
        self.inactive_reason = ""
        client._groups[state.context.group_id] = self
        if client.signature_public_key != self._own_leaf().signature_key:
            raise UsageError("the client's signature key is not the one of its leaf")

    # --- lifecycle (the table is in lifecycle.py) -----------------------------------------
    @property
    def status(self) -> GroupStatus:
        if self._ended is not None:
            return self._ended
        return GroupStatus.PENDING_COMMIT if self._pending is not None else GroupStatus.OPERATIONAL

    @property
    def active(self) -> bool:
        """The group is still usable (not removed, no ReInit merged)."""
        return self._ended is None

    def _require(self, operation: str) -> None:
        require(self.status, operation, self.inactive_reason)

    def _end(self, status: GroupStatus, reason: str) -> None:
        self._ended = status
        self.inactive_reason = reason

    # --- read-only views -----------------------------------------------------------------
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
    def epoch_authenticator(self) -> bytes:
        return self._state.secrets.epoch_authenticator

    @property
    def tree_hash(self) -> bytes:
        return self._state.context.tree_hash

    @property
    def own_leaf_index(self) -> int:
        return self._state.private.leaf_index

    @property
    def extensions(self) -> tuple[Extension, ...]:
        return tuple(self._state.context.extensions)

    @property
    def members(self) -> dict[int, Member]:
        """Leaf index -> member, for every non-blank leaf (O(N))."""
        return members_of(self._state.tree)

    def member_by_identity(self, identity: bytes) -> Member | None:
        """The member whose credential carries ``identity`` (basic credentials; O(N))."""
        return next((m for m in self.members.values() if m.identity == identity), None)

    def member_by_credential(self, credential: Credential) -> Member | None:
        """The member with exactly this credential (any credential type; O(N))."""
        return next((m for m in self.members.values() if m.credential == credential), None)

    @property
    def pending_proposals(self) -> tuple[ProposalMessage, ...]:
        return tuple(
            ProposalMessage(item.proposal, item.sender, ref)
            for ref, item in self._state.proposals.items()
        )

    def ratchet_tree(self) -> bytes:
        """The TLS-encoded ``ratchet_tree`` extension data of the current tree."""
        return self._state.tree.encode()

    def group_info(self, *, ratchet_tree: bool | None = None) -> bytes:
        """A signed GroupInfo MLSMessage of the current epoch (§12.4.3), with
        ``external_pub`` (per config) and the ratchet tree (default: per config), for
        external joiners. The confirmation tag is recomputed as the RFC allows."""
        st = self._state
        cs = st.suite
        with_tree = self.config.ratchet_tree_extension if ratchet_tree is None else ratchet_tree
        info = signed_group_info(
            cs,
            self.client.signature_private_key,
            self.own_leaf_index,
            st.context,
            confirmation_tag(cs, st.secrets.confirmation_key, st.context.confirmed_transcript_hash),
            st.secrets,
            tree=st.tree if with_tree else None,
            external_pub=self.config.external_pub,
            rng=self._rng,
        )
        return group_info_message(info)

    def export_secret(self, label: bytes, context: bytes, length: int) -> bytes:
        """MLS-Exporter(label, context, length) of the current epoch (§8.5)."""
        return self._state.secrets.export(label, context, length)

    def _own_leaf(self) -> LeafNode:
        leaf = self._state.tree.leaf(self._state.private.leaf_index)
        if leaf is None:
            raise StateError("this member's leaf is blank")
        return leaf

    def _policy(self) -> ValidationPolicy:
        p = self.client.policy
        return dc_replace(p, check_lifetime=self.config.check_lifetime and p.check_lifetime)

    # --- PSKs -----------------------------------------------------------------------------
    def psk_lookup(self, psk: PreSharedKeyID) -> bytes | None:
        """The PSK value an id names, if this member holds it: the client's external
        PSKs, and this group's kept resumption PSKs (what ``join_group(...,
        resumed_from=group)`` asks)."""
        if psk.psktype == PSKType.external and psk.psk_id is not None:
            return self.client.external_psks.get(psk.psk_id)
        if psk.psktype == PSKType.resumption and psk.psk_epoch is not None:
            if psk.psk_group_id == self.group_id:
                return self._resumption.get(psk.psk_epoch)
            return self._foreign_psks.get((psk.psk_group_id or b"", psk.psk_epoch))
        return None

    def _psk_secret(self, ids: Sequence[PreSharedKeyID]) -> bytes | None:
        if not ids:
            return None
        return psk_mod.psk_secret(self._state.suite, psk_mod.resolve_psks(ids, self.psk_lookup))

    def _psk_id(self, psk_id: bytes | None, resumption_epoch: int | None) -> PreSharedKeyID:
        nonce = psk_mod.fresh_psk_nonce(self._state.suite, self._rng)
        if resumption_epoch is not None:
            return psk_mod.resumption_psk_id(
                ResumptionPSKUsage.application, self.group_id, resumption_epoch, nonce
            )
        if psk_id is None:
            raise UsageError("give psk_id (external) or resumption_epoch")
        return psk_mod.external_psk_id(psk_id, nonce)

    # --- receiving (receive.py) -----------------------------------------------------------
    def process(
        self, message: bytes, *, encoding: str = "tls"
    ) -> ApplicationMessage | ProposalMessage | StagedCommit:
        """Process one MLSMessage (PublicMessage or PrivateMessage) of this group.

        Returns an :class:`ApplicationMessage`, a :class:`ProposalMessage` (cached for
        the next commit) or a :class:`StagedCommit` (call ``merge()``). Our own pending
        commit echoed back is merged and returned. On any error the state is unchanged.
        ``encoding`` names the encoding the message arrived in (``tls``, ``cbor``,
        ``json``, or a registered codec); it is processed exactly as its TLS form.
        """
        return receive.process(self, message, encoding)

    def _merge(self, staged: StagedCommit) -> None:
        if staged._group is not self or staged._base is not self._state:
            raise UsageError(
                f"the staged commit for epoch {staged.epoch} no longer applies: the group is "
                f"at epoch {self.epoch}"
            )
        old = self._state
        # Whichever commit is merged, ours for this epoch is settled (merged or lost).
        self._set_pending(None, None)
        if staged._new is None:
            self._end(GroupStatus.REMOVED, f"this member was removed in epoch {staged.epoch}")
            return
        new = staged._new
        if self.config.max_past_epochs > 0:
            # §9.2: keep only what decrypting late application messages needs (the
            # secret tree, the sender data secret, the tree for signature keys).
            old.proposals, old.update_keys, old.sent = {}, {}, {}
            old.private = treekem.TreePrivateState(old.private.leaf_index, {})
            old.secrets = past_epoch_secrets(old.secrets)
            self._past.insert(0, old)
            del self._past[self.config.max_past_epochs :]
        self._state = new
        self._resumption[new.context.epoch] = new.secrets.resumption_psk
        horizon = new.context.epoch - self.config.resumption_psk_epochs
        for e in [e for e in self._resumption if e <= horizon]:
            del self._resumption[e]
        if staged._applied.reinit is not None:
            self.pending_reinit = staged._applied.reinit
            self._end(
                GroupStatus.REINIT,
                f"a ReInit was committed in epoch {staged.epoch}: wait for the Welcome of "
                "the new group",
            )

    # --- sending --------------------------------------------------------------------------
    def _sender(self) -> Sender:
        return framing.member_sender(self.own_leaf_index)

    def encrypt(self, data: bytes, *, authenticated_data: bytes = b"") -> bytes:
        """An application message (PrivateMessage MLSMessage bytes). §12.4: a member
        that has pending proposals must commit them first."""
        self._require("encrypt")
        if self._state.proposals:
            raise UsageError(
                "RFC 9420 §12.4: commit the pending proposals before sending application data"
            )
        content = framing.framed_content(
            group_id=self.group_id,
            epoch=self.epoch,
            sender=self._sender(),
            application_data=data,
            authenticated_data=authenticated_data,
        )
        return send.protect(self, send.authenticate(self, content, WireFormat.mls_private_message))

    def _propose(self, proposal: Proposal, update_key: bytes | None = None) -> bytes:
        self._require("propose")
        return send.propose(self, proposal, update_key)

    def propose_add(self, key_package: bytes | KeyPackage) -> bytes:
        proposal = add_proposal(key_package)
        assert proposal.add is not None
        validate_key_package(self._state.suite, proposal.add.key_package, "Add")
        return self._propose(proposal)

    def propose_remove(self, member: int | Member) -> bytes:
        return self._propose(remove_proposal(_leaf_index(member)))

    def propose_update(self) -> bytes:
        """An Update proposal with a fresh leaf HPKE key (kept until a commit applies it)."""
        self._require("propose")
        proposal, private_key = send.update_proposal(self)
        return self._propose(proposal, update_key=private_key)

    def propose_psk(
        self, psk_id: bytes | None = None, *, resumption_epoch: int | None = None
    ) -> bytes:
        """A PreSharedKey proposal for an external PSK the client holds, or for this
        group's resumption PSK of an epoch it keeps."""
        self._require("propose")
        pid = self._psk_id(psk_id, resumption_epoch)
        psk_mod.resolve_psks([pid], self.psk_lookup)
        return self._propose(psk_proposal(pid))

    def propose_group_context_extensions(self, extensions: Sequence[Extension]) -> bytes:
        return self._propose(group_context_extensions_proposal(tuple(extensions)))

    def propose_reinit(
        self,
        group_id: bytes | None = None,
        *,
        suite: int | None = None,
        extensions: Sequence[Extension] = (),
    ) -> bytes:
        """A ReInit proposal (§12.1.5): the group is to restart as a new group."""
        self._require("propose")
        return self._propose(
            resumption.reinit_proposal(self, group_id, suite, extensions, self._rng)
        )

    # --- committing (commit.py) -----------------------------------------------------------
    def commit(
        self,
        proposals: Sequence[Proposal] = (),
        *,
        add: Sequence[bytes | KeyPackage] = (),
        remove: Sequence[int | Member] = (),
        update_path: bool = True,
        authenticated_data: bytes = b"",
    ) -> CommitOutput:
        """Commit ``proposals`` (schema values, by value), Removes of the ``remove``
        members (leaf indices or :class:`Member`), Adds of the ``add`` KeyPackages
        (MLSMessage bytes or values), and every pending proposal of this epoch (by
        reference). A path is included when ``update_path`` or when the RFC requires
        one. The commit is pending until :meth:`merge_pending_commit`."""
        by_value = [
            *proposals,
            *(remove_proposal(_leaf_index(m)) for m in remove),
            *(add_proposal(kp) for kp in add),
        ]
        return commit_mod.create_commit(
            self, by_value, update_path=update_path, authenticated_data=authenticated_data
        )

    def add_members(
        self, key_packages: Sequence[bytes | KeyPackage], *, update_path: bool = False
    ) -> CommitOutput:
        """Commit Add proposals (by value) for ``key_packages`` plus pending proposals."""
        return self.commit(add=key_packages, update_path=update_path)

    def remove_members(self, members: Sequence[int | Member]) -> CommitOutput:
        """Commit Removes of ``members`` (leaf indices, or :class:`Member` values as
        :meth:`member_by_identity` finds them) plus pending proposals."""
        return self.commit(remove=members, update_path=True)

    def update(self) -> CommitOutput:
        """A self-update: an empty Commit with a fresh path (§12.4)."""
        return self.commit((), update_path=True)

    def add_psks(
        self, psk_ids: Sequence[bytes] = (), *, resumption_epochs: Sequence[int] = ()
    ) -> CommitOutput:
        """Commit PreSharedKey proposals (external ids the client holds, or resumption
        PSKs of this group's kept epochs)."""
        self._require("commit")
        ids = [self._psk_id(p, None) for p in psk_ids]
        ids += [self._psk_id(None, e) for e in resumption_epochs]
        return self.commit([psk_proposal(i) for i in ids], update_path=False)

    def update_group_context_extensions(self, extensions: Sequence[Extension]) -> CommitOutput:
        prop = group_context_extensions_proposal(tuple(extensions))
        return self.commit([prop], update_path=True)

    def _set_pending(self, staged: StagedCommit | None, output: CommitOutput | None) -> None:
        self._pending = staged
        self._pending_output = output

    @property
    def pending_commit(self) -> StagedCommit | None:
        """Our commit that awaits :meth:`merge_pending_commit` (or its echo)."""
        return self._pending

    @property
    def pending_commit_output(self) -> CommitOutput | None:
        """The messages of our pending commit, e.g. to send again after a restart."""
        return self._pending_output

    def merge_pending_commit(self) -> None:
        """Apply our own pending commit."""
        self._require("merge_pending")
        assert self._pending is not None
        self._pending.merge()

    def clear_pending_commit(self) -> None:
        """Drop our pending commit (e.g. the DS rejected it)."""
        self._set_pending(None, None)

    def clear_pending_proposals(self) -> None:
        self._state.proposals = {}
        self._state.update_keys = {}

    # --- resumption (resumption.py) -------------------------------------------------------
    def reinit(
        self,
        group_id: bytes | None = None,
        *,
        suite: int | None = None,
        extensions: Sequence[Extension] = (),
    ) -> CommitOutput:
        """Commit a ReInit (alone, §12.2). After the merge this group is inactive and
        :attr:`pending_reinit` holds the parameters; one member then creates the new
        group with :meth:`reinit_successor`."""
        self._require("commit")
        if self._state.proposals:
            raise UsageError(
                "RFC 9420 §12.2: a ReInit is committed alone; commit or clear the pending "
                "proposals first"
            )
        proposal = resumption.reinit_proposal(self, group_id, suite, extensions, self._rng)
        return self.commit([proposal], update_path=False)

    def reinit_successor(
        self,
        key_packages: Sequence[bytes],
        *,
        client: Client | None = None,
        config: GroupConfig | None = None,
    ) -> tuple[Group, CommitOutput]:
        """Create the group a committed ReInit asked for (§11.2): the new group_id,
        suite and extensions, its first commit adding ``key_packages`` (the other
        members' new KeyPackages) with the old group's resumption PSK (usage reinit).
        ``client``: the client to use in the new suite (default: this group's). The
        joiners call ``join_group(welcome, resumed_from=old_group)``."""
        self._require("reinit_successor")
        return resumption.reinit_successor(self, key_packages, client, config)

    def branch(
        self,
        key_packages: Sequence[bytes],
        *,
        group_id: bytes | None = None,
        extensions: Sequence[Extension] | None = None,
        config: GroupConfig | None = None,
    ) -> tuple[Group, CommitOutput]:
        """A subgroup branched from this one (§11.3): a new group with this member and
        ``key_packages``, tied to this group's current epoch by a resumption PSK with
        usage branch. Joiners call ``join_group(welcome, resumed_from=their_group)``."""
        self._require("branch")
        return resumption.successor(
            self,
            self.client,
            group_id if group_id is not None else random_bytes(self._rng, 16),
            tuple(self.extensions if extensions is None else extensions),
            key_packages,
            ResumptionPSKUsage.branch,
            config or self.config,
        )

    # --- persistence (snapshot.py) --------------------------------------------------------
    def _snapshot(self) -> GroupSnapshot:
        pending = None
        if self._pending is not None and self._pending_output is not None:
            assert self._pending._new is not None  # a commit never removes its committer
            pending = PendingSnapshot(
                self._pending._new, self._pending._applied, self._pending_output
            )
        return GroupSnapshot(
            config=self.config,
            signature_key=self.client.signature_public_key,
            active=self.active,
            inactive_reason=self.inactive_reason,
            pending_reinit=self.pending_reinit,
            resumption_psks=dict(self._resumption),
            current=self._state,
            past=list(self._past),
            pending=pending,
        )

    @classmethod
    def _from_snapshot(cls, snap: GroupSnapshot, client: Client, rng: Rng | None) -> Group:
        if snap.signature_key != client.signature_public_key:
            raise UsageError("the group state belongs to another client (signature key differs)")
        group = cls(
            client,
            snap.config,
            snap.current,
            rng=rng,
            resumption_psks=snap.resumption_psks,
            past=snap.past,
        )
        group.pending_reinit = snap.pending_reinit
        if not snap.active:
            ended = GroupStatus.REMOVED if snap.pending_reinit is None else GroupStatus.REINIT
            group._end(ended, snap.inactive_reason)
        if snap.pending is not None:
            me = group.own_leaf_index
            sender = framing.member_sender(me)
            staged = StagedCommit(
                group, group._state, snap.pending.epoch, snap.pending.applied, sender, me
            )
            group._set_pending(staged, snap.pending.output)
        return group

    def to_bytes(self) -> bytes:
        """The whole group state, versioned (see :mod:`mlswire.engine.group.snapshot`),
        our pending commit included."""
        return encode_snapshot(self._snapshot())

    @classmethod
    def from_bytes(cls, data: bytes, client: Client, *, rng: Rng | None = None) -> Group:
        """Load a group saved by :meth:`to_bytes`; ``client`` supplies the signature key
        and PSKs (services are passed in, never stored)."""
        return cls._from_snapshot(decode_snapshot(data), client, rng)


def _leaf_index(member: int | Member) -> int:
    return member.leaf_index if isinstance(member, Member) else member


__all__ = ["Group", "GroupStatus", "StagedCommit"]
