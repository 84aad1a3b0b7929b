"""A runner for the official interop configs, with the semantics of the Go
test-runner of mlswg/mls-implementations (``../shared/spec/interop-configs/RUNNER.md``
describes it action by action; section numbers below refer to it).

Where the Go runner has bugs, this one does what the Go code meant:

* assignments are the true Cartesian product of the clients that support the suite
  (Go indexes the global client list, and its tuple generator repeats tuples);
* a step index out of range, or an actor with no client, fails the step (Go panics);
* connecting waits at most ``connect_timeout`` seconds (Go waits forever).

Orders that are random in Go (scripts, actors, suites, reinit participants, Free) are
fixed here: scripts by name, actors by first appearance, suites ascending, reinit
participants in the order the step names them. The matrix is the same.
"""

from __future__ import annotations

import itertools
import os
import random
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import grpc  # type: ignore[import-untyped]  # no stubs
from google.protobuf.json_format import MessageToDict  # type: ignore[import-untyped]

from .config import Config, Step, StepError, actors, sub_step
from .proto import modules

pb2, pb2_grpc = modules()

RPC_TIMEOUT = 120.0  # seconds, per RPC (as the Go runner)
MAX_MESSAGE = 64 << 20
# proto fields of type uint64: MessageToDict renders them as strings, Go as numbers.
_UINT64 = frozenset({"epoch_id"})


UNIMPLEMENTED = "rpc error: code = Unimplemented desc = "


class RunnerError(Exception):
    """The run cannot start (no client supports the suite, a client is unreachable)."""


@dataclass
class Remote:
    """One ``-client``: a connected MLSClient server."""

    address: str
    name: str
    suites: frozenset[int]
    stub: Any
    channel: Any


def connect(address: str, timeout: float) -> Remote:
    channel = grpc.insecure_channel(
        address,
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE),
            ("grpc.max_send_message_length", MAX_MESSAGE),
        ],
    )
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
        stub = pb2_grpc.MLSClientStub(channel)
        name = stub.Name(pb2.NameRequest(), timeout=RPC_TIMEOUT).name
        suites = stub.SupportedCiphersuites(
            pb2.SupportedCiphersuitesRequest(), timeout=RPC_TIMEOUT
        ).ciphersuites
    except (grpc.FutureTimeoutError, grpc.RpcError) as e:
        channel.close()
        raise RunnerError(f"Failure to connect to client {address}: {e!r}") from e
    return Remote(address, name, frozenset(int(s) for s in suites), stub, channel)


@dataclass
class Entry:
    """One transcript entry: an RPC that succeeded."""

    actor: str
    rpc: str
    request: Any
    response: Any


def _plain(message: Any) -> dict[str, Any]:
    """A protobuf message as Go's encoding/json writes the runner's structs: proto
    field names, base64 bytes, zero values omitted, integers as numbers."""

    def fix(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: int(v) if k in _UINT64 else fix(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fix(v) for v in value]
        return value

    out: dict[str, Any] = fix(MessageToDict(message, preserving_proto_field_name=True))
    return out


@dataclass
class CaseResult:
    script: str
    cipher_suite: int
    encrypt: bool
    actors: dict[str, Remote]
    transcript: list[Entry] = field(default_factory=list)
    error: str | None = None
    failed_step: int | None = None
    failed_step_json: str | None = None

    @property
    def passed(self) -> bool:
        return self.failed_step is None

    @property
    def unimplemented(self) -> bool:
        """Failed because a client answered UNIMPLEMENTED (it cannot do what the step
        asks): "not applicable" rather than a disagreement."""
        return self.error is not None and self.error.startswith(UNIMPLEMENTED)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "cipher_suite": self.cipher_suite,
            "actors": {a: r.name for a, r in self.actors.items()},
            "encrypt_flag": self.encrypt,
        }
        if self.transcript:
            out["transcript"] = [
                {
                    "actor": e.actor,
                    "rpc": e.rpc,
                    "request": _plain(e.request),
                    "response": _plain(e.response),
                }
                for e in self.transcript
            ]
        if self.error is not None:
            out["error"] = self.error
        if self.failed_step is not None:
            out["failed_step"] = self.failed_step
            out["failed_step_json"] = self.failed_step_json or ""
        return out


