"""The persistent format of a group (DESIGN "Group state and storage").

``Group.to_bytes()`` writes one deterministic CBOR map (RFC 8949 §4.2 core
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

from dataclasses import fields
from typing import TYPE_CHECKING, Any

import cbor2

from ..codecs import tls
from ..crypto.labeled import Rng
from ..errors import DecodeError, MLSError, StateError
from ..schema import (
    GroupContext,
    KeyPackage,
    LeafNode,
    PreSharedKeyID,
    Proposal,
    ReInit,
    Sender,
    SenderType,
)
from . import key_schedule as ks
from . import treekem
from .proposals import AppliedProposals, MemberSummary, ProposalItem
from .ratchet_tree import RatchetTree
from .secret_tree import SecretTree

if TYPE_CHECKING:
    from .group import Client, EpochState, Group

FORMAT = "mlswire-group"
FORMAT_VERSION = 2
_READABLE = (1, 2)

_SECRET_FIELDS = tuple(f.name for f in fields(ks.EpochSecrets) if f.name != "cipher_suite")


def _encode_epoch(st: EpochState) -> dict[str, Any]:
    return {
        "context": tls.encode(st.context, GroupContext),
        "tree": st.tree.encode(),
        "leaf_index": st.private.leaf_index,
        "private_keys": dict(st.private.keys),
        "secrets": {name: getattr(st.secrets, name) for name in _SECRET_FIELDS},
        "secret_tree": st.secret_tree.to_state(),
        "interim": st.interim,
        "proposals": [
            [ref, tls.encode(item.proposal, Proposal), tls.encode(item.sender, Sender)]
            for ref, item in st.proposals.items()
        ],
        "update_keys": dict(st.update_keys),
        "sent": dict(st.sent),
    }


def _decode_epoch(d: dict[str, Any]) -> EpochState:
    from .group import EpochState

    context: GroupContext = tls.decode(d["context"], GroupContext)
    suite = int(context.cipher_suite)
    tree = RatchetTree.decode(suite, d["tree"])
    secrets = ks.EpochSecrets(
        cipher_suite=suite, **{n: bytes(d["secrets"][n]) for n in _SECRET_FIELDS}
    )
    proposals: dict[bytes, ProposalItem] = {}
    for ref, proposal, sender in d["proposals"]:
        proposals[bytes(ref)] = ProposalItem(
            tls.decode(proposal, Proposal), tls.decode(sender, Sender), bytes(ref)
        )
    return EpochState(
        context=context,
        tree=tree,
        summary=MemberSummary.of_tree(tree),
        private=treekem.TreePrivateState(
            int(d["leaf_index"]), {int(k): bytes(v) for k, v in d["private_keys"].items()}
        ),
        secrets=secrets,
        secret_tree=SecretTree.from_state(d["secret_tree"]),
        interim=bytes(d["interim"]),
        proposals=proposals,
        update_keys={bytes(k): bytes(v) for k, v in d["update_keys"].items()},
        sent={bytes(k): bytes(v) for k, v in d["sent"].items()},
    )


def _encode_pending(group: Group) -> dict[str, Any] | None:
    staged, out = group.pending_commit, group.pending_commit_output
    if staged is None or out is None:
        return None
    applied = staged._applied
    assert staged._new is not None  # a commit never removes its committer (§12.2)
    return {
        "commit": out.commit,
        "welcome": out.welcome,
        "group_info": out.group_info,
        "epoch": _encode_epoch(staged._new),
        "added": [[i, tls.encode(kp, KeyPackage)] for i, kp in applied.added],
        "removed": [[i, tls.encode(leaf, LeafNode)] for i, leaf in applied.removed],
        "updated": list(applied.updated),
        "psks": [tls.encode(p, PreSharedKeyID) for p in applied.psks],
        "reinit": None if applied.reinit is None else tls.encode(applied.reinit, ReInit),
        "custom": [tls.encode(p, Proposal) for p in applied.custom],
    }


def _decode_pending(group: Group, d: dict[str, Any]) -> None:
    from .group import CommitOutput, StagedCommit

    new = _decode_epoch(d["epoch"])
    applied = AppliedProposals(
        # The tree, summary and extensions the proposals produced only matter while the
        # commit is built; the staged epoch holds their final form.
        tree=new.tree,
        summary=new.summary,
        extensions=tuple(new.context.extensions),
        added=[(int(i), tls.decode(kp, KeyPackage)) for i, kp in d["added"]],
        removed=[(int(i), tls.decode(leaf, LeafNode)) for i, leaf in d["removed"]],
        updated=[int(i) for i in d["updated"]],
        psks=[tls.decode(p, PreSharedKeyID) for p in d["psks"]],
        reinit=None if d["reinit"] is None else tls.decode(d["reinit"], ReInit),
        custom=[tls.decode(p, Proposal) for p in d["custom"]],
    )
    me = group.own_leaf_index
    sender = Sender(sender_type=SenderType.member, leaf_index=me)
    commit = bytes(d["commit"])
    group._pending = StagedCommit(group, group._state, new, applied, sender, me, commit)
    group._pending_output = CommitOutput(
        commit,
        None if d["welcome"] is None else bytes(d["welcome"]),
        None if d["group_info"] is None else bytes(d["group_info"]),
    )


def encode_group(group: Group) -> bytes:
    doc = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "config": {f.name: getattr(group.config, f.name) for f in fields(group.config)},
        "signature_key": group.client.signature_public_key,
        "active": group.active,
        "inactive_reason": group.inactive_reason,
        "pending_reinit": (
            None if group.pending_reinit is None else tls.encode(group.pending_reinit, ReInit)
        ),
        "resumption_psks": dict(group._resumption),
        "current": _encode_epoch(group._state),
        "past": [_encode_epoch(p) for p in group._past],
        "pending": _encode_pending(group),
    }
    return cbor2.dumps(doc, canonical=True)


def decode_group(data: bytes, client: Client, *, rng: Rng | None = None) -> Group:
    from .group import Group, GroupConfig

    try:
        doc = cbor2.loads(data)
    except Exception as e:  # cbor2 raises several types; all mean "not our format"
        raise DecodeError(f"group state is not CBOR ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise DecodeError("not an mlswire group state", "format")
    version = doc.get("version")
    if version not in _READABLE:
        raise DecodeError(
            f"group state format version {version!r}; this mlswire reads {_READABLE}",
            "version",
        )
    try:
        if doc["signature_key"] != client.signature_public_key:
            raise StateError("the group state belongs to another client (signature key differs)")
        config = GroupConfig(**doc["config"])
        group = Group(
            client,
            config,
            _decode_epoch(doc["current"]),
            rng=rng,
            resumption_psks={int(k): bytes(v) for k, v in doc["resumption_psks"].items()},
            past=[_decode_epoch(p) for p in doc["past"]],
        )
        group.active = bool(doc["active"])
        group.inactive_reason = str(doc["inactive_reason"])
        reinit = doc["pending_reinit"]
        group.pending_reinit = None if reinit is None else tls.decode(reinit, ReInit)
        if doc.get("pending") is not None:
            _decode_pending(group, doc["pending"])
    except MLSError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise DecodeError(f"malformed group state ({type(e).__name__}: {e})") from None
    return group


__all__ = ["FORMAT", "FORMAT_VERSION", "decode_group", "encode_group"]
