"""The interop harness on mlswire alone: the runner's semantics (RUNNER.md), its
results and exit codes, and passive vectors from its runs.

Servers run in this process (``mlswire.interop.server.serve`` on a free port).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("grpc", reason="the interop extra (grpcio, protobuf) is not installed")

from mlswire.interop import config as cfg
from mlswire.interop import passive, runner, server
from mlswire.vectors import _passive

from ..conftest import SHARED, require

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def address() -> Iterator[str]:
    srv, port = server.serve(0, "127.0.0.1")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        srv.stop(None)


@pytest.fixture(scope="module")
def remote(address: str) -> Iterator[runner.Remote]:
    r = runner.connect(address, 10)
    try:
        yield r
    finally:
        r.channel.close()


def write_config(tmp_path: Path, text: str) -> cfg.Config:
    path = tmp_path / "c.json"
    path.write_text(text)
    return cfg.load(path)


def test_connect_reports_name_and_suites(remote: runner.Remote) -> None:
    assert remote.name.startswith("mlswire ")
    assert remote.suites == frozenset(range(1, 8))


def test_config_keeps_raw_steps_and_matches_keys_like_go(tmp_path: Path) -> None:
    text = '{"mode": "ignored", "scripts": {"s": [\n  {"action": "reinit",  "changeCiphersuite": true, "ForcePath": 1}\n]}}'
    c = write_config(tmp_path, text)
    (step,) = c.scripts["s"]
    assert step.raw == '{"action": "reinit",  "changeCiphersuite": true, "ForcePath": 1}'
    assert step.flag("changeCipherSuite") is True  # case-insensitive, as Go's encoding/json
    with pytest.raises(cfg.StepError, match="wrong JSON type"):
        step.flag("forcePath")  # 1 is not a bool
    assert step.flag("external_tree") is False  # missing: the zero value


def test_config_without_action_is_refused(tmp_path: Path) -> None:
    with pytest.raises(cfg.ConfigError, match=r"scripts\.s\[0\] has no string action"):
        write_config(tmp_path, '{"scripts": {"s": [{"actor": "alice"}]}}')


def test_actors_follow_runner_rules() -> None:
    c = cfg.load(cfg.resolve("external_proposals"))
    assert cfg.actors(c.scripts["external_add"]) == ["alice", "bob", "ds", "charlie"]
    # reinit's participants are named by other keys: not actors (RUNNER.md §2.3)
    r = cfg.load(cfg.resolve("reinit"))
    assert cfg.actors(r.scripts["change_group_id"]) == ["alice", "bob", "charlie", "diana", "eliza"]


def test_matrix_is_the_full_product_of_supporting_clients(remote: runner.Remote) -> None:
    # The same server twice counts as two clients (RUNNER.md §1.2): 2 actors -> 4
    # assignments per suite and mode, each distinct.
    steps = cfg.load(cfg.resolve("welcome_join")).scripts["no_path_secret"]
    plan = runner.Plan(suite=1)
    import random

    got = list(runner.assignments([remote, remote], cfg.actors(steps), 1, plan, random.Random(0)))
    assert len(got) == 4
    assert len({tuple(id(v) for v in a.values()) for a in got}) == 1  # same object twice...
    two = [remote, runner.Remote("other", "x", frozenset({1}), None, None)]
    pairs = {
        tuple(v.address for v in a.values())
        for a in runner.assignments(two, cfg.actors(steps), 1, plan, random.Random(0))
    }
    assert len(pairs) == 4  # ...and all four distinct pairs of two different clients
    # A client that lacks the suite gets no slot.
    assert list(runner.assignments(two, ["a", "b"], 2, plan, random.Random(0))) == [
        {"a": remote, "b": remote}
    ]


def run(
    remote: runner.Remote, config: cfg.Config, **plan: object
) -> dict[str, list[runner.CaseResult]]:
    return runner.run_config(config, [remote], runner.Plan(**plan))  # type: ignore[arg-type]


def test_slice_mlswire_suite_1_both_modes(remote: runner.Remote) -> None:
    """The CI slice for mlswire x mlswire: welcome_join, commit, application."""
    for name, scripts in (("welcome_join", 4), ("commit", 9), ("application", 3)):
        results = run(remote, cfg.load(cfg.resolve(name)), suite=1)
        assert len(results) == scripts
        for script, cases in results.items():
            assert [c.encrypt for c in cases] == [True, False]
            for case in cases:
                assert case.passed, (name, script, case.error)
                assert case.transcript


def test_reinit_keeping_the_group_id(remote: runner.Remote) -> None:
    # change_extensions reinitializes into the same group_id (the new group's first
    # commit names the old group by the same id); change_ciphersuite also moves suite.
    results = run(remote, cfg.load(cfg.resolve("reinit")), suite=1, modes=(False,))
    for script, (case,) in results.items():
        assert case.passed, (script, case.error)


def test_failures_are_reported_like_the_go_runner(remote: runner.Remote, tmp_path: Path) -> None:
    c = write_config(
        tmp_path,
        '{"scripts": {'
        '"bad_ref": [{"action": "createGroup", "actor": "a"},'
        ' {"action": "addProposal", "actor": "a", "keyPackage": 7}],'
        '"no_key": [{"action": "createGroup", "actor": "a"},'
        ' {"action": "addProposal", "actor": "a", "keyPackage": 0}],'
        '"unknown": [{"action": "createGroup", "actor": "a"}, {"action": "dance", "actor": "a"}],'
        '"rejected": [{"action": "createGroup", "actor": "a"},'
        ' {"action": "removeProposal", "actor": "a", "removed": "nobody"}]}}',
    )
    results = run(remote, c, suite=1, modes=(True,))
    errors = {name: cases[0] for name, cases in results.items()}
    assert errors["bad_ref"].error == "step index 7 is outside the script (0..1)"
    assert errors["no_key"].error == "No message for key key_package at step 0"
    assert errors["unknown"].error == "Unknown action: dance"
    assert errors["rejected"].error is not None
    assert errors["rejected"].error.startswith("rpc error: code = InvalidArgument desc = mlswire:")
    for case in errors.values():
        assert case.failed_step == 1
        doc = case.to_json()
        assert doc["failed_step_json"] == c.scripts[case.script][1].raw
        # Only the RPCs that succeeded are in the transcript.
        assert [e["rpc"] for e in doc["transcript"]] == ["CreateGroup"]


def test_results_json_shape(remote: runner.Remote) -> None:
    results = run(remote, cfg.load(cfg.resolve("commit")), suite=1, modes=(False,))
    doc = json.loads(runner.dumps(runner.results_json(results)))
    case = doc["scripts"]["resumption_psk"][0]
    assert set(case) == {"cipher_suite", "actors", "encrypt_flag", "transcript"}
    assert case["actors"] == {"alice": remote.name, "bob": remote.name}
    assert case["encrypt_flag"] is False  # always present, even when false
    proposals = [e for e in case["transcript"] if e["rpc"] == "ResumptionPSKProposal"]
    assert [e["request"]["epoch_id"] for e in proposals] == [1, 2, 2, 3]  # uint64 as numbers
    create = case["transcript"][0]
    assert create["rpc"] == "CreateGroup" and "encrypt_handshake" not in create["request"]
    assert set(create["request"]) == {"group_id", "cipher_suite", "identity"}


def test_passive_vectors_from_a_run_verify(remote: runner.Remote) -> None:
    results = run(remote, cfg.load(cfg.resolve("commit")), suite=1)
    vectors = [v for cases in results.values() for c in cases for v in passive.vectors(c)]
    # Every JoinGroup of a passing case gives one (commit.json: 22 per suite and mode).
    assert len(vectors) == 44
    # The official converter lists a member's epochs only if it does nothing but
    # HandleCommit after joining (RUNNER.md §5); ours follows it up to its first own
    # action, e.g. resumption_psk's Bob: two commits, then he proposes.
    (case,) = [c for c in results["resumption_psk"] if c.encrypt]
    (bob,) = passive.vectors(case)
    assert len(bob["epochs"]) == 2
    after_join = [
        e.rpc
        for e in case.transcript
        if e.actor == "bob" and e.rpc not in ("CreateKeyPackage", "JoinGroup")
    ]
    assert after_join[:3] == ["HandleCommit", "HandleCommit", "ResumptionPSKProposal"]
    for v in vectors:
        assert v.keys() >= _passive.KEYS
        _passive.check(v)


def test_passive_vectors_skip_failed_cases(remote: runner.Remote, tmp_path: Path) -> None:
    c = write_config(
        tmp_path,
        '{"scripts": {"s": [{"action": "createGroup", "actor": "a", "members": ["b"]},'
        ' {"action": "dance", "actor": "a"}]}}',
    )
    (case,) = run(remote, c, suite=1, modes=(True,))["s"]
    assert not case.passed and any(e.rpc == "JoinGroup" for e in case.transcript)
    assert passive.vectors(case) == []


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlswire", "interop", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


def test_cli_exit_codes_results_and_passive_out(address: str, tmp_path: Path) -> None:
    out, vectors = tmp_path / "results.json", tmp_path / "passive"
    ok = cli(
        "run", "--client", address, "--config", "welcome_join", "--suite", "2", "--public",
        "-o", str(out), "--passive-out", str(vectors),
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "4 cases: 4 passed, 0 failed" in ok.stderr
    assert "with_psk: 1 cases, 0 failed" in ok.stderr  # plain progress when not a tty
    doc = json.loads(out.read_text())
    assert sorted(doc["scripts"]) == [
        "no_path_secret",
        "with_external_tree",
        "with_path_secret",
        "with_psk",
    ]
    verified = subprocess.run(
        [sys.executable, "-m", "mlswire", "vectors", "verify", str(vectors / "welcome_join.json")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert verified.returncode == 0, verified.stdout
    assert verified.stdout.splitlines()[-1] == "4 passed, 0 failed"

    bad = tmp_path / "bad.json"
    bad.write_text('{"scripts": {"s": [{"action": "createGroup", "actor": "a"}, {"action": "x"}]}}')
    failed = cli("run", "--client", address, "--config", str(bad), "--suite", "1")
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["scripts"]["s"][0]["error"] == "Unknown action: x"
    assert "Test failed" in failed.stderr

    unsupported = cli("run", "--client", address, "--config", "welcome_join", "--suite", "99")
    assert unsupported.returncode == 2
    assert "no client supports cipher suite 99" in unsupported.stderr

    unreadable = cli("run", "--client", address, "--config", str(tmp_path / "missing.json"))
    assert unreadable.returncode == 1
    assert "Failure to parse config file" in unreadable.stderr


def test_bundled_configs_are_the_official_ones() -> None:
    shared = require(SHARED / "spec" / "interop-configs")
    assert cfg.bundled() == sorted(p.stem for p in shared.glob("*.json"))
    for name in cfg.bundled():
        assert (cfg.BUNDLED / f"{name}.json").read_bytes() == (shared / f"{name}.json").read_bytes()


def test_report_counts_passed_na_and_failed(remote: runner.Remote, tmp_path: Path) -> None:
    from mlswire.interop.report import summarize, totals

    c = write_config(
        tmp_path,
        '{"scripts": {"ok": [{"action": "createGroup", "actor": "a", "members": ["b"]}],'
        ' "bad": [{"action": "dance", "actor": "a"}]}}',
    )
    results = run(remote, c, suite=1)
    # A peer that cannot do a step answers UNIMPLEMENTED: counted apart, as n/a.
    na = runner.CaseResult("na", 1, True, {"a": remote})
    na.error = runner.UNIMPLEMENTED + "ts-mls: UpdateProposal: no API"
    na.failed_step, na.failed_step_json = 1, "{}"
    assert na.unimplemented and not na.passed
    results["na"] = [na]
    path = tmp_path / "c.json"
    path.write_text(runner.dumps(runner.results_json(results)))
    table = summarize([path])
    assert "| c | ok | 2 | 2 | 0 | 0 |" in table
    assert "| c | bad | 2 | 0 | 0 | 2 |" in table
    assert "| c | na | 1 | 0 | 1 | 0 |" in table
    assert "| 2 | failed: Unknown action: dance |" in table
    assert "| 1 | n/a: ts-mls: UpdateProposal: no API |" in table
    assert "| run | 5 | 2 | 1 | 2 |" in totals({"run": [path]})