def _rpc_error(e: Any) -> str:
    """A gRPC failure as the Go runner prints it."""
    code = e.code() if hasattr(e, "code") else None
    name = "Unknown" if code is None else code.name.title().replace("_", "")
    details = e.details() if hasattr(e, "details") else str(e)
    return f"rpc error: code = {name} desc = {details}"


def _extensions(items: list[Any], index: int) -> list[Any]:
    import base64

    out = []
    for e in items:
        if not isinstance(e, dict):
            raise StepError(f"step {index}: an extension is not an object")
        s = sub_step(e, index)
        try:
            data = base64.b64decode(s.text("extension_data"), validate=True)
        except ValueError as err:
            raise StepError(f"step {index}: extension_data is not base64") from err
        out.append(pb2.Extension(extension_type=s.num("extension_type"), extension_data=data))
    return out


class Case:
    """One test case (§1.4): a script run once with one assignment of clients."""

    def __init__(
        self,
        result: CaseResult,
        steps: list[Step],
        all_suites: Callable[[], frozenset[int]],
    ) -> None:
        self.result = result
        self.steps = steps
        self.suite = result.cipher_suite
        self.encrypt = result.encrypt
        self._shared_suites = all_suites
        self.state_id: dict[str, int] = {}
        self.transaction_id: dict[str, int] = {}
        self.signer_id: dict[str, int] = {}
        self.cache: list[dict[str, Any]] = [{} for _ in steps]

    # --- plumbing -----------------------------------------------------------------------
    def remote(self, actor: str) -> Remote:
        try:
            return self.result.actors[actor]
        except KeyError:
            raise StepError(f"no client is assigned to actor [{actor}]") from None

    def call(self, actor: str, rpc: str, request: Any, *, log: bool = True) -> Any:
        method = getattr(self.remote(actor).stub, rpc)
        try:
            response = method(request, timeout=RPC_TIMEOUT)
        except grpc.RpcError as e:
            raise StepError(_rpc_error(e)) from e
        if log:
            self.result.transcript.append(Entry(actor, rpc, request, response))
        return response

    def ref(self, index: int, key: str) -> Any:
        if not 0 <= index < len(self.steps):
            raise StepError(f"step index {index} is outside the script (0..{len(self.steps) - 1})")
        if key not in self.cache[index]:
            raise StepError(f"No message for key {key} at step {index}")
        return self.cache[index][key]

    def transaction(self, actor: str) -> int:
        if actor not in self.transaction_id:
            raise StepError(f"Malformed step: No transaction for {actor}")
        return self.transaction_id[actor]

    def check_ea(self, got: bytes, want: bytes, message: str) -> None:
        if got != want:
            raise StepError(message)

    def group_id(self) -> bytes:
        if not self.steps or "group_id" not in self.cache[0]:
            raise StepError("No message for key group_id at step 0")
        value: bytes = self.cache[0]["group_id"]
        return value

    def change_suite(self) -> None:
        """§3.19: a suite every assigned client supports, other than the current one."""
        left = sorted(self._shared_suites() - {self.suite})
        if not left:
            raise StepError("no remaining supported ciphersuite")
        # The next suite up, wrapping around: deterministic, and different each time.
        self.suite = next((s for s in left if s > self.suite), left[0])

    def description(self, d: Any, index: int) -> Any:
        """§2.6: a byValue item / externalSignerProposal description."""
        if not isinstance(d, dict):
            raise StepError(f"step {index}: a proposal description is not an object")
        s = sub_step(d, index)
        kind = s.text("proposalType")
        out = pb2.ProposalDescription(proposal_type=kind.encode())
        if kind == "add":
            out.key_package = self.ref(s.num("keyPackage"), "key_package")
        elif kind == "remove":
            out.removed_id = s.text("removed").encode()
        elif kind == "externalPSK":
            out.psk_id = self.ref(s.num("pskID"), "psk_id")
        elif kind == "resumptionPSK":
            out.epoch_id = s.num("epochID")
        elif kind == "groupContextExtensions":
            out.extensions.extend(_extensions(s.items("extensions"), index))
        elif kind == "reinit":
            out.extensions.extend(_extensions(s.items("extensions"), index))
            if s.flag("changeCipherSuite"):
                self.change_suite()
            out.cipher_suite = self.suite
            out.group_id = self.group_id() + (b"++" if s.flag("changeGroupID") else b"")
        else:
            raise StepError(f"unknown proposal type [{kind}]")
        return out

    # --- running --------------------------------------------------------------------------
    def run(self) -> None:
        try:
            for step in self.steps:
                try:
                    action = ACTIONS.get(step.action)
                    if action is None:
                        raise StepError(f"Unknown action: {step.action}")
                    action(self, step)
                except StepError as e:
                    self.result.error = str(e)
                    self.result.failed_step = step.index
                    self.result.failed_step_json = step.raw
                    break
        finally:
            self.cleanup()

    def cleanup(self) -> None:
        for actor, sid in sorted(self.state_id.items()):
            try:
                self.call(actor, "Free", pb2.FreeRequest(state_id=sid), log=False)
            except StepError as e:
                self.result.error = str(e)
                self.result.failed_step = len(self.steps)
                if self.result.failed_step_json is None:
                    self.result.failed_step_json = ""


