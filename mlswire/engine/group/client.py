"""The MLS client (§5, §10): a signature key pair and credential, the KeyPackages it
made and their private keys, the external PSKs it holds; groups are created or joined
from it (:mod:`.creation`, :mod:`.external`)."""

from __future__ import annotations

import time
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from ...codecs import tls
from ...crypto import SUPPORTED_CIPHER_SUITES, labeled
from ...crypto.primitives import Rng
from ...crypto.suites import CipherSuite, cipher_suite
from ...errors import ValidationError
from ...schema import (
    Capabilities,
    Credential,
    CredentialType,
    Extension,
    KeyPackage,
    KeyPackageTBS,
    LeafNode,
    LeafNodeSource,
    Lifetime,
    MLSMessage,
    ProtocolVersion,
    Sender,
    SenderType,
    WireFormat,
)
from ...schema import CipherSuite as SuiteId
from .. import framing
from .. import psk as psk_mod
from ..tree_validation import leaf_node_tbs
from ..validation import ValidationPolicy
from ..welcome import key_package_ref
from . import creation, external
from ._wire import add_proposal, as_key_package, canonical, non_member_message
from .config import DEFAULT_LIFETIME, MAX_LIFETIME, GroupConfig
from .results import KeyPackageSecrets

if TYPE_CHECKING:
    from .group import Group


def default_capabilities(suite_id: int) -> Capabilities:
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
        config: GroupConfig | None = None,
    ) -> None:
        self.suite_id = suite
        self.suite: CipherSuite = cipher_suite(suite)
        self.credential = credential
        self.signature_private_key = signature_private_key
        self.signature_public_key = signature_public_key
        self.capabilities = capabilities or default_capabilities(suite)
        self.policy = policy or ValidationPolicy()
        # The GroupConfig of every group this client creates or joins unless a call
        # passes its own: set once, so a joiner cannot forget what the creator chose.
        self.default_config = config or GroupConfig()
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

    @staticmethod
    def supported_suites() -> tuple[int, ...]:
        """The cipher suites this mlswire implements (ids of RFC 9420 §17.1), in the
        order :func:`default_capabilities` advertises them after the client's own."""
        return tuple(SUPPORTED_CIPHER_SUITES)

    @classmethod
    def generate(
        cls,
        identity: bytes,
        suite: int = 1,
        *,
        rng: Rng | None = None,
        capabilities: Capabilities | None = None,
        policy: ValidationPolicy | None = None,
        config: GroupConfig | None = None,
    ) -> Client:
        """A client with a fresh signature key pair and a basic credential;
        ``config``: its :attr:`default_config`."""
        cs = cipher_suite(suite)
        sk, pk = cs.signature_key_pair(rng)
        credential = Credential(credential_type=CredentialType.basic, identity=identity)
        return cls(
            credential, suite, sk, pk, capabilities=capabilities, policy=policy, config=config
        )

    @classmethod
    def from_keys(
        cls,
        identity: bytes | Credential,
        suite: int,
        signature_private_key: bytes,
        signature_public_key: bytes | None = None,
        *,
        config: GroupConfig | None = None,
    ) -> Client:
        """A client from an existing signature key (and an identity or credential);
        ``config``: its :attr:`default_config`."""
        cs = cipher_suite(suite)
        pk = signature_public_key or cs.signature_public_key_from_private(signature_private_key)
        credential = (
            identity
            if isinstance(identity, Credential)
            else Credential(credential_type=CredentialType.basic, identity=identity)
        )
        return cls(credential, suite, signature_private_key, pk, config=config)

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
        kp = as_key_package(key_package)
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
        kp = as_key_package(key_package)
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
        return creation.create(
            self, group_id, tuple(extensions), config or self.default_config, rng
        )

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
        config = config or self.default_config
        welcome = canonical(welcome, encoding, config.limits)
        return creation.join(self, welcome, ratchet_tree, config, psks, resumed_from, rng)

    def join_request(
        self, group_id: bytes, epoch: int, *, rng: Rng | None = None, **key_package: Any
    ) -> bytes:
        """A new_member_proposal (§12.1.8): an Add of a fresh KeyPackage of ours, signed
        by us, for the group to commit; the Welcome then arrives as usual.
        ``key_package`` takes the keyword arguments of :meth:`key_package`."""
        content = framing.framed_content(
            group_id=group_id,
            epoch=epoch,
            sender=Sender(sender_type=SenderType.new_member_proposal),
            proposal=add_proposal(self.key_package(rng=rng, **key_package)),
        )
        return non_member_message(self.suite, self.signature_private_key, content, rng)

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
        config = config or self.default_config
        return external.external_join(
            self,
            canonical(group_info, encoding, config.limits),
            ratchet_tree,
            config,
            remove_leaf,
            tuple(external_psks),
            rng,
        )


__all__ = ["Client", "default_capabilities"]
