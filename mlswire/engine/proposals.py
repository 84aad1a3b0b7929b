"""Proposals (RFC 9420 §12.1): validating one proposal, validating a committed list
(§12.2) and applying it to a ratchet tree and GroupContext (§12.3).

Everything here is a pure function of its inputs: :func:`apply_proposals` works on a
copy of the tree and returns an :class:`AppliedProposals` describing the new tree and
what changed, so a Commit can be staged and dropped (DESIGN rule 4).

Cost: the checks that the RFC states over "all members" (a new leaf's credential type
is supported by every member, a GroupContextExtensions proposal's extensions are
supported by every member, a non-default proposal type is supported by every member)
are answered from a :class:`MemberSummary` that the group keeps up to date with the
leaves it changes, so a commit does not rescan the tree. Key uniqueness (§7.3) uses
the same summary.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial

from ..codecs import tls
from ..crypto import labeled
from ..crypto.suites import CipherSuite
from ..errors import CryptoError, DecodeError, ValidationError
from ..schema import (
    Capabilities,
    Credential,
    Extension,
    ExtensionType,
    ExternalSender,
    GroupContext,
    KeyPackage,
    KeyPackageTBS,
    LeafNode,
    LeafNodeSource,
    PreSharedKeyID,
    Proposal,
    ProposalType,
    ProtocolVersion,
    ReInit,
    RequiredCapabilities,
    ResumptionPSKUsage,
    Sender,
    SenderType,
)
from . import psk as psk_mod
from . import tree_math as tm
from .ratchet_tree import RatchetTree
from .tree_validation import verify_leaf_signature
from .versioned import VersionedDict

DEFAULT_PROPOSAL_TYPES = frozenset(int(p) for p in range(1, 8))
DEFAULT_EXTENSION_TYPES = frozenset(range(1, 6))
# §12.4: proposal types whose presence makes the path mandatory.
PATH_REQUIRED_TYPES = frozenset(
    {
        ProposalType.update,
        ProposalType.remove,
        ProposalType.external_init,
        ProposalType.group_context_extensions,
    }
)

#: A clock returning seconds since the epoch (injectable so tests are reproducible).
Clock = Callable[[], int]


def system_clock() -> int:
    return int(time.time())


# --- extensions -------------------------------------------------------------------------


def find_extension(extensions: Iterable[Extension], ext_type: int) -> Extension | None:
    for ext in extensions:
        if int(ext.extension_type) == ext_type:
            return ext
    return None


def external_senders(extensions: Iterable[Extension]) -> tuple[ExternalSender, ...]:
    """The group's external senders (§12.1.8.1); () without the extension."""
    ext = find_extension(extensions, ExtensionType.external_senders)
    if ext is None:
        return ()
    try:
        value: tuple[ExternalSender, ...] = tls.decode(ext.extension_data, "ExternalSenders")
    except DecodeError as e:
        raise ValidationError(
            "RFC 9420 §12.1.8.1: external_senders decodes", str(e), "GroupContext.extensions"
        ) from None
    return value


def required_capabilities(extensions: Iterable[Extension]) -> RequiredCapabilities | None:
    ext = find_extension(extensions, ExtensionType.required_capabilities)
    if ext is None:
        return None
    try:
        value: RequiredCapabilities = tls.decode(ext.extension_data, RequiredCapabilities)
    except DecodeError as e:
        raise ValidationError(
            "RFC 9420 §11.1: required_capabilities decodes", str(e), "GroupContext.extensions"
        ) from None
    return value


def check_unique_extensions(extensions: Sequence[Extension], where: str) -> None:
    seen: set[int] = set()
    for ext in extensions:
        t = int(ext.extension_type)
        if t in seen:
            raise ValidationError(
                "RFC 9420 §13.4: an extension type appears at most once", f"type {t}", where
            )
        seen.add(t)


def supports_extension(caps: Capabilities, ext_type: int) -> bool:
    return ext_type in DEFAULT_EXTENSION_TYPES or ext_type in {int(e) for e in caps.extensions}


