"""The MLS group engine (RFC 9420 §10-§12): clients, KeyPackages, groups, commits.

A sans-I/O engine: every method takes bytes (MLSMessages) and returns bytes or result
objects; nothing here does I/O. Randomness comes from an injectable ``rng``
(``rng(n) -> n bytes``), so runs are reproducible in tests.

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

Stage, then merge (DESIGN rule 4): :meth:`Group.process` of a Commit returns a
:class:`StagedCommit`; the group changes only when it is merged. Own commits are
pending until :meth:`Group.merge_pending_commit` (or until the Delivery Service echoes
them back to :meth:`Group.process`). Any message that is rejected raises an
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

import os
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from dataclasses import replace as dc_replace
from typing import Any

import msgspec

from ..codecs import get_codec, tls
from ..crypto import labeled
from ..crypto.primitives import Rng
from ..crypto.suites import CipherSuite, cipher_suite
from ..errors import CryptoError, StateError, ValidationError
from ..limits import (
    DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_MAX_PROPOSALS,
    DEFAULT_MAX_TREE_LEAVES,
    DEFAULT_MAX_VECTOR_ELEMENTS,
    DEFAULT_MAX_VECTOR_LENGTH,
    Limits,
)
from ..schema import (
    Add,
    AuthenticatedContent,
    Capabilities,
    Commit,
    ContentType,
    Credential,
    CredentialType,
    Extension,
    ExtensionType,
    ExternalInit,
    ExternalPub,
    ExternalSender,
    FramedContent,
    GroupContext,
    GroupContextExtensions,
    GroupInfo,
    KeyPackage,
    KeyPackageTBS,
    LeafNode,
    LeafNodeSource,
    Lifetime,
    MLSMessage,
    PreSharedKey,
    PreSharedKeyID,
    PrivateMessage,
    Proposal,
    ProposalOrRef,
    ProposalOrRefType,
    ProposalType,
    ProtocolVersion,
    PSKType,
    PublicMessage,
    ReInit,
    Remove,
    ResumptionPSKUsage,
    Sender,
    SenderType,
    Update,
    WireFormat,
)
from ..schema import CipherSuite as SuiteId
from . import framing, treekem
from . import key_schedule as ks
from . import psk as psk_mod
from . import tree_math as tm
from .proposals import (
    AppliedProposals,
    MemberSummary,
    ProposalItem,
    ValidationPolicy,
    apply_proposals,
    check_resync_leaf,
    check_successor,
    check_unique_extensions,
    external_senders,
    find_extension,
    supports_extension,
    validate_key_package,
    validate_leaf_node,
)
from .ratchet_tree import RatchetTree
from .secret_tree import DEFAULT_MAX_FORWARD_DISTANCE, DEFAULT_OUT_OF_ORDER_WINDOW, SecretTree
from .transcript import (
    confirmation_tag,
    confirmed_transcript_hash,
    interim_transcript_hash,
    update_transcript,
    verify_confirmation_tag,
)
from .tree_validation import leaf_node_tbs, validate_tree, verify_leaf_signature
from .welcome import NewMember, create_welcome, key_package_ref, open_welcome, sign_group_info

MAX_LIFETIME = (1 << 64) - 1
DEFAULT_LIFETIME = 90 * 24 * 3600


def _random(rng: Rng | None, n: int) -> bytes:
    return (rng or os.urandom)(n)


# --- configuration and results -------------------------------------------------------------


@dataclass(frozen=True)
class GroupConfig:
    """Per-group settings (pure data; saved with the group).

    ``handshake_wire_format``: ``"private"`` (default, PrivateMessage) or ``"public"``
    for proposals and commits. ``ratchet_tree_extension``: put the tree into the
    GroupInfo of Welcomes. ``external_pub``: publish external_pub in GroupInfos.
    ``out_of_order_window`` / ``max_forward_distance``: the secret tree's generation
    window. ``max_past_epochs``: how many earlier epochs' secret trees are kept to
    decrypt late application messages (0: none). ``resumption_psk_epochs``: how many
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
    max_past_epochs: int = 0
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


@dataclass(frozen=True)
class Member:
    """A member as seen in the tree."""

    leaf_index: int
    credential: Credential
    signature_key: bytes

    @property
    def identity(self) -> bytes | None:
        """The identity of a basic credential (None for other credential types)."""
        return self.credential.identity


@dataclass(frozen=True)
class CommitOutput:
    """What a commit produces: the Commit MLSMessage for the group, the Welcome for new
    members (if any) and a signed GroupInfo MLSMessage (for external joiners)."""

    commit: bytes
    welcome: bytes | None
    group_info: bytes | None


@dataclass(frozen=True)
class ApplicationMessage:
    data: bytes
    sender: int
    authenticated_data: bytes = b""
    epoch: int = 0


@dataclass(frozen=True)
class ProposalMessage:
    """A received proposal, now cached for the next commit of this epoch."""

    proposal: Proposal
    sender: Sender
    ref: bytes


# --- clients -------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyPackageSecrets:
    """A KeyPackage this client made or registered and its private keys, held until a
    Welcome uses it (§10, §9.2: then deleted)."""

    key_package: KeyPackage
    init_private_key: bytes = field(repr=False)
    encryption_private_key: bytes = field(repr=False)


def default_capabilities(suite_id: int) -> Capabilities:
    from ..crypto import SUPPORTED_CIPHER_SUITES

    suites = [suite_id, *(s for s in SUPPORTED_CIPHER_SUITES if s != suite_id)]
    return Capabilities(
        versions=(ProtocolVersion.mls10,),
        cipher_suites=tuple(SuiteId(s) for s in suites),
        extensions=(),
        proposals=(),
        credentials=(CredentialType.basic, CredentialType.x509),
    )