# --- actions (§3) -----------------------------------------------------------------------


def _create_group(c: Case, s: Step) -> None:
    actor = s.actor
    group_id = str(uuid.uuid4()).encode()
    r = c.call(
        actor,
        "CreateGroup",
        pb2.CreateGroupRequest(
            group_id=group_id,
            cipher_suite=c.suite,
            encrypt_handshake=c.encrypt,
            identity=actor.encode(),
        ),
    )
    c.cache[s.index]["group_id"] = group_id
    c.state_id[actor] = r.state_id
    members = s.names("members")
    if not members:
        return
    txns = []
    by_value = []
    for m in members:
        kp = c.call(
            m,
            "CreateKeyPackage",
            pb2.CreateKeyPackageRequest(cipher_suite=c.suite, identity=m.encode()),
        )
        txns.append(kp.transaction_id)
        by_value.append(pb2.ProposalDescription(proposal_type=b"add", key_package=kp.key_package))
    commit = c.call(
        actor, "Commit", pb2.CommitRequest(state_id=c.state_id[actor], by_value=by_value)
    )
    pending = c.call(
        actor, "HandlePendingCommit", pb2.HandlePendingCommitRequest(state_id=c.state_id[actor])
    )
    c.state_id[actor] = pending.state_id
    for m, txn in zip(members, txns, strict=True):
        j = c.call(
            m,
            "JoinGroup",
            pb2.JoinGroupRequest(
                transaction_id=txn,
                welcome=commit.welcome,
                encrypt_handshake=c.encrypt,
                identity=m.encode(),
            ),
        )
        c.check_ea(
            j.epoch_authenticator,
            pending.epoch_authenticator,
            f"Joiner [{m}] failed to agree on epoch authenticator",
        )
        c.state_id[m] = j.state_id


def _create_key_package(c: Case, s: Step) -> None:
    r = c.call(
        s.actor,
        "CreateKeyPackage",
        pb2.CreateKeyPackageRequest(cipher_suite=c.suite, identity=s.actor.encode()),
    )
    c.transaction_id[s.actor] = r.transaction_id
    c.cache[s.index]["key_package"] = r.key_package


def _join_group(c: Case, s: Step) -> None:
    welcome = c.ref(s.num("welcome"), "welcome")
    r = c.call(
        s.actor,
        "JoinGroup",
        pb2.JoinGroupRequest(
            transaction_id=c.transaction(s.actor),
            welcome=welcome,
            encrypt_handshake=c.encrypt,
            identity=s.actor.encode(),
        ),
    )
    c.state_id[s.actor] = r.state_id