def supports_proposal(caps: Capabilities, p_type: int) -> bool:
    return p_type in DEFAULT_PROPOSAL_TYPES or p_type in {int(p) for p in caps.proposals}


def check_required_capabilities(
    caps: Capabilities, required: RequiredCapabilities | None, where: str
) -> None:
    if required is None:
        return
    rule = "RFC 9420 §11.1: the LeafNode supports the group's required_capabilities"
    for e in required.extension_types:
        if not supports_extension(caps, int(e)):
            raise ValidationError(rule, f"extension type {int(e)} missing", where)
    for p in required.proposal_types:
        if not supports_proposal(caps, int(p)):
            raise ValidationError(rule, f"proposal type {int(p)} missing", where)
    creds = {int(c) for c in caps.credentials}
    for c in required.credential_types:
        if int(c) not in creds:
            raise ValidationError(rule, f"credential type {int(c)} missing", where)


# --- what the group knows about its members, kept incrementally ---------------------------


@dataclass
class MemberSummary:
    """Counts over the current members' leaves, updated per changed leaf (O(1) each)
    so that the §7.3 "all members" checks and key uniqueness cost O(changes), not O(N).

    ``credentials_in_use[t]``: members whose credential has type t.
    ``credential_support[t]``: members listing t in capabilities.credentials.
    ``extension_support[t]`` / ``proposal_support[t]``: members supporting non-default t.
    ``signature_keys``: signature key -> leaf index. ``encryption_keys``: HPKE public
    key -> node index, for every non-blank node (leaves and parents).
    """

    members: int = 0
    credentials_in_use: Counter[int] = field(default_factory=Counter)
    credential_support: Counter[int] = field(default_factory=Counter)
    extension_support: Counter[int] = field(default_factory=Counter)
    proposal_support: Counter[int] = field(default_factory=Counter)
    signature_keys: VersionedDict[bytes, int] = field(default_factory=VersionedDict)
    encryption_keys: VersionedDict[bytes, int] = field(default_factory=VersionedDict)

    @classmethod
    def of_tree(cls, tree: RatchetTree) -> MemberSummary:
        summary = cls()
        for x, value in enumerate(tree.nodes()):
            summary.add_node(x, value)
        return summary

    def copy(self) -> MemberSummary:
        return MemberSummary(
            self.members,
            Counter(self.credentials_in_use),
            Counter(self.credential_support),
            Counter(self.extension_support),
            Counter(self.proposal_support),
            self.signature_keys.copy(),  # O(1): versions (see versioned.py)
            self.encryption_keys.copy(),
        )

    def add_node(self, x: int, value: object) -> None:
        if value is None:
            return
        if isinstance(value, LeafNode):
            self.members += 1
            self.credentials_in_use[int(value.credential.credential_type)] += 1
            caps = value.capabilities
            for c in set(int(c) for c in caps.credentials):
                self.credential_support[c] += 1
            for e in set(int(e) for e in caps.extensions):
                self.extension_support[e] += 1
            for p in set(int(p) for p in caps.proposals):
                self.proposal_support[p] += 1
            self.signature_keys[value.signature_key] = x // 2
        self.encryption_keys[value.encryption_key] = x  # type: ignore[attr-defined]

    def remove_node(self, x: int, value: object) -> None:
        if value is None:
            return
        if isinstance(value, LeafNode):
            self.members -= 1
            self.credentials_in_use[int(value.credential.credential_type)] -= 1
            caps = value.capabilities
            for c in set(int(c) for c in caps.credentials):
                self.credential_support[c] -= 1
            for e in set(int(e) for e in caps.extensions):
                self.extension_support[e] -= 1
            for p in set(int(p) for p in caps.proposals):
                self.proposal_support[p] -= 1
            if self.signature_keys.get(value.signature_key) == x // 2:
                del self.signature_keys[value.signature_key]
        key = value.encryption_key  # type: ignore[attr-defined]
        if self.encryption_keys.get(key) == x:
            del self.encryption_keys[key]

    def sync(self, old: RatchetTree, new: RatchetTree, touched: Iterable[int]) -> None:
        """Account for the nodes in ``touched`` changing from ``old`` to ``new``."""
        xs = sorted(set(touched))
        # One tree after the other: old and new are versions of one tree, and reading
        # them in turn would move the shared arrays between them at every node (each
        # move costs the number of nodes in which they differ).
        old_width = old.width
        befores = [old.node(x) if x < old_width else None for x in xs]
        new_width = new.width
        afters = [new.node(x) if x < new_width else None for x in xs]
        for x, before, after in zip(xs, befores, afters, strict=True):
            if before is after or before == after:
                continue
            self.remove_node(x, before)
            self.add_node(x, after)

    def all_support_credential(self, t: int) -> bool:
        return self.credential_support[t] == self.members

    def all_support_extension(self, t: int) -> bool:
        return t in DEFAULT_EXTENSION_TYPES or self.extension_support[t] == self.members

    def all_support_proposal(self, t: int) -> bool:
        return t in DEFAULT_PROPOSAL_TYPES or self.proposal_support[t] == self.members


