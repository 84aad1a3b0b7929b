"""Validating what a new member brings (RFC 9420 §7.2-§7.3, §10.1, §5.3.1): the
application's :class:`ValidationPolicy` (where an Authentication Service plugs in),
LeafNode and KeyPackage validation, the extension and capability helpers, and the
:class:`MemberSummary` counters that answer "every member supports ..." without a tree
scan.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

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
    KeyPackage,
    LeafNode,
    LeafNodeSource,
    Proposal,
    ProtocolVersion,
    RequiredCapabilities,
    Sender,
)
from .parallel import Check, Parallelism
from .ratchet_tree import RatchetTree
from .tree_validation import leaf_node_tbs, verify_leaf_signature, without_signature
from .versioned import VersionedDict

DEFAULT_PROPOSAL_TYPES = frozenset(int(p) for p in range(1, 8))
DEFAULT_EXTENSION_TYPES = frozenset(range(1, 6))
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


# The credential, extension and proposal types a Capabilities lists, each type once.
_TypeSets = tuple[frozenset[int], frozenset[int], frozenset[int]]


def _type_sets(caps: Capabilities) -> _TypeSets:
    return (
        frozenset(int(c) for c in caps.credentials),
        frozenset(int(e) for e in caps.extensions),
        frozenset(int(p) for p in caps.proposals),
    )


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
        # The members of a tree mostly share one Capabilities value (a decoded tree
        # shares equal ones, codecs/tls.py): its type sets are made once per value.
        sets: dict[int, tuple[Capabilities, _TypeSets]] = {}
        for x, value in enumerate(tree.nodes()):
            if isinstance(value, LeafNode):
                caps = value.capabilities
                entry = sets.get(id(caps))
                if entry is None or entry[0] is not caps:
                    entry = sets[id(caps)] = (caps, _type_sets(caps))
                summary._add_leaf(x, value, entry[1])
            elif value is not None:
                summary.encryption_keys[value.encryption_key] = x
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
            self._add_leaf(x, value, _type_sets(value.capabilities))
            return
        self.encryption_keys[value.encryption_key] = x  # type: ignore[attr-defined]

    def _add_leaf(self, x: int, value: LeafNode, sets: _TypeSets) -> None:
        self.members += 1
        self.credentials_in_use[int(value.credential.credential_type)] += 1
        credentials, extensions, proposals = sets
        for c in credentials:
            self.credential_support[c] += 1
        for e in extensions:
            self.extension_support[e] += 1
        for p in proposals:
            self.proposal_support[p] += 1
        self.signature_keys[value.signature_key] = x // 2
        self.encryption_keys[value.encryption_key] = x

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
    #: Seconds by which a lifetime may miss the clock and still pass: clocks of sender
    #: and receiver differ, and some stacks (mls-rs) start a KeyPackage's lifetime at the
    #: second it is made, so a receiver running a little behind refused fresh ones.
    clock_skew: int = 300
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
    #: Also refuse what RFC 9420 does not forbid but mlswire once did (docs/VALIDATION.md
    #: marks these rows "beyond, strict-only"): a leaf whose capabilities omit the group's
    #: cipher suite. §7.2 only asks that a leaf be "compatible with the group's
    #: parameters" and spells that out as the required_capabilities check, and groups from
    #: the field have members listing suites 1-6 in a suite-7 group. Off by default.
    strict: bool = False
    #: Threads for independent signature checks (a joined tree's leaves, the KeyPackages
    #: of a commit's Adds): one per core by default; ``Parallelism(threads=1)`` is off.
    #: Errors are the same either way (engine/parallel.py).
    parallelism: Parallelism = field(default_factory=Parallelism)

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


# RFC 9420 §5.1.1: an ECDSA signature key is an uncompressed SEC1 point (0x04 || X || Y),
# by suite id (§17.1: P-256, P-521, P-384).
_ECDSA_POINT_LENGTH = {0x0002: 65, 0x0005: 133, 0x0007: 97}


def check_signature_key_encoding(suite_id: int, key: bytes, where: str) -> None:
    """Name a malformed ECDSA signature key (a compressed point, most often) before a
    signature check would only report "does not verify"."""
    n = _ECDSA_POINT_LENGTH.get(suite_id)
    if n is None or (len(key) == n and key[:1] == b"\x04"):
        return
    compressed = len(key) == 1 + (n - 1) // 2 and key[:1] in (b"\x02", b"\x03")
    raise ValidationError(
        "RFC 9420 §5.1.1: an ECDSA signature_key is an uncompressed point",
        f"a compressed point ({len(key)} bytes)"
        if compressed
        else f"{len(key)} bytes, expected {n} starting 0x04",
        where,
    )


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
    check_signature_key_encoding(suite.suite_id, leaf.signature_key, where)
    verify_leaf_signature(suite, leaf, group_id, leaf_index)
    caps = leaf.capabilities
    if ProtocolVersion.mls10 not in caps.versions:
        raise ValidationError("RFC 9420 §7.2: capabilities list mls10", where=where)
    if policy.strict and suite.suite_id not in {int(c) for c in caps.cipher_suites}:
        raise ValidationError(
            "RFC 9420 §7.2 (strict): capabilities list the group's cipher suite", where=where
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
        now, skew = policy.clock(), policy.clock_skew
        if not leaf.lifetime.not_before - skew <= now <= leaf.lifetime.not_after + skew:
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


def key_package_tbs(kp: KeyPackage) -> bytes:
    """The encoded KeyPackageTBS its signature covers (§10): the KeyPackage's encoding
    (remembered per value by the codec, and needed anyway for its reference and the
    Commit) without its signature field."""
    return without_signature(tls.encode(kp, KeyPackage), kp.signature)


def key_package_checks(kps: Iterable[KeyPackage]) -> list[Check]:
    """The two signatures of each KeyPackage (its own, §10.1, and its LeafNode's, §7.3),
    for checking ahead on threads (engine/parallel.py)."""
    out: list[Check] = []
    for kp in kps:
        leaf = kp.leaf_node
        key = leaf.signature_key
        out.append((key, "KeyPackageTBS", key_package_tbs(kp), kp.signature))
        # A key_package leaf's TBS has no group id or index (§7.2).
        out.append((key, "LeafNodeTBS", leaf_node_tbs(leaf, b"", 0), leaf.signature))
    return out


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
    check_signature_key_encoding(suite.suite_id, kp.leaf_node.signature_key, where)
    try:
        labeled.verify_with_label(
            suite, kp.leaf_node.signature_key, "KeyPackageTBS", key_package_tbs(kp), kp.signature
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


__all__ = [
    "DEFAULT_EXTENSION_TYPES",
    "DEFAULT_PROPOSAL_TYPES",
    "Clock",
    "MemberSummary",
    "ValidationPolicy",
    "check_required_capabilities",
    "check_resync_leaf",
    "check_signature_key_encoding",
    "check_successor",
    "check_unique_extensions",
    "external_senders",
    "find_extension",
    "key_package_checks",
    "key_package_tbs",
    "required_capabilities",
    "supports_extension",
    "supports_proposal",
    "system_clock",
    "validate_key_package",
    "validate_leaf_node",
]