def _external_join(c: Case, s: Step) -> None:
    actor, joiner = s.actor, s.text("joiner")
    info = c.call(
        actor,
        "GroupInfo",
        pb2.GroupInfoRequest(
            state_id=c.state_id.get(actor, 0), external_tree=s.flag("externalTree")
        ),
    )
    cache = c.cache[s.index]
    cache["group_info"], cache["ratchet_tree"] = info.group_info, info.ratchet_tree
    psks = [
        pb2.PreSharedKey(psk_id=c.ref(i, "psk_id"), psk_secret=c.ref(i, "psk_secret"))
        for i in s.indices("psks")
    ]
    r = c.call(
        joiner,
        "ExternalJoin",
        pb2.ExternalJoinRequest(
            group_info=info.group_info,
            ratchet_tree=info.ratchet_tree,
            encrypt_handshake=c.encrypt,
            identity=joiner.encode(),
            remove_prior=s.flag("removePrior"),
            psks=psks,
        ),
    )
    c.state_id[joiner] = r.state_id
    cache["commit"], cache["epoch_authenticator"] = r.commit, r.epoch_authenticator
    for m in [*s.names("members"), actor]:
        h = c.call(
            m,
            "HandleCommit",
            pb2.HandleCommitRequest(state_id=c.state_id.get(m, 0), commit=r.commit),
        )
        c.check_ea(
            h.epoch_authenticator,
            r.epoch_authenticator,
            f"Member [{m}] failed to agree on epoch authenticator",
        )
        c.state_id[m] = h.state_id


def _install_external_psk(c: Case, s: Step) -> None:
    psk_id, secret = os.urandom(32), os.urandom(32)
    c.cache[s.index].update(psk_id=psk_id, psk_secret=secret)
    for name in s.names("clients"):
        handle = c.state_id.get(name, c.transaction_id.get(name, 0))
        c.call(
            name,
            "StorePSK",
            pb2.StorePSKRequest(state_or_transaction_id=handle, psk_id=psk_id, psk_secret=secret),
        )


def _group_info(c: Case, s: Step) -> None:
    r = c.call(
        s.actor,
        "GroupInfo",
        pb2.GroupInfoRequest(
            state_id=c.state_id.get(s.actor, 0), external_tree=s.flag("externalTree")
        ),
    )
    c.cache[s.index].update(group_info=r.group_info, ratchet_tree=r.ratchet_tree)


def _proposal(rpc: str, make: Callable[[Case, Step, int], Any]) -> Callable[[Case, Step], None]:
    def action(c: Case, s: Step) -> None:
        r = c.call(s.actor, rpc, make(c, s, c.state_id.get(s.actor, 0)))
        c.cache[s.index]["proposal"] = r.proposal

    return action


def _commit_request(c: Case, s: Step) -> Any:
    return pb2.CommitRequest(
        state_id=c.state_id.get(s.actor, 0),
        by_reference=[c.ref(i, "proposal") for i in s.indices("byReference")],
        by_value=[c.description(d, s.index) for d in s.items("byValue")],
        force_path=s.flag("force_path"),
        external_tree=s.flag("external_tree"),
    )


def _commit(c: Case, s: Step) -> Any:
    request = _commit_request(c, s)
    r = c.call(s.actor, "Commit", request)
    cache = c.cache[s.index]
    cache.update(commit=r.commit, welcome=r.welcome)
    if request.external_tree:
        cache["ratchet_tree"] = r.ratchet_tree
    return request, r