# --- single LeafNode and KeyPackage validation (§7.3, §10.1) -------------------------------


@dataclass(frozen=True)
class ValidationPolicy:
    """Application policy hooks for validation."""

    #: Check received LeafNodes' lifetimes against ``clock`` (RECOMMENDED by §7.3).
    check_lifetime: bool = True
    clock: Clock = system_clock
    #: The longest total lifetime (``not_after - not_before``, seconds) a received
    #: KeyPackage's LeafNode may have (§7.2: the application defines it). None: any. Peers
    #: differ (ts-mls issues KeyPackages valid until 2^64-1), so there is no default.
    max_lifetime: int | None = None
    #: ``credential_ok(credential, signature_key)``: the credential check of §5.3.1, for
    #: each new or changed LeafNode, each leaf of a joined tree and each external sender
    #: (an AS plugs in here). True to accept; False or a raised ValidationError refuses.
    #: None: any credential.
    credential_ok: Callable[[Credential, bytes], bool] | None = None
    #: ``same_client(old_leaf, new_leaf)``: whether two leaves belong to the same
    #: participant: a leaf and its replacement by an Update or a Commit's path (the new
    #: credential is a valid successor, §5.3.1), an external Commit's new leaf and the old
    #: leaf it removes (§12.2), and the members of a reinitialized or branched group and of
    #: the old group (§12.4.3.1). None: the two credentials must be equal.
    same_client: Callable[[LeafNode, LeafNode], bool] | None = None
    #: ``participating(group_id)``: whether the client already takes part in a group with
    #: this id (§12.4.3.1), for applications that keep groups in storage rather than in
    #: memory. None: the groups this Client object holds, active and alive, are asked.
    participating: Callable[[bytes], bool] | None = None
    #: ``external_proposal_ok(proposal, sender)``: whether a proposal from outside the
    #: group (an external sender or a new_member_proposal) is authorized (§12.1.8: "External
    #: proposals that are not authorized are considered invalid"). None: all are.
    external_proposal_ok: Callable[[Proposal, Sender], bool] | None = None

    def accepts_credential(self, credential: Credential, signature_key: bytes) -> bool:
        return self.credential_ok is None or self.credential_ok(credential, signature_key)

    def missing_clients(
        self, wanted: Sequence[LeafNode], present: Sequence[LeafNode]
    ) -> list[LeafNode]:
        """The leaves of ``wanted`` whose participant has no leaf in ``present``. By
        credential in O(N); with a ``same_client`` hook every pair is asked."""
        hook = self.same_client
        if hook is None:
            credentials = {leaf.credential for leaf in present}
            return [leaf for leaf in wanted if leaf.credential not in credentials]
        return [w for w in wanted if not any(hook(w, p) for p in present)]


