"""mlswire's ``MLSClient`` gRPC server for the interop harness (``mlswire interop serve``).

Every RPC of ``mls_client.proto`` runs on the engine's public API
(:mod:`mlswire.engine.group`), exactly as an application would use it. The runner names
server state by opaque ``uint32`` handles; here one counter issues all of them (group
states, KeyPackage transactions, pending ReInits, external signers), so a handle names
one thing only and ``StorePSK`` can take either a state or a transaction.

Clients: one :class:`~mlswire.engine.group.Client` per (identity, cipher suite), reused
by every KeyPackage and group of that identity. A member's branch or reinit KeyPackage
then carries the same signing identity as its old leaf, and its external PSKs are where
its joins look for them.

Errors: an input the engine refuses, or a request that cannot be served as given ->
``INVALID_ARGUMENT`` with the reason;
an unknown handle -> ``NOT_FOUND``; an option mlswire cannot honour ->
``UNIMPLEMENTED`` with the reason (never a silently different answer); anything else
-> ``INTERNAL``. Requests are served one at a time (the runner is sequential, and group
state is not thread-safe).
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc  # type: ignore[import-untyped]  # no stubs

from .. import __version__
from ..codecs import tls
from ..crypto import SUPPORTED_CIPHER_SUITES, cipher_suite
from ..engine import psk as psk_mod
from ..engine.group import (
    ApplicationMessage,
    Client,
    CommitOutput,
    Group,
    GroupConfig,
    StagedCommit,
    external_proposal,
    external_senders_extension,
)
from ..errors import MLSError
from ..schema import (
    Add,
    Credential,
    CredentialType,
    Extension,
    ExtensionType,
    ExternalSender,
    ExternalSenders,
    GroupContext,
    GroupContextExtensions,
    MLSMessage,
    PreSharedKey,
    Proposal,
    ProposalType,
    ProtocolVersion,
    RatchetTree,
    ReInit,
    Remove,
    ResumptionPSKUsage,
    WireFormat,
)
from ..schema import CipherSuite as SuiteId
from .proto import modules

pb2, pb2_grpc = modules()
_Servicer: Any = pb2_grpc.MLSClientServicer

NAME = f"mlswire {__version__}"
DEFAULT_PORT = 50051
# Late application messages of earlier epochs are decrypted (application.json's
# out_of_order_across_epochs protects in one epoch and unprotects in the next).
PAST_EPOCHS = 4


class Unsupported(Exception):
    """A request mlswire cannot honour: answered with UNIMPLEMENTED and this reason."""


class BadRequest(Exception):
    """A request that cannot be served as given: answered with INVALID_ARGUMENT."""


class NotFound(Exception):
    """A handle this server never issued, or already freed."""


@dataclass
class _Transaction:
    """A KeyPackage made for a join not yet done (CreateKeyPackage, NewMemberAddProposal)."""

    client: Client
    key_package: bytes


@dataclass
class _ReInit:
    """A member of a group whose ReInit was committed, between the commit and the join
    of the new group: the old group and the member's client in the new suite."""

    old: Group
    client: Client
    key_package: bytes


@dataclass
class _Signer:
    """An external sender (§12.1.8.1): a signature key pair outside any group."""

    suite: int
    signature_private_key: bytes
    sender: ExternalSender


F = TypeVar("F", bound=Callable[..., Any])


def _rpc(method: F) -> F:
    """Run one RPC under the server's lock, mapping exceptions to gRPC status codes."""

    @functools.wraps(method)
    def wrapper(self: MlswireServicer, request: Any, context: Any) -> Any:
        with self._lock:
            try:
                return method(self, request)
            except Unsupported as e:
                context.abort(grpc.StatusCode.UNIMPLEMENTED, f"mlswire: {e}")
            except NotFound as e:
                context.abort(grpc.StatusCode.NOT_FOUND, f"mlswire: {e}")
            except BadRequest as e:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"mlswire: {e}")
            except MLSError as e:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"mlswire: {type(e).__name__}: {e}")
            except Exception as e:  # a bug of ours: say so, keep serving
                context.abort(grpc.StatusCode.INTERNAL, f"mlswire: {type(e).__name__}: {e}")

    return wrapper  # type: ignore[return-value]


def _message(data: bytes, wire_format: WireFormat, what: str) -> MLSMessage:
    message: MLSMessage = tls.decode(data, MLSMessage)
    if message.wire_format != wire_format:
        raise BadRequest(f"{what}: expected an MLSMessage of {wire_format.name}")
    return message