class Client:
    """One MLS client: a signature key pair, a credential, its unused KeyPackages'
    private keys and the external PSKs it holds. Groups are created or joined from it.

    >>> c = Client.generate(b"carol", suite=3)
    >>> len(c.key_package()) > 100
    True
    """

    def __init__(
        self,
        credential: Credential,
        suite: int,
        signature_private_key: bytes,
        signature_public_key: bytes,
        *,
        capabilities: Capabilities | None = None,
        policy: ValidationPolicy | None = None,
    ) -> None:
        self.suite_id = suite
        self.suite: CipherSuite = cipher_suite(suite)
        self.credential = credential
        self.signature_private_key = signature_private_key
        self.signature_public_key = signature_public_key
        self.capabilities = capabilities or default_capabilities(suite)
        self.policy = policy or ValidationPolicy()
        self._key_packages: dict[bytes, KeyPackageSecrets] = {}
        self.external_psks: dict[bytes, bytes] = {}
        # The groups this client holds, by group_id; weak, so a group the application
        # drops is forgotten with it.
        self._groups: weakref.WeakValueDictionary[bytes, Group] = weakref.WeakValueDictionary()

    def participates_in(self, group_id: bytes) -> bool:
        """Whether this client takes part in a group with this id: the policy's
        ``participating`` hook if set, else an active group this client holds."""
        if self.policy.participating is not None:
            return self.policy.participating(group_id)
        group = self._groups.get(group_id)
        return group is not None and group.active

    @property
    def identity(self) -> bytes | None:
        return self.credential.identity

    @classmethod
    def generate(
        cls,
        identity: bytes,
        suite: int = 1,
        *,
        rng: Rng | None = None,
        capabilities: Capabilities | None = None,
    ) -> Client:
        """A client with a fresh signature key pair and a basic credential."""
        cs = cipher_suite(suite)
        sk, pk = cs.signature_key_pair(rng)
        credential = Credential(credential_type=CredentialType.basic, identity=identity)
        return cls(credential, suite, sk, pk, capabilities=capabilities)

    @classmethod
    def from_keys(
        cls,
        identity: bytes | Credential,
        suite: int,
        signature_private_key: bytes,
        signature_public_key: bytes | None = None,
    ) -> Client:
        """A client from an existing signature key (and an identity or credential)."""
        cs = cipher_suite(suite)
        pk = signature_public_key or cs.signature_public_key_from_private(signature_private_key)
        credential = (
            identity
            if isinstance(identity, Credential)
            else Credential(credential_type=CredentialType.basic, identity=identity)
        )
        return cls(credential, suite, signature_private_key, pk)

    def add_external_psk(self, psk_id: bytes, psk: bytes) -> None:
        self.external_psks[psk_id] = psk

    # --- KeyPackages (§10) ----------------------------------------------------------------
    def _leaf_node(
        self,
        encryption_key: bytes,
        source: LeafNodeSource,
        *,
        lifetime: Lifetime | None = None,
        extensions: Sequence[Extension] = (),
        group_id: bytes = b"",
        leaf_index: int = 0,
        rng: Rng | None = None,
    ) -> LeafNode:
        unsigned = LeafNode(
            encryption_key=encryption_key,
            signature_key=self.signature_public_key,
            credential=self.credential,
            capabilities=self.capabilities,
            leaf_node_source=source,
            lifetime=lifetime,
            parent_hash=b"" if source == LeafNodeSource.commit else None,
            extensions=tuple(extensions),
            signature=b"",
        )
        tbs = leaf_node_tbs(unsigned, group_id, leaf_index)
        sig = labeled.sign_with_label(
            self.suite, self.signature_private_key, "LeafNodeTBS", tbs, rng=rng
        )
        return msgspec.structs.replace(unsigned, signature=sig)

    def key_package(
        self,
        *,
        lifetime: int | tuple[int, int] = DEFAULT_LIFETIME,
        extensions: Sequence[Extension] = (),
        leaf_extensions: Sequence[Extension] = (),
        rng: Rng | None = None,
        now: int | None = None,
    ) -> bytes:
        """A new KeyPackage as MLSMessage bytes. ``lifetime`` is seconds from now or
        ``(not_before, not_after)``. The client keeps the init and encryption private
        keys until a Welcome uses the KeyPackage (then they are deleted)."""
        import time

        cs = self.suite
        if isinstance(lifetime, tuple):
            not_before, not_after = lifetime
        else:
            start = int(time.time()) if now is None else now
            not_before, not_after = max(0, start - 3600), min(MAX_LIFETIME, start + lifetime)
        init_sk, init_pk = cs.generate_key_pair(rng)
        enc_sk, enc_pk = cs.generate_key_pair(rng)
        leaf = self._leaf_node(
            enc_pk,
            LeafNodeSource.key_package,
            lifetime=Lifetime(not_before=not_before, not_after=not_after),
            extensions=leaf_extensions,
            rng=rng,
        )
        tbs = KeyPackageTBS(
            version=ProtocolVersion.mls10,
            cipher_suite=SuiteId(self.suite_id),
            init_key=init_pk,
            leaf_node=leaf,
            extensions=tuple(extensions),
        )
        sig = labeled.sign_with_label(
            cs, self.signature_private_key, "KeyPackageTBS", tls.encode(tbs, KeyPackageTBS), rng=rng
        )
        kp = KeyPackage(
            version=tbs.version,
            cipher_suite=tbs.cipher_suite,
            init_key=init_pk,
            leaf_node=leaf,
            extensions=tbs.extensions,
            signature=sig,
        )
        self._key_packages[key_package_ref(cs, kp)] = KeyPackageSecrets(kp, init_sk, enc_sk)
        return tls.encode(
            MLSMessage(wire_format=WireFormat.mls_key_package, key_package=kp), MLSMessage
        )

    def add_key_package(
        self,
        key_package: bytes | KeyPackage,
        init_private_key: bytes,
        encryption_private_key: bytes,
    ) -> bytes:
        """Register a KeyPackage made elsewhere (e.g. a test vector's) with its private
        keys, after checking that they match its public keys. Returns its ref."""
        kp = _as_key_package(key_package)
        cs = cipher_suite(int(kp.cipher_suite))
        if cs.public_key_from_private(init_private_key) != kp.init_key:
            raise ValidationError("RFC 9420 §10: init private key matches init_key")
        if cs.public_key_from_private(encryption_private_key) != kp.leaf_node.encryption_key:
            raise ValidationError("RFC 9420 §10: encryption private key matches the leaf's")
        ref = key_package_ref(cs, kp)
        self._key_packages[ref] = KeyPackageSecrets(kp, init_private_key, encryption_private_key)
        return ref

    def unused_key_packages(self) -> dict[bytes, KeyPackageSecrets]:
        """KeyPackageRef -> KeyPackage and private keys, for every KeyPackage no Welcome
        has used yet: what an application persists, and restores with
        :meth:`add_key_package`."""
        return dict(self._key_packages)

    def key_package_private_keys(self, key_package: bytes | KeyPackage) -> tuple[bytes, bytes]:
        """``(init_private_key, encryption_private_key)`` of a KeyPackage this client
        made or registered and no Welcome has used yet: what a test vector publishes
        (passive-client ``init_priv``, ``encryption_priv``). KeyError if not held."""
        kp = _as_key_package(key_package)
        entry = self._key_packages[key_package_ref(cipher_suite(int(kp.cipher_suite)), kp)]
        return entry.init_private_key, entry.encryption_private_key

    # --- groups ----------------------------------------------------------------------------
    def create_group(
        self,
        group_id: bytes | None = None,
        *,
        extensions: Sequence[Extension] = (),
        config: GroupConfig | None = None,
        rng: Rng | None = None,
    ) -> Group:
        """A new one-member group at epoch 0 (§11)."""
        return Group._create(self, group_id, tuple(extensions), config or GroupConfig(), rng)

    def join_group(
        self,
        welcome: bytes,
        ratchet_tree: bytes | None = None,
        *,
        config: GroupConfig | None = None,
        psks: psk_mod.PskLookup | None = None,
        resumed_from: Group | None = None,
        rng: Rng | None = None,
        encoding: str = "tls",
    ) -> Group:
        """Join from a Welcome MLSMessage (§12.4.3.1); ``ratchet_tree`` is the TLS
        ``ratchet_tree`` extension data when the Welcome's GroupInfo does not carry it.
        ``psks`` answers for external PSKs beyond the client's own. ``resumed_from``: for
        the Welcome of a reinitialized or branched group (§11.2, §11.3), the old group;
        its resumption PSK opens the Welcome and the new group is checked against it
        (a ReInit was its last Commit and the parameters match, or a branch keeps its
        version and suite; the members agree per ``policy.same_client``).
        ``encoding`` names the encoding the Welcome arrived in (``tls``, ``cbor``, ``json``)."""
        config = config or GroupConfig()
        welcome = _canonical(welcome, encoding, config.limits)
        return Group._join(self, welcome, ratchet_tree, config, psks, resumed_from, rng)

    def join_request(
        self, group_id: bytes, epoch: int, *, rng: Rng | None = None, **key_package: Any
    ) -> bytes:
        """A new_member_proposal (§12.1.8): an Add of a fresh KeyPackage of ours, signed
        by us, for the group to commit; the Welcome then arrives as usual.
        ``key_package`` takes the keyword arguments of :meth:`key_package`."""
        kp = _as_key_package(self.key_package(rng=rng, **key_package))
        content = framing.framed_content(
            group_id=group_id,
            epoch=epoch,
            sender=Sender(sender_type=SenderType.new_member_proposal),
            proposal=Proposal(proposal_type=ProposalType.add, add=Add(key_package=kp)),
        )
        ac = framing.authenticate(
            self.suite,
            self.signature_private_key,
            content,
            WireFormat.mls_public_message,
            None,
            rng=rng,
        )
        message = PublicMessage(content=content, auth=ac.auth, membership_tag=None)
        return tls.encode(framing.to_mls_message(message), MLSMessage)

    def join_by_external_commit(
        self,
        group_info: bytes,
        ratchet_tree: bytes | None = None,
        *,
        config: GroupConfig | None = None,
        remove_leaf: int | None = None,
        external_psks: Sequence[bytes] = (),
        rng: Rng | None = None,
        encoding: str = "tls",
    ) -> tuple[Group, bytes]:
        """Join by an external Commit (§12.4.3.2) from a GroupInfo MLSMessage that
        carries ``external_pub``. Returns the group (already in the new epoch) and the
        Commit (a PublicMessage) to send; ``remove_leaf`` removes an old appearance of
        this client (resync); without it, a client that still holds an active copy of
        the group is refused (§12.4.3.1: one group per group_id): drop the copy first.
        If the DS rejects the Commit, drop the returned group.
        ``encoding`` names the encoding the GroupInfo arrived in."""
        config = config or GroupConfig()
        return Group._external_join(
            self,
            _canonical(group_info, encoding, config.limits),
            ratchet_tree,
            config,
            remove_leaf,
            tuple(external_psks),
            rng,
        )


def _canonical(data: bytes, encoding: str, limits: Limits) -> bytes:
    """The TLS bytes of an MLSMessage received in ``encoding``: signatures, MACs, hashes
    and own-message recognition all work on the TLS form (DESIGN rule 2). The size limit
    is checked here, before any parser (CBOR, JSON) sees the input."""
    limits.check_size(len(data), "MLSMessage")
    if encoding == "tls":
        return data
    return tls.encode(get_codec(encoding).decode(data, MLSMessage), MLSMessage)


def _check_resumed(
    psks: Sequence[PreSharedKeyID],
    context: GroupContext,
    tree: RatchetTree,
    old: Group | None,
    policy: ValidationPolicy,
) -> None:
    """§12.4.3.1, last bullet: a Welcome whose reinit/branch PSK ties the new group to
    an old one starts the group the old one allows."""
    psk = psk_mod.resumed_group_psk(psks)
    if psk is None:
        return
    usage = psk.usage
    assert usage is not None  # resumed_group_psk picks usage reinit or branch
    if old is None:
        raise StateError(
            f"RFC 9420 §12.4.3.1: a Welcome with a {usage.name} PSK is checked against the "
            "old group: pass resumed_from=old_group"
        )
    if psk.psk_group_id != old.group_id:
        raise ValidationError(
            f"RFC 9420 §12.4.3.1: the {usage.name} PSK names the old group",
            f"names group {(psk.psk_group_id or b'').hex()}, resumed from {old.group_id.hex()}",
            "GroupSecrets.psks",
        )
    where = "GroupInfo.group_context"
    old_leaves, new_leaves = _leaf_nodes(old._state.tree), _leaf_nodes(tree)
    if usage == ResumptionPSKUsage.reinit:
        reinit = old.pending_reinit
        if reinit is None or psk.psk_epoch != old.epoch:
            raise ValidationError(
                "RFC 9420 §12.4.3.1: the last Commit to the old group contains a ReInit",
                f"PSK epoch {psk.psk_epoch}, old group at epoch {old.epoch}"
                + ("" if reinit else " with no ReInit committed"),
                "GroupSecrets.psks",
            )
        for name, got, want in (
            ("group_id", context.group_id, reinit.group_id),
            ("version", context.version, reinit.version),
            ("cipher_suite", context.cipher_suite, reinit.cipher_suite),
            ("extensions", tuple(context.extensions), tuple(reinit.extensions)),
        ):
            if got != want:
                raise ValidationError(
                    "RFC 9420 §12.4.3.1: the new group matches the old group's ReInit",
                    f"{name} differs",
                    f"{where}.{name}",
                )
        missing = policy.missing_clients(old_leaves, new_leaves)
        rule = "every member of the old group is a member of the reinitialized group"
    else:
        was = old._state.context
        if (context.version, context.cipher_suite) != (was.version, was.cipher_suite):
            raise ValidationError(
                "RFC 9420 §12.4.3.1: a branch keeps the old group's version and cipher_suite",
                f"0x{int(context.cipher_suite):04x} from 0x{int(was.cipher_suite):04x}",
                where,
            )
        missing = policy.missing_clients(new_leaves, old_leaves)
        rule = "the members of a branch are members of the old group"
    if missing:
        raise ValidationError(
            f"RFC 9420 §12.4.3.1: {rule}",
            f"{len(missing)} not, e.g. {missing[0].credential!r}",
            "GroupInfo.extensions.ratchet_tree",
        )


def _leaf_nodes(tree: RatchetTree) -> list[LeafNode]:
    return [leaf for i in tree.members() if (leaf := tree.leaf(i)) is not None]


def _decode_message(data: bytes, limits: Limits | None = None) -> MLSMessage:
    msg: MLSMessage = tls.decode(data, MLSMessage, limits=limits)
    if msg.version != ProtocolVersion.mls10:
        raise ValidationError("RFC 9420 §6: MLSMessage.version is mls10", f"{msg.version!r}")
    return msg