def validate_leaf_node(
    suite: CipherSuite,
    leaf: LeafNode,
    *,
    source: LeafNodeSource,
    group_id: bytes,
    leaf_index: int,
    extensions: Sequence[Extension],
    summary: MemberSummary,
    policy: ValidationPolicy,
    where: str,
    replacing: LeafNode | None = None,
) -> None:
    """§7.3 for a LeafNode about to enter the tree at ``leaf_index`` (``replacing`` the
    leaf there, if any). Key uniqueness is checked against the members other than the
    replaced one."""
    if leaf.leaf_node_source != source:
        raise ValidationError(
            "RFC 9420 §7.3: leaf_node_source matches where the LeafNode appears",
            f"{leaf.leaf_node_source!r}, expected {source!r}",
            where,
        )
    if not policy.accepts_credential(leaf.credential, leaf.signature_key):
        raise ValidationError("RFC 9420 §5.3.1: the credential is acceptable", where=where)
    verify_leaf_signature(suite, leaf, group_id, leaf_index)
    caps = leaf.capabilities
    if ProtocolVersion.mls10 not in caps.versions:
        raise ValidationError("RFC 9420 §7.2: capabilities list mls10", where=where)
    if suite.suite_id not in {int(c) for c in caps.cipher_suites}:
        raise ValidationError(
            "RFC 9420 §7.2: capabilities list the group's cipher suite", where=where
        )
    check_required_capabilities(caps, required_capabilities(extensions), where)
    for ext in extensions:
        # §13.4: a LeafNode entering the group supports every GroupContext extension
        # (default types are assumed supported by all, §13.4 / §11.1).
        if not supports_extension(caps, int(ext.extension_type)):
            raise ValidationError(
                "RFC 9420 §13.4: the LeafNode supports every GroupContext extension",
                f"extension type {int(ext.extension_type)}",
                where,
            )
    own_type = int(leaf.credential.credential_type)
    creds = {int(c) for c in caps.credentials}
    if own_type not in creds:
        raise ValidationError(
            "RFC 9420 §7.2: the LeafNode's credential type is in its capabilities", where=where
        )
    # §7.3: every member supports this credential type and this leaf supports every type
    # in use. The replaced leaf (if any) does not count: it is leaving.
    support = summary.credential_support[own_type]
    members = summary.members
    if replacing is not None:
        members -= 1
        if own_type in {int(c) for c in replacing.capabilities.credentials}:
            support -= 1
    if support != members:
        raise ValidationError(
            "RFC 9420 §7.3: every member supports the new LeafNode's credential type",
            f"credential type {own_type}",
            where,
        )
    for t, n in summary.credentials_in_use.items():
        in_use = n - (
            1 if replacing is not None and int(replacing.credential.credential_type) == t else 0
        )
        if in_use > 0 and t not in creds:
            raise ValidationError(
                "RFC 9420 §7.3: the LeafNode supports every credential type in use",
                f"credential type {t}",
                where,
            )
    if policy.check_lifetime and leaf.lifetime is not None:
        now = policy.clock()
        if not leaf.lifetime.not_before <= now <= leaf.lifetime.not_after:
            raise ValidationError("RFC 9420 §7.3: the current time is within lifetime", where=where)
        total = leaf.lifetime.not_after - leaf.lifetime.not_before
        if policy.max_lifetime is not None and total > policy.max_lifetime:
            raise ValidationError(
                "RFC 9420 §7.2: the total lifetime is at most the application's maximum",
                f"{total} s, at most {policy.max_lifetime} s (ValidationPolicy.max_lifetime)",
                where,
            )
    for ext in leaf.extensions:
        if not supports_extension(caps, int(ext.extension_type)):
            raise ValidationError(
                "RFC 9420 §7.3: LeafNode extensions are listed in its capabilities",
                f"extension type {int(ext.extension_type)}",
                where,
            )
    check_unique_extensions(leaf.extensions, where)
    seen = summary.signature_keys.get(leaf.signature_key)
    if seen is not None and seen != leaf_index:
        raise ValidationError(
            "RFC 9420 §7.3: signature_key is unique among the members",
            f"same key as leaf {seen}",
            where,
        )
    seen_node = summary.encryption_keys.get(leaf.encryption_key)
    if seen_node is not None:
        raise ValidationError(
            "RFC 9420 §7.3: encryption_key is unique in the tree",
            f"same key as node {seen_node}",
            where,
        )