def _group_context(group_info: bytes) -> GroupContext:
    info = _message(group_info, WireFormat.mls_group_info, "group_info").group_info
    assert info is not None
    return info.group_context


def _extensions(items: Sequence[Any]) -> tuple[Extension, ...]:
    return tuple(
        Extension(extension_type=ExtensionType(e.extension_type), extension_data=e.extension_data)
        for e in items
    )


def _external_senders(extensions: Sequence[Extension]) -> list[ExternalSender]:
    for e in extensions:
        if e.extension_type == ExtensionType.external_senders:
            return list(tls.decode(e.extension_data, ExternalSenders))
    return []


def _leaf_of_identity(leaves: Sequence[tuple[int, bytes | None]], identity: bytes) -> int:
    found = [i for i, ident in leaves if ident == identity]
    if len(found) != 1:
        raise BadRequest(f"{len(found)} members have identity {identity!r}; need exactly one")
    return found[0]


class MlswireServicer(_Servicer):  # type: ignore[misc]  # generated, untyped base
    def __init__(self, suites: Sequence[int] = SUPPORTED_CIPHER_SUITES) -> None:
        self.suites = tuple(suites)
        self._lock = threading.Lock()
        self._next = 0
        self._clients: dict[tuple[bytes, int], Client] = {}
        self._states: dict[int, Group] = {}
        self._transactions: dict[int, _Transaction] = {}
        self._reinits: dict[int, _ReInit] = {}
        self._signers: dict[int, _Signer] = {}

    # --- handles and helpers ------------------------------------------------------------
    def _handle(self) -> int:
        self._next += 1
        return self._next

    def _add_state(self, group: Group) -> int:
        handle = self._handle()
        self._states[handle] = group
        return handle

    @staticmethod
    def _get(table: dict[int, Any], handle: int, what: str) -> Any:
        try:
            return table[handle]
        except KeyError:
            raise NotFound(f"no {what} with id {handle}") from None

    def _state(self, handle: int) -> Group:
        group: Group = self._get(self._states, handle, "state")
        return group

    def _client(self, identity: bytes, suite: int) -> Client:
        if suite not in self.suites:
            raise Unsupported(f"cipher suite {suite} is not offered (offered: {self.suites})")
        key = (identity, suite)
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = Client.generate(identity, suite)
        return client

    @staticmethod
    def _config(encrypt_handshake: bool) -> GroupConfig:
        return GroupConfig(
            handshake_wire_format="private" if encrypt_handshake else "public",
            max_past_epochs=PAST_EPOCHS,
        )

    @staticmethod
    def _tree_config(group: Group, external_tree: bool) -> GroupConfig:
        """The group's config, with the ratchet tree left out of Welcomes when the
        runner hands it to joiners out of band."""
        return dataclasses.replace(group.config, ratchet_tree_extension=not external_tree)

    @staticmethod
    def _deliver(group: Group, proposals: Sequence[bytes]) -> None:
        """Cache proposals for the commit that references them (our own are
        recognised as ours)."""
        for data in proposals:
            group.process(data)

    @staticmethod
    def _proposal(
        suite: int,
        group_id: bytes,
        d: Any,
        leaves: Callable[[], list[tuple[int, bytes | None]]],
    ) -> Proposal:
        """A ProposalDescription as a Proposal for the group ``group_id`` in ``suite``;
        ``leaves()`` lists (leaf index, identity) of the members, for a remove."""
        kind = bytes(d.proposal_type).decode("utf-8", "replace")
        cs = cipher_suite(suite)
        if kind == "add":
            kp = _message(d.key_package, WireFormat.mls_key_package, "key_package").key_package
            assert kp is not None
            return Proposal(proposal_type=ProposalType.add, add=Add(key_package=kp))
        if kind == "remove":
            leaf = _leaf_of_identity(leaves(), d.removed_id)
            return Proposal(proposal_type=ProposalType.remove, remove=Remove(removed=leaf))
        if kind in ("externalPSK", "resumptionPSK"):
            nonce = psk_mod.fresh_psk_nonce(cs)
            if kind == "externalPSK":
                pid = psk_mod.external_psk_id(d.psk_id, nonce)
            else:
                pid = psk_mod.resumption_psk_id(
                    ResumptionPSKUsage.application, group_id, int(d.epoch_id), nonce
                )
            return Proposal(proposal_type=ProposalType.psk, psk=PreSharedKey(psk=pid))
        if kind == "groupContextExtensions":
            return Proposal(
                proposal_type=ProposalType.group_context_extensions,
                group_context_extensions=GroupContextExtensions(
                    extensions=_extensions(d.extensions)
                ),
            )
        if kind == "reinit":
            return Proposal(
                proposal_type=ProposalType.reinit,
                reinit=ReInit(
                    group_id=d.group_id,
                    version=ProtocolVersion.mls10,
                    cipher_suite=SuiteId(d.cipher_suite),
                    extensions=_extensions(d.extensions),
                ),
            )
        raise Unsupported(f"unknown proposal type {kind!r}")

    @staticmethod
    def _members(group: Group) -> Callable[[], list[tuple[int, bytes | None]]]:
        return lambda: [(i, m.identity) for i, m in group.members.items()]

    # --- identity and suites ------------------------------------------------------------
    @_rpc
    def Name(self, request: Any) -> Any:
        return pb2.NameResponse(name=NAME)

    @_rpc
    def SupportedCiphersuites(self, request: Any) -> Any:
        return pb2.SupportedCiphersuitesResponse(ciphersuites=list(self.suites))

    # --- becoming a member --------------------------------------------------------------
    @_rpc
    def CreateGroup(self, request: Any) -> Any:
        client = self._client(request.identity, request.cipher_suite)
        group = client.create_group(
            request.group_id, config=self._config(request.encrypt_handshake)
        )
        return pb2.CreateGroupResponse(state_id=self._add_state(group))

    def _new_transaction(self, client: Client, key_package: bytes) -> tuple[int, Any]:
        init_priv, encryption_priv = client.key_package_private_keys(key_package)
        handle = self._handle()
        self._transactions[handle] = _Transaction(client, key_package)
        return handle, {
            "init_priv": init_priv,
            "encryption_priv": encryption_priv,
            "signature_priv": client.signature_private_key,
        }

    @_rpc
    def CreateKeyPackage(self, request: Any) -> Any:
        client = self._client(request.identity, request.cipher_suite)
        kp = client.key_package()
        handle, secrets = self._new_transaction(client, kp)
        return pb2.CreateKeyPackageResponse(transaction_id=handle, key_package=kp, **secrets)

    @_rpc
    def JoinGroup(self, request: Any) -> Any:
        txn: _Transaction = self._get(self._transactions, request.transaction_id, "transaction")
        group = txn.client.join_group(
            request.welcome,
            request.ratchet_tree or None,
            config=self._config(request.encrypt_handshake),
        )
        return pb2.JoinGroupResponse(
            state_id=self._add_state(group), epoch_authenticator=group.epoch_authenticator
        )

    @_rpc
    def ExternalJoin(self, request: Any) -> Any:
        context = _group_context(request.group_info)
        client = self._client(request.identity, int(context.cipher_suite))
        for psk in request.psks:
            client.add_external_psk(psk.psk_id, psk.psk_secret)
        remove_leaf = None
        if request.remove_prior:
            # Our earlier appearance in the group: the state this client holds for it.
            prior = [
                g
                for g in self._states.values()
                if g.client is client and g.group_id == context.group_id and g.active
            ]
            if len(prior) != 1:
                raise BadRequest(
                    f"remove_prior: {len(prior)} states of this client in the group; need one"
                )
            remove_leaf = prior[0].own_leaf_index
        group, commit = client.join_by_external_commit(
            request.group_info,
            request.ratchet_tree or None,
            config=self._config(request.encrypt_handshake),
            remove_leaf=remove_leaf,
            external_psks=[psk.psk_id for psk in request.psks],
        )
        return pb2.ExternalJoinResponse(
            state_id=self._add_state(group),
            commit=commit,
            epoch_authenticator=group.epoch_authenticator,
        )

    # --- operations on a group state ----------------------------------------------------
    @_rpc
    def GroupInfo(self, request: Any) -> Any:
        group = self._state(request.state_id)
        external = request.external_tree
        return pb2.GroupInfoResponse(
            group_info=group.group_info(ratchet_tree=not external),
            ratchet_tree=group.ratchet_tree() if external else b"",
        )

    @_rpc
    def StateAuth(self, request: Any) -> Any:
        # The epoch authenticator (§8.7) is the secret members compare to authenticate
        # their shared state.
        group = self._state(request.state_id)
        return pb2.StateAuthResponse(state_auth_secret=group.epoch_authenticator)

    @_rpc
    def Export(self, request: Any) -> Any:
        group = self._state(request.state_id)
        secret = group.export_secret(
            request.label.encode("utf-8"), request.context, request.key_length
        )
        return pb2.ExportResponse(exported_secret=secret)

    @_rpc
    def Protect(self, request: Any) -> Any:
        group = self._state(request.state_id)
        ct = group.encrypt(request.plaintext, authenticated_data=request.authenticated_data)
        return pb2.ProtectResponse(ciphertext=ct)

    @_rpc
    def Unprotect(self, request: Any) -> Any:
        group = self._state(request.state_id)
        result = group.process(request.ciphertext)
        if not isinstance(result, ApplicationMessage):
            raise BadRequest(f"Unprotect: the message is a {type(result).__name__}")
        return pb2.UnprotectResponse(
            authenticated_data=result.authenticated_data, plaintext=result.data
        )

    @_rpc
    def StorePSK(self, request: Any) -> Any:
        handle = request.state_or_transaction_id
        client: Client
        if handle in self._states:
            client = self._states[handle].client
        elif handle in self._transactions:
            client = self._transactions[handle].client
        elif handle in self._reinits:
            client = self._reinits[handle].client
        else:
            raise NotFound(f"no state or transaction with id {handle}")
        client.add_external_psk(request.psk_id, request.psk_secret)
        return pb2.StorePSKResponse()

    # --- proposals ----------------------------------------------------------------------
    @_rpc
    def AddProposal(self, request: Any) -> Any:
        group = self._state(request.state_id)
        return pb2.ProposalResponse(proposal=group.propose_add(request.key_package))

    @_rpc
    def UpdateProposal(self, request: Any) -> Any:
        return pb2.ProposalResponse(proposal=self._state(request.state_id).propose_update())

    @_rpc
    def RemoveProposal(self, request: Any) -> Any:
        group = self._state(request.state_id)
        leaf = _leaf_of_identity(self._members(group)(), request.removed_id)
        return pb2.ProposalResponse(proposal=group.propose_remove(leaf))

    @_rpc
    def ExternalPSKProposal(self, request: Any) -> Any:
        group = self._state(request.state_id)
        return pb2.ProposalResponse(proposal=group.propose_psk(request.psk_id))

    @_rpc
    def ResumptionPSKProposal(self, request: Any) -> Any:
        group = self._state(request.state_id)
        proposal = group.propose_psk(resumption_epoch=int(request.epoch_id))
        return pb2.ProposalResponse(proposal=proposal)

    @_rpc
    def GroupContextExtensionsProposal(self, request: Any) -> Any:
        group = self._state(request.state_id)
        proposal = group.propose_group_context_extensions(_extensions(request.extensions))
        return pb2.ProposalResponse(proposal=proposal)

    # --- commits ------------------------------------------------------------------------
    def _commit(self, request: Any) -> tuple[Group, CommitOutput, bytes]:
        group = self._state(request.state_id)
        self._deliver(group, request.by_reference)
        proposals = [
            self._proposal(group.cipher_suite, group.group_id, d, self._members(group))
            for d in request.by_value
        ]
        config = group.config
        group.config = self._tree_config(group, request.external_tree)
        try:
            out = group.commit(proposals, update_path=request.force_path)
        finally:
            group.config = config
        tree = b""
        if request.external_tree:
            # The joiners need the tree after the commit, which the engine shows once
            # the commit is merged: merge now (HandlePendingCommit then only reports).
            group.merge_pending_commit()
            tree = group.ratchet_tree()
        return group, out, tree

    @_rpc
    def Commit(self, request: Any) -> Any:
        _, out, tree = self._commit(request)
        return pb2.CommitResponse(commit=out.commit, welcome=out.welcome or b"", ratchet_tree=tree)

    def _merge_own(self, handle: int) -> Group:
        group = self._state(handle)
        if group.pending_commit is not None:
            group.merge_pending_commit()
        return group

    @_rpc
    def HandlePendingCommit(self, request: Any) -> Any:
        group = self._merge_own(request.state_id)
        return pb2.HandleCommitResponse(
            state_id=request.state_id, epoch_authenticator=group.epoch_authenticator
        )

    def _handle_commit(self, request: Any) -> Group:
        group = self._state(request.state_id)
        self._deliver(group, request.proposal)
        staged = group.process(request.commit)
        if not isinstance(staged, StagedCommit):
            raise BadRequest(f"HandleCommit: the message is a {type(staged).__name__}")
        staged.merge()
        return group

    @_rpc
    def HandleCommit(self, request: Any) -> Any:
        group = self._handle_commit(request)
        ea = b"" if not group.active else group.epoch_authenticator
        return pb2.HandleCommitResponse(state_id=request.state_id, epoch_authenticator=ea)

    # --- reinitialization (§11.2) -------------------------------------------------------
    @_rpc
    def ReInitProposal(self, request: Any) -> Any:
        group = self._state(request.state_id)
        proposal = group.propose_reinit(
            request.group_id, suite=request.cipher_suite, extensions=_extensions(request.extensions)
        )
        return pb2.ProposalResponse(proposal=proposal)

    @_rpc
    def ReInitCommit(self, request: Any) -> Any:
        _, out, tree = self._commit(request)
        return pb2.CommitResponse(commit=out.commit, welcome=out.welcome or b"", ratchet_tree=tree)

    def _reinit_response(self, group: Group) -> Any:
        """After the ReInit commit: a KeyPackage of this member in the new suite."""
        reinit = group.pending_reinit
        if reinit is None:
            raise BadRequest("the commit did not commit a ReInit")
        client = self._client(group.client.credential.identity or b"", int(reinit.cipher_suite))
        kp = client.key_package()
        handle = self._handle()
        self._reinits[handle] = _ReInit(group, client, kp)
        return pb2.HandleReInitCommitResponse(
            reinit_id=handle, key_package=kp, epoch_authenticator=group.epoch_authenticator
        )

    @_rpc
    def HandlePendingReInitCommit(self, request: Any) -> Any:
        return self._reinit_response(self._merge_own(request.state_id))

    @_rpc
    def HandleReInitCommit(self, request: Any) -> Any:
        return self._reinit_response(self._handle_commit(request))

    @_rpc
    def ReInitWelcome(self, request: Any) -> Any:
        r: _ReInit = self._get(self._reinits, request.reinit_id, "reinit")
        new, out = r.old.reinit_successor(
            list(request.key_package),
            client=r.client,
            config=self._tree_config(r.old, request.external_tree),
            update_path=request.force_path,
        )
        new.config = self._tree_config(new, False)
        return self._subgroup(new, out, request.external_tree)

    def _subgroup(self, new: Group, out: CommitOutput, external_tree: bool) -> Any:
        return pb2.CreateSubgroupResponse(
            state_id=self._add_state(new),
            welcome=out.welcome or b"",
            ratchet_tree=new.ratchet_tree() if external_tree else b"",
            epoch_authenticator=new.epoch_authenticator,
        )

    @_rpc
    def HandleReInitWelcome(self, request: Any) -> Any:
        r: _ReInit = self._get(self._reinits, request.reinit_id, "reinit")
        group = r.client.join_group(
            request.welcome, request.ratchet_tree or None, config=r.old.config, resumed_from=r.old
        )
        return pb2.JoinGroupResponse(
            state_id=self._add_state(group), epoch_authenticator=group.epoch_authenticator
        )

    # --- branching (§11.3) --------------------------------------------------------------
    @_rpc
    def CreateBranch(self, request: Any) -> Any:
        group = self._state(request.state_id)
        new, out = group.branch(
            list(request.key_packages),
            group_id=request.group_id,
            extensions=_extensions(request.extensions),
            config=self._tree_config(group, request.external_tree),
            update_path=request.force_path,
        )
        new.config = self._tree_config(new, False)
        return self._subgroup(new, out, request.external_tree)

    @_rpc
    def HandleBranch(self, request: Any) -> Any:
        old = self._state(request.state_id)
        txn: _Transaction = self._get(self._transactions, request.transaction_id, "transaction")
        group = txn.client.join_group(
            request.welcome, request.ratchet_tree or None, config=old.config, resumed_from=old
        )
        return pb2.HandleBranchResponse(
            state_id=self._add_state(group), epoch_authenticator=group.epoch_authenticator
        )

    # --- external proposals (§12.1.8) ---------------------------------------------------
    @_rpc
    def NewMemberAddProposal(self, request: Any) -> Any:
        context = _group_context(request.group_info)
        client = self._client(request.identity, int(context.cipher_suite))
        proposal = client.join_request(context.group_id, context.epoch)
        content = tls.decode(proposal, MLSMessage).public_message
        assert content is not None and content.content.proposal is not None
        add = content.content.proposal.add
        assert add is not None
        kp = tls.encode(
            MLSMessage(wire_format=WireFormat.mls_key_package, key_package=add.key_package),
            MLSMessage,
        )
        handle, secrets = self._new_transaction(client, kp)
        return pb2.NewMemberAddProposalResponse(transaction_id=handle, proposal=proposal, **secrets)

    @_rpc
    def CreateExternalSigner(self, request: Any) -> Any:
        suite = request.cipher_suite
        if suite not in self.suites:
            raise Unsupported(f"cipher suite {suite} is not offered (offered: {self.suites})")
        sk, pk = cipher_suite(suite).signature_key_pair()
        sender = ExternalSender(
            signature_key=pk,
            credential=Credential(credential_type=CredentialType.basic, identity=request.identity),
        )
        handle = self._handle()
        self._signers[handle] = _Signer(suite, sk, sender)
        return pb2.CreateExternalSignerResponse(
            signer_id=handle, external_sender=tls.encode(sender, ExternalSender)
        )

    @_rpc
    def AddExternalSigner(self, request: Any) -> Any:
        group = self._state(request.state_id)
        added = tls.decode(request.external_sender, ExternalSender)
        senders = [*_external_senders(group.extensions), added]
        new = external_senders_extension([(s.signature_key, s.credential) for s in senders])
        # The extension replaces an existing one in place; other extensions are kept.
        extensions = [
            e for e in group.extensions if e.extension_type != ExtensionType.external_senders
        ]
        extensions.append(new)
        return pb2.ProposalResponse(proposal=group.propose_group_context_extensions(extensions))

    @_rpc
    def ExternalSignerProposal(self, request: Any) -> Any:
        signer: _Signer = self._get(self._signers, request.signer_id, "signer")
        info = _message(request.group_info, WireFormat.mls_group_info, "group_info").group_info
        assert info is not None
        context = info.group_context
        senders = _external_senders(context.extensions)
        # The Go runner never fills in signer_index (0 then means "find it"): look our
        # key up among the group's senders; a given index must name our key.
        index = [i for i, s in enumerate(senders) if s.signature_key == signer.sender.signature_key]
        if not index:
            raise BadRequest("this signer is not among the group's external_senders")
        if request.signer_index:
            if request.signer_index not in index:
                raise BadRequest(f"external_senders[{request.signer_index}] is not this signer")
            index = [request.signer_index]

        def leaves() -> list[tuple[int, bytes | None]]:
            data = request.ratchet_tree
            if not data:
                data = next(
                    (
                        e.extension_data
                        for e in info.extensions
                        if e.extension_type == ExtensionType.ratchet_tree
                    ),
                    b"",
                )
            if not data:
                raise BadRequest("a remove needs the ratchet tree, and none was given")
            nodes = tls.decode(data, RatchetTree)
            return [
                (i // 2, node.leaf_node.credential.identity)
                for i, node in enumerate(nodes)
                if i % 2 == 0 and node is not None and node.leaf_node is not None
            ]

        proposal = self._proposal(signer.suite, context.group_id, request.description, leaves)
        message = external_proposal(
            signer.suite,
            signer.signature_private_key,
            index[0],
            context.group_id,
            context.epoch,
            proposal,
        )
        return pb2.ProposalResponse(proposal=message)

    # --- cleanup ------------------------------------------------------------------------
    @_rpc
    def Free(self, request: Any) -> Any:
        self._states.pop(request.state_id, None)
        return pb2.FreeResponse()


def serve(
    port: int = DEFAULT_PORT, host: str = "[::]", suites: Sequence[int] = SUPPORTED_CIPHER_SUITES
) -> tuple[Any, int]:
    """Start a server; returns ``(server, bound_port)`` (port 0 picks a free one).
    Stop it with ``server.stop(None)``."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4),
        options=[
            ("grpc.max_receive_message_length", 64 << 20),
            ("grpc.max_send_message_length", 64 << 20),
        ],
    )
    pb2_grpc.add_MLSClientServicer_to_server(MlswireServicer(suites), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot listen on {host}:{port}")
    server.start()
    return server, bound