def _full_commit(c: Case, s: Step) -> None:
    request, r = _commit(c, s)
    actor = s.actor
    pending = c.call(
        actor, "HandlePendingCommit", pb2.HandlePendingCommitRequest(state_id=request.state_id)
    )
    c.state_id[actor] = pending.state_id
    ea = pending.epoch_authenticator
    c.cache[s.index]["epoch_authenticator"] = ea
    for m in s.names("members"):
        h = c.call(
            m,
            "HandleCommit",
            pb2.HandleCommitRequest(
                state_id=c.state_id.get(m, 0), proposal=request.by_reference, commit=r.commit
            ),
        )
        c.check_ea(
            h.epoch_authenticator, ea, f"Member [{m}] failed to agree on epoch authenticator"
        )
        c.state_id[m] = h.state_id
    for j in s.names("joiners"):
        joined = c.call(
            j,
            "JoinGroup",
            pb2.JoinGroupRequest(
                transaction_id=c.transaction(j),
                welcome=r.welcome,
                encrypt_handshake=c.encrypt,
                identity=j.encode(),
                ratchet_tree=r.ratchet_tree if request.external_tree else b"",
            ),
        )
        c.check_ea(
            joined.epoch_authenticator, ea, f"Joiner [{j}] failed to agree on epoch authenticator"
        )
        c.state_id[j] = joined.state_id


def _handle_commit(c: Case, s: Step) -> None:
    r = c.call(
        s.actor,
        "HandleCommit",
        pb2.HandleCommitRequest(
            state_id=c.state_id.get(s.actor, 0),
            proposal=[c.ref(i, "proposal") for i in s.indices("byReference")],
            commit=c.ref(s.num("commit"), "commit"),
        ),
    )
    c.state_id[s.actor] = r.state_id


def _handle_pending_commit(c: Case, s: Step) -> None:
    r = c.call(
        s.actor,
        "HandlePendingCommit",
        pb2.HandlePendingCommitRequest(state_id=c.state_id.get(s.actor, 0)),
    )
    c.state_id[s.actor] = r.state_id


def _protect(c: Case, s: Step) -> None:
    aad, plaintext = s.text("authenticatedData").encode(), s.text("plaintext").encode()
    r = c.call(
        s.actor,
        "Protect",
        pb2.ProtectRequest(
            state_id=c.state_id.get(s.actor, 0), authenticated_data=aad, plaintext=plaintext
        ),
    )
    c.cache[s.index].update(authenticatedData=aad, plaintext=plaintext, ciphertext=r.ciphertext)


def _unprotect(c: Case, s: Step) -> None:
    i = s.num("ciphertext")
    ct = c.ref(i, "ciphertext")
    r = c.call(
        s.actor,
        "Unprotect",
        pb2.UnprotectRequest(state_id=c.state_id.get(s.actor, 0), ciphertext=ct),
    )
    if r.authenticated_data != c.ref(i, "authenticatedData"):
        raise StepError("Incorrect authenticated data")
    if r.plaintext != c.ref(i, "plaintext"):
        raise StepError("Incorrect plaintext")
    c.cache[s.index].update(authenticatedData=r.authenticated_data, plaintext=r.plaintext)


def _ordered(names: Sequence[str], drop: str) -> list[str]:
    return [n for n in dict.fromkeys(names) if n and n != drop]