def check_successor(old: LeafNode, new: LeafNode, policy: ValidationPolicy, where: str) -> None:
    """§5.3.1: a member's new LeafNode (Update, Commit path) keeps the member's identity:
    its credential is a valid successor of the old one (``policy.same_client``; by default
    the same credential)."""
    if policy.missing_clients([old], [new]):
        raise ValidationError(
            "RFC 9420 §5.3.1: the new credential is a valid successor of the old one",
            where=where,
        )


def check_resync_leaf(
    removed: LeafNode, leaf: LeafNode, policy: ValidationPolicy, where: str
) -> None:
    """§12.2: the path LeafNode of an external Commit that removes a leaf must qualify as
    an Update of that leaf: a new encryption_key, and a credential the application
    accepts for the removed participant (``policy.same_client``; by default the same
    credential)."""
    rule = "RFC 9420 §12.2: an external Commit's Remove replaces the joiner's own old leaf"
    if leaf.encryption_key == removed.encryption_key:
        raise ValidationError(rule, "encryption_key of the removed leaf reused", where)
    if policy.missing_clients([removed], [leaf]):
        raise ValidationError(rule, "the credential is another participant's", where)


def validate_key_package(suite: CipherSuite, kp: KeyPackage, where: str) -> None:
    """§10.1 checks that need no group: version, suite, signature, init_key."""
    if kp.version != ProtocolVersion.mls10:
        raise ValidationError("RFC 9420 §10.1: KeyPackage version is mls10", where=where)
    if int(kp.cipher_suite) != suite.suite_id:
        raise ValidationError(
            "RFC 9420 §10.1: KeyPackage cipher_suite is the group's",
            f"0x{int(kp.cipher_suite):04x}",
            where,
        )
    tbs = tls.encode(
        KeyPackageTBS(
            version=kp.version,
            cipher_suite=kp.cipher_suite,
            init_key=kp.init_key,
            leaf_node=kp.leaf_node,
            extensions=kp.extensions,
        ),
        KeyPackageTBS,
    )
    try:
        labeled.verify_with_label(
            suite, kp.leaf_node.signature_key, "KeyPackageTBS", tbs, kp.signature
        )
    except CryptoError as e:
        raise ValidationError(
            "RFC 9420 §10.1: KeyPackage signature verifies", str(e), where
        ) from None
    if kp.init_key == kp.leaf_node.encryption_key:
        raise ValidationError(
            "RFC 9420 §10.1: init_key differs from the leaf's encryption_key", where=where
        )
    check_unique_extensions(kp.extensions, where)


# --- a committed list ----------------------------------------------------------------------


@dataclass(frozen=True)
class ProposalItem:
    """A proposal as committed: the proposal, who proposed it, and its ProposalRef when
    it came by reference."""

    proposal: Proposal
    sender: Sender
    ref: bytes | None = None


@dataclass
class AppliedProposals:
    tree: RatchetTree
    summary: MemberSummary
    extensions: tuple[Extension, ...]
    added: list[tuple[int, KeyPackage]] = field(default_factory=list)
    removed: list[tuple[int, LeafNode]] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    psks: list[PreSharedKeyID] = field(default_factory=list)
    external_init: bytes | None = None  # kem_output
    reinit: ReInit | None = None
    path_required: bool = False
    touched_leaves: set[int] = field(default_factory=set)
    custom: list[Proposal] = field(default_factory=list)


def _member_leaf(sender: Sender) -> int | None:
    return sender.leaf_index if sender.sender_type == SenderType.member else None


