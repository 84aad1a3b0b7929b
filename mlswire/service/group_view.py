"""The DS's own view of a group: the engine's :class:`PublicGroup`, built from the
creator's GroupInfo and ratchet tree and advanced only by commits it verified.

With it the DS decides on handshakes instead of trusting the sender's word: a proposal
or commit is sequenced only if its signature, epoch, sender and proposal list verify
against the view (:meth:`PublicGroup.process`), and the roster is the set of devices
the tree's leaves name after the commit. What the view cannot check (no group secret:
membership tag, confirmation tag, path ciphertexts) is left to the members, who
recover from a bad commit by rejoining (docs/SERVICE.md, trust model).

The store keeps the view as bytes (:meth:`PublicGroup.to_bytes`) next to the group's
epoch, and calls :meth:`HandshakeCheck.__call__` under the group's row lock, so the
verification and the sequencing are one transaction.
"""

from __future__ import annotations

import collections
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ..engine.group import Member, ProposalMessage, PublicGroup
from ..errors import MLSError
from ..schema import SenderType
from .auth_service import credential_address
from .contract import BadRequest, Forbidden
from .store import Verdict

# address of a leaf the DS is asked to let in, checked against the AS and the DS's
# registered devices; raises a DSError if the leaf is not an AS-certified device here.
Certify = Callable[[Member], str]


def follow(
    group_info: bytes, ratchet_tree: bytes | None, group_id: bytes, policy: Any
) -> PublicGroup:
    """The view of a new group from its creator's GroupInfo (and tree, if not in it),
    checked with the members' engine policy (``CredentialPolicy.engine_policy()``)."""
    try:
        view = PublicGroup.from_group_info(group_info, ratchet_tree, policy=policy)
    except MLSError as e:
        raise BadRequest(f"group_info: refused: {e}") from None
    if view.group_id != group_id:
        raise BadRequest(
            f"group_info: is for group {view.group_id.hex()}, expected {group_id.hex()}"
        )
    return view


def roster(view: PublicGroup) -> tuple[str, ...]:
    """The devices the view's leaves name (a device may hold a stale second leaf)."""
    out: set[str] = set()
    for m in view.members.values():
        address = credential_address(m.credential)
        if address is None:
            raise BadRequest(f"leaf {m.leaf_index}: not an x509 credential of this service")
        out.add(address)
    return tuple(sorted(out))


def check_group_info(view: PublicGroup, data: bytes, what: str) -> None:
    """``data`` must be a GroupInfo of the view's current epoch: the same GroupContext
    (group id, epoch, tree hash, transcript hash, extensions), signed by a member."""
    # The tree is the view's (equal tree hashes), whose credentials were checked when
    # their leaves came in: a since-revoked member does not make the GroupInfo bad.
    policy = replace(view.policy, credential_ok=None)
    try:
        info_view = PublicGroup.from_group_info(data, view.ratchet_tree(), policy=policy)
    except MLSError as e:
        raise BadRequest(f"{what}: refused: {e}") from None
    if info_view.group_context != view.group_context:
        c = info_view.group_context
        raise BadRequest(
            f"{what}: its GroupContext (epoch {c.epoch}) is not the group's after the"
            " verified commit (epoch, tree hash or transcript hash differ)"
        )


class ViewCache:
    """The DS's verified view of each group this process handled last, so that a
    handshake does not decode the whole public state again (a few ms for a group of
    a hundred members, as much as verifying the commit).

    Keyed by the SHA-256 of the state the database holds: a view is used only for
    exactly those bytes (so a commit or proposal through another DS process, or a
    transaction that rolled back, simply misses), and it is taken out while in use
    (the group's row lock serialises its handshakes anyway)."""

    def __init__(self, max_groups: int = 1024) -> None:
        self._views: collections.OrderedDict[bytes, tuple[bytes, PublicGroup]] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()
        self.max_groups = max_groups
        self.hits = self.misses = 0

    def take(self, group_id: bytes, state: bytes, policy: Any) -> PublicGroup:
        """The view of ``state``: the cached one (removed from the cache), else
        decoded from the bytes."""
        digest = hashlib.sha256(state).digest()
        with self._lock:
            entry = self._views.pop(group_id, None)
        if entry is not None and entry[0] == digest:
            self.hits += 1
            return entry[1]
        self.misses += 1
        return PublicGroup.from_bytes(state, policy=policy)

    def put(self, group_id: bytes, state: bytes, view: PublicGroup) -> None:
        """``view`` is the view of ``state`` (the bytes about to be stored)."""
        digest = hashlib.sha256(state).digest()
        with self._lock:
            self._views[group_id] = (digest, view)
            self._views.move_to_end(group_id)
            while len(self._views) > self.max_groups:
                self._views.popitem(last=False)


@dataclass(frozen=True)
class HandshakeCheck:
    """Verify one PublicMessage proposal or commit of ``sender`` against the view."""

    sender: str
    message: bytes
    group_info: bytes | None
    certify: Certify
    policy: Any  # the members' engine ValidationPolicy (CredentialPolicy.engine_policy())
    group_id: bytes = b""
    cache: ViewCache | None = None

    def __call__(self, state: bytes, roster_before: tuple[str, ...]) -> Verdict:
        if self.cache is not None:
            view = self.cache.take(self.group_id, state, self.policy)
        else:
            view = PublicGroup.from_bytes(state, policy=self.policy)
        verdict = self._check(view)
        if self.cache is not None:
            self.cache.put(self.group_id, verdict.public_state, view)
        return verdict

    def _check(self, view: PublicGroup) -> Verdict:
        before = view.members
        try:
            result = view.process(self.message)
        except MLSError as e:
            raise BadRequest(f"message: refused by the DS's view of the group: {e}") from None
        sender = result.sender
        if sender.sender_type == SenderType.member:
            signer = None if sender.leaf_index is None else before.get(sender.leaf_index)
            if signer is None or credential_address(signer.credential) != self.sender:
                raise Forbidden(
                    f"message: signed by leaf {sender.leaf_index}, which is not {self.sender}'s"
                )
        elif sender.sender_type != SenderType.new_member_commit:
            raise BadRequest("message: only members' handshakes and external commits are taken")
        if isinstance(result, ProposalMessage):  # cached in the view for a later commit
            if self.group_info is not None:
                raise BadRequest("group_info goes only with a commit")
            return Verdict(view.to_bytes())
        result.merge()
        after = view.members
        if sender.sender_type == SenderType.new_member_commit:
            joiner = after.get(result.committer_leaf) if result.committer_leaf is not None else None
            if joiner is None or credential_address(joiner.credential) != self.sender:
                raise Forbidden("external commit: its leaf must carry the sending device")
        for index, m in after.items():
            old = before.get(index)
            if old is None or old.signature_key != m.signature_key:
                self.certify(m)  # a new leaf (or a new key): an AS-certified device here
        if self.group_info is not None:
            check_group_info(view, self.group_info, "group_info")
        return Verdict(view.to_bytes(), roster(view), self.group_info)


__all__ = ["HandshakeCheck", "ViewCache", "check_group_info", "follow", "roster"]