def _as_key_package(data: bytes | KeyPackage) -> KeyPackage:
    if isinstance(data, KeyPackage):
        return data
    msg = _decode_message(data)
    if msg.wire_format != WireFormat.mls_key_package or msg.key_package is None:
        raise ValidationError(
            "RFC 9420 §6: expected an MLSMessage carrying a KeyPackage", f"{msg.wire_format!r}"
        )
    if msg.key_package.version != msg.version:
        # §10: the KeyPackage's own version is what other members see in the Add.
        raise ValidationError(
            "RFC 9420 §10: the KeyPackage's version is its MLSMessage's",
            f"{msg.key_package.version!r} in {msg.version!r}",
        )
    return msg.key_package


# --- epoch state ---------------------------------------------------------------------------


@dataclass
class EpochState:
    """Everything a member holds for one epoch. Replaced as a whole on merge."""

    context: GroupContext
    tree: RatchetTree
    summary: MemberSummary
    private: treekem.TreePrivateState
    secrets: ks.EpochSecrets
    secret_tree: SecretTree
    interim: bytes
    proposals: dict[bytes, ProposalItem] = field(default_factory=dict)
    # ProposalRef of an Update of ours -> the new leaf's HPKE private key.
    update_keys: dict[bytes, bytes] = field(default_factory=dict)
    # Hash of a proposal message we sent -> its ProposalRef, to recognise the echo.
    sent: dict[bytes, bytes] = field(default_factory=dict)

    @property
    def suite(self) -> CipherSuite:
        return self.tree.suite


def _forget_used_secrets(secrets: ks.EpochSecrets) -> ks.EpochSecrets:
    # §9.2: joiner/welcome secrets are only for the Welcome, the encryption secret lives
    # on in the secret tree; keep none of them in the state.
    return dc_replace(secrets, joiner_secret=b"", welcome_secret=b"", encryption_secret=b"")


def _past_epoch_secrets(secrets: ks.EpochSecrets) -> ks.EpochSecrets:
    """Of a past epoch's secrets only the sender data secret is still needed (§9.2);
    resumption PSKs are kept apart, per ``resumption_psk_epochs``."""
    return ks.EpochSecrets(
        cipher_suite=secrets.cipher_suite,
        joiner_secret=b"",
        welcome_secret=b"",
        sender_data_secret=secrets.sender_data_secret,
        encryption_secret=b"",
        exporter_secret=b"",
        external_secret=b"",
        confirmation_key=b"",
        membership_key=b"",
        resumption_psk=b"",
        epoch_authenticator=b"",
        init_secret=b"",
    )


def _prune_private(
    private: treekem.TreePrivateState, new_tree: RatchetTree, old_tree: RatchetTree
) -> treekem.TreePrivateState:
    """Private keys whose node still carries the same public key (O(log N): a member only
    holds keys on its own direct path)."""
    keys: dict[int, bytes] = {}
    for x, sk in private.keys.items():
        if x >= new_tree.width:
            continue
        now, before = new_tree.node(x), old_tree.node(x) if x < old_tree.width else None
        if now is not None and before is not None and now.encryption_key == before.encryption_key:
            keys[x] = sk
    return treekem.TreePrivateState(private.leaf_index, keys)


def _touched_nodes(tree: RatchetTree, leaves: Iterable[int]) -> set[int]:
    n = tree.n_leaves
    out: set[int] = set()
    for leaf in leaves:
        if 0 <= leaf < n:
            out.add(2 * leaf)
            out.update(tm.direct_path(2 * leaf, n))
    return out


def _extension(ext_type: int, data: bytes) -> Extension:
    return Extension(extension_type=ExtensionType(ext_type), extension_data=data)


# --- staged commits ------------------------------------------------------------------------


class StagedCommit:
    """A validated Commit, not yet applied: what it will change, and :meth:`merge`."""

    def __init__(
        self,
        group: Group,
        base: EpochState,
        new: EpochState | None,
        applied: AppliedProposals,
        sender: Sender,
        committer_leaf: int | None,
        message: bytes | None,
    ) -> None:
        self._group = group
        self._base = base
        self._new = new
        self._applied = applied
        self.sender = sender
        self.committer_leaf = committer_leaf
        self._message = message
        self.merged = False

    @property
    def epoch(self) -> int:
        """The epoch the commit creates."""
        return self._base.context.epoch + 1

    @property
    def added(self) -> tuple[Member, ...]:
        return tuple(
            Member(i, kp.leaf_node.credential, kp.leaf_node.signature_key)
            for i, kp in self._applied.added
        )

    @property
    def removed(self) -> tuple[Member, ...]:
        return tuple(
            Member(i, leaf.credential, leaf.signature_key) for i, leaf in self._applied.removed
        )

    @property
    def updated(self) -> tuple[int, ...]:
        return tuple(self._applied.updated)

    @property
    def psks(self) -> tuple[PreSharedKeyID, ...]:
        return tuple(self._applied.psks)

    @property
    def reinit(self) -> ReInit | None:
        """The committed ReInit, if any: after the merge the group is inactive."""
        return self._applied.reinit

    @property
    def custom_proposals(self) -> tuple[Proposal, ...]:
        """Committed proposals of types unknown to mlswire, carried through for the
        application (every member declared support for their types)."""
        return tuple(self._applied.custom)

    @property
    def removes_self(self) -> bool:
        """This commit removes the member processing it: after merge the group is
        inactive."""
        return self._new is None

    @property
    def epoch_authenticator(self) -> bytes | None:
        return None if self._new is None else self._new.secrets.epoch_authenticator

    def merge(self) -> None:
        """Make the new epoch the group's current one (idempotent)."""
        if self.merged:
            return
        self._group._merge(self)
        self.merged = True