def apply_proposals(
    tree: RatchetTree,
    context: GroupContext,
    summary: MemberSummary,
    items: Sequence[ProposalItem],
    committer: Sender,
    policy: ValidationPolicy,
    *,
    psk_usages: Iterable[ResumptionPSKUsage] = (ResumptionPSKUsage.application,),
) -> AppliedProposals:
    """Validate ``items`` as the proposal list of a Commit by ``committer`` (§12.2) and
    apply it (§12.3) to copies of ``tree`` and ``summary``. ``psk_usages``: the
    resumption PSK usages allowed (reinit/branch only in a new group's first commit)."""
    suite = tree.suite
    external = committer.sender_type == SenderType.new_member_commit
    me = _member_leaf(committer)
    by_type: dict[int, list[tuple[int, ProposalItem]]] = {}
    for i, item in enumerate(items):
        by_type.setdefault(int(item.proposal.proposal_type), []).append((i, item))

    def where(i: int) -> str:
        return f"proposals[{i}]"

    # --- list shape (§12.2) ---
    if external:
        allowed = {ProposalType.external_init, ProposalType.remove, ProposalType.psk}
        for i, item in enumerate(items):
            if item.proposal.proposal_type not in allowed:
                raise ValidationError(
                    "RFC 9420 §12.2: an external Commit holds only ExternalInit, Remove, PSK",
                    f"{item.proposal.proposal_type!r}",
                    where(i),
                )
        if len(by_type.get(ProposalType.external_init, [])) != 1:
            raise ValidationError(
                "RFC 9420 §12.2: an external Commit holds exactly one ExternalInit"
            )
        if len(by_type.get(ProposalType.remove, [])) > 1:
            raise ValidationError("RFC 9420 §12.2: an external Commit holds at most one Remove")
    elif ProposalType.external_init in by_type:
        raise ValidationError(
            "RFC 9420 §12.2: only an external Commit holds ExternalInit",
            where=where(by_type[ProposalType.external_init][0][0]),
        )
    if ProposalType.reinit in by_type and len(items) > 1:
        raise ValidationError(
            "RFC 9420 §12.2: a ReInit is the only proposal of its Commit",
            where=where(by_type[ProposalType.reinit][0][0]),
        )
    gce = by_type.get(ProposalType.group_context_extensions, [])
    if len(gce) > 1:
        raise ValidationError(
            "RFC 9420 §12.2: at most one GroupContextExtensions", where=where(gce[1][0])
        )
    for t, entries in by_type.items():
        if not summary.all_support_proposal(t):
            # §12.2: members added or removed by this commit need not support it; the
            # removed ones are rare enough to recount only in that case.
            removed_caps = [
                tree.leaf(e.proposal.remove.removed)
                for _, e in by_type.get(ProposalType.remove, [])
                if e.proposal.remove is not None and 0 <= e.proposal.remove.removed < tree.n_leaves
            ]
            missing = summary.members - summary.proposal_support[t]
            missing -= sum(
                1
                for leaf in removed_caps
                if leaf is not None and t not in {int(p) for p in leaf.capabilities.proposals}
            )
            if missing > 0:
                raise ValidationError(
                    "RFC 9420 §12.2: every member supports the proposal type",
                    f"type {t}",
                    where(entries[0][0]),
                )

    new = tree.copy()
    new_summary = summary.copy()
    extensions = tuple(context.extensions)
    out = AppliedProposals(new, new_summary, extensions)
    for t in by_type:
        if t in PATH_REQUIRED_TYPES or t not in DEFAULT_PROPOSAL_TYPES:
            # Unknown types: the registry's "path required" is unknown to us, so assume
            # the safe answer.
            out.path_required = True
    if not items:
        out.path_required = True

    # --- GroupContextExtensions first: later checks use the new extensions ---
    if gce:
        i, item = gce[0]
        assert item.proposal.group_context_extensions is not None
        new_ext = tuple(item.proposal.group_context_extensions.extensions)
        check_unique_extensions(new_ext, where(i))
        senders = find_extension(new_ext, ExtensionType.external_senders)
        if senders is not None and senders != find_extension(
            context.extensions, ExtensionType.external_senders
        ):
            # §5.3.1: external senders added or changed are checked like new members.
            for k, es in enumerate(external_senders(new_ext)):
                if not policy.accepts_credential(es.credential, es.signature_key):
                    raise ValidationError(
                        "RFC 9420 §5.3.1: the credential is acceptable",
                        "external sender",
                        f"{where(i)}.external_senders[{k}]",
                    )
        out.extensions = new_ext

    # --- Updates and Removes: one per leaf, none for the committer ---
    claimed: dict[int, int] = {}  # leaf -> the proposal that updates or removes it

    def claim(leaf: int, i: int) -> None:
        if leaf in claimed:
            raise ValidationError(
                "RFC 9420 §12.2: one Update or Remove per leaf",
                f"leaf {leaf} also in proposals[{claimed[leaf]}]",
                where(i),
            )
        claimed[leaf] = i

    for i, item in by_type.get(ProposalType.update, []):
        leaf_index = _member_leaf(item.sender)
        if leaf_index is None:
            raise ValidationError("RFC 9420 §12.1.2: an Update comes from a member", where=where(i))
        if leaf_index == me:
            # By value an Update can only be the committer's own: this refuses it too.
            raise ValidationError("RFC 9420 §12.2: no Update from the committer", where=where(i))
        claim(leaf_index, i)
    removes = by_type.get(ProposalType.remove, [])
    for i, item in removes:
        assert item.proposal.remove is not None
        r = item.proposal.remove.removed
        if not 0 <= r < tree.n_leaves or tree.leaf(r) is None:
            raise ValidationError(
                "RFC 9420 §12.1.3: Remove names a member", f"leaf {r} is blank", where(i)
            )
        if r == me:
            raise ValidationError("RFC 9420 §12.2: no Remove of the committer", where=where(i))
        claim(r, i)

    for i, item in by_type.get(ProposalType.update, []):
        leaf_index = item.sender.leaf_index
        assert leaf_index is not None and item.proposal.update is not None
        old_leaf = tree.leaf(leaf_index)
        if old_leaf is None:
            raise ValidationError("RFC 9420 §12.1.2: an Update comes from a member", where=where(i))
        leaf = item.proposal.update.leaf_node
        if leaf.encryption_key == old_leaf.encryption_key:
            raise ValidationError(
                "RFC 9420 §7.3: an Update's encryption_key differs from the leaf's",
                where=where(i),
            )
        check_successor(old_leaf, leaf, policy, where(i))
        validate_leaf_node(
            suite,
            leaf,
            source=LeafNodeSource.update,
            group_id=context.group_id,
            leaf_index=leaf_index,
            extensions=out.extensions,
            summary=new_summary,
            policy=policy,
            where=where(i),
            replacing=old_leaf,
        )
        _track(new, new_summary, leaf_index, partial(new.update_leaf, leaf_index, leaf))
        out.updated.append(leaf_index)
        out.touched_leaves.add(leaf_index)

    for _i, item in removes:
        assert item.proposal.remove is not None
        r = item.proposal.remove.removed
        old_leaf = new.leaf(r)
        assert old_leaf is not None
        _track(new, new_summary, r, partial(new.remove_leaf, r))
        out.removed.append((r, old_leaf))
        out.touched_leaves.add(r)

    if gce:
        # §12.1.7, §11.1: the members the new extensions apply to are those after this
        # Commit: not the removed ones, the updated ones with their new capabilities,
        # and the added ones (each checked as it is added, below).
        i = gce[0][0]
        for ext in out.extensions:
            if not new_summary.all_support_extension(int(ext.extension_type)):
                raise ValidationError(
                    "RFC 9420 §12.1.7: every member supports the new group extensions",
                    f"extension type {int(ext.extension_type)}",
                    where(i),
                )
        required = required_capabilities(out.extensions)
        if required is not None:
            # RFC-required O(N): every member must meet the new required capabilities.
            for m in new.members():
                current = new.leaf(m)
                assert current is not None
                check_required_capabilities(current.capabilities, required, f"leaf {m}")

    # --- Adds, in order ---
    seen_adds: dict[bytes, int] = {}
    hint = 0  # every leaf below it is taken (the adds fill leaves left to right)
    for i, item in by_type.get(ProposalType.add, []):
        assert item.proposal.add is not None
        kp = item.proposal.add.key_package
        validate_key_package(suite, kp, where(i))
        sig = kp.leaf_node.signature_key
        if sig in seen_adds:
            raise ValidationError(
                "RFC 9420 §12.2: no two Adds for the same client",
                f"same signature key as proposals[{seen_adds[sig]}]",
                where(i),
            )
        seen_adds[sig] = i
        member = new_summary.signature_keys.get(sig)
        if member is not None:
            # §12.2 (identical signature keys = the same client): Removes are applied
            # before Adds, so a client removed by this same Commit may be re-added.
            raise ValidationError(
                "RFC 9420 §12.2: no Add for a client already in the group",
                f"same signature key as leaf {member}",
                where(i),
            )
        index = new.leftmost_blank_leaf(start=hint)
        if index is None:
            index = new.n_leaves
        validate_leaf_node(
            suite,
            kp.leaf_node,
            source=LeafNodeSource.key_package,
            group_id=context.group_id,
            leaf_index=index,
            extensions=out.extensions,
            summary=new_summary,
            policy=policy,
            where=where(i),
        )
        if new_summary.encryption_keys.get(kp.init_key) is not None:
            raise ValidationError(
                "RFC 9420 §7.3: keys are unique in the tree", "init_key in use", where(i)
            )
        got = _track_add(new, new_summary, kp.leaf_node, index)
        assert got == index
        hint = index + 1
        out.added.append((index, kp))
        out.touched_leaves.add(index)

    # --- PSKs, in order ---
    psk_ids = []
    for _i, item in by_type.get(ProposalType.psk, []):
        assert item.proposal.psk is not None
        psk_ids.append(item.proposal.psk.psk)
    psk_mod.check_psk_ids(suite, psk_ids, allowed_usages=psk_usages)
    out.psks = psk_ids

    for _i, item in by_type.get(ProposalType.external_init, []):
        assert item.proposal.external_init is not None
        out.external_init = item.proposal.external_init.kem_output
    for i, item in by_type.get(ProposalType.reinit, []):
        assert item.proposal.reinit is not None
        if int(item.proposal.reinit.version) < int(context.version):
            raise ValidationError(
                "RFC 9420 §12.1.5: ReInit does not downgrade the version", where=where(i)
            )
        check_unique_extensions(item.proposal.reinit.extensions, where(i))
        out.reinit = item.proposal.reinit
    for t, entries in by_type.items():
        if t not in DEFAULT_PROPOSAL_TYPES:
            out.custom.extend(e.proposal for _, e in entries)
    return out


