"""CI's slice of the interop matrix: the official welcome_join, application and commit
configs, suite 1, both handshake modes, mlswire with ts-mls and with mls-rs, each
behind the gRPC MLSClient interface (node/grpc-peer.mjs, tests/interop/grpc_mlsrs.py).

Per pair of implementations: every assignment of the two to the actors of each
two-actor script, and four seeded random assignments (two per mode) of each larger
script. A case passes, or fails because a peer answered UNIMPLEMENTED (it cannot do what
the step asks), or fails with a deviation of the peer listed in KNOWN_DEVIATIONS; any
other failure fails the test. The full matrix is one command (docs/INTEROP.md).
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("grpc", reason="the interop extra (grpcio, protobuf) is not installed")

from mlswire.interop import config as cfg
from mlswire.interop import passive, runner, server
from mlswire.vectors import _passive

ROOT = Path(__file__).resolve().parents[2]
NODE_PEER = ROOT / "node" / "grpc-peer.mjs"

# Failures that are the peer's deviation from RFC 9420, not a disagreement to fix here.
KNOWN_DEVIATIONS = {
    # RFC 9420 §12.1.8.1: the extension's data is ExternalSender external_senders<V>;
    # ts-mls 1.6.4 decodes it as a single ExternalSender, so the empty list ("AA==")
    # that commit.json's group_context_extensions sets is refused by ts-mls members.
    "ts-mls: CodecError: Could not decode external_senders",
}
SLICE = ("welcome_join", "application", "commit")
RANDOM_PER_MODE = 2


@pytest.fixture(scope="module")
def mlswire_address() -> Iterator[str]:
    srv, port = server.serve(0, "127.0.0.1")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        srv.stop(None)


@pytest.fixture(scope="module")
def mlsrs_address() -> Iterator[str]:
    pytest.importorskip("mls_rs_uniffi", reason="agentvault-mls-rs-uniffi is not installed")
    from . import grpc_mlsrs

    srv, port = grpc_mlsrs.serve(0)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        srv.stop(None)


@pytest.fixture(scope="module")
def tsmls_address() -> Iterator[str]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node (>= 20) is not on PATH")
    if not (ROOT / "node" / "node_modules" / "@grpc" / "grpc-js").is_dir():
        pytest.skip("node/node_modules lacks @grpc/grpc-js: npm ci --prefix node")
    proc = subprocess.Popen(
        [node, str(NODE_PEER), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NODE_NO_WARNINGS": "1"},
    )
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    stdout = proc.stdout
    threading.Thread(target=lambda: [lines.put(x) for x in stdout], daemon=True).start()
    try:
        first = lines.get(timeout=60)
        assert first.startswith("listening on "), first
        yield f"127.0.0.1:{int(first.split()[-1])}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run_slice(addresses: list[str]) -> list[runner.CaseResult]:
    clients = [runner.connect(a, 30) for a in addresses]
    try:
        results: list[runner.CaseResult] = []
        for name in SLICE:
            config = cfg.load(cfg.resolve(name))
            for script, steps in sorted(config.scripts.items()):
                one = cfg.Config(config.path, {script: steps})
                if len(cfg.actors(steps)) <= 2:
                    plan = runner.Plan(suite=1)
                else:
                    plan = runner.Plan(suite=1, random_assignments=RANDOM_PER_MODE, seed=9420)
                for cases in runner.run_config(one, clients, plan).values():
                    results += cases
        return results
    finally:
        for c in clients:
            c.channel.close()


def check(results: list[runner.CaseResult], peer: str) -> dict[str, int]:
    counts = {"passed": 0, "n/a": 0, "deviation": 0}
    for case in results:
        if case.passed:
            counts["passed"] += 1
            continue
        assert case.error is not None
        where = f"{case.script} {case.encrypt} {[(a, r.name) for a, r in case.actors.items()]}"
        if case.unimplemented:
            assert f"desc = {peer}" in case.error, (where, case.error)
            counts["n/a"] += 1
        elif any(d in case.error for d in KNOWN_DEVIATIONS):
            counts["deviation"] += 1
        else:
            pytest.fail(f"{where}: step {case.failed_step}: {case.error}")
    return counts


def mixed_passes(results: list[runner.CaseResult], script: str) -> list[bool]:
    """Whether each case of ``script`` that mixes the two implementations passed."""
    return [
        c.passed
        for c in results
        if c.script == script and len({r.name for r in c.actors.values()}) > 1
    ]


def test_slice_mlswire_and_ts_mls(mlswire_address: str, tsmls_address: str) -> None:
    results = run_slice([mlswire_address, tsmls_address])
    counts = check(results, "ts-mls")
    assert counts["passed"] >= 70, counts
    # Scripts ts-mls can play every part of: every mixed assignment, both modes, passes.
    for script in ("no_path_secret", "with_psk", "with_external_tree", "in_order", "empty"):
        mixed = mixed_passes(results, script)
        assert len(mixed) == 4 and all(mixed), script  # 2 mixed assignments x 2 modes
    for script in ("out_of_order_within_epoch", "out_of_order_across_epochs", "remove"):
        assert all(mixed_passes(results, script)), script
    # Passive-client vectors from the mixed run verify in mlswire, the ones of members
    # that ts-mls played included (their Welcomes made by either implementation).
    vectors = [v for case in results for v in passive.vectors(case)]
    ts_joins = sum(
        1
        for case in results
        if case.passed
        for e in case.transcript
        if e.rpc == "JoinGroup" and case.actors[e.actor].name.startswith("ts-mls")
    )
    assert ts_joins >= 20 and len(vectors) >= 2 * ts_joins
    for v in vectors:
        _passive.check(v)


def test_slice_mlswire_and_mls_rs(mlswire_address: str, mlsrs_address: str) -> None:
    results = run_slice([mlswire_address, mlsrs_address])
    counts = check(results, "mls-rs bindings")
    assert counts["deviation"] == 0
    # The bindings send handshake messages as PublicMessage only: in public mode, groups
    # mixing the two agree on their epoch authenticators whoever commits; with encrypted
    # handshake mls-rs takes part as a receiver (it processes PrivateMessage commits).
    for script in ("no_path_secret", "empty"):
        public = [
            c.passed
            for c in results
            if c.script == script and not c.encrypt and len({r.name for r in c.actors.values()}) > 1
        ]
        assert public == [True, True], script
    receivers = [
        c.passed
        for c in results
        if c.encrypt
        and c.script in ("no_path_secret", "empty", "in_order")
        and c.actors["alice"].name.startswith("mlswire")
    ]
    assert receivers and all(receivers)
    # mls-rs keeps its KeyPackages' private keys: only mlswire's joins give vectors.
    vectors = [v for case in results for v in passive.vectors(case)]
    mlswire_joins = sum(
        1
        for case in results
        if case.passed
        for e in case.transcript
        if e.rpc == "JoinGroup" and case.actors[e.actor].name.startswith("mlswire")
    )
    assert len(vectors) == mlswire_joins > 0
    for v in vectors:
        _passive.check(v)
    assert counts["passed"] >= 40, counts