def _reinit(c: Case, s: Step) -> None:
    proposer, committer, welcomer = s.text("proposer"), s.text("committer"), s.text("welcomer")
    members = s.names("members")
    not_committer = _ordered([welcomer, *members, proposer], committer)
    not_welcomer = _ordered([committer, *members, proposer], welcomer)
    group_id = c.group_id() + (b"++" if s.flag("changeGroupID") else b"")
    if s.flag("changeCipherSuite"):
        c.change_suite()
    if proposer:
        proposal = c.call(
            proposer,
            "ReInitProposal",
            pb2.ReInitProposalRequest(
                state_id=c.state_id.get(proposer, 0),
                cipher_suite=c.suite,
                group_id=group_id,
                extensions=_extensions(s.items("extensions"), s.index),
            ),
        ).proposal
    else:
        proposal = c.ref(s.num("externalReinitProposal"), "proposal")
    commit = c.call(
        committer,
        "ReInitCommit",
        pb2.CommitRequest(state_id=c.state_id.get(committer, 0), by_reference=[proposal]),
    ).commit
    own = c.call(
        committer,
        "HandlePendingReInitCommit",
        pb2.HandlePendingCommitRequest(state_id=c.state_id.get(committer, 0)),
    )
    reinit_id = {committer: own.reinit_id}
    key_package = {committer: own.key_package}
    for m in not_committer:
        h = c.call(
            m,
            "HandleReInitCommit",
            pb2.HandleCommitRequest(
                state_id=c.state_id.get(m, 0), proposal=[proposal], commit=commit
            ),
        )
        c.check_ea(
            h.epoch_authenticator,
            own.epoch_authenticator,
            f"Member [{m}] failed to agree on epoch authenticator",
        )
        reinit_id[m], key_package[m] = h.reinit_id, h.key_package
    if welcomer not in reinit_id:
        raise StepError(f"Malformed step: welcomer [{welcomer}] took no part in the reinit")
    welcome = c.call(
        welcomer,
        "ReInitWelcome",
        pb2.ReInitWelcomeRequest(
            reinit_id=reinit_id[welcomer],
            key_package=[key_package[m] for m in not_welcomer],
            force_path=s.flag("forcePath"),
            external_tree=s.flag("externalTree"),
        ),
    )
    c.state_id[welcomer] = welcome.state_id
    for m in not_welcomer:
        j = c.call(
            m,
            "HandleReInitWelcome",
            pb2.HandleReInitWelcomeRequest(
                reinit_id=reinit_id[m],
                welcome=welcome.welcome,
                ratchet_tree=welcome.ratchet_tree if s.flag("externalTree") else b"",
            ),
        )
        c.check_ea(
            j.epoch_authenticator,
            welcome.epoch_authenticator,
            f"Member [{m}] failed to agree on reinit epoch authenticator",
        )
        c.state_id[m] = j.state_id


def _branch(c: Case, s: Step) -> None:
    actor, members = s.actor, s.names("members")
    txns, kps = [], []
    for m in members:
        r = c.call(
            m,
            "CreateKeyPackage",
            pb2.CreateKeyPackageRequest(cipher_suite=c.suite, identity=m.encode()),
        )
        txns.append(r.transaction_id)
        kps.append(r.key_package)
    external_tree = s.flag("external_tree")
    b = c.call(
        actor,
        "CreateBranch",
        pb2.CreateBranchRequest(
            state_id=c.state_id.get(actor, 0),
            group_id=str(uuid.uuid4()).encode(),
            extensions=_extensions(s.items("extensions"), s.index),
            key_packages=kps,
            force_path=s.flag("force_path"),
            external_tree=external_tree,
        ),
    )
    c.state_id[actor] = b.state_id
    for m, txn in zip(members, txns, strict=True):
        old = c.state_id.get(m, 0)
        h = c.call(
            m,
            "HandleBranch",
            pb2.HandleBranchRequest(
                state_id=old,
                transaction_id=txn,
                welcome=b.welcome,
                ratchet_tree=b.ratchet_tree if external_tree else b"",
            ),
        )
        c.check_ea(
            h.epoch_authenticator,
            b.epoch_authenticator,
            f"Member [{m}] failed to agree on epoch authenticator",
        )
        c.state_id[m] = h.state_id
        c.call(m, "Free", pb2.FreeRequest(state_id=old), log=False)


def _new_member_add_proposal(c: Case, s: Step) -> None:
    info = c.call(s.actor, "GroupInfo", pb2.GroupInfoRequest(state_id=c.state_id.get(s.actor, 0)))
    joiner = s.text("joiner")
    r = c.call(
        joiner,
        "NewMemberAddProposal",
        pb2.NewMemberAddProposalRequest(group_info=info.group_info, identity=joiner.encode()),
    )
    c.transaction_id[joiner] = r.transaction_id
    c.cache[s.index].update(
        proposal=r.proposal,
        init_priv=r.init_priv,
        encryption_priv=r.encryption_priv,
        signature_priv=r.signature_priv,
    )


