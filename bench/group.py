"""Group benchmark: mlswire's group engine next to mls-rs, ts-mls and rfc9420.

Three scenarios, cipher suite 1 (the only one all four offer), handshake messages as
PublicMessages (mls-rs's bindings and rfc9420 send them that way; mlswire and ts-mls
are configured to match):

* **add**  -- one commit that adds N-1 members to a new one-member group, with its
  Welcome (``commit``: create it, committer reaches the new epoch, wire bytes out), and
  one joiner processing that Welcome (``welcome``: wire bytes in, group state out).
  N = 16, 128, 1024, 4096, 10000. A fresh group and a fresh joiner (its KeyPackage sits at
  leaf N/2) for every repetition; the other N-2 KeyPackages are made once.
* **path** -- in an N-member group whose tree is filled along the committer's copath,
  the committer's commit with an UpdatePath (``commit``) and another member processing
  it (``process``). N = 16, 64, ..., 16384. Setup: one commit adds N-1 members; the
  members at leaves N/2, N/4, ..., 4, 2 join and commit with a path in that order,
  each commit processed by every member that has joined; each such commit sets the
  root of one copath subtree of leaf 0, so leaf 0's commit then encrypts to one node
  per level (log2 N HPKE encryptions). Leaf 0 commits repeatedly (its own commits
  leave its copath as it is) and leaf N/2 processes each commit.
* **app** -- application messages: one member encrypts a 100-byte payload and another
  decrypts it; messages per second of the pair.

``--welcome-micro`` runs none of these: it times mlswire's ``create_welcome`` alone, for
k = 1, 16, 256 new members into groups of N = 16 ... 4096 members (the group's own signed
GroupInfo with its ratchet tree, fresh KeyPackages), in this process.

Every (scenario, implementation, N) runs in a subprocess of its own: this script
re-run with ``--child`` for the Python implementations, ``node node/bench-group.mjs``
for ts-mls, so that each is timed inside its own runtime (no pipe in the timed code)
and its peak memory (``ru_maxrss`` / node's ``maxRSS``) is its own. Implementations
take turns at each N, so background load hits them alike. The best (lowest) of the
repetitions is reported; ``--cpu N`` pins everything, children included, to one core
(mls-rs otherwise uses both cores).

Peers are given a time budget (``--budget``, default 60 s): when one size took so long
that the next size, scaled linearly (an optimistic guess), would exceed it, the peer's
larger sizes are skipped and the table says so. mlswire always runs every size. A peer
that cannot do an operation is reported as ``fails`` with its error, never hidden.

What "bytes in / bytes out" means per implementation: mlswire, ts-mls and rfc9420 are
timed from and to wire bytes (encoding and decoding included). mls-rs's bindings take
and return ``Message`` objects; turning those into Python bytes is a copy in the
bindings (PEERS.md), so it is left out of mls-rs's timings (slightly in its favour).
rfc9420 makes Add commits only from Add proposals: its ``commit`` time includes making
and caching the N-1 proposals, which is where it validates the KeyPackages.

Run from the project root (ts-mls needs ``npm ci --prefix node`` once):
    python bench/group.py [--json] [--repeat 3] [--path-repeat 15] [--min-time 0.5]
        [--budget 60] [--scenario add|path|app ...] [--skip PEER ...] [--cpu N]
        [--threads K]
    python bench/group.py --welcome-micro [--repeat 3] [--max-n N] [--json]
This script never asserts anything about timings.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from _peers import (
    PeerUnavailable,
    machine_description,
    package_version,
    run_node_script,
    use_project_mlswire,
)

IMPLS = ("mlswire", "mls-rs", "rfc9420", "ts-mls")
PEERS = IMPLS[1:]
PYTHON_IMPLS = ("mlswire", "mls-rs", "rfc9420")
SIZES = {
    "add": (16, 128, 1024, 4096, 10000),
    "path": (16, 64, 256, 1024, 4096, 16384),
    "app": (2,),
}
# The timed operations of each scenario, in table order.
OPS = {"add": ("commit", "welcome"), "path": ("commit", "process"), "app": ("message",)}
THREADS_ENV = "MLSWIRE_BENCH_THREADS"  # --threads, handed to the children
MEMORY_N = 4096  # the add-scenario size whose peak memory the report shows
PAYLOAD = 100
SUITE = 1


@dataclass
class Outcome:
    """One implementation, one scenario, one N: what its child process reported."""

    impl: str
    scenario: str
    n: int
    # "ok", "fails" (the implementation raised or crashed), "unavailable" (not installed);
    # sizes not run: "skipped" (--skip), "over budget", "-" (after a failure)
    status: str
    times: dict[str, list[float]] = field(default_factory=dict)  # op -> seconds per rep
    setup: float = 0.0  # seconds spent building the group before the timed part
    wall: float = 0.0  # seconds the child process ran, start-up included
    rss_before: int = 0  # bytes resident just before the first timed repetition
    max_rss: int = 0  # bytes, the process's peak resident set
    error: str = ""

    def best(self, op: str) -> float | None:
        values = self.times.get(op)
        return min(values) if self.status == "ok" and values else None


# ---------------------------------------------------------------------------------------
# Child side: one driver per Python implementation. Each method builds what it needs,
# times only the operation itself, and returns {"setup": s, "times": {op: [s, ...]}}.


class Driver(Protocol):
    def add(self, n: int, repeat: int) -> dict[str, Any]: ...

    def path(self, n: int, repeat: int) -> dict[str, Any]: ...

    def app(self, min_time: float, repeat: int) -> dict[str, Any]: ...


def _rss_now() -> int:
    """Resident bytes of this process now (statm's second field is pages)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def copath_leaves(n: int) -> list[int]:
    """Leaves n/2, n/4, ..., 2: the commit of leaf 2^k sets the root of the subtree of
    leaves [2^k, 2^(k+1)), one copath node of leaf 0.

    Top-down order keeps the setup at about 2N HPKE encryptions in all: when leaf 2^k
    commits, the copath nodes above it are already filled by the larger leaves (one
    encryption each) and only the blank subtrees below cost one per leaf (about 2^(k+1)).
    Bottom-up, every commit would still face the blank upper half: N log N in all.
    """
    leaves = []
    leaf = n // 2
    while leaf >= 2:
        leaves.append(leaf)
        leaf //= 2
    return leaves


def time_messages(one: Callable[[], None], min_time: float, repeat: int) -> list[float]:
    """Seconds per call of ``one`` in each of ``repeat`` windows of ``min_time``, after
    ``min_time`` of warm-up (the same scheme as node/bench-group.mjs)."""
    end = time.perf_counter() + min_time
    while time.perf_counter() < end:
        one()
    out = []
    for _ in range(repeat):
        count = 0
        start = time.perf_counter()
        end = start + min_time
        while time.perf_counter() < end:
            one()
            count += 1
        out.append((time.perf_counter() - start) / count)
    return out


class MlswireDriver:
    def __init__(self) -> None:
        use_project_mlswire()
        from mlswire.engine import group as engine

        self.engine = engine
        # PublicMessage handshake to match mls-rs and rfc9420 (module docstring).
        self.config = engine.GroupConfig(handshake_wire_format="public")
        # --threads: how many threads verify independent signatures (engine/parallel.py);
        # unset: the engine's default (one per core).
        self.policy = None
        threads = os.environ.get(THREADS_ENV)
        if threads:
            from mlswire.engine import ValidationPolicy
            from mlswire.engine.parallel import Parallelism

            self.policy = ValidationPolicy(parallelism=Parallelism(threads=int(threads)))

    def _clients(self, count: int, tag: str) -> list[Any]:
        clients = [self.engine.Client.generate(b"%s %d" % (tag.encode(), i)) for i in range(count)]
        if self.policy is not None:
            for c in clients:
                c.policy = self.policy
        return clients

    def add(self, n: int, repeat: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        creator, *others = self._clients(n - 1, "member")
        kps = [c.key_package() for c in others]
        setup = time.perf_counter() - t0
        # "... cpu": process CPU time (all threads), beside the wall time the table shows.
        times: dict[str, list[float]] = {
            "commit": [],
            "welcome": [],
            "commit cpu": [],
            "welcome cpu": [],
        }
        rss_before = 0
        for r in range(repeat):
            (joiner,) = self._clients(1, f"joiner {r}")
            adds = [*kps[: n // 2 - 1], joiner.key_package(), *kps[n // 2 - 1 :]]
            group = creator.create_group(config=self.config)
            rss_before = rss_before or _rss_now()
            t, c = time.perf_counter(), time.process_time()
            out = group.add_members(adds)
            group.merge_pending_commit()
            times["commit"].append(time.perf_counter() - t)
            times["commit cpu"].append(time.process_time() - c)
            t, c = time.perf_counter(), time.process_time()
            joined = joiner.join_group(out.welcome, config=self.config)
            times["welcome"].append(time.perf_counter() - t)
            times["welcome cpu"].append(time.process_time() - c)
            assert joined.own_leaf_index == n // 2
        return {"setup": setup, "times": times, "rss_before": rss_before}

    def path(self, n: int, repeat: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        clients = self._clients(n, "member")
        out = (group := clients[0].create_group(config=self.config)).add_members(
            [c.key_package() for c in clients[1:]]
        )
        group.merge_pending_commit()
        active = {0: group}
        for leaf in copath_leaves(n):
            active[leaf] = clients[leaf].join_group(out.welcome, config=self.config)
        for leaf in copath_leaves(n):
            commit = active[leaf].update().commit
            active[leaf].merge_pending_commit()
            for other, g in active.items():
                if other != leaf:
                    g.process(commit).merge()
        committer, receiver = active[0], active[n // 2]
        active.clear()
        setup = time.perf_counter() - t0
        # "... cpu": process CPU time, beside the wall time the table shows.
        times: dict[str, list[float]] = {
            "commit": [],
            "process": [],
            "commit cpu": [],
            "process cpu": [],
        }
        for _ in range(repeat):
            t, c = time.perf_counter(), time.process_time()
            commit = committer.update().commit
            committer.merge_pending_commit()
            times["commit"].append(time.perf_counter() - t)
            times["commit cpu"].append(time.process_time() - c)
            t, c = time.perf_counter(), time.process_time()
            receiver.process(commit).merge()
            times["process"].append(time.perf_counter() - t)
            times["process cpu"].append(time.process_time() - c)
        assert committer.epoch_authenticator == receiver.epoch_authenticator
        return {"setup": setup, "times": times}

    def app(self, min_time: float, repeat: int) -> dict[str, Any]:
        a, b = self._clients(2, "member")
        sender = a.create_group(config=self.config)
        out = sender.add_members([b.key_package()])
        sender.merge_pending_commit()
        receiver = b.join_group(out.welcome, config=self.config)
        payload = b"a" * PAYLOAD

        def one() -> None:
            receiver.process(sender.encrypt(payload))

        return {"setup": 0.0, "times": {"message": time_messages(one, min_time, repeat)}}


class MlsRsDriver:
    """mls-rs through its UniFFI bindings; inputs are pre-built ``Message`` objects."""

    def __init__(self) -> None:
        try:
            import mls_rs_uniffi
        except ImportError as exc:
            raise PeerUnavailable(
                "mls_rs_uniffi not importable: pip install agentvault-mls-rs-uniffi==0.1.1"
            ) from exc
        self.m = mls_rs_uniffi
        self.cs = mls_rs_uniffi.CipherSuite.CURVE25519_AES128

    def _clients(self, count: int, tag: str) -> list[Any]:
        m = self.m
        config = m.client_config_default()  # ratchet tree extension on, PublicMessage
        return [
            m.Client(b"%s %d" % (tag.encode(), i), m.generate_signature_keypair(self.cs), config)
            for i in range(count)
        ]

    def _commit(self, group: Any, output: Any) -> Any:
        # The bindings keep a member's own commit pending until it processes it.
        group.process_incoming_message(output.commit_message)
        return output

    def add(self, n: int, repeat: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        creator, *others = self._clients(n - 1, "member")
        kps = [c.generate_key_package_message() for c in others]
        setup = time.perf_counter() - t0
        # "... cpu": process CPU time (all threads), beside the wall time the table shows.
        times: dict[str, list[float]] = {
            "commit": [],
            "welcome": [],
            "commit cpu": [],
            "welcome cpu": [],
        }
        rss_before = 0
        for r in range(repeat):
            (joiner,) = self._clients(1, f"joiner {r}")
            adds = [*kps[: n // 2 - 1], joiner.generate_key_package_message(), *kps[n // 2 - 1 :]]
            group = creator.create_group(None)
            rss_before = rss_before or _rss_now()
            t = time.perf_counter()
            out = self._commit(group, group.add_members(adds))
            times["commit"].append(time.perf_counter() - t)
            t = time.perf_counter()
            joiner.join_group(None, out.welcome_message)
            times["welcome"].append(time.perf_counter() - t)
        return {"setup": setup, "times": times, "rss_before": rss_before}

    def path(self, n: int, repeat: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        clients = self._clients(n, "member")
        group = clients[0].create_group(None)
        kps = [c.generate_key_package_message() for c in clients[1:]]
        out = self._commit(group, group.add_members(kps))
        active = {0: group}
        for leaf in copath_leaves(n):
            active[leaf] = clients[leaf].join_group(None, out.welcome_message).group
        for leaf in copath_leaves(n):
            commit = self._commit(active[leaf], active[leaf].commit()).commit_message
            for other, g in active.items():
                if other != leaf:
                    g.process_incoming_message(commit)
        committer, receiver = active[0], active[n // 2]
        active.clear()
        setup = time.perf_counter() - t0
        times: dict[str, list[float]] = {"commit": [], "process": []}
        for _ in range(repeat):
            t = time.perf_counter()
            commit = self._commit(committer, committer.commit()).commit_message
            times["commit"].append(time.perf_counter() - t)
            t = time.perf_counter()
            receiver.process_incoming_message(commit)
            times["process"].append(time.perf_counter() - t)
        return {"setup": setup, "times": times}

    def app(self, min_time: float, repeat: int) -> dict[str, Any]:
        a, b = self._clients(2, "member")
        sender = a.create_group(None)
        out = self._commit(sender, sender.add_members([b.generate_key_package_message()]))
        receiver = b.join_group(None, out.welcome_message).group
        payload = b"a" * PAYLOAD

        def one() -> None:
            receiver.process_incoming_message(sender.encrypt_application_message(payload))

        return {"setup": 0.0, "times": {"message": time_messages(one, min_time, repeat)}}


class Rfc9420Driver:
    """rfc9420 (PyPI rfc9420==1.3.0) through its ``MLSGroupSession`` byte API.

    Its README's KeyPackage recipe is out of date for 1.3.0 (no init key, unsigned),
    so KeyPackages are built here from its classes the RFC way: a leaf signed with
    SignWithLabel("LeafNodeTBS"), the package with SignWithLabel("KeyPackageTBS").
    A joiner passes its KeyPackage to the join, without which rfc9420 does not find
    its own leaf (own leaf index -1).
    """

    def __init__(self) -> None:
        try:
            from rfc9420 import DefaultCryptoProvider
        except ImportError as exc:
            raise PeerUnavailable(
                f"cannot import rfc9420 ({exc}); pip install rfc9420==1.3.0"
            ) from exc
        from rfc9420.extensions.extensions import build_capabilities_data

        self.crypto = DefaultCryptoProvider()
        self.caps = build_capabilities_data([SUITE], [], include_grease=False)

    def _config(self) -> Any:
        from rfc9420 import GroupConfig, MemoryStorageProvider

        return GroupConfig(crypto_provider=self.crypto, storage_provider=MemoryStorageProvider())

    def _member(self, identity: bytes) -> tuple[Any, bytes, bytes]:
        """(KeyPackage, init private key, signature private key)."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
        from rfc9420.messages.data_structures import Credential, Signature
        from rfc9420.messages.key_packages import KeyPackage, LeafNode

        init_sk, enc_sk = X25519PrivateKey.generate(), X25519PrivateKey.generate()
        sig_sk = Ed25519PrivateKey.generate()
        sig_pk, sig_raw = sig_sk.public_key().public_bytes_raw(), sig_sk.private_bytes_raw()
        leaf = LeafNode(
            encryption_key=enc_sk.public_key().public_bytes_raw(),
            signature_key=sig_pk,
            credential=Credential(identity=identity, public_key=sig_pk),
            capabilities=self.caps,
            lifetime_not_before=0,
            lifetime_not_after=2**63,
        )
        leaf_sig = self.crypto.sign_with_label(sig_raw, b"LeafNodeTBS", leaf.tbs_serialize())
        leaf = dataclasses.replace(leaf, signature=Signature(leaf_sig))
        kp = KeyPackage(init_key=init_sk.public_key().public_bytes_raw(), leaf_node=leaf)
        kp_sig = self.crypto.sign_with_label(sig_raw, b"KeyPackageTBS", kp.tbs_serialize())
        kp = dataclasses.replace(kp, signature=Signature(kp_sig))
        return kp, init_sk.private_bytes_raw(), sig_raw

    def _create(self, creator: tuple[Any, bytes, bytes]) -> Any:
        from rfc9420.api.session import MLSGroupSession

        return MLSGroupSession.create_with_config(self._config(), os.urandom(16), creator[0])

    def _add(self, session: Any, signer: bytes, kps: Sequence[Any]) -> tuple[bytes, Any]:
        """One commit adding ``kps``: (commit bytes, the Welcome object)."""
        for kp in kps:
            session.process_proposal(session.add_member(kp, signer), session.own_leaf_index)
        commit, welcomes = session.commit(signer)
        (welcome,) = welcomes
        return commit, welcome.serialize()

    def _join(self, member: tuple[Any, bytes, bytes], welcome: bytes) -> Any:
        from rfc9420.api.session import MLSGroupSession
        from rfc9420.messages.data_structures import Welcome

        return MLSGroupSession.join_from_welcome_with_config(
            self._config(), Welcome.deserialize(welcome), member[1], member[0]
        )

    def add(self, n: int, repeat: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        creator, *others = [self._member(b"member %d" % i) for i in range(n - 1)]
        setup = time.perf_counter() - t0
        # "... cpu": process CPU time (all threads), beside the wall time the table shows.
        times: dict[str, list[float]] = {
            "commit": [],
            "welcome": [],
            "commit cpu": [],
            "welcome cpu": [],
        }
        rss_before = 0
        for r in range(repeat):
            joiner = self._member(b"joiner %d" % r)
            adds = [m[0] for m in [*others[: n // 2 - 1], joiner, *others[n // 2 - 1 :]]]
            session = self._create(creator)
            rss_before = rss_before or _rss_now()
            t = time.perf_counter()
            _, welcome = self._add(session, creator[2], adds)
            times["commit"].append(time.perf_counter() - t)
            t = time.perf_counter()
            joined = self._join(joiner, welcome)
            times["welcome"].append(time.perf_counter() - t)
            assert joined.own_leaf_index == n // 2
        return {"setup": setup, "times": times, "rss_before": rss_before}

    def path(self, n: int, repeat: int) -> dict[str, Any]:
        # Set up like the others; rfc9420's receivers reject commits with an UpdatePath
        # made by rfc9420 (PEERS.md), so this raises at the first copath commit and the
        # table reports "fails" with the error.
        members = [self._member(b"member %d" % i) for i in range(n)]
        session = self._create(members[0])
        _, welcome = self._add(session, members[0][2], [m[0] for m in members[1:]])
        active = {0: session}
        for leaf in copath_leaves(n):
            active[leaf] = self._join(members[leaf], welcome)
        for leaf in copath_leaves(n):
            commit, _ = active[leaf].commit(members[leaf][2])
            for other, s in active.items():
                if other != leaf:
                    s.apply_commit(commit, leaf)
        raise AssertionError("unreachable while rfc9420 rejects its own path commits")

    def app(self, min_time: float, repeat: int) -> dict[str, Any]:
        a, b = self._member(b"member 0"), self._member(b"member 1")
        sender = self._create(a)
        _, welcome = self._add(sender, a[2], [b[0]])
        receiver = self._join(b, welcome)
        payload = b"a" * PAYLOAD

        def one() -> None:
            # With the signing key: RFC 9420 §6.1 signs every message, application
            # data included; without one rfc9420 silently sends it unsigned.
            receiver.unprotect_application(sender.protect_application(payload, a[2]))

        return {"setup": 0.0, "times": {"message": time_messages(one, min_time, repeat)}}


# ---------------------------------------------------------------------------------------
# Welcome building alone (mlswire only, in this process): ``--welcome-micro``.

MICRO_SIZES = (16, 128, 1024, 4096)
MICRO_JOINERS = (1, 16, 256)


def welcome_micro(sizes: Sequence[int], repeat: int) -> list[dict[str, Any]]:
    """Time ``create_welcome`` for k new members of an N-member group: the GroupInfo is
    the group's own (signed, with its ratchet tree and external_pub), the KeyPackages
    are fresh. Only the Welcome is timed (GroupInfo encryption, k GroupSecrets seals,
    k KeyPackageRefs), best of ``repeat``."""
    use_project_mlswire()
    from mlswire.codecs import tls
    from mlswire.crypto import cipher_suite
    from mlswire.engine import group as engine
    from mlswire.engine import key_schedule as ks
    from mlswire.engine.welcome import NewMember, create_welcome

    config = engine.GroupConfig(handshake_wire_format="public")
    key_packages = [
        engine.Client.generate(b"joiner %d" % i).key_package() for i in range(max(MICRO_JOINERS))
    ]
    joiners = [tls.decode(kp, "MLSMessage").key_package for kp in key_packages]
    rows = []
    for n in sizes:
        creator, *others = [engine.Client.generate(b"member %d" % i) for i in range(n)]
        group = creator.create_group(config=config)
        group.add_members([c.key_package() for c in others])
        group.merge_pending_commit()
        info = tls.decode(group.group_info(), "MLSMessage").group_info
        cs = cipher_suite(group.cipher_suite)
        epoch = ks.epoch_from_joiner(cs, os.urandom(cs.hash_len), group.group_context)
        for k in MICRO_JOINERS:
            members = [NewMember(kp) for kp in joiners[:k]]
            best = math.inf
            for _ in range(repeat):
                t = time.perf_counter()
                create_welcome(epoch, info, members)
                best = min(best, time.perf_counter() - t)
            rows.append(
                {"n": n, "k": k, "group_info_bytes": len(group.group_info()), "seconds": best}
            )
    return rows


def render_micro(rows: Sequence[dict[str, Any]], repeat: int) -> str:
    lines = [
        f"**create_welcome: k new members into an N-member group (best of {repeat})**",
        "",
        "| N | GroupInfo KiB | k | ms | µs per new member |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['n']} | {r['group_info_bytes'] / 1024:.0f} | {r['k']} | "
            f"{_ms(r['seconds'])} | {r['seconds'] / r['k'] * 1e6:.0f} |"
        )
    return "\n".join(lines)


DRIVERS: dict[str, Callable[[], Driver]] = {
    "mlswire": MlswireDriver,
    "mls-rs": MlsRsDriver,
    "rfc9420": Rfc9420Driver,
}


def child_main(impl: str, scenario: str, n: int, repeat: int, min_time: float) -> int:
    """Run one measurement and print it as one JSON object (the parent reads it)."""
    result: dict[str, Any]
    try:
        driver = DRIVERS[impl]()
        if scenario == "app":
            result = driver.app(min_time, repeat)
        else:
            result = getattr(driver, scenario)(n, repeat)
        result["status"] = "ok"
    except PeerUnavailable as exc:
        result = {"status": "unavailable", "error": str(exc)}
    except Exception as exc:  # a peer may raise anything; it is reported, not hidden
        result = {"status": "fails", "error": f"{type(exc).__name__}: {str(exc)[:160]}"}
    # ru_maxrss is in KiB on Linux.
    result["max_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(result))
    return 0


# ---------------------------------------------------------------------------------------
# Parent side


def run_one(
    impl: str, scenario: str, n: int, repeat: int, min_time: float, timeout: float
) -> Outcome:
    start = time.perf_counter()
    try:
        if impl == "ts-mls":
            payload = {
                "scenario": scenario,
                "sizes": [n],
                "repeat": repeat,
                "min_time": min_time,
                "payload": PAYLOAD,
            }
            out = run_node_script("bench-group.mjs", payload, timeout=timeout)
            data: dict[str, Any] = out["results"][0]
            data["runtime"] = out["runtime"]
        else:
            cmd = [
                sys.executable,
                __file__,
                "--child",
                impl,
                "--scenario",
                scenario,
                "--n",
                str(n),
                "--repeat",
                str(repeat),
                "--min-time",
                str(min_time),
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
            if proc.returncode != 0:
                # A crash (e.g. out of memory) is the implementation failing the size.
                tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
                raise PeerUnavailable(f"exited with {proc.returncode}: {tail}")
            data = json.loads(proc.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        data = {"status": "fails", "error": f"no result within {timeout:.0f} s"}
    except PeerUnavailable as exc:
        # Crashes and timeouts of a started process count as "fails"; a runtime or
        # package that is missing altogether as "unavailable".
        crashed = "exited with" in str(exc) or "did not finish" in str(exc)
        data = {"status": "fails" if crashed else "unavailable", "error": str(exc)}
    outcome = Outcome(
        impl=impl,
        scenario=scenario,
        n=n,
        status=data.get("status", "ok"),
        times=data.get("times", {}),
        setup=float(data.get("setup", 0.0)),
        wall=time.perf_counter() - start,
        rss_before=int(data.get("rss_before") or data.get("rssBefore") or 0),
        max_rss=int(data.get("max_rss", 0)),
        error=data.get("error", ""),
    )
    if "runtime" in data:
        RUNTIMES.update(data["runtime"])
    return outcome


RUNTIMES: dict[str, str] = {}  # node and ts-mls versions, as node reports them


def growth_per_doubling(points: Sequence[tuple[int, float]]) -> tuple[float, float] | None:
    """Least-squares ``t = a + b*log2(N)``: (b, the time each doubling adds, in seconds;
    geometric-mean factor per doubling). Constant ``b`` means O(log N); a factor near
    2.0 means O(N)."""
    if len(points) < 2:
        return None
    xs = [math.log2(n) for n, _ in points]
    ys = [t for _, t in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    factor = (ys[-1] / ys[0]) ** (1 / (xs[-1] - xs[0]))
    return b, factor


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds * 1e3:.2f}" if seconds < 0.1 else f"{seconds * 1e3:.0f}"


def _cell(o: Outcome | None, op: str) -> str:
    if o is None:
        return "-"
    if o.status == "ok":
        return _ms(o.best(op))
    return o.status


def _ratio(ours: Outcome | None, peer: Outcome | None, op: str) -> str:
    """Peer time / mlswire time: above 1 means mlswire is faster."""
    a = ours.best(op) if ours else None
    b = peer.best(op) if peer else None
    if a is None or b is None:
        return ""
    return f"{b / a:.2f}x"


def render_markdown(
    results: dict[str, dict[str, dict[int, Outcome]]], notes: list[str], meta: dict[str, Any]
) -> str:
    lines = [
        f"Machine: {meta['machine']}.",
        f"Versions: mlswire {meta['versions'].get('mlswire') or '-'}, "
        f"mls-rs bindings {meta['versions'].get('mls-rs') or '-'}, "
        f"rfc9420 {meta['versions'].get('rfc9420') or '-'}, "
        f"ts-mls {RUNTIMES.get('ts-mls', '-')} on node {RUNTIMES.get('node', '-')}. "
        f"Cipher suite 1, PublicMessage handshake"
        + (f", pinned to CPU {meta['cpu']}" if meta["cpu"] is not None else ", not pinned")
        + ".",
        "",
        "Times in ms, best of the repetitions; `x` columns = peer time / mlswire time "
        "(above 1: mlswire is faster).",
    ]
    titles = {
        "add": f"(a) one commit adding N-1 members + its Welcome; one joiner processing "
        f"the Welcome (best of {meta['repeat']})",
        "path": f"(b) commit with an UpdatePath in an N-member group, copath filled; another "
        f"member processing it (best of {meta['path_repeat']})",
        "app": f"(c) application messages, {PAYLOAD}-byte payload, encrypt + decrypt "
        f"(best of {meta['repeat']} windows of {meta['min_time']} s)",
    }
    for scenario in meta["scenarios"]:
        by_impl = results[scenario]
        lines += ["", f"**{titles[scenario]}**", ""]
        if scenario == "app":
            lines += [
                "| implementation | messages/s | µs per message | mlswire speedup |",
                "| --- | ---: | ---: | ---: |",
            ]
            ours = by_impl["mlswire"].get(2)
            for impl in IMPLS:
                o = by_impl[impl].get(2)
                best = o.best("message") if o else None
                rate = f"{1 / best:,.0f}" if best else (o.status if o else "-")
                us = f"{best * 1e6:.0f}" if best else ""
                ratio = _ratio(ours, o, "message") if impl != "mlswire" else ""
                lines.append(f"| {impl} | {rate} | {us} | {ratio} |")
            continue
        header: list[str] = ["N"]
        for op in OPS[scenario]:
            header += [f"{impl} {op}" for impl in IMPLS]
            header += [f"x {peer}" for peer in PEERS]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("| --- " + "| ---: " * (len(header) - 1) + "|")
        for n in meta["sizes"][scenario]:
            row = [str(n)]
            for op in OPS[scenario]:
                row += [_cell(by_impl[impl].get(n), op) for impl in IMPLS]
                ours = by_impl["mlswire"].get(n)
                row += [_ratio(ours, by_impl[peer].get(n), op) for peer in PEERS]
            lines.append("| " + " | ".join(row) + " |")
        if scenario == "add":
            cpu = [
                f"N={n}: commit {_cell(o, 'commit cpu')}, welcome {_cell(o, 'welcome cpu')}"
                for n in meta["sizes"]["add"]
                if (o := by_impl["mlswire"].get(n)) is not None and o.best("commit cpu")
            ]
            if cpu:
                threads = meta.get("threads")
                lines.append(
                    "- mlswire process CPU time (ms, all threads; "
                    + (f"{threads} verify thread(s)" if threads else "verify threads per core")
                    + "): "
                    + "; ".join(cpu)
                )
        if scenario == "path":
            cpu = [
                f"N={n}: commit {_cell(o, 'commit cpu')}, process {_cell(o, 'process cpu')}"
                for n in meta["sizes"]["path"]
                if (o := by_impl["mlswire"].get(n)) is not None and o.best("commit cpu")
            ]
            if cpu:
                lines.append("- mlswire process CPU time (ms): " + "; ".join(cpu))
            for impl in IMPLS:
                for op in OPS["path"]:
                    points = [
                        (n, t)
                        for n, o in sorted(by_impl[impl].items())
                        if (t := o.best(op)) is not None
                    ]
                    fit = growth_per_doubling(points)
                    if fit is not None:
                        lines.append(
                            f"- {impl} {op}: +{fit[0] * 1e3:.3f} ms per doubling of N "
                            f"(least squares over N={points[0][0]}..{points[-1][0]}), "
                            f"x{fit[1]:.2f} per doubling (1.0 flat, 2.0 linear)"
                        )
            setups = []
            for impl in IMPLS:
                done = [(n, o.setup) for n, o in sorted(by_impl[impl].items()) if o.status == "ok"]
                if done:
                    setups.append(f"{impl} {done[-1][1]:.1f} s at N={done[-1][0]}")
            if setups:
                lines.append("- setup (group building, untimed): " + "; ".join(setups))
        if scenario == "add":
            mem = []
            for impl in IMPLS:
                o = by_impl[impl].get(MEMORY_N)
                if o is not None and o.status == "ok" and o.max_rss:
                    grown = o.max_rss - o.rss_before
                    mem.append(
                        f"{impl} {o.max_rss / 2**20:.0f} MiB peak RSS "
                        f"(+{grown / 2**20:.0f} MiB over the process before the first commit)"
                    )
                else:
                    mem.append(f"{impl} not measured ({o.status if o else 'not run'})")
            lines.append(f"- memory at N={MEMORY_N}: " + "; ".join(mem))
    if notes:
        lines += ["", "Notes:", *[f"- {note}" for note in notes]]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    parser.add_argument(
        "--scenario", action="append", choices=list(SIZES), help="only this scenario (repeatable)"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="repetitions for add, windows for app (default 3)"
    )
    parser.add_argument(
        "--path-repeat",
        type=int,
        default=15,
        help="commits timed per size in the path scenario (default 15; each is cheap)",
    )
    parser.add_argument(
        "--min-time", type=float, default=0.5, help="seconds per app window (default 0.5)"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=60.0,
        help="seconds a peer may spend on one size (predicted) before larger sizes are "
        "skipped (default 60)",
    )
    parser.add_argument("--max-n", type=int, help="leave out sizes above this (quick runs)")
    parser.add_argument(
        "--skip", action="append", choices=list(PEERS), default=[], help="leave out a peer"
    )
    parser.add_argument(
        "--cpu",
        type=int,
        help="pin this process and every child (node included) to one CPU; mls-rs and "
        "node's GC otherwise use a second core",
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="threads mlswire verifies independent signatures on (1: off, the "
        "single-thread numbers; default: one per core)",
    )
    parser.add_argument(
        "--welcome-micro",
        action="store_true",
        help="instead of the scenarios: time building the Welcome alone for k = "
        f"{', '.join(map(str, MICRO_JOINERS))} new members into N = "
        f"{', '.join(map(str, MICRO_SIZES))} members (mlswire only; --repeat, --max-n apply)",
    )
    # Internal: one measurement in a fresh process (see module docstring).
    parser.add_argument("--child", choices=PYTHON_IMPLS, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        (scenario,) = args.scenario
        return child_main(args.child, scenario, args.n, args.repeat, args.min_time)

    if args.threads is not None:
        os.environ[THREADS_ENV] = str(args.threads)  # inherited by the children
    if args.cpu is not None:
        # Inherited by every child process, node included.
        os.sched_setaffinity(0, {args.cpu})
    if args.welcome_micro:
        micro = [n for n in MICRO_SIZES if args.max_n is None or n <= args.max_n]
        rows = welcome_micro(micro, args.repeat)
        print(json.dumps(rows, indent=2) if args.json else render_micro(rows, args.repeat))
        return 0
    scenarios = args.scenario or list(SIZES)
    sizes = {
        s: [n for n in SIZES[s] if args.max_n is None or n <= args.max_n or s == "app"]
        for s in scenarios
    }

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    results: dict[str, dict[str, dict[int, Outcome]]] = {
        s: {impl: {} for impl in IMPLS} for s in scenarios
    }
    notes: list[str] = []
    for scenario in scenarios:
        # impl -> what its cells say for the sizes it will not run
        capped: dict[str, str] = {peer: "skipped" for peer in args.skip}
        repeat = args.path_repeat if scenario == "path" else args.repeat
        ladder = sizes[scenario]
        for i, n in enumerate(ladder):
            # Implementations take turns at each N (module docstring).
            for impl in IMPLS:
                if impl in capped:
                    results[scenario][impl][n] = Outcome(impl, scenario, n, capped[impl])
                    continue
                progress(f"{scenario} N={n}: {impl}")
                # mlswire has no budget: it must run every size; peers get 3x the budget
                # before the process is stopped (the budget itself is checked below).
                timeout = 3600.0 if impl == "mlswire" else max(3 * args.budget, 120.0)
                o = run_one(impl, scenario, n, repeat, args.min_time, timeout)
                results[scenario][impl][n] = o
                progress(
                    f"  {o.status} in {o.wall:.1f} s"
                    + (f" (setup {o.setup:.1f} s)" if o.setup else "")
                    + (f": {o.error}" if o.error else "")
                )
                if o.status != "ok":
                    capped[impl] = "-"
                    if o.error:
                        notes.append(f"{impl}, {scenario}, N={n}: {o.status}: {o.error}")
                    continue
                if impl != "mlswire" and i + 1 < len(ladder):
                    predicted = o.wall * ladder[i + 1] / n
                    if predicted > args.budget:
                        capped[impl] = "over budget"
                        notes.append(
                            f"{impl}, {scenario}: stopped after N={n}, which took {o.wall:.0f} s "
                            f"(set-up {o.setup:.0f} s); N={ladder[i + 1]} would take at least "
                            f"~{predicted:.0f} s, over the {args.budget:.0f} s budget"
                        )

    use_project_mlswire()
    import mlswire

    meta: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine_description(),
        "versions": {
            "mlswire": getattr(mlswire, "__version__", None),
            "mls-rs": package_version("agentvault-mls-rs-uniffi"),
            "rfc9420": package_version("rfc9420"),
            **RUNTIMES,
        },
        "scenarios": scenarios,
        "sizes": sizes,
        "repeat": args.repeat,
        "path_repeat": args.path_repeat,
        "min_time": args.min_time,
        "budget": args.budget,
        "cpu": args.cpu,
        "threads": args.threads,
        "command": " ".join(["python", "bench/group.py", *(argv or sys.argv[1:])]),
    }
    if args.json:
        doc = {
            "meta": meta,
            "notes": notes,
            "results": {
                s: {
                    impl: [dataclasses.asdict(o) for _, o in sorted(by_n.items())]
                    for impl, by_n in by_impl.items()
                }
                for s, by_impl in results.items()
            },
        }
        print(json.dumps(doc, indent=2))
    else:
        print(render_markdown(results, notes, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