# --- the group -----------------------------------------------------------------------------


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
        self.active = True
        client._groups[state.context.group_id] = self
        self.inactive_reason = ""
        if client.signature_public_key != self._own_leaf().signature_key:
            raise StateError("the client's signature key is not the one of its leaf")

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
        tree = self._state.tree
        out: dict[int, Member] = {}
        for i in tree.members():
            leaf = tree.leaf(i)
            assert leaf is not None
            out[i] = Member(i, leaf.credential, leaf.signature_key)
        return out

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
        extensions: list[Extension] = []
        if self.config.ratchet_tree_extension if ratchet_tree is None else ratchet_tree:
            extensions.append(_extension(ExtensionType.ratchet_tree, st.tree.encode()))
        if self.config.external_pub:
            _, pub = st.secrets.external_key_pair()
            extensions.append(
                _extension(
                    ExtensionType.external_pub,
                    tls.encode(ExternalPub(external_pub=pub), ExternalPub),
                )
            )
        info = sign_group_info(
            cs,
            self.client.signature_private_key,
            group_context=st.context,
            confirmation_tag=confirmation_tag(
                cs, st.secrets.confirmation_key, st.context.confirmed_transcript_hash
            ),
            signer=self.own_leaf_index,
            extensions=extensions,
            rng=self._rng,
        )
        return tls.encode(
            MLSMessage(wire_format=WireFormat.mls_group_info, group_info=info), MLSMessage
        )

    def export_secret(self, label: bytes, context: bytes, length: int) -> bytes:
        """MLS-Exporter(label, context, length) of the current epoch (§8.5)."""
        return self._state.secrets.export(label, context, length)

    def _own_leaf(self) -> LeafNode:
        leaf = self._state.tree.leaf(self._state.private.leaf_index)
        if leaf is None:
            raise StateError("this member's leaf is blank")
        return leaf

    def _require_active(self) -> None:
        if not self.active:
            raise StateError(f"the group can no longer be used: {self.inactive_reason}")

    # --- creation and joining -------------------------------------------------------------
    @classmethod
    def _create(
        cls,
        client: Client,
        group_id: bytes | None,
        extensions: tuple[Extension, ...],
        config: GroupConfig,
        rng: Rng | None,
    ) -> Group:
        cs = client.suite
        gid = group_id if group_id is not None else _random(rng, 16)
        enc_sk, enc_pk = cs.generate_key_pair(rng)
        leaf = client._leaf_node(
            enc_pk,
            LeafNodeSource.key_package,
            lifetime=Lifetime(not_before=0, not_after=MAX_LIFETIME),
            rng=rng,
        )
        tree = RatchetTree.with_first_leaf(client.suite_id, leaf)
        context = GroupContext(
            cipher_suite=SuiteId(client.suite_id),
            group_id=gid,
            epoch=0,
            tree_hash=tree.tree_hash(),
            confirmed_transcript_hash=b"",
            extensions=extensions,
        )
        summary = MemberSummary.of_tree(tree)
        # §11: the creator's leaf must meet the group's own required capabilities.
        validate_leaf_node(
            cs,
            leaf,
            source=LeafNodeSource.key_package,
            group_id=gid,
            leaf_index=0,
            extensions=extensions,
            summary=MemberSummary(),
            policy=ValidationPolicy(check_lifetime=False),
            where="creator leaf",
        )
        init_secret = _random(rng, cs.hash_len)
        secrets = ks.derive_epoch(cs, init_secret, context)
        # §8.2: epoch 0's interim hash covers the tag MAC(confirmation_key, "").
        tag = confirmation_tag(cs, secrets.confirmation_key, b"")
        state = EpochState(
            context=context,
            tree=tree,
            summary=summary,
            private=treekem.TreePrivateState(0, {0: enc_sk}),
            secrets=_forget_used_secrets(secrets),
            secret_tree=cls._secret_tree(config, cs, secrets.encryption_secret, 1),
            interim=interim_transcript_hash(cs, b"", tag),
        )
        return cls(client, config, state, rng=rng)

    @staticmethod
    def _secret_tree(config: GroupConfig, cs: CipherSuite, secret: bytes, n: int) -> SecretTree:
        return SecretTree(
            cs,
            secret,
            n,
            out_of_order_window=config.out_of_order_window,
            max_forward_distance=config.max_forward_distance,
        )

    @classmethod
    def _join(
        cls,
        client: Client,
        welcome_bytes: bytes,
        ratchet_tree: bytes | None,
        config: GroupConfig,
        psks: psk_mod.PskLookup | None,
        resumed_from: Group | None,
        rng: Rng | None,
    ) -> Group:
        msg = _decode_message(welcome_bytes, config.limits)
        if msg.wire_format != WireFormat.mls_welcome or msg.welcome is None:
            raise ValidationError("RFC 9420 §6: expected a Welcome", f"{msg.wire_format!r}")
        welcome = msg.welcome
        entry = next(
            (
                client._key_packages[e.new_member]
                for e in welcome.secrets
                if e.new_member in client._key_packages
            ),
            None,
        )
        if entry is None:
            raise ValidationError(
                "RFC 9420 §12.4.3.1: the Welcome has an entry for one of this client's KeyPackages",
                f"{len(welcome.secrets)} entries, none for ours",
                "Welcome.secrets",
            )
        kp = entry.key_package

        def lookup(psk: PreSharedKeyID) -> bytes | None:
            if psks is not None:
                found = psks(psk)
                if found is not None:
                    return found
            if resumed_from is not None:
                return resumed_from.psk_lookup(psk)
            if psk.psktype == PSKType.external and psk.psk_id is not None:
                return client.external_psks.get(psk.psk_id)
            return None

        opened = open_welcome(welcome, kp, entry.init_private_key, psks=lookup)
        info = opened.group_info
        context = info.group_context
        cs = opened.suite
        if client.participates_in(context.group_id):
            raise ValidationError(
                "RFC 9420 §12.4.3.1: the group_id is unique among the client's groups",
                f"already in group {context.group_id.hex()}",
                "GroupInfo.group_context.group_id",
            )
        tree_ext = find_extension(info.extensions, ExtensionType.ratchet_tree)
        if tree_ext is not None:
            tree = RatchetTree.decode(
                cs.suite_id, tree_ext.extension_data, max_leaves=config.max_tree_leaves
            )
        elif ratchet_tree is not None:
            tree = RatchetTree.decode(cs.suite_id, ratchet_tree, max_leaves=config.max_tree_leaves)
        else:
            raise StateError(
                "RFC 9420 §12.4.3.1: the Welcome's GroupInfo has no ratchet_tree extension "
                "and no tree was given out of band"
            )
        signer = tree.leaf(info.signer) if 0 <= info.signer < tree.n_leaves else None
        if signer is None:
            raise ValidationError(
                "RFC 9420 §12.4.3.1: the GroupInfo signer is a member", where=f"leaf {info.signer}"
            )
        hashes = opened.verify(signer.signature_key)
        summary = _check_joined_group(
            cs, info, tree, kp.leaf_node.capabilities, client.policy, "GroupInfo"
        )
        _check_resumed(opened.group_secrets.psks, context, tree, resumed_from, client.policy)
        own = next(
            (i for i in tree.members() if tree.leaf(i) == kp.leaf_node), None
        )  # O(N) once, at join
        if own is None:
            raise ValidationError(
                "RFC 9420 §12.4.3.1: the tree holds this client's KeyPackage leaf"
            )
        path_secrets: dict[int, bytes] = {}
        if opened.group_secrets.path_secret is not None:
            secret = opened.group_secrets.path_secret.path_secret
            lca = tm.common_ancestor(2 * own, 2 * info.signer)
            path = tree.filtered_direct_path(info.signer)
            if lca not in path:
                raise ValidationError(
                    "RFC 9420 §12.4.3.1: the path secret is for a node on the signer's "
                    "filtered direct path",
                    where=f"node {lca}",
                )
            for x in path[path.index(lca) :]:
                path_secrets[x] = secret
                secret = treekem.next_path_secret(cs, secret)
        private = treekem.private_state_from_secrets(
            tree, own, entry.encryption_private_key, path_secrets
        )
        # §9.2: the KeyPackage's private keys are deleted once used.
        for ref, value in list(client._key_packages.items()):
            if value is entry:
                del client._key_packages[ref]
        secrets = opened.epoch
        state = EpochState(
            context=context,
            tree=tree,
            summary=summary,
            private=private,
            secrets=_forget_used_secrets(secrets),
            secret_tree=cls._secret_tree(config, cs, secrets.encryption_secret, tree.n_leaves),
            interim=hashes.interim,
        )
        return cls(client, config, state, rng=rng)

    @classmethod
    def _external_join(
        cls,
        client: Client,
        group_info_bytes: bytes,
        ratchet_tree: bytes | None,
        config: GroupConfig,
        remove_leaf: int | None,
        external_psks: tuple[bytes, ...],
        rng: Rng | None,
    ) -> tuple[Group, bytes]:
        msg = _decode_message(group_info_bytes, config.limits)
        if msg.wire_format != WireFormat.mls_group_info or msg.group_info is None:
            raise ValidationError("RFC 9420 §6: expected a GroupInfo", f"{msg.wire_format!r}")
        info = msg.group_info
        context = info.group_context
        suite_id = int(context.cipher_suite)
        if suite_id != client.suite_id:
            raise ValidationError(
                "RFC 9420 §12.4.3.2: the group's cipher suite is the client's",
                f"0x{suite_id:04x}",
            )
        cs = client.suite
        if remove_leaf is None and client.participates_in(context.group_id):
            # §12.4.3 as for a Welcome; a resync (remove_leaf) rejoins a group the client
            # still holds a stale copy of, by design.
            raise ValidationError(
                "RFC 9420 §12.4.3.1: the group_id is unique among the client's groups",
                f"already in group {context.group_id.hex()} (a resync passes remove_leaf)",
                "GroupInfo.group_context.group_id",
            )
        tree_ext = find_extension(info.extensions, ExtensionType.ratchet_tree)
        if tree_ext is not None:
            tree = RatchetTree.decode(
                suite_id, tree_ext.extension_data, max_leaves=config.max_tree_leaves
            )
        elif ratchet_tree is not None:
            tree = RatchetTree.decode(suite_id, ratchet_tree, max_leaves=config.max_tree_leaves)
        else:
            raise StateError("the GroupInfo has no ratchet_tree extension and none was given")
        signer = tree.leaf(info.signer) if 0 <= info.signer < tree.n_leaves else None
        if signer is None:
            raise ValidationError(
                "RFC 9420 §12.4.3.2: the GroupInfo signer is a member", where=f"leaf {info.signer}"
            )
        from .welcome import verify_group_info

        try:
            verify_group_info(cs, info, signer.signature_key)
        except CryptoError as e:
            raise CryptoError(f"RFC 9420 §12.4.3: GroupInfo signature does not verify ({e})") from e
        summary = _check_joined_group(
            cs, info, tree, client.capabilities, client.policy, "GroupInfo", replaced=remove_leaf
        )
        pub_ext = find_extension(info.extensions, ExtensionType.external_pub)
        if pub_ext is None:
            raise ValidationError(
                "RFC 9420 §12.4.3.2: an external join needs the GroupInfo's external_pub"
            )
        external_pub: ExternalPub = tls.decode(pub_ext.extension_data, ExternalPub)
        kem_output, init_secret = ks.external_init_sender(cs, external_pub.external_pub, rng)
        proposals: list[Proposal] = [
            Proposal(
                proposal_type=ProposalType.external_init,
                external_init=ExternalInit(kem_output=kem_output),
            )
        ]
        if remove_leaf is not None:
            proposals.append(
                Proposal(proposal_type=ProposalType.remove, remove=Remove(removed=remove_leaf))
            )
        psk_ids = [
            psk_mod.external_psk_id(p, psk_mod.fresh_psk_nonce(cs, rng)) for p in external_psks
        ]
        proposals += [
            Proposal(proposal_type=ProposalType.psk, psk=PreSharedKey(psk=i)) for i in psk_ids
        ]
        sender = Sender(sender_type=SenderType.new_member_commit)
        policy = _joined_tree_policy(client.policy)
        applied = apply_proposals(
            tree,
            context,
            summary,
            [ProposalItem(p, sender, None) for p in proposals],
            sender,
            policy,
        )
        base = applied.tree.copy()
        # The leaf's fields (credential, capabilities); create_update_path gives it its
        # key, parent hash and signature.
        placeholder = client._leaf_node(b"", LeafNodeSource.commit, rng=rng)
        me = base.add_leaf(placeholder)
        template = msgspec.structs.replace(
            context, epoch=context.epoch + 1, extensions=applied.extensions
        )
        created = treekem.create_update_path(
            base, me, client.signature_private_key, template, leaf_node=placeholder, rng=rng
        )
        new_tree = created.tree
        content = framing.framed_content(
            group_id=context.group_id,
            epoch=context.epoch,
            sender=sender,
            commit=Commit(
                proposals=tuple(
                    ProposalOrRef(type=ProposalOrRefType.proposal, proposal=p) for p in proposals
                ),
                path=created.update_path,
            ),
        )
        wire_format = WireFormat.mls_public_message  # §12.4.3.2: not a member yet
        signature = framing.sign_framed_content(
            cs, client.signature_private_key, content, wire_format, context, rng
        )
        interim = interim_transcript_hash(
            cs, context.confirmed_transcript_hash, info.confirmation_tag
        )
        confirmed = confirmed_transcript_hash(cs, interim, wire_format, content, signature)
        new_context = msgspec.structs.replace(
            template, tree_hash=new_tree.tree_hash(), confirmed_transcript_hash=confirmed
        )
        psk_values = [(i, client.external_psks.get(i.psk_id or b"")) for i in psk_ids]
        missing = [i for i, v in psk_values if v is None]
        if missing:
            raise StateError(f"external PSK {missing[0].psk_id!r} is not held by this client")
        psk_secret = (
            psk_mod.psk_secret(cs, [(i, v) for i, v in psk_values if v is not None])
            if psk_values
            else None
        )
        secrets = ks.derive_epoch(cs, init_secret, new_context, created.commit_secret, psk_secret)
        tag = confirmation_tag(cs, secrets.confirmation_key, confirmed)
        ac = framing.authenticated_content(content, wire_format, signature, tag)
        message = framing.protect_public(cs, ac, group_context=context)
        new_summary = applied.summary.copy()
        new_summary.sync(applied.tree, new_tree, _touched_nodes(new_tree, [me]))
        state = EpochState(
            context=new_context,
            tree=new_tree,
            summary=new_summary,
            private=created.private,
            secrets=_forget_used_secrets(secrets),
            secret_tree=cls._secret_tree(config, cs, secrets.encryption_secret, new_tree.n_leaves),
            interim=interim_transcript_hash(cs, confirmed, tag),
        )
        group = cls(client, config, state, rng=rng)
        return group, tls.encode(framing.to_mls_message(message), MLSMessage)

    # --- PSKs -----------------------------------------------------------------------------
    def psk_lookup(self, psk: PreSharedKeyID) -> bytes | None:
        """The PSK value an id names, if this member holds it: the client's external
        PSKs, and this group's kept resumption PSKs (what ``join_group(...,
        resumed_from=group)`` asks)."""
        if psk.psktype == PSKType.external and psk.psk_id is not None:
            return self.client.external_psks.get(psk.psk_id)
        if psk.psktype == PSKType.resumption and psk.psk_epoch is not None:
            # The old group's PSK first: a ReInit may keep the group_id (§11.2), and
            # then the new group's first commit names the old group by our own id.
            foreign = self._foreign_psks.get((psk.psk_group_id or b"", psk.psk_epoch))
            if foreign is not None:
                return foreign
            if psk.psk_group_id == self.group_id:
                return self._resumption.get(psk.psk_epoch)
        return None

    _psk_lookup = psk_lookup

    def _psk_secret(self, ids: Sequence[PreSharedKeyID]) -> bytes | None:
        if not ids:
            return None
        return psk_mod.psk_secret(self._state.suite, psk_mod.resolve_psks(ids, self._psk_lookup))

    # --- receiving --------------------------------------------------------------------------
    def _signature_key(self, sender: Sender) -> bytes:
        st = self._state
        if sender.sender_type == SenderType.member:
            i = sender.leaf_index
            leaf = st.tree.leaf(i) if i is not None and 0 <= i < st.tree.n_leaves else None
            if leaf is None:
                raise ValidationError(
                    "RFC 9420 §6.1: the sender is a member of the group",
                    "the leaf is blank or outside the tree",
                    f"leaf {i}",
                )
            return leaf.signature_key
        if sender.sender_type == SenderType.external:
            senders = external_senders(st.context.extensions)
            i = sender.sender_index
            if i is None or not 0 <= i < len(senders):
                raise ValidationError(
                    "RFC 9420 §12.1.8.1: sender_index names an external sender",
                    where=f"external sender {i}",
                )
            return senders[i].signature_key
        raise ValidationError(
            "RFC 9420 §6.1: sender type known to this step", f"{sender.sender_type!r}"
        )

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
        message = _canonical(message, encoding, self.config.limits)
        if self._pending_output is not None and message == self._pending_output.commit:
            assert self._pending is not None
            staged = self._pending
            staged.merge()
            return staged
        st = self._state
        if st.sent:
            # Our own proposal echoed by the DS: already cached (and, as a
            # PrivateMessage, undecryptable by us: its key was used up when sending).
            ref = st.sent.get(st.suite.hash(message))
            if ref is not None and ref in st.proposals:
                item = st.proposals[ref]
                return ProposalMessage(item.proposal, item.sender, ref)
        msg = _decode_message(message, self.config.limits)
        framed = framing.framed_message(msg)
        if isinstance(framed, PrivateMessage) and framed.epoch < self.epoch:
            return self._process_past(framed)
        self._require_active()
        st = self._state
        cs = st.suite
        if isinstance(framed, PublicMessage):
            fc = framed.content

            def key_of(sender: Sender) -> bytes:
                if sender.sender_type == SenderType.new_member_commit:
                    if fc.commit is None or fc.commit.path is None:
                        raise ValidationError(
                            "RFC 9420 §12.4.3.2: an external Commit carries a path"
                        )
                    return fc.commit.path.leaf_node.signature_key
                if sender.sender_type == SenderType.new_member_proposal:
                    if fc.proposal is None or fc.proposal.add is None:
                        raise ValidationError("RFC 9420 §12.1.8: a new_member_proposal is an Add")
                    return fc.proposal.add.key_package.leaf_node.signature_key
                return self._signature_key(sender)

            ac = framing.unprotect_public(
                cs,
                framed,
                group_context=st.context,
                signature_key=key_of,
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
                signature_key=self._signature_key,
            )
        fc = ac.content
        if fc.content_type == ContentType.application:
            assert fc.application_data is not None and fc.sender.leaf_index is not None
            return ApplicationMessage(
                fc.application_data, fc.sender.leaf_index, fc.authenticated_data, fc.epoch
            )
        if fc.content_type == ContentType.proposal:
            result = self._receive_proposal(ac)
            st.secret_tree = secret_tree
            return result
        if (
            fc.sender.sender_type == SenderType.member
            and fc.sender.leaf_index == self.own_leaf_index
        ):
            raise StateError(
                "a commit from this member that is not its pending commit "
                "(already merged, cleared, or never created here)"
            )
        return self._stage_commit(ac, message)

    def _process_past(self, framed: PrivateMessage) -> ApplicationMessage:
        if framed.content_type != ContentType.application:
            raise StateError(
                f"PrivateMessage: epoch {framed.epoch} is too old (the group is at epoch "
                f"{self.epoch}); only application messages of past epochs are kept"
            )
        for past in self._past:
            if past.context.epoch == framed.epoch:

                def key(sender: Sender, tree: RatchetTree = past.tree) -> bytes:
                    i = sender.leaf_index
                    leaf = tree.leaf(i) if i is not None and 0 <= i < tree.n_leaves else None
                    if leaf is None:
                        raise ValidationError(
                            "RFC 9420 §6.1: the sender is a member", where=f"leaf {i}"
                        )
                    return leaf.signature_key

                ac = framing.unprotect_private(
                    past.suite,
                    framed,
                    group_context=past.context,
                    secret_tree=past.secret_tree,
                    sender_data_secret=past.secrets.sender_data_secret,
                    signature_key=key,
                )
                fc = ac.content
                assert fc.application_data is not None and fc.sender.leaf_index is not None
                return ApplicationMessage(
                    fc.application_data, fc.sender.leaf_index, fc.authenticated_data, fc.epoch
                )
        raise StateError(
            f"PrivateMessage: epoch {framed.epoch} is too old (the group is at epoch "
            f"{self.epoch} and keeps {self.config.max_past_epochs} past epochs)"
        )

    def _proposal_ref(self, ac: AuthenticatedContent) -> bytes:
        return labeled.make_proposal_ref(self._state.suite, tls.encode(ac, AuthenticatedContent))

    def _check_proposal(self, proposal: Proposal, sender: Sender) -> None:
        """The per-proposal checks that need no commit context (§12.1). An Add's
        KeyPackage is not checked here: apply_proposals checks every committed one."""
        t = proposal.proposal_type
        if t == ProposalType.external_init:
            raise ValidationError("RFC 9420 §12.1.6: ExternalInit only in an external Commit")
        if t == ProposalType.update and (
            sender.sender_type != SenderType.member or proposal.update is None
        ):
            raise ValidationError("RFC 9420 §12.1.2: an Update comes from a member")
        if sender.sender_type in (
            SenderType.external,
            SenderType.new_member_proposal,
        ) and t not in (
            ProposalType.add,
            ProposalType.remove,
            ProposalType.psk,
            ProposalType.reinit,
            ProposalType.group_context_extensions,
        ):
            raise ValidationError(
                "RFC 9420 §12.1.8: external senders propose Add, Remove, PSK, ReInit or "
                "GroupContextExtensions",
                f"{t!r}",
            )

    def _receive_proposal(self, ac: AuthenticatedContent) -> ProposalMessage:
        fc = ac.content
        assert fc.proposal is not None
        self._check_proposal(fc.proposal, fc.sender)
        policy = self._policy()
        add = fc.proposal.add
        if add is not None:
            # Refuse a bad KeyPackage before it is cached (§10.1 on receipt), its leaf's
            # signature and credential included; the leaf's §7.3 uniqueness waits for the
            # commit, whose Removes may make room for it. Adds committed by value are
            # checked once, in apply_proposals.
            validate_key_package(self._state.suite, add.key_package, "Add")
            leaf = add.key_package.leaf_node
            where = "Add.key_package.leaf_node"  # source key_package: no group, no index
            verify_leaf_signature(self._state.suite, leaf, b"", 0, where)
            if not policy.accepts_credential(leaf.credential, leaf.signature_key):
                raise ValidationError("RFC 9420 §5.3.1: the credential is acceptable", where=where)
        hook = policy.external_proposal_ok
        if (
            fc.sender.sender_type in (SenderType.external, SenderType.new_member_proposal)
            and hook is not None
            and not hook(fc.proposal, fc.sender)
        ):
            raise ValidationError(
                "RFC 9420 §12.1.8: the external proposal is authorized",
                f"{fc.proposal.proposal_type!r} from {fc.sender.sender_type!r}",
            )
        ref = self._proposal_ref(ac)
        cache = self._state.proposals
        if ref not in cache and len(cache) >= self.config.max_proposals:
            # The cache lives until the next commit: without a bound, a member (or an
            # external sender) could fill memory with proposals nobody commits.
            raise StateError(
                f"the proposal cache is full ({self.config.max_proposals} proposals, "
                "GroupConfig.max_proposals); commit or clear before receiving more"
            )
        self._state.proposals[ref] = ProposalItem(fc.proposal, fc.sender, ref)
        return ProposalMessage(fc.proposal, fc.sender, ref)

    def _resolve_proposals(self, commit: Commit, sender: Sender) -> list[ProposalItem]:
        st = self._state
        if len(commit.proposals) > self.config.max_proposals:
            # Before any proposal is looked up or validated: that work is per proposal.
            raise ValidationError(
                "resource limit: proposals in one Commit (GroupConfig.max_proposals)",
                f"{len(commit.proposals)} proposals, at most {self.config.max_proposals}",
                "Commit.proposals",
            )
        items: list[ProposalItem] = []
        for i, por in enumerate(commit.proposals):
            if por.type == ProposalOrRefType.reference:
                assert por.reference is not None
                if sender.sender_type == SenderType.new_member_commit:
                    # §12.4.3.2: the joiner cannot know which proposals of the epoch are
                    # valid, so nothing it commits may come from the proposal cache.
                    raise ValidationError(
                        "RFC 9420 §12.4.3.2: an external Commit includes no proposals by reference",
                        f"ProposalRef {por.reference.hex()}",
                        f"proposals[{i}]",
                    )
                item = st.proposals.get(por.reference)
                if item is None:
                    raise ValidationError(
                        "RFC 9420 §12.4: a proposal committed by reference was received in "
                        "this epoch",
                        f"unknown ProposalRef {por.reference.hex()}",
                        f"proposals[{i}]",
                    )
                items.append(item)
            elif por.type == ProposalOrRefType.proposal and por.proposal is not None:
                # Updates and ExternalInits by value are list rules (§12.2: an Update
                # by value would be the committer's own; ExternalInit only in an
                # external commit): apply_proposals reports them.
                if por.proposal.proposal_type not in (
                    ProposalType.update,
                    ProposalType.external_init,
                ):
                    self._check_proposal(por.proposal, sender)
                items.append(ProposalItem(por.proposal, sender, None))
            else:
                raise ValidationError(
                    "RFC 9420 §12.4: ProposalOrRef is a proposal or a reference",
                    where=f"proposals[{i}]",
                )
        return items

    def _policy(self) -> ValidationPolicy:
        p = self.client.policy
        return dc_replace(p, check_lifetime=self.config.check_lifetime and p.check_lifetime)

    def _stage_commit(self, ac: AuthenticatedContent, message: bytes) -> StagedCommit:
        st = self._state
        cs = st.suite
        fc = ac.content
        commit = fc.commit
        assert commit is not None
        sender = fc.sender
        external = sender.sender_type == SenderType.new_member_commit
        items = self._resolve_proposals(commit, sender)
        policy = self._policy()
        applied = apply_proposals(st.tree, st.context, st.summary, items, sender, policy)
        # Adds (bounded by max_proposals) can at most double the tree; refuse a tree past
        # the limit before the path, tree hashes and secret tree are computed over it.
        new_leaves = applied.tree.n_leaves
        if external and applied.tree.leftmost_blank_leaf() is None:
            new_leaves += 1  # the joiner's leaf, added past the right edge
        if new_leaves > self.config.max_tree_leaves:
            raise ValidationError(
                "resource limit: leaves of the ratchet tree (GroupConfig.max_tree_leaves)",
                f"the Commit grows the tree to {new_leaves} leaves, at most "
                f"{self.config.max_tree_leaves}",
                "Commit.proposals",
            )
        if applied.path_required and commit.path is None:
            raise ValidationError(
                "RFC 9420 §12.4: the Commit needs a path (empty, or with Update, Remove, "
                "ExternalInit or GroupContextExtensions proposals)"
            )
        me = self.own_leaf_index
        removed_leaves = {i for i, _ in applied.removed}
        tree = applied.tree
        summary = applied.summary
        if external:
            assert commit.path is not None
            committer = tree.leftmost_blank_leaf()
            if committer is None:
                committer = tree.n_leaves
        else:
            assert sender.leaf_index is not None
            committer = sender.leaf_index
        removed = me in removed_leaves
        private = _prune_private(st.private, tree, st.tree)
        for leaf in applied.updated:
            if leaf == me:
                ref = next(
                    (
                        it.ref
                        for it in items
                        if it.ref is not None
                        and it.proposal.proposal_type == ProposalType.update
                        and it.sender.leaf_index == me
                    ),
                    None,
                )
                sk = st.update_keys.get(ref) if ref is not None else None
                if sk is None:
                    raise StateError("a commit applies an Update of ours whose key we do not hold")
                private.keys[2 * me] = sk
        template = msgspec.structs.replace(
            st.context, epoch=st.context.epoch + 1, extensions=applied.extensions
        )
        added = [i for i, _ in applied.added]
        commit_secret: bytes | None = None
        if commit.path is not None:
            path = commit.path
            replacing = tree.leaf(committer) if committer < tree.n_leaves else None
            if replacing is not None and path.leaf_node.encryption_key == replacing.encryption_key:
                # §12.4.2 names this check on its own; without it the reused key would only
                # surface as the less precise §7.3 uniqueness error below.
                raise ValidationError(
                    "RFC 9420 §12.4.2: the UpdatePath leaf's encryption_key differs from the "
                    "committer's current leaf",
                    where="Commit.path.leaf_node",
                )
            validate_leaf_node(
                cs,
                path.leaf_node,
                source=LeafNodeSource.commit,
                group_id=st.context.group_id,
                leaf_index=committer,
                extensions=applied.extensions,
                summary=summary,
                policy=policy,
                where="Commit.path.leaf_node",
                replacing=replacing,
            )
            if external and applied.removed:
                check_resync_leaf(
                    applied.removed[0][1], path.leaf_node, policy, "Commit.path.leaf_node"
                )
            elif replacing is not None:
                check_successor(replacing, path.leaf_node, policy, "Commit.path.leaf_node")
            in_path = {path.leaf_node.encryption_key}
            for k, node in enumerate(path.nodes):
                key = node.encryption_key
                if key in summary.encryption_keys or key in in_path:
                    raise ValidationError(
                        "RFC 9420 §12.4.2: UpdatePath public keys are new to the tree",
                        "in the tree" if key not in in_path else "twice in the path",
                        where=f"Commit.path.nodes[{k}]",
                    )
                in_path.add(key)
            base = tree
            if external:
                base = tree.copy()
                got = base.add_leaf(path.leaf_node)
                assert got == committer
            if removed:
                # The checks that need no key of the new epoch, as the others make them.
                treekem.check_update_path(
                    base, committer, path, st.context.group_id, exclude=added
                )
                new_tree = tree
            else:
                processed = treekem.process_update_path(
                    base, committer, path, private, template, exclude=added
                )
                new_tree = processed.tree
                private = processed.private
                commit_secret = processed.commit_secret
            new_summary = summary.copy()
            new_summary.sync(tree, new_tree, _touched_nodes(new_tree, [committer]))
        else:
            new_tree = tree
            new_summary = summary
        if removed:
            # Nothing of the new epoch is ours to derive (§12.4.2).
            return StagedCommit(self, st, None, applied, sender, committer, message)

        hashes = update_transcript(cs, st.interim, ac)
        new_context = msgspec.structs.replace(
            template, tree_hash=new_tree.tree_hash(), confirmed_transcript_hash=hashes.confirmed
        )
        init_secret = st.secrets.init_secret
        if applied.external_init is not None:
            ext_priv, _ = st.secrets.external_key_pair()
            init_secret = ks.external_init_receiver(cs, ext_priv, applied.external_init)
        secrets = ks.derive_epoch(
            cs, init_secret, new_context, commit_secret, self._psk_secret(applied.psks)
        )
        assert ac.auth.confirmation_tag is not None
        verify_confirmation_tag(
            cs, secrets.confirmation_key, hashes.confirmed, ac.auth.confirmation_tag, "Commit"
        )
        new = EpochState(
            context=new_context,
            tree=new_tree,
            summary=new_summary,
            private=private,
            secrets=_forget_used_secrets(secrets),
            secret_tree=self._secret_tree(
                self.config, cs, secrets.encryption_secret, new_tree.n_leaves
            ),
            interim=hashes.interim,
        )
        return StagedCommit(self, st, new, applied, sender, committer, message)

    def _merge(self, staged: StagedCommit) -> None:
        if staged._group is not self or staged._base is not self._state:
            raise StateError(
                f"the staged commit for epoch {staged.epoch} no longer applies: the group is "
                f"at epoch {self.epoch}"
            )
        old = self._state
        # Whichever commit is merged, ours for this epoch is settled (merged or lost).
        self._pending = None
        self._pending_output = None
        if staged._new is None:
            self.active = False
            self.inactive_reason = f"this member was removed in epoch {staged.epoch}"
            return
        new = staged._new
        if self.config.max_past_epochs > 0:
            # §9.2: keep only what decrypting late application messages needs (the
            # secret tree, the sender data secret, the tree for signature keys).
            old.proposals, old.update_keys, old.sent = {}, {}, {}
            old.private = treekem.TreePrivateState(old.private.leaf_index, {})
            old.secrets = _past_epoch_secrets(old.secrets)
            self._past.insert(0, old)
            del self._past[self.config.max_past_epochs :]
        self._state = new
        self._resumption[new.context.epoch] = new.secrets.resumption_psk
        for e in [
            e
            for e in self._resumption
            if e <= new.context.epoch - self.config.resumption_psk_epochs
        ]:
            del self._resumption[e]
        if staged._applied.reinit is not None:
            self.pending_reinit = staged._applied.reinit
            self.active = False
            self.inactive_reason = (
                f"a ReInit was committed in epoch {staged.epoch}: wait for the Welcome of "
                "the new group"
            )

    # --- sending ----------------------------------------------------------------------------
    def _sender(self) -> Sender:
        return framing.member_sender(self.own_leaf_index)

    def _frame(self, content: FramedContent, wire_format: WireFormat) -> bytes:
        """Sign and protect non-commit content for the current epoch."""
        st = self._state
        cs = st.suite
        ac = framing.authenticate(
            cs,
            self.client.signature_private_key,
            content,
            wire_format,
            st.context,
            rng=self._rng,
        )
        return self._protect(ac)

    def _protect(self, ac: AuthenticatedContent) -> bytes:
        st = self._state
        cs = st.suite
        message: PublicMessage | PrivateMessage
        if ac.wire_format == WireFormat.mls_public_message:
            message = framing.protect_public(
                cs, ac, group_context=st.context, membership_key=st.secrets.membership_key
            )
        else:
            block = self.config.padding_block
            message = framing.protect_private(
                cs,
                ac,
                secret_tree=st.secret_tree,
                sender_data_secret=st.secrets.sender_data_secret,
                padding=framing.pad_to_multiple(block) if block > 0 else framing.no_padding,
                rng=self._rng,
            )
        return tls.encode(framing.to_mls_message(message), MLSMessage)

    def encrypt(self, data: bytes, *, authenticated_data: bytes = b"") -> bytes:
        """An application message (PrivateMessage MLSMessage bytes). §12.4: a member
        that has pending proposals must commit them first."""
        self._require_active()
        if self._state.proposals:
            raise StateError(
                "RFC 9420 §12.4: commit the pending proposals before sending application data"
            )
        content = framing.framed_content(
            group_id=self.group_id,
            epoch=self.epoch,
            sender=self._sender(),
            application_data=data,
            authenticated_data=authenticated_data,
        )
        return self._frame(content, WireFormat.mls_private_message)

    def _propose(self, proposal: Proposal, update_key: bytes | None = None) -> bytes:
        self._require_active()
        st = self._state
        content = framing.framed_content(
            group_id=self.group_id, epoch=self.epoch, sender=self._sender(), proposal=proposal
        )
        ac = framing.authenticate(
            st.suite,
            self.client.signature_private_key,
            content,
            self.config.wire_format,
            st.context,
            rng=self._rng,
        )
        ref = self._proposal_ref(ac)
        out = self._protect(ac)
        st.proposals[ref] = ProposalItem(proposal, self._sender(), ref)
        st.sent[st.suite.hash(out)] = ref
        if update_key is not None:
            st.update_keys[ref] = update_key
        return out

    def propose_add(self, key_package: bytes) -> bytes:
        kp = _as_key_package(key_package)
        validate_key_package(self._state.suite, kp, "Add")
        return self._propose(Proposal(proposal_type=ProposalType.add, add=Add(key_package=kp)))

    def propose_remove(self, leaf_index: int) -> bytes:
        return self._propose(
            Proposal(proposal_type=ProposalType.remove, remove=Remove(removed=leaf_index))
        )

    def propose_update(self) -> bytes:
        """An Update proposal with a fresh leaf HPKE key (kept until a commit applies it)."""
        cs = self._state.suite
        sk, pk = cs.generate_key_pair(self._rng)
        old = self._own_leaf()
        leaf = self.client._leaf_node(
            pk,
            LeafNodeSource.update,
            extensions=old.extensions,
            group_id=self.group_id,
            leaf_index=self.own_leaf_index,
            rng=self._rng,
        )
        return self._propose(
            Proposal(proposal_type=ProposalType.update, update=Update(leaf_node=leaf)),
            update_key=sk,
        )

    def _psk_id(self, psk_id: bytes | None, resumption_epoch: int | None) -> PreSharedKeyID:
        cs = self._state.suite
        nonce = psk_mod.fresh_psk_nonce(cs, self._rng)
        if resumption_epoch is not None:
            return psk_mod.resumption_psk_id(
                ResumptionPSKUsage.application, self.group_id, resumption_epoch, nonce
            )
        if psk_id is None:
            raise ValueError("give psk_id (external) or resumption_epoch")
        return psk_mod.external_psk_id(psk_id, nonce)

    def propose_psk(
        self, psk_id: bytes | None = None, *, resumption_epoch: int | None = None
    ) -> bytes:
        """A PreSharedKey proposal for an external PSK the client holds, or for this
        group's resumption PSK of an epoch it keeps."""
        pid = self._psk_id(psk_id, resumption_epoch)
        psk_mod.resolve_psks([pid], self._psk_lookup)
        return self._propose(Proposal(proposal_type=ProposalType.psk, psk=PreSharedKey(psk=pid)))

    def propose_group_context_extensions(self, extensions: Sequence[Extension]) -> bytes:
        return self._propose(
            Proposal(
                proposal_type=ProposalType.group_context_extensions,
                group_context_extensions=GroupContextExtensions(extensions=tuple(extensions)),
            )
        )

    def _reinit_proposal(
        self, group_id: bytes | None, suite: int | None, extensions: Sequence[Extension]
    ) -> Proposal:
        return Proposal(
            proposal_type=ProposalType.reinit,
            reinit=ReInit(
                group_id=group_id if group_id is not None else _random(self._rng, 16),
                version=ProtocolVersion.mls10,
                cipher_suite=SuiteId(suite if suite is not None else self.cipher_suite),
                extensions=tuple(extensions),
            ),
        )

    def propose_reinit(
        self,
        group_id: bytes | None = None,
        *,
        suite: int | None = None,
        extensions: Sequence[Extension] = (),
    ) -> bytes:
        """A ReInit proposal (§12.1.5): the group is to restart as a new group."""
        return self._propose(self._reinit_proposal(group_id, suite, extensions))

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
        if self._state.proposals:
            raise StateError(
                "RFC 9420 §12.2: a ReInit is committed alone; commit or clear the pending proposals first"
            )
        return self.commit([self._reinit_proposal(group_id, suite, extensions)], update_path=False)

    def reinit_successor(
        self,
        key_packages: Sequence[bytes],
        *,
        client: Client | None = None,
        config: GroupConfig | None = None,
        update_path: bool = False,
    ) -> tuple[Group, CommitOutput]:
        """Create the group a committed ReInit asked for (§11.2): the new group_id,
        suite and extensions, its first commit adding ``key_packages`` (the other
        members' new KeyPackages) with the old group's resumption PSK (usage reinit),
        with an UpdatePath if ``update_path``.
        ``client``: the client to use in the new suite (default: this group's). The
        joiners call ``join_group(welcome, resumed_from=old_group)``."""
        reinit = self.pending_reinit
        if reinit is None:
            raise StateError("no ReInit was committed in this group")
        owner = client or self.client
        if owner.suite_id != int(reinit.cipher_suite):
            raise StateError(
                f"the ReInit asks for suite 0x{int(reinit.cipher_suite):04x}: pass a client "
                "of that suite"
            )
        return self._successor(
            owner,
            reinit.group_id,
            tuple(reinit.extensions),
            key_packages,
            ResumptionPSKUsage.reinit,
            config or self.config,
            update_path,
        )

    def branch(
        self,
        key_packages: Sequence[bytes],
        *,
        group_id: bytes | None = None,
        extensions: Sequence[Extension] | None = None,
        config: GroupConfig | None = None,
        update_path: bool = False,
    ) -> tuple[Group, CommitOutput]:
        """A subgroup branched from this one (§11.3): a new group with this member and
        ``key_packages``, tied to this group's current epoch by a resumption PSK with
        usage branch; its first commit has an UpdatePath if ``update_path``. Joiners call
        ``join_group(welcome, resumed_from=their_group)``."""
        self._require_active()
        return self._successor(
            self.client,
            group_id if group_id is not None else _random(self._rng, 16),
            tuple(self.extensions if extensions is None else extensions),
            key_packages,
            ResumptionPSKUsage.branch,
            config or self.config,
            update_path,
        )

    def _successor(
        self,
        owner: Client,
        group_id: bytes,
        extensions: tuple[Extension, ...],
        key_packages: Sequence[bytes],
        usage: ResumptionPSKUsage,
        config: GroupConfig,
        update_path: bool = False,
    ) -> tuple[Group, CommitOutput]:
        new = owner.create_group(group_id, extensions=extensions, config=config, rng=self._rng)
        epoch = self.epoch
        psk_value = self._resumption.get(epoch)
        if psk_value is None:  # pragma: no cover - the current epoch's is always kept
            raise StateError(f"no resumption PSK for epoch {epoch}")
        new._foreign_psks[(self.group_id, epoch)] = psk_value
        psk = psk_mod.resumption_psk_id(
            usage, self.group_id, epoch, psk_mod.fresh_psk_nonce(new._state.suite, self._rng)
        )
        proposals = [
            Proposal(proposal_type=ProposalType.add, add=Add(key_package=_as_key_package(kp)))
            for kp in key_packages
        ]
        proposals.append(Proposal(proposal_type=ProposalType.psk, psk=PreSharedKey(psk=psk)))
        out = new.commit(proposals, update_path=update_path, _psk_usages=(usage,))
        new.merge_pending_commit()
        new._foreign_psks.clear()
        return new, out

    def clear_pending_commit(self) -> None:
        """Drop our pending commit (e.g. the DS rejected it)."""
        self._pending = None
        self._pending_output = None

    def clear_pending_proposals(self) -> None:
        self._state.proposals = {}
        self._state.update_keys = {}

    def add_members(
        self, key_packages: Sequence[bytes], *, update_path: bool = False
    ) -> CommitOutput:
        """Commit Add proposals (by value) for ``key_packages`` plus pending proposals."""
        props = [
            Proposal(proposal_type=ProposalType.add, add=Add(key_package=_as_key_package(kp)))
            for kp in key_packages
        ]
        return self.commit(props, update_path=update_path)

    def remove_members(self, leaf_indices: Sequence[int]) -> CommitOutput:
        props = [
            Proposal(proposal_type=ProposalType.remove, remove=Remove(removed=i))
            for i in leaf_indices
        ]
        return self.commit(props, update_path=True)

    def update(self) -> CommitOutput:
        """A self-update: an empty Commit with a fresh path (§12.4)."""
        return self.commit((), update_path=True)

    def add_psks(
        self, psk_ids: Sequence[bytes] = (), *, resumption_epochs: Sequence[int] = ()
    ) -> CommitOutput:
        """Commit PreSharedKey proposals (external ids the client holds, or resumption
        PSKs of this group's kept epochs)."""
        ids = [self._psk_id(p, None) for p in psk_ids]
        ids += [self._psk_id(None, e) for e in resumption_epochs]
        props = [Proposal(proposal_type=ProposalType.psk, psk=PreSharedKey(psk=i)) for i in ids]
        return self.commit(props, update_path=False)

    def update_group_context_extensions(self, extensions: Sequence[Extension]) -> CommitOutput:
        prop = Proposal(
            proposal_type=ProposalType.group_context_extensions,
            group_context_extensions=GroupContextExtensions(extensions=tuple(extensions)),
        )
        return self.commit([prop], update_path=True)

    def commit(
        self,
        proposals: Sequence[Proposal] = (),
        *,
        update_path: bool = True,
        authenticated_data: bytes = b"",
        _psk_usages: tuple[ResumptionPSKUsage, ...] = (ResumptionPSKUsage.application,),
    ) -> CommitOutput:
        """Commit ``proposals`` (by value) and every pending proposal of this epoch (by
        reference). A path is included when ``update_path`` or when the RFC requires one.
        The commit is pending until :meth:`merge_pending_commit`."""
        self._require_active()
        if self._pending is not None:
            raise StateError("a commit of ours is already pending: merge or clear it first")
        st = self._state
        cs = st.suite
        me = self.own_leaf_index
        sender = self._sender()
        cached: list[ProposalItem] = []
        for item in st.proposals.values():
            p = item.proposal
            # §12.2: our own Updates are replaced by the path; Removes of us cannot be
            # committed by us.
            if p.proposal_type == ProposalType.update and item.sender.leaf_index == me:
                continue
            if (
                p.proposal_type == ProposalType.remove
                and p.remove is not None
                and (p.remove.removed == me)
            ):
                continue
            cached.append(item)
        by_value = [ProposalItem(p, sender, None) for p in proposals]
        policy = self._policy()

        def validated(chosen: list[ProposalItem]) -> AppliedProposals:
            return apply_proposals(
                st.tree,
                st.context,
                st.summary,
                [*chosen, *by_value],
                sender,
                policy,
                psk_usages=_psk_usages,
            )

        try:
            applied = validated(cached)
        except ValidationError:
            # §12.1: include the received proposals "as long as this results in a valid
            # proposal list": keep each cached one, in order, that the list stays valid
            # with (one made invalid by another, e.g. an Update of a member a Remove also
            # names, is left out). Our own by-value proposals are not dropped: if they
            # are invalid, the last call raises their error.
            kept: list[ProposalItem] = []
            for item in cached:
                try:
                    validated([*kept, item])
                except ValidationError:
                    continue
                kept.append(item)
            cached = kept
            applied = validated(cached)
        refs = [
            ProposalOrRef(type=ProposalOrRefType.reference, reference=item.ref)
            for item in cached
        ] + [ProposalOrRef(type=ProposalOrRefType.proposal, proposal=p) for p in proposals]
        with_path = update_path or applied.path_required
        template = msgspec.structs.replace(
            st.context, epoch=st.context.epoch + 1, extensions=applied.extensions
        )
        added = [i for i, _ in applied.added]
        tree = applied.tree
        private = _prune_private(st.private, tree, st.tree)
        summary = applied.summary
        created: treekem.CreatedPath | None = None
        commit_secret: bytes | None = None
        if with_path:
            created = treekem.create_update_path(
                tree,
                me,
                self.client.signature_private_key,
                template,
                exclude=added,
                leaf_node=self._own_leaf(),
                rng=self._rng,
            )
            new_tree = created.tree
            private = created.private
            commit_secret = created.commit_secret
            summary = summary.copy()
            summary.sync(tree, new_tree, _touched_nodes(new_tree, [me]))
        else:
            new_tree = tree
        content = framing.framed_content(
            group_id=self.group_id,
            epoch=self.epoch,
            sender=sender,
            commit=Commit(
                proposals=tuple(refs),
                path=created.update_path if created is not None else None,
            ),
            authenticated_data=authenticated_data,
        )
        wire_format = self.config.wire_format
        signature = framing.sign_framed_content(
            cs, self.client.signature_private_key, content, wire_format, st.context, self._rng
        )
        confirmed = confirmed_transcript_hash(cs, st.interim, wire_format, content, signature)
        new_context = msgspec.structs.replace(
            template, tree_hash=new_tree.tree_hash(), confirmed_transcript_hash=confirmed
        )
        psk_secret = self._psk_secret(applied.psks)
        secrets = ks.derive_epoch(
            cs, st.secrets.init_secret, new_context, commit_secret, psk_secret
        )
        tag = confirmation_tag(cs, secrets.confirmation_key, confirmed)
        ac = framing.authenticated_content(content, wire_format, signature, tag)
        commit_bytes = self._protect(ac)

        group_info_msg: bytes | None = None
        welcome_msg: bytes | None = None
        extensions: list[Extension] = []
        if self.config.external_pub:
            _, ext_pub = secrets.external_key_pair()
            extensions.append(
                _extension(
                    ExtensionType.external_pub,
                    tls.encode(ExternalPub(external_pub=ext_pub), ExternalPub),
                )
            )
        if applied.added:
            welcome_exts = list(extensions)
            if self.config.ratchet_tree_extension:
                welcome_exts.insert(0, _extension(ExtensionType.ratchet_tree, new_tree.encode()))
            info = sign_group_info(
                cs,
                self.client.signature_private_key,
                group_context=new_context,
                confirmation_tag=tag,
                signer=me,
                extensions=welcome_exts,
                rng=self._rng,
            )
            new_members = []
            for leaf, kp in applied.added:
                secret = None
                if created is not None:
                    secret = created.path_secrets.get(tm.common_ancestor(2 * leaf, 2 * me))
                new_members.append(NewMember(kp, secret))
            welcome = create_welcome(secrets, info, new_members, applied.psks, rng=self._rng)
            welcome_msg = tls.encode(
                MLSMessage(wire_format=WireFormat.mls_welcome, welcome=welcome), MLSMessage
            )
            group_info_msg = tls.encode(
                MLSMessage(wire_format=WireFormat.mls_group_info, group_info=info), MLSMessage
            )
        new = EpochState(
            context=new_context,
            tree=new_tree,
            summary=summary,
            private=private,
            secrets=_forget_used_secrets(secrets),
            secret_tree=self._secret_tree(
                self.config, cs, secrets.encryption_secret, new_tree.n_leaves
            ),
            interim=interim_transcript_hash(cs, confirmed, tag),
        )
        staged = StagedCommit(self, st, new, applied, sender, me, commit_bytes)
        self._pending = staged
        self._pending_output = CommitOutput(commit_bytes, welcome_msg, group_info_msg)
        return self._pending_output

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
        if self._pending is None:
            raise StateError("no pending commit to merge")
        self._pending.merge()

    # --- persistence --------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """The whole group state, versioned (see :mod:`mlswire.engine.state`), our
        pending commit included."""
        from .state import encode_group

        return encode_group(self)

    @classmethod
    def from_bytes(cls, data: bytes, client: Client, *, rng: Rng | None = None) -> Group:
        """Load a group saved by :meth:`to_bytes`; ``client`` supplies the signature key
        and PSKs (services are passed in, never stored)."""
        from .state import decode_group

        return decode_group(data, client, rng=rng)


def _joined_tree_policy(policy: ValidationPolicy) -> ValidationPolicy:
    # Lifetimes of leaves already in the group are not checked: they may have expired
    # since they were added (§7.3).
    return dc_replace(policy, check_lifetime=False)


def _check_joined_group(
    cs: CipherSuite,
    info: GroupInfo,
    tree: RatchetTree,
    joiner: Capabilities,
    policy: ValidationPolicy,
    where: str,
    *,
    replaced: int | None = None,
) -> MemberSummary:
    """What a client joining by Welcome (§12.4.3.1) or by external Commit (§12.4.3.2)
    checks of the group: its version and extension lists, the tree (validate_tree, then
    every leaf against the group), and that the joiner supports the group's extensions.
    ``replaced``: the joiner's own old leaf that its external Commit removes (a resync);
    its credential may have been revoked since, so the AS is not asked about it.
    Returns the tree's member summary."""
    context = info.group_context
    if context.version != ProtocolVersion.mls10:
        raise ValidationError(
            "RFC 9420 §12.4.3.1: the group's version is mls10",
            f"{context.version!r}",
            f"{where}.group_context",
        )
    check_unique_extensions(context.extensions, f"{where}.group_context.extensions")
    check_unique_extensions(info.extensions, f"{where}.extensions")
    validate_tree(tree, context.group_id, context.tree_hash)
    summary = MemberSummary.of_tree(tree)
    _check_tree_leaves(cs, tree, context, summary, _joined_tree_policy(policy), replaced)
    for ext in context.extensions:
        if not supports_extension(joiner, int(ext.extension_type)):
            raise ValidationError(
                "RFC 9420 §12.4.3: the new member supports the group's extensions",
                f"extension type {int(ext.extension_type)}",
                f"{where}.group_context.extensions",
            )
    return summary