def _add_external_signer(c: Case, s: Step) -> None:
    signer = s.text("signer")
    created = c.call(
        signer,
        "CreateExternalSigner",
        pb2.CreateExternalSignerRequest(cipher_suite=c.suite, identity=signer.encode()),
    )
    c.signer_id[signer] = created.signer_id
    r = c.call(
        s.actor,
        "AddExternalSigner",
        pb2.AddExternalSignerRequest(
            state_id=c.state_id.get(s.actor, 0), external_sender=created.external_sender
        ),
    )
    c.cache[s.index]["proposal"] = r.proposal


def _external_signer_proposal(c: Case, s: Step) -> None:
    member = s.text("member")
    info = c.call(
        member,
        "GroupInfo",
        pb2.GroupInfoRequest(state_id=c.state_id.get(member, 0), external_tree=True),
    )
    r = c.call(
        s.actor,
        "ExternalSignerProposal",
        pb2.ExternalSignerProposalRequest(
            signer_id=c.signer_id.get(s.actor, 0),
            group_info=info.group_info,
            ratchet_tree=info.ratchet_tree,
            description=c.description(s.obj("description"), s.index),
        ),
    )
    c.cache[s.index]["proposal"] = r.proposal


ACTIONS: dict[str, Callable[[Case, Step], None]] = {
    "createGroup": _create_group,
    "createKeyPackage": _create_key_package,
    "joinGroup": _join_group,
    "externalJoin": _external_join,
    "installExternalPSK": _install_external_psk,
    "groupInfo": _group_info,
    "addProposal": _proposal(
        "AddProposal",
        lambda c, s, sid: pb2.AddProposalRequest(
            state_id=sid, key_package=c.ref(s.num("keyPackage"), "key_package")
        ),
    ),
    "updateProposal": _proposal(
        "UpdateProposal", lambda c, s, sid: pb2.UpdateProposalRequest(state_id=sid)
    ),
    "removeProposal": _proposal(
        "RemoveProposal",
        lambda c, s, sid: pb2.RemoveProposalRequest(
            state_id=sid, removed_id=s.text("removed").encode()
        ),
    ),
    "externalPSKProposal": _proposal(
        "ExternalPSKProposal",
        lambda c, s, sid: pb2.ExternalPSKProposalRequest(
            state_id=sid, psk_id=c.ref(s.num("pskID"), "psk_id")
        ),
    ),
    "resumptionPSKProposal": _proposal(
        "ResumptionPSKProposal",
        lambda c, s, sid: pb2.ResumptionPSKProposalRequest(state_id=sid, epoch_id=s.num("epochID")),
    ),
    "groupContextExtensionsProposal": _proposal(
        "GroupContextExtensionsProposal",
        lambda c, s, sid: pb2.GroupContextExtensionsProposalRequest(
            state_id=sid, extensions=_extensions(s.items("extensions"), s.index)
        ),
    ),
    "fullCommit": _full_commit,
    "commit": lambda c, s: (_commit(c, s), None)[1],
    "handleCommit": _handle_commit,
    "handlePendingCommit": _handle_pending_commit,
    "protect": _protect,
    "unprotect": _unprotect,
    "reinit": _reinit,
    "branch": _branch,
    "newMemberAddProposal": _new_member_add_proposal,
    "addExternalSigner": _add_external_signer,
    "externalSignerProposal": _external_signer_proposal,
}


# --- the matrix (§1.3) ------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What to run: the matrix options."""

    suite: int | None = None  # None: every suite any client supports
    modes: tuple[bool, ...] = (True, False)  # encrypt_flag values
    random_assignments: int | None = None  # None: every assignment
    seed: int | None = None
    fail_fast: bool = False


def assignments(
    clients: Sequence[Remote],
    script_actors: Sequence[str],
    suite: int,
    plan: Plan,
    rng: random.Random,
) -> Iterator[dict[str, Remote]]:
    supporting = [r for r in clients if suite in r.suites]
    if not supporting:
        return
    if plan.random_assignments is None:
        for combo in itertools.product(supporting, repeat=len(script_actors)):
            yield dict(zip(script_actors, combo, strict=True))
        return
    for _ in range(plan.random_assignments):
        yield {a: rng.choice(supporting) for a in script_actors}


