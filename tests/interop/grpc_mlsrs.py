"""mls-rs behind the interop harness's gRPC interface, through its Python bindings
(PyPI ``agentvault-mls-rs-uniffi``): test tooling, like ``node/grpc-peer.mjs`` for ts-mls.

    python tests/interop/grpc_mlsrs.py --port 50053

What the bindings expose is small (PEERS.md): suite 1, groups, KeyPackages, Welcome
joins, commits of Adds or of Removes plus cached proposals, Add and Remove proposals,
application messages without authenticated data, exporter secrets. Every other RPC,
and every option the bindings cannot honour, answers UNIMPLEMENTED with the reason:

* handshake messages are always PublicMessage: in a group with ``encrypt_handshake``
  the peer receives (PrivateMessages included) but refuses to propose or commit;
* no external joins, GroupInfo, PSKs, Update or GroupContextExtensions proposals,
  ReInit, branches or external senders;
* KeyPackage private keys stay inside mls-rs (``init_priv``/``encryption_priv`` come back
  empty, so these joins give no passive-client vectors);
* Protect with authenticated data; a commit mixing Adds and Removes by value; a commit
  with ``force_path`` or ``external_tree``.

The epoch authenticator is not exposed either. The peer reads it from the group's
saved state: the bindings write it through a storage callback, and in that snapshot
the authentication secret directly follows the exporter secret, which the peer finds
by recomputing an exporter value (RFC 9420 §8.5) over each candidate. A wrong guess
could not pass: every epoch authenticator is compared with the other members'.
"""

from __future__ import annotations

import argparse
import sys
import threading
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc  # type: ignore[import-untyped]
import mls_rs_uniffi as m  # type: ignore[import-untyped]

if __package__ in (None, ""):  # run as a script: import mlswire from this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mlswire.codecs import tls
from mlswire.crypto import cipher_suite
from mlswire.engine.key_schedule import mls_exporter
from mlswire.interop.proto import modules
from mlswire.schema import MLSMessage, RatchetTree

pb2, pb2_grpc = modules()
_Servicer: Any = pb2_grpc.MLSClientServicer

NAME = "mls-rs (agentvault-mls-rs-uniffi 0.1.1)"
SUITE = 1
_PROBE = b"mlswire interop: find the exporter secret"


class Unsupported(Exception):
    pass


class _Store(m.GroupStateStorage):  # type: ignore[misc]
    """Where the bindings save group state and past epochs (mls-rs reads those back to
    decrypt late messages): kept in memory, read for the epoch authenticator."""

    def __init__(self) -> None:
        self.states: dict[bytes, bytes] = {}
        self.epochs: dict[bytes, dict[int, bytes]] = {}
        self.last: bytes = b""  # the group written last

    def state(self, group_id: bytes) -> bytes | None:
        return self.states.get(bytes(group_id))

    def epoch(self, group_id: bytes, epoch_id: int) -> bytes | None:
        return self.epochs.get(bytes(group_id), {}).get(epoch_id)

    def write(self, group_id: bytes, group_state: bytes, inserts: Any, updates: Any) -> None:
        gid = bytes(group_id)
        self.states[gid] = bytes(group_state)
        for record in [*inserts, *updates]:
            self.epochs.setdefault(gid, {})[record.id] = bytes(record.data)
        self.last = gid

    def max_epoch_id(self, group_id: bytes) -> int | None:
        return max(self.epochs.get(bytes(group_id), {}), default=None)


@dataclass
class _Member:
    client: Any
    store: _Store
    group: Any
    group_id: bytes
    encrypt: bool = False  # the runner asked for PrivateMessage handshakes
    pending: Any = None  # our commit, applied when processed (HandlePendingCommit)
    own: set[bytes] = field(default_factory=set)  # our proposals, cached already


