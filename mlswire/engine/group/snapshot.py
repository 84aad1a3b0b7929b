"""The persistent format of a group: a :class:`GroupSnapshot` (plain data: the
config, the epochs, the pending commit) to bytes and back. ``Group.to_bytes()`` takes
its snapshot and this module writes it; nothing here knows the ``Group`` class.

The bytes are one deterministic CBOR map (RFC 8949 §4.2 core
deterministic encoding, so equal states give equal bytes)::

    {
      "format": "mlswire-group",
      "version": 2,                      # FORMAT_VERSION; 1 (no "pending") still reads
      "config": {GroupConfig field: value},
      "signature_key": bytes,            # the member's signature public key
      "active": bool, "inactive_reason": text,
      "pending_reinit": bytes / null,    # TLS ReInit committed in this group, if any
      "resumption_psks": {epoch: bytes}, # the kept resumption PSKs (§8.6)
      "current": EPOCH,
      "past": [EPOCH, ...],              # newest first, at most config.max_past_epochs
      "pending": PENDING / null           # our commit not merged yet (new in version 2)
    }
    PENDING = {
      "commit": bytes, "welcome": bytes / null, "group_info": bytes / null,
                                         # the MLSMessages to send (CommitOutput)
      "epoch": EPOCH,                    # the epoch the commit creates
      "added": [[leaf, TLS KeyPackage], ...], "removed": [[leaf, TLS LeafNode], ...],
      "updated": [leaf, ...], "psks": [TLS PreSharedKeyID, ...],
      "reinit": bytes / null, "custom": [TLS Proposal, ...]
                                         # what the commit does (StagedCommit's views)
    }
    EPOCH = {
      "context": bytes,                  # TLS GroupContext
      "tree": bytes,                     # TLS ratchet_tree extension data
      "leaf_index": uint,
      "private_keys": {node index: bytes},   # HPKE private keys held (own direct path)
      "secrets": {name: bytes},          # the epoch's secrets still needed (§9.2: no
                                         # joiner, welcome or encryption secret)
      "secret_tree": map,                # SecretTree.to_state()
      "interim": bytes,                  # interim transcript hash
      "proposals": [[ref, TLS Proposal, TLS Sender], ...],   # cached, in order
      "update_keys": {ref: bytes},       # private keys of our own pending Updates
      "sent": {Hash(message): ref}       # our own proposals, to recognise their echo
    }

Every struct of RFC 9420 is stored in its TLS encoding, through the schema and codec.
Nothing of the client (signature private key, external PSKs, policy) is stored: the
client is passed to ``Group.from_bytes`` (services come in at load time).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Annotated, Any, TypeVar

import cbor2
import msgspec

from ...codecs import tls
from ...errors import DecodeError, MLSError
from ...schema import (
    GroupContext,
    KeyPackage,
    LeafNode,
    PreSharedKeyID,
    Proposal,
    ReInit,
    Sender,
)
from .. import key_schedule as ks
from .. import treekem
from ..proposals import AppliedProposals, ProposalItem
from ..ratchet_tree import RatchetTree
from ..secret_tree import SecretTree
from ..validation import MemberSummary
from .config import GroupConfig
from .epoch import EpochState, PublicEpoch
from .results import CommitOutput

FORMAT = "mlswire-group"
FORMAT_VERSION = 2
_READABLE = (1, 2)
PUBLIC_FORMAT = "mlswire-public-group"
PUBLIC_FORMAT_VERSION = 1

_SECRET_FIELDS = tuple(f.name for f in fields(ks.EpochSecrets) if f.name != "cipher_suite")


@dataclass
class PendingSnapshot:
    """Our commit not merged yet: the epoch it creates, what it does, its messages."""

    epoch: EpochState
    applied: AppliedProposals
    output: CommitOutput


@dataclass
class GroupSnapshot:
    """Everything a group saves (nothing of the client: it is passed in on load)."""

    config: GroupConfig
    signature_key: bytes
    active: bool
    inactive_reason: str
    pending_reinit: ReInit | None
    resumption_psks: dict[int, bytes]
    current: EpochState
    past: list[EpochState]
    pending: PendingSnapshot | None


@dataclass
class PublicGroupSnapshot:
    """What a :class:`~.public_group.PublicGroup` saves (its policy is passed in)."""

    config: GroupConfig
    epoch: PublicEpoch
    pending_reinit: ReInit | None


# The stored document's shape, written from and read into these structs (the format is
# declared here once). On reading, msgspec checks every field's type (and the integers'
# ranges) before anything is built from it, so a corrupted or hostile state fails as a
# DecodeError naming the field, never as a stray exception or a huge allocation
# (``bytes(10**9)``).
_T = TypeVar("_T")
_Index = Annotated[int, msgspec.Meta(ge=0, le=0xFFFFFFFF)]
_Epoch = Annotated[int, msgspec.Meta(ge=0, le=(1 << 63) - 1)]  # msgspec bounds are int64


class _StoredEpoch(msgspec.Struct, forbid_unknown_fields=True):
    context: bytes
    tree: bytes
    leaf_index: _Index
    private_keys: dict[_Index, bytes]
    secrets: dict[str, bytes]
    secret_tree: dict[str, Any]  # SecretTree.from_state checks its own shape
    interim: bytes
    proposals: list[tuple[bytes, bytes, bytes]]
    update_keys: dict[bytes, bytes]
    sent: dict[bytes, bytes]


class _StoredPending(msgspec.Struct, forbid_unknown_fields=True):
    commit: bytes
    welcome: bytes | None
    group_info: bytes | None
    epoch: _StoredEpoch
    added: list[tuple[_Index, bytes]]
    removed: list[tuple[_Index, bytes]]
    updated: list[_Index]
    psks: list[bytes]
    reinit: bytes | None
    custom: list[bytes]


class _StoredGroup(msgspec.Struct, forbid_unknown_fields=True):
    format: str
    version: int
    config: dict[str, Any]
    signature_key: bytes
    active: bool
    inactive_reason: str
    pending_reinit: bytes | None
    resumption_psks: dict[_Epoch, bytes]
    current: _StoredEpoch
    past: list[_StoredEpoch]
    pending: _StoredPending | None = None  # version 2


class _StoredPublicEpoch(msgspec.Struct, forbid_unknown_fields=True):
    context: bytes
    tree: bytes
    interim: bytes
    proposals: list[tuple[bytes, bytes, bytes]]


class _StoredPublicGroup(msgspec.Struct, forbid_unknown_fields=True):
    format: str
    version: int
    config: dict[str, Any]
    pending_reinit: bytes | None
    current: _StoredPublicEpoch


def _store_proposals(cache: dict[bytes, ProposalItem]) -> list[tuple[bytes, bytes, bytes]]:
    return [
        (ref, tls.encode(item.proposal, Proposal), tls.encode(item.sender, Sender))
        for ref, item in cache.items()
    ]


def _load_proposals(stored: list[tuple[bytes, bytes, bytes]]) -> dict[bytes, ProposalItem]:
    return {
        ref: ProposalItem(tls.decode(proposal, Proposal), tls.decode(sender, Sender), ref)
        for ref, proposal, sender in stored
    }


def _store_epoch(st: EpochState) -> _StoredEpoch:
    return _StoredEpoch(
        context=tls.encode(st.context, GroupContext),
        tree=st.tree.encode(),
        leaf_index=st.private.leaf_index,
        private_keys=dict(st.private.keys),
        secrets={name: getattr(st.secrets, name) for name in _SECRET_FIELDS},
        secret_tree=st.secret_tree.to_state(),
        interim=st.interim,
        proposals=_store_proposals(st.proposals),
        update_keys=dict(st.update_keys),
        sent=dict(st.sent),
    )


def _load_epoch(d: _StoredEpoch) -> EpochState:
    context: GroupContext = tls.decode(d.context, GroupContext)
    suite = int(context.cipher_suite)
    tree = RatchetTree.decode(suite, d.tree)
    secrets = ks.EpochSecrets(cipher_suite=suite, **{n: d.secrets[n] for n in _SECRET_FIELDS})
    proposals = _load_proposals(d.proposals)
    return EpochState(
        context=context,
        tree=tree,
        summary=MemberSummary.of_tree(tree),
        private=treekem.TreePrivateState(d.leaf_index, d.private_keys),
        secrets=secrets,
        secret_tree=SecretTree.from_state(d.secret_tree),
        interim=d.interim,
        proposals=proposals,
        update_keys=d.update_keys,
        sent=d.sent,
    )


def _store_pending(p: PendingSnapshot) -> _StoredPending:
    applied, out = p.applied, p.output
    return _StoredPending(
        commit=out.commit,
        welcome=out.welcome,
        group_info=out.group_info,
        epoch=_store_epoch(p.epoch),
        added=[(i, tls.encode(kp, KeyPackage)) for i, kp in applied.added],
        removed=[(i, tls.encode(leaf, LeafNode)) for i, leaf in applied.removed],
        updated=list(applied.updated),
        psks=[tls.encode(x, PreSharedKeyID) for x in applied.psks],
        reinit=None if applied.reinit is None else tls.encode(applied.reinit, ReInit),
        custom=[tls.encode(x, Proposal) for x in applied.custom],
    )


def _load_pending(d: _StoredPending) -> PendingSnapshot:
    new = _load_epoch(d.epoch)
    applied = AppliedProposals(
        # The tree, summary and extensions the proposals produced only matter while the
        # commit is built; the staged epoch holds their final form.
        tree=new.tree,
        summary=new.summary,
        extensions=tuple(new.context.extensions),
        added=[(i, tls.decode(kp, KeyPackage)) for i, kp in d.added],
        removed=[(i, tls.decode(leaf, LeafNode)) for i, leaf in d.removed],
        updated=list(d.updated),
        psks=[tls.decode(x, PreSharedKeyID) for x in d.psks],
        reinit=None if d.reinit is None else tls.decode(d.reinit, ReInit),
        custom=[tls.decode(x, Proposal) for x in d.custom],
    )
    return PendingSnapshot(new, applied, CommitOutput(d.commit, d.welcome, d.group_info))


def encode_snapshot(snap: GroupSnapshot) -> bytes:
    stored = _StoredGroup(
        format=FORMAT,
        version=FORMAT_VERSION,
        config={f.name: getattr(snap.config, f.name) for f in fields(snap.config)},
        signature_key=snap.signature_key,
        active=snap.active,
        inactive_reason=snap.inactive_reason,
        pending_reinit=(
            None if snap.pending_reinit is None else tls.encode(snap.pending_reinit, ReInit)
        ),
        resumption_psks=dict(snap.resumption_psks),
        current=_store_epoch(snap.current),
        past=[_store_epoch(p) for p in snap.past],
        pending=None if snap.pending is None else _store_pending(snap.pending),
    )
    doc = msgspec.to_builtins(stored, builtin_types=(bytes,))
    return cbor2.dumps(doc, canonical=True)


def _read_document(data: bytes, fmt: str, readable: tuple[int, ...]) -> dict[Any, Any]:
    try:
        doc = cbor2.loads(data)
    except Exception as e:  # cbor2 raises several types; all mean "not our format"
        raise DecodeError(f"group state is not CBOR ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        raise DecodeError(f"not an {fmt} state", "format")
    version = doc.get("version")
    if version not in readable:
        raise DecodeError(
            f"group state format version {version!r}; this mlswire reads {readable}",
            "version",
        )
    return doc


def _convert(doc: object, kind: type[_T], where: str = "") -> _T:
    try:
        return msgspec.convert(doc, kind)
    except msgspec.ValidationError as e:
        raise DecodeError(f"malformed group state: {e}", where) from None


def decode_snapshot(data: bytes) -> GroupSnapshot:
    stored = _convert(_read_document(data, FORMAT, _READABLE), _StoredGroup)
    config = _convert(stored.config, GroupConfig, "config")
    try:
        reinit = stored.pending_reinit
        return GroupSnapshot(
            config=config,
            signature_key=stored.signature_key,
            active=stored.active,
            inactive_reason=stored.inactive_reason,
            pending_reinit=None if reinit is None else tls.decode(reinit, ReInit),
            resumption_psks=stored.resumption_psks,
            current=_load_epoch(stored.current),
            past=[_load_epoch(p) for p in stored.past],
            pending=None if stored.pending is None else _load_pending(stored.pending),
        )
    except MLSError:
        raise
    except (KeyError, TypeError, ValueError) as e:  # e.g. a secret missing
        raise DecodeError(f"malformed group state ({type(e).__name__}: {e})") from None


def encode_public_snapshot(snap: PublicGroupSnapshot) -> bytes:
    st = snap.epoch
    reinit = snap.pending_reinit
    stored = _StoredPublicGroup(
        format=PUBLIC_FORMAT,
        version=PUBLIC_FORMAT_VERSION,
        config={f.name: getattr(snap.config, f.name) for f in fields(snap.config)},
        pending_reinit=None if reinit is None else tls.encode(reinit, ReInit),
        current=_StoredPublicEpoch(
            context=tls.encode(st.context, GroupContext),
            tree=st.tree.encode(),
            interim=st.interim,
            proposals=_store_proposals(st.proposals),
        ),
    )
    return cbor2.dumps(msgspec.to_builtins(stored, builtin_types=(bytes,)), canonical=True)


def decode_public_snapshot(data: bytes) -> PublicGroupSnapshot:
    doc = _read_document(data, PUBLIC_FORMAT, (PUBLIC_FORMAT_VERSION,))
    stored = _convert(doc, _StoredPublicGroup)
    config = _convert(stored.config, GroupConfig, "config")
    try:
        d = stored.current
        context: GroupContext = tls.decode(d.context, GroupContext)
        tree = RatchetTree.decode(int(context.cipher_suite), d.tree)
        epoch = PublicEpoch(
            context=context,
            tree=tree,
            summary=MemberSummary.of_tree(tree),
            interim=d.interim,
            proposals=_load_proposals(d.proposals),
        )
        reinit = stored.pending_reinit
        return PublicGroupSnapshot(
            config, epoch, None if reinit is None else tls.decode(reinit, ReInit)
        )
    except MLSError:
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise DecodeError(f"malformed group state ({type(e).__name__}: {e})") from None


__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "PUBLIC_FORMAT",
    "PUBLIC_FORMAT_VERSION",
    "GroupSnapshot",
    "PendingSnapshot",
    "PublicGroupSnapshot",
    "decode_public_snapshot",
    "decode_snapshot",
    "encode_public_snapshot",
    "encode_snapshot",
]