def _check_tree_leaves(
    cs: CipherSuite,
    tree: RatchetTree,
    context: GroupContext,
    summary: MemberSummary,
    policy: ValidationPolicy,
    replaced: int | None = None,
) -> None:
    """§12.4.3.1 "validate the tree": each leaf meets the group's requirements (the
    signature and uniqueness checks are validate_tree's); the credential of every leaf
    but ``replaced`` is the policy's to accept."""
    from .proposals import check_required_capabilities, required_capabilities

    required = required_capabilities(context.extensions)
    for i in tree.members():
        leaf = tree.leaf(i)
        assert leaf is not None
        where = f"leaf {i}"
        if ProtocolVersion.mls10 not in leaf.capabilities.versions:
            raise ValidationError("RFC 9420 §7.2: capabilities list mls10", where=where)
        check_unique_extensions(leaf.extensions, where)
        check_required_capabilities(leaf.capabilities, required, where)
        own_type = int(leaf.credential.credential_type)
        if not summary.all_support_credential(own_type):
            raise ValidationError(
                "RFC 9420 §7.3: every member supports each member's credential type",
                f"credential type {own_type}",
                where,
            )
        if cs.suite_id not in {int(c) for c in leaf.capabilities.cipher_suites}:
            raise ValidationError(
                "RFC 9420 §7.2: capabilities list the group's cipher suite", where=where
            )
        # §7.3 (each tree leaf is validated at join): the leaf's own extensions are
        # ones it declares support for.
        for ext in leaf.extensions:
            if not supports_extension(leaf.capabilities, int(ext.extension_type)):
                raise ValidationError(
                    "RFC 9420 §7.3: LeafNode extensions are listed in its capabilities",
                    f"extension type {int(ext.extension_type)}",
                    where,
                )
        if i != replaced and not policy.accepts_credential(leaf.credential, leaf.signature_key):
            raise ValidationError("RFC 9420 §5.3.1: the credential is acceptable", where=where)