class MlsRsServicer(_Servicer):  # type: ignore[misc]
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0
        self._states: dict[int, _Member] = {}
        self._transactions: dict[int, tuple[Any, _Store]] = {}
        self._cs = cipher_suite(SUITE)

    def _handle(self) -> int:
        self._next += 1
        return self._next

    @staticmethod
    def _client(identity: bytes) -> tuple[Any, Any, _Store]:
        """A new mls-rs Client with a store of its own (several members of one group
        may live here, and the store is keyed by group only)."""
        store = _Store()
        config = m.client_config_default()
        config.group_state_storage = store
        keypair = m.generate_signature_keypair(m.CipherSuite.CURVE25519_AES128)
        return m.Client(identity, keypair, config), keypair, store

    def _epoch_authenticator(self, member: _Member) -> bytes:
        member.group.write_to_storage()
        state = member.store.states[member.group_id]
        want = member.group.export_secret(_PROBE, b"", 32)
        n = self._cs.hash_len
        for i in range(len(state) - 2 * n - 2):
            if state[i] != n or state[i + n + 1] != n:
                continue
            if mls_exporter(self._cs, state[i + 1 : i + 1 + n], _PROBE, b"", 32) == want:
                return state[i + n + 2 : i + 2 * n + 2]
        raise Unsupported("the epoch authenticator is not in the saved state")

    def _signing_identity(self, member: _Member, identity: bytes) -> Any:
        nodes = tls.decode(member.group.export_tree().bytes, RatchetTree)
        keys = [
            n.leaf_node.signature_key
            for i, n in enumerate(nodes)
            if i % 2 == 0
            and n is not None
            and n.leaf_node is not None
            and n.leaf_node.credential.identity == identity
        ]
        if len(keys) != 1:
            raise Unsupported(f"{len(keys)} members have identity {identity!r}")
        cs = m.CipherSuite.CURVE25519_AES128
        # Only the public half matters: the bindings mint a SigningIdentity from a Client.
        keypair = m.SignatureKeypair(
            cipher_suite=cs,
            public_key=m.SignaturePublicKey(bytes=keys[0]),
            secret_key=m.generate_signature_keypair(cs).secret_key,
        )
        return m.Client(identity, keypair, m.client_config_default()).signing_identity()

    def _receive(self, member: _Member, data: bytes) -> Any:
        if data in member.own:
            return None
        return member.group.process_incoming_message(m.Message.from_bytes(data))

    @staticmethod
    def _sends(member: _Member) -> None:
        if member.encrypt:
            raise Unsupported("encrypt_handshake: the bindings send handshake as PublicMessage")

    def _commit(self, request: Any) -> Any:
        if request.force_path or request.external_tree:
            raise Unsupported("the bindings cannot force a path or leave the tree out")
        member = self._states[request.state_id]
        self._sends(member)
        for p in request.by_reference:
            self._receive(member, p)
        kinds = {bytes(d.proposal_type) for d in request.by_value}
        if kinds - {b"add", b"remove"} or len(kinds) > 1:
            raise Unsupported(f"by-value proposals {sorted(kinds)}: only Adds or only Removes")
        if kinds == {b"add"}:
            kps = [m.Message.from_bytes(d.key_package) for d in request.by_value]
            out = member.group.add_members(kps)
        elif kinds == {b"remove"}:
            ids = [self._signing_identity(member, d.removed_id) for d in request.by_value]
            out = member.group.remove_members(ids)
        else:
            out = member.group.commit()
        member.pending = out.commit_message
        welcome = b"" if out.welcome_message is None else out.welcome_message.to_bytes()
        return pb2.CommitResponse(commit=out.commit_message.to_bytes(), welcome=welcome)

    def _propose(self, member: _Member, proposals: list[Any]) -> Any:
        (proposal,) = proposals
        data = proposal.to_bytes()
        member.own.add(data)
        return pb2.ProposalResponse(proposal=data)

    # --- RPCs -------------------------------------------------------------------------
    def Name(self, request: Any) -> Any:
        return pb2.NameResponse(name=NAME)

    def SupportedCiphersuites(self, request: Any) -> Any:
        return pb2.SupportedCiphersuitesResponse(ciphersuites=[SUITE])

    def CreateGroup(self, request: Any) -> Any:
        client, _, store = self._client(request.identity)
        group = client.create_group(request.group_id)
        handle = self._handle()
        self._states[handle] = _Member(client, store, group, request.group_id)
        self._states[handle].encrypt = request.encrypt_handshake
        return pb2.CreateGroupResponse(state_id=handle)

    def CreateKeyPackage(self, request: Any) -> Any:
        client, keypair, store = self._client(request.identity)
        kp = client.generate_key_package_message().to_bytes()
        handle = self._handle()
        self._transactions[handle] = (client, store)
        return pb2.CreateKeyPackageResponse(
            transaction_id=handle, key_package=kp, signature_priv=keypair.secret_key.bytes
        )

    def JoinGroup(self, request: Any) -> Any:
        client, store = self._transactions[request.transaction_id]
        tree = m.RatchetTree(bytes=request.ratchet_tree) if request.ratchet_tree else None
        info = client.join_group(tree, m.Message.from_bytes(request.welcome))
        # The group id travels encrypted; the storage callback names the group it saves.
        info.group.write_to_storage()
        member = _Member(client, store, info.group, store.last, request.encrypt_handshake)
        handle = self._handle()
        self._states[handle] = member
        return pb2.JoinGroupResponse(
            state_id=handle, epoch_authenticator=self._epoch_authenticator(member)
        )

    def Protect(self, request: Any) -> Any:
        if request.authenticated_data:
            raise Unsupported("Protect with authenticated data: the bindings take none")
        member = self._states[request.state_id]
        ct = member.group.encrypt_application_message(request.plaintext).to_bytes()
        return pb2.ProtectResponse(ciphertext=ct)

    def Unprotect(self, request: Any) -> Any:
        member = self._states[request.state_id]
        received = self._receive(member, request.ciphertext)
        if not isinstance(received, m.ReceivedMessage.APPLICATION_MESSAGE):
            raise Unsupported("not an application message")
        # The bindings do not return the authenticated data: it travels in the clear.
        private = tls.decode(request.ciphertext, MLSMessage).private_message
        return pb2.UnprotectResponse(
            authenticated_data=private.authenticated_data, plaintext=received.data
        )

    def Export(self, request: Any) -> Any:
        member = self._states[request.state_id]
        secret = member.group.export_secret(
            request.label.encode(), request.context, request.key_length
        )
        return pb2.ExportResponse(exported_secret=secret)

    def StateAuth(self, request: Any) -> Any:
        ea = self._epoch_authenticator(self._states[request.state_id])
        return pb2.StateAuthResponse(state_auth_secret=ea)

    def AddProposal(self, request: Any) -> Any:
        member = self._states[request.state_id]
        self._sends(member)
        kp = m.Message.from_bytes(request.key_package)
        return self._propose(member, member.group.propose_add_members([kp]))

    def RemoveProposal(self, request: Any) -> Any:
        member = self._states[request.state_id]
        self._sends(member)
        who = self._signing_identity(member, request.removed_id)
        return self._propose(member, member.group.propose_remove_members([who]))

    def Commit(self, request: Any) -> Any:
        return self._commit(request)

    def HandlePendingCommit(self, request: Any) -> Any:
        member = self._states[request.state_id]
        if member.pending is not None:
            member.group.process_incoming_message(member.pending)
            member.pending = None
        return pb2.HandleCommitResponse(
            state_id=request.state_id, epoch_authenticator=self._epoch_authenticator(member)
        )

    def HandleCommit(self, request: Any) -> Any:
        member = self._states[request.state_id]
        for p in request.proposal:
            self._receive(member, p)
        received = self._receive(member, request.commit)
        removed = isinstance(received, m.ReceivedMessage.COMMIT) and isinstance(
            received.effect, m.CommitEffect.REMOVED
        )
        ea = b"" if removed else self._epoch_authenticator(member)
        return pb2.HandleCommitResponse(state_id=request.state_id, epoch_authenticator=ea)

    def Free(self, request: Any) -> Any:
        self._states.pop(request.state_id, None)
        return pb2.FreeResponse()