def suites(clients: Sequence[Remote], plan: Plan) -> list[int]:
    offered = sorted(set().union(*(r.suites for r in clients)))
    if plan.suite is None:
        return offered
    if plan.suite not in offered:
        raise RunnerError(f"no client supports cipher suite {plan.suite}")
    return [plan.suite]


def count_cases(config: Config, clients: Sequence[Remote], plan: Plan) -> int:
    total = 0
    for steps in config.scripts.values():
        a = len(actors(steps))
        for suite in suites(clients, plan):
            n = sum(suite in r.suites for r in clients)
            per = plan.random_assignments if plan.random_assignments is not None else n**a
            total += len(plan.modes) * (per if n else 0)
    return total


def run_config(
    config: Config,
    clients: Sequence[Remote],
    plan: Plan,
    *,
    on_case: Callable[[CaseResult], None] | None = None,
) -> dict[str, list[CaseResult]]:
    """Every case of every script of ``config``; results by script, in matrix order."""
    rng = random.Random(plan.seed)
    out: dict[str, list[CaseResult]] = {}
    for name in sorted(config.scripts):
        steps = config.scripts[name]
        script_actors = actors(steps)
        results = out[name] = []
        failed = False
        for suite in suites(clients, plan):
            for encrypt in plan.modes:
                for assignment in assignments(clients, script_actors, suite, plan, rng):
                    if failed and plan.fail_fast:
                        break
                    result = CaseResult(name, suite, encrypt, assignment)

                    def shared(assignment: dict[str, Remote] = assignment) -> frozenset[int]:
                        return frozenset.intersection(*(r.suites for r in assignment.values()))

                    Case(result, steps, shared).run()
                    results.append(result)
                    failed = failed or not result.passed
                    if on_case is not None:
                        on_case(result)
    return out


def results_json(results: dict[str, list[CaseResult]]) -> dict[str, Any]:
    return {"scripts": {name: [r.to_json() for r in cases] for name, cases in results.items()}}


def dumps(doc: Any) -> str:
    """As Go's encoding/json MarshalIndent: sorted keys, 2-space indent, and <, >, &
    escaped."""
    import json

    text = json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + "\n"


class Progress:
    """Progress on stderr: a bar redrawn in place on a terminal; otherwise one plain
    line per script (name, cases, failures), so logs stay readable."""

    WIDTH = 30

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.total = max(total, 1)
        self.done = self.failed = 0
        self._script = ""
        self._script_done = self._script_failed = 0
        self._last = time.monotonic()

    def case(self, result: CaseResult) -> None:
        if result.script != self._script:
            self._flush_script()
            self._script = result.script
        self.done += 1
        self._script_done += 1
        if not result.passed:
            self.failed += 1
            self._script_failed += 1
        now = time.monotonic()
        if not self.tty:
            # Long scripts (deep_random) still show signs of life, twice a minute at most.
            if now - self._last >= 30:
                self._last = now
                self.stream.write(
                    f"{self._script}: {self._script_done} cases so far ({self.done}/{self.total})\n"
                )
                self.stream.flush()
        else:
            if now - self._last >= 0.05 or self.done == self.total:
                self._last = now
                filled = self.WIDTH * min(self.done, self.total) // self.total
                bar = "#" * filled + "." * (self.WIDTH - filled)
                self.stream.write(
                    f"\r{self._script:<24.24} [{bar}] {self.done}/{self.total}"
                    f" ({self.failed} failed)\x1b[K"
                )
                self.stream.flush()

    def _flush_script(self) -> None:
        if self._script and not self.tty:
            self.stream.write(
                f"{self._script}: {self._script_done} cases, {self._script_failed} failed"
                f" ({self.done}/{self.total})\n"
            )
            self.stream.flush()
        self._script_done = self._script_failed = 0

    def start_config(self, name: str) -> None:
        self._flush_script()
        self._script = ""
        if not self.tty:
            self.stream.write(f"config {name}\n")
            self.stream.flush()

    def close(self) -> None:
        self._flush_script()
        self._script = ""
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