def external_proposal(
    suite: int,
    signature_private_key: bytes,
    sender_index: int,
    group_id: bytes,
    epoch: int,
    proposal: Proposal,
    *,
    rng: Rng | None = None,
) -> bytes:
    """A proposal from the external sender at ``sender_index`` of the group's
    ``external_senders`` extension (§12.1.8.1), as a PublicMessage MLSMessage. External
    senders are not members: there is no membership tag, and the signature does not
    cover the GroupContext."""
    cs = cipher_suite(suite)
    content = framing.framed_content(
        group_id=group_id,
        epoch=epoch,
        sender=Sender(sender_type=SenderType.external, sender_index=sender_index),
        proposal=proposal,
    )
    ac = framing.authenticate(
        cs, signature_private_key, content, WireFormat.mls_public_message, None, rng=rng
    )
    message = PublicMessage(content=content, auth=ac.auth, membership_tag=None)
    return tls.encode(framing.to_mls_message(message), MLSMessage)


def external_senders_extension(senders: Sequence[tuple[bytes, Credential]]) -> Extension:
    """The ``external_senders`` GroupContext extension for (signature key, credential)
    pairs, in sender_index order."""
    value = tuple(ExternalSender(signature_key=k, credential=c) for k, c in senders)
    return _extension(ExtensionType.external_senders, tls.encode(value, "ExternalSenders"))


__all__ = [
    "ApplicationMessage",
    "Client",
    "CommitOutput",
    "EpochState",
    "Group",
    "GroupConfig",
    "Member",
    "ProposalMessage",
    "StagedCommit",
    "default_capabilities",
    "external_proposal",
    "external_senders_extension",
]
