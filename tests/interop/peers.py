"""Uniform drivers for the MLS implementations the interop tests put in one group.

Each implementation is wrapped as a :class:`Peer`: an object that holds any number of
clients and group states and answers the handful of operations an interop scenario
needs. Clients and groups are named by :class:`PeerClient` and :class:`PeerGroup`
records whose integer ``handle`` only means something to the peer that issued it.

Contract every peer keeps, so scenarios can be written once:

* A commit-making operation (``add_members``, ``commit``, ``remove_member``) returns
  only after the committer has applied its own commit: on return the committer is in
  the new epoch. (mls-rs and mlswire stage the commit; the peer merges it. ts-mls
  applies it at once.)
* ``process`` applies an incoming commit or proposal and reports what it was; it raises
  :class:`PeerRejected` when the implementation refuses the message, and any other
  exception means a bug in the harness or a crash in the implementation.
* Bytes in and out are always RFC 9420 TLS encodings (MLSMessage, or the bare
  ``optional<Node> ratchet_tree<V>`` for ratchet trees).

Peers:

* :class:`TsMlsPeer` drives ``node/interop-peer.mjs`` (ts-mls) over JSON lines.
* :class:`MlsRsPeer` wraps the ``mls_rs_uniffi`` bindings of mls-rs.
* :class:`MlswirePeer` wraps ``mlswire.engine.group``.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    import mls_rs_uniffi  # type: ignore[import-untyped]  # no stubs; UniFFI-generated

    from mlswire.engine import group as mlswire_group

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "node"
DRIVER = NODE_DIR / "interop-peer.mjs"

# How long one ts-mls operation may take before the harness gives up on the process.
# The slowest real operation (a P-521 or Ed448 commit in pure JS) takes well under a
# second; the margin is for a loaded CI machine, not for expected work.
NODE_TIMEOUT = float(os.environ.get("MLSWIRE_INTEROP_NODE_TIMEOUT", "60"))


class PeerUnavailable(RuntimeError):
    """The implementation cannot be started here (missing node, packages, module)."""


class PeerRejected(Exception):
    """The implementation refused an operation with its own, deliberate error.

    ``kind`` is the implementation's error class name; the original exception, when
    there is one in this process, is chained as ``__cause__``.
    """

    def __init__(self, peer: str, kind: str, message: str) -> None:
        self.peer = peer
        self.kind = kind
        super().__init__(f"{peer}: {message}")


@dataclass(frozen=True)
class MemberRef:
    """How one member is named to another implementation: by its basic credential's
    identity and its signature key (mls-rs removes by whole signing identity; the
    others look the leaf up in their tree)."""

    identity: bytes
    signature_key: bytes


@dataclass(frozen=True)
class PeerClient:
    peer: str
    handle: int
    identity: bytes
    signature_key: bytes
    suite: int

    @property
    def ref(self) -> MemberRef:
        return MemberRef(self.identity, self.signature_key)


@dataclass(frozen=True)
class PeerGroup:
    peer: str
    handle: int
    client: PeerClient


@dataclass(frozen=True)
class CommitResult:
    commit: bytes
    welcome: bytes | None
    # The ratchet tree after the commit, for joiners that get it out of band; None when
    # the implementation does not hand it out with the commit.
    ratchet_tree: bytes | None


@dataclass(frozen=True)
class Branched:
    """A subgroup made from a group (RFC 9420 §11.3): the brancher's new group, the
    Welcome for the others, and the new group's ratchet tree (for joiners whose Welcome
    does not carry it)."""

    group: PeerGroup
    welcome: bytes
    ratchet_tree: bytes


@dataclass(frozen=True)
class Received:
    kind: Literal["application", "commit", "proposal"]
    data: bytes | None = None
    # True when the processed commit removed the processing member itself.
    removed: bool = False


class Peer(Protocol):
    """The operations an interop scenario drives on one implementation."""

    name: str
    suites: frozenset[int]

    def new_client(self, identity: bytes, suite: int = 1) -> PeerClient: ...

    def key_package(self, client: PeerClient) -> bytes:
        """A fresh KeyPackage as an MLSMessage."""
        ...

    def create_group(self, client: PeerClient, group_id: bytes | None = None) -> PeerGroup: ...

    def join(
        self, client: PeerClient, welcome: bytes, ratchet_tree: bytes | None = None
    ) -> PeerGroup: ...

    def add_members(self, group: PeerGroup, key_packages: list[bytes]) -> CommitResult: ...

    def commit(self, group: PeerGroup) -> CommitResult:
        """A commit with an UpdatePath and no proposals (a self-update)."""
        ...

    def remove_member(self, group: PeerGroup, member: MemberRef) -> CommitResult: ...

    def propose_remove(self, group: PeerGroup, member: MemberRef) -> bytes:
        """A standalone Remove proposal (MLSMessage), cached by the proposer too, for any
        member to commit by reference with its next ``commit``."""
        ...

    def process(self, group: PeerGroup, message: bytes) -> Received: ...

    def encrypt(self, group: PeerGroup, data: bytes) -> bytes: ...

    def export_secret(
        self, group: PeerGroup, label: bytes, context: bytes, length: int
    ) -> bytes: ...

    def epoch(self, group: PeerGroup) -> int: ...

    def epoch_authenticator(self, group: PeerGroup) -> bytes | None:
        """RFC 9420 §8.7, or None where the implementation does not expose it."""
        ...

    def ratchet_tree(self, group: PeerGroup) -> bytes | None:
        """The public ratchet tree (RFC 9420 §12.4.3.3 encoding), or None if not exposed."""
        ...

    def close(self) -> None: ...


# ----------------------------------------------------------------------------- ts-mls


class TsMlsPeer:
    """ts-mls, driven through one long-running ``node node/interop-peer.mjs`` process.

    One request line out, one response line back. A reader thread moves stdout lines
    into a queue so that every wait has a timeout (a wedged node process fails the test
    instead of hanging CI); another drains stderr so node can never block on a full
    pipe, and keeps its tail for error messages.
    """

    name = "ts-mls"

    def __init__(self, *, public_handshake: bool = False, ratchet_tree_extension: bool = True):
        self.public_handshake = public_handshake
        self.ratchet_tree_extension = ratchet_tree_extension
        node = shutil.which("node")
        if node is None:
            raise PeerUnavailable("ts-mls peer: `node` (>= 20) not found on PATH")
        if not (NODE_DIR / "node_modules" / "ts-mls" / "package.json").is_file():
            raise PeerUnavailable(
                f"ts-mls peer: {NODE_DIR / 'node_modules'} is missing or incomplete; "
                "run npm ci --prefix node (from the project root)"
            )
        self._proc = subprocess.Popen(
            [node, str(DRIVER)],
            cwd=NODE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr: deque[str] = deque(maxlen=40)
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        self._next_id = 0
        hello = self._call("hello")
        self.version: str = hello["ts-mls"]
        self.suites = frozenset(int(s) for s in hello["suites"])

    def _read_stdout(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self._lines.put(line)
        self._lines.put(None)  # EOF: the process is gone

    def _read_stderr(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self._stderr.append(line.rstrip("\n"))

    def _died(self, what: str) -> PeerUnavailable:
        tail = "\n".join(self._stderr)
        return PeerUnavailable(
            f"ts-mls peer: {what} (exit code {self._proc.poll()}); node stderr:\n{tail}"
        )

    def _call(self, op: str, **args: Any) -> dict[str, Any]:
        self._next_id += 1
        request = {"id": self._next_id, "op": op, **args}
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(request) + "\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._died(f"cannot send {op!r}") from None
        try:
            line = self._lines.get(timeout=NODE_TIMEOUT)
        except queue.Empty:
            raise self._died(f"no answer to {op!r} within {NODE_TIMEOUT:.0f}s") from None
        if line is None:
            raise self._died(f"process ended while answering {op!r}")
        response = json.loads(line)
        if response.get("id") != self._next_id:
            raise self._died(f"answer {response.get('id')} to request {self._next_id}")
        if not response["ok"]:
            kind = response.get("kind", "Error")
            # The driver's own complaints about a request are harness bugs, never
            # an expected rejection by ts-mls.
            if kind in ("ProtocolError", "DriverError"):
                raise RuntimeError(f"ts-mls driver: {response['error']}")
            raise PeerRejected(self.name, kind, response["error"])
        result: dict[str, Any] = response["result"]
        return result

    def _commit_args(self) -> dict[str, Any]:
        return {
            "public": self.public_handshake,
            "ratchet_tree_extension": self.ratchet_tree_extension,
        }

    def _group(self, client: PeerClient, result: dict[str, Any]) -> PeerGroup:
        return PeerGroup(self.name, int(result["group"]), client)

    @staticmethod
    def _commit(result: dict[str, Any]) -> CommitResult:
        welcome = result["welcome"]
        return CommitResult(
            bytes.fromhex(result["commit"]),
            None if welcome is None else bytes.fromhex(welcome),
            bytes.fromhex(result["ratchet_tree"]),
        )

    def new_client(
        self, identity: bytes, suite: int = 1, *, rfc_signature_keys: bool = True
    ) -> PeerClient:
        """``rfc_signature_keys=False`` keeps ts-mls's own ECDSA public keys, which are
        compressed points (see interop-peer.mjs); the default makes them conform."""
        r = self._call(
            "new_client",
            identity=identity.hex(),
            suite=suite,
            rfc_signature_keys=rfc_signature_keys,
        )
        return PeerClient(
            self.name, int(r["client"]), identity, bytes.fromhex(r["signature_key"]), suite
        )

    def key_package(self, client: PeerClient) -> bytes:
        return bytes.fromhex(self._call("key_package", client=client.handle)["key_package"])

    def create_group(self, client: PeerClient, group_id: bytes | None = None) -> PeerGroup:
        args: dict[str, Any] = {"client": client.handle}
        if group_id is not None:
            args["group_id"] = group_id.hex()
        return self._group(client, self._call("create_group", **args))

    def join(
        self, client: PeerClient, welcome: bytes, ratchet_tree: bytes | None = None
    ) -> PeerGroup:
        args: dict[str, Any] = {"client": client.handle, "welcome": welcome.hex()}
        if ratchet_tree is not None:
            args["ratchet_tree"] = ratchet_tree.hex()
        return self._group(client, self._call("join", **args))

    def add_members(self, group: PeerGroup, key_packages: list[bytes]) -> CommitResult:
        return self._commit(
            self._call(
                "add_members",
                group=group.handle,
                key_packages=[kp.hex() for kp in key_packages],
                **self._commit_args(),
            )
        )

    def commit(self, group: PeerGroup) -> CommitResult:
        return self._commit(self._call("commit", group=group.handle, **self._commit_args()))

    def remove_member(self, group: PeerGroup, member: MemberRef) -> CommitResult:
        return self._commit(
            self._call(
                "remove_member",
                group=group.handle,
                identity=member.identity.hex(),
                signature_key=member.signature_key.hex(),
                **self._commit_args(),
            )
        )

    def propose_remove(self, group: PeerGroup, member: MemberRef) -> bytes:
        r = self._call(
            "propose_remove",
            group=group.handle,
            identity=member.identity.hex(),
            signature_key=member.signature_key.hex(),
            public=self.public_handshake,
        )
        return bytes.fromhex(r["message"])

    def branch(self, group: PeerGroup, key_packages: list[bytes]) -> Branched:
        return self._successor("branch", group, key_packages)

    def reinit(self, group: PeerGroup, group_id: bytes, suite: int | None = None) -> CommitResult:
        """Commit a ReInit into ``group_id`` (and ``suite``, default the group's)."""
        r = self._call("reinit", group=group.handle, group_id=group_id.hex(), cipher_suite=suite)
        return self._commit(r)

    def reinit_successor(
        self, group: PeerGroup, key_packages: list[bytes], client: PeerClient | None = None
    ) -> Branched:
        """``client``: this member's client in the new suite, if the ReInit changes it."""
        return self._successor("reinit_successor", group, key_packages, client)

    def join_reinit(
        self, client: PeerClient, old: PeerGroup, welcome: bytes, ratchet_tree: bytes
    ) -> PeerGroup:
        return self._join_successor("join_reinit", client, old, welcome, ratchet_tree)

    def join_branch(
        self, client: PeerClient, old: PeerGroup, welcome: bytes, ratchet_tree: bytes
    ) -> PeerGroup:
        return self._join_successor("join_branch", client, old, welcome, ratchet_tree)

    def external_group_info(self, group: PeerGroup, *, rfc_external_pub: bool = True) -> bytes:
        """A GroupInfo MLSMessage with external_pub and the ratchet tree (§12.4.3.2),
        signed by ts-mls; ``rfc_external_pub=False``: ts-mls's own bare-key encoding
        of external_pub instead of the RFC's (the driver's external_group_info)."""
        r = self._call("external_group_info", group=group.handle, rfc_external_pub=rfc_external_pub)
        return bytes.fromhex(r["group_info"])

    def external_join(self, client: PeerClient, group_info: bytes) -> tuple[PeerGroup, bytes]:
        """Join by an external Commit: the new group and the Commit for the members."""
        r = self._call("external_join", client=client.handle, group_info=group_info.hex())
        return self._group(client, r), bytes.fromhex(r["commit"])

    def _successor(
        self,
        op: str,
        group: PeerGroup,
        key_packages: list[bytes],
        client: PeerClient | None = None,
    ) -> Branched:
        """A new group tied to ``group`` by a resumption PSK (§11.2 reinit, §11.3 branch)."""
        owner = client or group.client
        r = self._call(
            op,
            group=group.handle,
            key_packages=[kp.hex() for kp in key_packages],
            client=None if client is None else client.handle,
        )
        return Branched(
            self._group(owner, r),
            bytes.fromhex(r["welcome"]),
            bytes.fromhex(r["ratchet_tree"]),
        )

    def _join_successor(
        self, op: str, client: PeerClient, old: PeerGroup, welcome: bytes, ratchet_tree: bytes
    ) -> PeerGroup:
        r = self._call(
            op,
            client=client.handle,
            old_group=old.handle,
            welcome=welcome.hex(),
            ratchet_tree=ratchet_tree.hex(),
        )
        return self._group(client, r)

    def process(self, group: PeerGroup, message: bytes) -> Received:
        r = self._call("process", group=group.handle, message=message.hex())
        data = bytes.fromhex(r["data"]) if r["kind"] == "application" else None
        return Received(r["kind"], data, removed=bool(r["removed"]))

    def encrypt(self, group: PeerGroup, data: bytes) -> bytes:
        return bytes.fromhex(self._call("encrypt", group=group.handle, data=data.hex())["message"])

    def export_secret(self, group: PeerGroup, label: bytes, context: bytes, length: int) -> bytes:
        r = self._call(
            "export_secret",
            group=group.handle,
            label=label.hex(),
            context=context.hex(),
            length=length,
        )
        return bytes.fromhex(r["secret"])

    def info(self, group: PeerGroup) -> dict[str, Any]:
        return self._call("group_info", group=group.handle)

    def epoch(self, group: PeerGroup) -> int:
        return int(self.info(group)["epoch"])

    def epoch_authenticator(self, group: PeerGroup) -> bytes | None:
        return bytes.fromhex(self.info(group)["epoch_authenticator"])

    def ratchet_tree(self, group: PeerGroup) -> bytes | None:
        return bytes.fromhex(self.info(group)["ratchet_tree"])

    def codec_roundtrip(self, type_name: str, values: list[bytes]) -> list[str | None]:
        """ts-mls decodes each value as the RFC 9420 type ``type_name`` (one of
        node/codecs.mjs's) and re-encodes it: per value None when the decoder took every
        byte and the re-encoding is byte-identical, else ts-mls's reason."""
        r = self._call("codec_roundtrip", type=type_name, values=[v.hex() for v in values])
        return list(r["results"])

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()  # the driver exits at end of input
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


# ----------------------------------------------------------------------------- mls-rs


def message_epoch(message: bytes) -> int:
    """The epoch in the clear header of a PublicMessage or PrivateMessage MLSMessage.

    mls-rs's bindings do not expose a group's epoch, so :class:`MlsRsPeer` follows it
    from the headers of the messages the group itself produces and accepts. This reads
    just those header fields (version, wire_format, group_id<V>, epoch) rather than
    decoding with mlswire, so the ts-mls <-> mls-rs runs that validate this harness do
    not depend on the codec under test.
    """
    if len(message) < 5:
        raise ValueError("too short for an MLSMessage")
    wire_format = int.from_bytes(message[2:4], "big")
    if wire_format not in (1, 2):  # mls_public_message, mls_private_message
        raise ValueError(f"wire format {wire_format} carries no epoch")
    first = message[4]
    size = 1 << (first >> 6)  # RFC 9420 §2.1.2 variable-length integer
    if size == 8:
        raise ValueError("invalid variable-length integer")
    length = int.from_bytes(message[4 : 4 + size], "big") & ~(0xC0 << (8 * (size - 1)))
    start = 4 + size + length
    if len(message) < start + 8:
        raise ValueError("truncated before the epoch")
    return int.from_bytes(message[start : start + 8], "big")


@dataclass
class _RsGroup:
    group: mls_rs_uniffi.Group
    # None until a message of this group revealed it (see message_epoch): a joiner
    # learns its epoch from the first message it sends or accepts.
    epoch: int | None
    removed: bool = False


class MlsRsPeer:
    """mls-rs through its UniFFI bindings (``agentvault-mls-rs-uniffi``), suite 1 only.

    The bindings stage a member's own commit until the member processes it, so every
    commit-making operation here processes its own commit before returning. Members are
    removed by signing identity, which the bindings can only produce as an opaque object
    from a Client: :meth:`_signing_identity` builds one for any (identity, signature key)
    through a throw-away Client whose keypair carries the member's public key.
    """

    name = "mls-rs"
    suites = frozenset({1})

    def __init__(self, *, ratchet_tree_extension: bool = True) -> None:
        try:
            import mls_rs_uniffi as m
        except ImportError as exc:
            raise PeerUnavailable(
                "mls-rs peer: module mls_rs_uniffi not importable; "
                "pip install agentvault-mls-rs-uniffi==0.1.1 (part of the dev extra)"
            ) from exc
        self._m = m
        self.ratchet_tree_extension = ratchet_tree_extension
        self._clients: dict[int, mls_rs_uniffi.Client] = {}
        self._groups: dict[int, _RsGroup] = {}
        self._next = 0

    def _suite(self, suite: int) -> mls_rs_uniffi.CipherSuite:
        if suite != 1:
            raise ValueError(f"mls-rs bindings offer cipher suite 1 only, not {suite}")
        return self._m.CipherSuite.CURVE25519_AES128

    def _handle(self) -> int:
        self._next += 1
        return self._next

    def _rejected(self, exc: Exception) -> PeerRejected:
        return PeerRejected(self.name, type(exc).__name__, str(exc))

    def _signing_identity(self, member: MemberRef) -> mls_rs_uniffi.SigningIdentity:
        m = self._m
        cs = self._suite(1)
        # The secret half is never used: this Client exists only to mint the
        # SigningIdentity (basic credential + public key) the bindings compare with.
        unused = m.generate_signature_keypair(cs).secret_key
        keypair = m.SignatureKeypair(
            cipher_suite=cs,
            public_key=m.SignaturePublicKey(bytes=member.signature_key),
            secret_key=unused,
        )
        return m.Client(member.identity, keypair, m.client_config_default()).signing_identity()

    def new_client(self, identity: bytes, suite: int = 1) -> PeerClient:
        m = self._m
        keypair = m.generate_signature_keypair(self._suite(suite))
        config = m.client_config_default()
        config.use_ratchet_tree_extension = self.ratchet_tree_extension
        handle = self._handle()
        self._clients[handle] = m.Client(identity, keypair, config)
        return PeerClient(self.name, handle, identity, keypair.public_key.bytes, suite)

    def _group(self, group: PeerGroup) -> _RsGroup:
        return self._groups[group.handle]

    def key_package(self, client: PeerClient) -> bytes:
        message = self._clients[client.handle].generate_key_package_message()
        data: bytes = message.to_bytes()
        return data

    def create_group(self, client: PeerClient, group_id: bytes | None = None) -> PeerGroup:
        handle = self._handle()
        self._groups[handle] = _RsGroup(self._clients[client.handle].create_group(group_id), 0)
        return PeerGroup(self.name, handle, client)

    def join(
        self, client: PeerClient, welcome: bytes, ratchet_tree: bytes | None = None
    ) -> PeerGroup:
        m = self._m
        tree = None if ratchet_tree is None else m.RatchetTree(bytes=ratchet_tree)
        try:
            info = self._clients[client.handle].join_group(tree, m.Message.from_bytes(welcome))
        except m.Error as exc:
            raise self._rejected(exc) from exc
        handle = self._handle()
        self._groups[handle] = _RsGroup(info.group, None)
        return PeerGroup(self.name, handle, client)

    def _apply_own(self, state: _RsGroup, output: mls_rs_uniffi.CommitOutput) -> CommitResult:
        commit: bytes = output.commit_message.to_bytes()
        received = state.group.process_incoming_message(output.commit_message)
        if not isinstance(received, self._m.ReceivedMessage.COMMIT):
            raise AssertionError(f"mls-rs: own commit processed as {received}")
        state.epoch = message_epoch(commit) + 1
        welcome = output.welcome_message
        tree = output.ratchet_tree
        return CommitResult(
            commit,
            None if welcome is None else welcome.to_bytes(),
            None if tree is None else tree.bytes,
        )

    def add_members(self, group: PeerGroup, key_packages: list[bytes]) -> CommitResult:
        m = self._m
        state = self._group(group)
        try:
            output = state.group.add_members([m.Message.from_bytes(kp) for kp in key_packages])
        except m.Error as exc:
            raise self._rejected(exc) from exc
        return self._apply_own(state, output)

    def commit(self, group: PeerGroup) -> CommitResult:
        # A commit without proposals: mls-rs always includes a path then (RFC 9420
        # §12.4 requires one for an empty commit).
        state = self._group(group)
        try:
            output = state.group.commit()
        except self._m.Error as exc:
            raise self._rejected(exc) from exc
        return self._apply_own(state, output)

    def remove_member(self, group: PeerGroup, member: MemberRef) -> CommitResult:
        state = self._group(group)
        try:
            output = state.group.remove_members([self._signing_identity(member)])
        except self._m.Error as exc:
            raise self._rejected(exc) from exc
        return self._apply_own(state, output)

    def propose_remove(self, group: PeerGroup, member: MemberRef) -> bytes:
        state = self._group(group)
        try:
            (proposal,) = state.group.propose_remove_members([self._signing_identity(member)])
        except self._m.Error as exc:
            raise self._rejected(exc) from exc
        message: bytes = proposal.to_bytes()
        state.epoch = message_epoch(message)
        return message

    def process(self, group: PeerGroup, message: bytes) -> Received:
        m = self._m
        state = self._group(group)
        try:
            received = state.group.process_incoming_message(m.Message.from_bytes(message))
        except m.Error as exc:
            raise self._rejected(exc) from exc
        header_epoch = message_epoch(message)
        if isinstance(received, m.ReceivedMessage.APPLICATION_MESSAGE):
            if state.epoch is None:
                state.epoch = header_epoch
            return Received("application", received.data)
        if isinstance(received, m.ReceivedMessage.COMMIT):
            if isinstance(received.effect, m.CommitEffect.REMOVED):
                state.removed = True
                state.epoch = header_epoch
                return Received("commit", removed=True)
            state.epoch = header_epoch + 1
            return Received("commit")
        if isinstance(received, m.ReceivedMessage.RECEIVED_PROPOSAL):
            state.epoch = header_epoch
            return Received("proposal")
        raise AssertionError(f"mls-rs: unexpected result {received}")

    def encrypt(self, group: PeerGroup, data: bytes) -> bytes:
        state = self._group(group)
        try:
            message: bytes = state.group.encrypt_application_message(data).to_bytes()
        except self._m.Error as exc:
            raise self._rejected(exc) from exc
        if state.epoch is None:
            state.epoch = message_epoch(message)
        return message

    def export_secret(self, group: PeerGroup, label: bytes, context: bytes, length: int) -> bytes:
        try:
            secret: bytes = self._group(group).group.export_secret(label, context, length)
        except self._m.Error as exc:
            raise self._rejected(exc) from exc
        return secret

    def epoch(self, group: PeerGroup) -> int:
        epoch = self._group(group).epoch
        if epoch is None:
            raise RuntimeError(
                "mls-rs does not expose the epoch; this member has not yet sent or "
                "accepted a message that shows it"
            )
        return epoch

    def epoch_authenticator(self, group: PeerGroup) -> bytes | None:
        return None  # not exposed by the bindings

    def ratchet_tree(self, group: PeerGroup) -> bytes | None:
        tree: bytes = self._group(group).group.export_tree().bytes
        return tree

    def message_roundtrip(self, message: bytes) -> bytes:
        """``message`` decoded as an MLSMessage by mls-rs and encoded again. The bindings
        expose a codec for MLSMessage only (``Message.from_bytes`` / ``to_bytes``)."""
        m = self._m
        try:
            out: bytes = m.Message.from_bytes(message).to_bytes()
        except m.Error as exc:
            raise self._rejected(exc) from exc
        return out

    def close(self) -> None:
        self._groups.clear()
        self._clients.clear()


# ----------------------------------------------------------------------------- mlswire

class MlswirePeer:
    """mlswire's own engine, through its public API only (as an application would).

    ``ratchet_tree_extension`` and ``public_handshake`` become the GroupConfig of the
    groups created or joined afterwards (mlswire keeps them per group).
    """

    name = "mlswire"
    suites = frozenset(range(1, 8))

    def __init__(
        self, *, public_handshake: bool = False, ratchet_tree_extension: bool = True
    ) -> None:
        from mlswire.engine import group as engine
        from mlswire.errors import MLSError

        self._engine = engine
        self._error = MLSError
        self.public_handshake = public_handshake
        self.ratchet_tree_extension = ratchet_tree_extension
        self._clients: dict[int, mlswire_group.Client] = {}
        self._groups: dict[int, mlswire_group.Group] = {}
        self._next = 0

    def _handle(self) -> int:
        self._next += 1
        return self._next

    def _rejected(self, exc: Exception) -> PeerRejected:
        return PeerRejected(self.name, type(exc).__name__, str(exc))

    def _config(self) -> mlswire_group.GroupConfig:
        return self._engine.GroupConfig(
            handshake_wire_format="public" if self.public_handshake else "private",
            ratchet_tree_extension=self.ratchet_tree_extension,
        )

    def new_client(self, identity: bytes, suite: int = 1) -> PeerClient:
        client = self._engine.Client.generate(identity, suite)
        handle = self._handle()
        self._clients[handle] = client
        return PeerClient(self.name, handle, identity, bytes(client.signature_public_key), suite)

    def key_package(self, client: PeerClient) -> bytes:
        data: bytes = self._clients[client.handle].key_package()
        return data

    def create_group(self, client: PeerClient, group_id: bytes | None = None) -> PeerGroup:
        handle = self._handle()
        self._groups[handle] = self._clients[client.handle].create_group(
            group_id, config=self._config()
        )
        return PeerGroup(self.name, handle, client)

    def join(
        self, client: PeerClient, welcome: bytes, ratchet_tree: bytes | None = None
    ) -> PeerGroup:
        return self._joined(client, welcome, ratchet_tree)

    def _joined(
        self,
        client: PeerClient,
        welcome: bytes,
        ratchet_tree: bytes | None,
        resumed_from: mlswire_group.Group | None = None,
    ) -> PeerGroup:
        try:
            group = self._clients[client.handle].join_group(
                welcome, ratchet_tree, config=self._config(), resumed_from=resumed_from
            )
        except self._error as exc:
            raise self._rejected(exc) from exc
        handle = self._handle()
        self._groups[handle] = group
        return PeerGroup(self.name, handle, client)

    def _committed(
        self,
        group: PeerGroup,
        make: Callable[[mlswire_group.Group], mlswire_group.CommitOutput],
    ) -> CommitResult:
        g = self._groups[group.handle]
        try:
            output = make(g)
        except self._error as exc:
            raise self._rejected(exc) from exc
        # mlswire stages its own commit until told the DS accepted it; here every
        # commit is accepted, so merge at once.
        g.merge_pending_commit()
        return CommitResult(output.commit, output.welcome, g.ratchet_tree())

    def add_members(self, group: PeerGroup, key_packages: list[bytes]) -> CommitResult:
        return self._committed(group, lambda g: g.add_members(key_packages))

    def commit(self, group: PeerGroup) -> CommitResult:
        return self._committed(group, lambda g: g.commit(update_path=True))

    @staticmethod
    def _leaf_of(g: mlswire_group.Group, member: MemberRef) -> int:
        leaves = [
            index
            for index, m in g.members.items()
            if m.identity == member.identity and m.signature_key == member.signature_key
        ]
        if len(leaves) != 1:
            raise LookupError(f"mlswire: {len(leaves)} members match {member}")
        return leaves[0]

    def remove_member(self, group: PeerGroup, member: MemberRef) -> CommitResult:
        return self._committed(group, lambda g: g.remove_members([self._leaf_of(g, member)]))

    def propose_remove(self, group: PeerGroup, member: MemberRef) -> bytes:
        g = self._groups[group.handle]
        try:
            message: bytes = g.propose_remove(self._leaf_of(g, member))
        except self._error as exc:
            raise self._rejected(exc) from exc
        return message

    def process(self, group: PeerGroup, message: bytes) -> Received:
        engine = self._engine
        g = self._groups[group.handle]
        try:
            result = g.process(message)
            if isinstance(result, engine.ApplicationMessage):
                return Received("application", bytes(result.data))
            if isinstance(result, engine.StagedCommit):
                removed = bool(result.removes_self)
                result.merge()
                return Received("commit", removed=removed)
        except self._error as exc:
            raise self._rejected(exc) from exc
        if not isinstance(result, engine.ProposalMessage):
            raise AssertionError(f"mlswire: unexpected result {result!r}")
        return Received("proposal")

    def branch(self, group: PeerGroup, key_packages: list[bytes]) -> Branched:
        g = self._groups[group.handle]
        return self._successor(group, lambda: g.branch(key_packages, config=self._config()))

    def reinit(self, group: PeerGroup, group_id: bytes, suite: int | None = None) -> CommitResult:
        """Commit a ReInit into ``group_id`` (and ``suite``, default the group's)."""
        return self._committed(group, lambda g: g.reinit(group_id, suite=suite))

    def reinit_successor(
        self, group: PeerGroup, key_packages: list[bytes], client: PeerClient | None = None
    ) -> Branched:
        """``client``: this member's client in the new suite, if the ReInit changes it."""
        g = self._groups[group.handle]
        new_client = None if client is None else self._clients[client.handle]
        return self._successor(
            group,
            lambda: g.reinit_successor(key_packages, client=new_client, config=self._config()),
            client,
        )

    def _successor(
        self,
        group: PeerGroup,
        make: Callable[[], tuple[mlswire_group.Group, mlswire_group.CommitOutput]],
        client: PeerClient | None = None,
    ) -> Branched:
        try:
            new, output = make()
        except self._error as exc:
            raise self._rejected(exc) from exc
        assert output.welcome is not None
        handle = self._handle()
        self._groups[handle] = new
        owner = client or group.client
        return Branched(PeerGroup(self.name, handle, owner), output.welcome, new.ratchet_tree())

    def external_group_info(self, group: PeerGroup, *, ts_mls_external_pub: bool = False) -> bytes:
        """A GroupInfo MLSMessage with external_pub and the ratchet tree (§12.4.3.2).

        ``ts_mls_external_pub``: external_pub as ts-mls 1.6.4 reads it, the bare key
        without RFC 9420's opaque<V> length (docs/INTEROP.md), in a GroupInfo signed by
        this member as mlswire signs any; the only form ts-mls can join from."""
        g = self._groups[group.handle]
        if not ts_mls_external_pub:
            info: bytes = g.group_info(ratchet_tree=True)
            return info
        from mlswire.engine.group._wire import extension
        from mlswire.engine.group.group_info import group_info_message
        from mlswire.engine.transcript import confirmation_tag
        from mlswire.engine.welcome import sign_group_info
        from mlswire.schema import ExtensionType

        st = g._state
        _, external_pub = st.secrets.external_key_pair()
        return group_info_message(
            sign_group_info(
                st.suite,
                g.client.signature_private_key,
                group_context=st.context,
                confirmation_tag=confirmation_tag(
                    st.suite, st.secrets.confirmation_key, st.context.confirmed_transcript_hash
                ),
                signer=g.own_leaf_index,
                extensions=[
                    extension(ExtensionType.ratchet_tree, st.tree.encode()),
                    extension(ExtensionType.external_pub, external_pub),
                ],
                rng=None,
            )
        )

    def external_join(self, client: PeerClient, group_info: bytes) -> tuple[PeerGroup, bytes]:
        """Join by an external Commit: the new group and the Commit for the members."""
        try:
            group, commit = self._clients[client.handle].join_by_external_commit(
                group_info, config=self._config()
            )
        except self._error as exc:
            raise self._rejected(exc) from exc
        handle = self._handle()
        self._groups[handle] = group
        return PeerGroup(self.name, handle, client), commit

    def join_reinit(
        self, client: PeerClient, old: PeerGroup, welcome: bytes, ratchet_tree: bytes
    ) -> PeerGroup:
        # mlswire joins a reinitialized group as it joins a branch: from the old group
        return self.join_branch(client, old, welcome, ratchet_tree)

    def join_branch(
        self, client: PeerClient, old: PeerGroup, welcome: bytes, ratchet_tree: bytes
    ) -> PeerGroup:
        return self._joined(client, welcome, ratchet_tree, self._groups[old.handle])

    def encrypt(self, group: PeerGroup, data: bytes) -> bytes:
        try:
            message: bytes = self._groups[group.handle].encrypt(data)
        except self._error as exc:
            raise self._rejected(exc) from exc
        return message

    def export_secret(self, group: PeerGroup, label: bytes, context: bytes, length: int) -> bytes:
        try:
            secret: bytes = self._groups[group.handle].export_secret(label, context, length)
        except self._error as exc:
            raise self._rejected(exc) from exc
        return secret

    def epoch(self, group: PeerGroup) -> int:
        return int(self._groups[group.handle].epoch)

    def epoch_authenticator(self, group: PeerGroup) -> bytes | None:
        return bytes(self._groups[group.handle].epoch_authenticator)

    def ratchet_tree(self, group: PeerGroup) -> bytes | None:
        return bytes(self._groups[group.handle].ratchet_tree())

    def close(self) -> None:
        self._groups.clear()
        self._clients.clear()