def _track(
    tree: RatchetTree, summary: MemberSummary, leaf: int, change: Callable[[], None]
) -> None:
    """Apply ``change`` (which touches ``leaf`` and its direct path) and keep the
    summary in step, looking only at the touched nodes."""
    n = tree.n_leaves
    touched = [2 * leaf, *tm.direct_path(2 * leaf, n)]
    old_values = {x: tree.node(x) for x in touched}
    change()
    width = tree.width
    for x in touched:
        after = tree.node(x) if x < width else None
        if old_values[x] is not after:
            summary.remove_node(x, old_values[x])
            summary.add_node(x, after)


def _track_add(tree: RatchetTree, summary: MemberSummary, leaf_node: LeafNode, start: int) -> int:
    # Adding changes unmerged_leaves above the leaf (keys unchanged) and the leaf itself.
    index = tree.add_leaf(leaf_node, start)
    summary.add_node(2 * index, leaf_node)
    return index


__all__ = [
    "DEFAULT_EXTENSION_TYPES",
    "DEFAULT_PROPOSAL_TYPES",
    "PATH_REQUIRED_TYPES",
    "AppliedProposals",
    "Clock",
    "MemberSummary",
    "ProposalItem",
    "ValidationPolicy",
    "apply_proposals",
    "check_required_capabilities",
    "check_resync_leaf",
    "check_successor",
    "check_unique_extensions",
    "external_senders",
    "find_extension",
    "required_capabilities",
    "system_clock",
    "validate_key_package",
    "validate_leaf_node",
]