def _wrap(name: str, method: Any) -> Any:
    def rpc(self: MlsRsServicer, request: Any, context: Any) -> Any:
        with self._lock:
            try:
                return method(self, request)
            except Unsupported as e:
                context.abort(grpc.StatusCode.UNIMPLEMENTED, f"mls-rs bindings: {e}")
            except KeyError as e:
                context.abort(grpc.StatusCode.NOT_FOUND, f"mls-rs peer: no handle {e}")
            except m.Error as e:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"mls-rs: {e!r}")
            except BaseException as e:  # a Rust panic, e.g. todo!() for external senders
                if "not yet implemented" in str(e):
                    context.abort(grpc.StatusCode.UNIMPLEMENTED, f"mls-rs bindings: {e}")
                raise

    rpc.__name__ = name
    return rpc


def _unimplemented(name: str) -> Any:
    def rpc(self: MlsRsServicer, request: Any, context: Any) -> Any:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, f"mls-rs bindings: no {name}")

    return rpc


for _name in [method.name for method in pb2.DESCRIPTOR.services_by_name["MLSClient"].methods]:
    _own = vars(MlsRsServicer).get(_name)
    setattr(
        MlsRsServicer,
        _name,
        _wrap(_name, _own) if _own is not None else _unimplemented(_name),
    )


def serve(port: int = 0, host: str = "127.0.0.1") -> tuple[Any, int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    pb2_grpc.add_MLSClientServicer_to_server(MlsRsServicer(), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    server.start()
    return server, bound


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=50053)
    args = parser.parse_args()
    server, port = serve(args.port)
    print(f"listening on {port}", flush=True)
    server.wait_for_termination()
    return 0


if __name__ == "__main__":
    sys.exit(main())
