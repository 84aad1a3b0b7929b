"""Generated test vectors: they pass the same check() the official files pass, have the
official files' JSON structure, are reproducible from a seed, and the committed set in
``vectors/`` verifies and is what its README's command produces."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlswire.codecs import tls
from mlswire.crypto.suites import SUPPORTED_CIPHER_SUITES
from mlswire.engine.group import Client, StagedCommit
from mlswire.schema import MLSMessage
from mlswire.vectors import family_module, official_families, run_cases, verify_file
from mlswire.vectors._generate import (
    Progress,
    dumps,
    generate_family,
    generate_files,
    generator_families,
    is_suited,
)
from mlswire.vectors._passive import CONFIG
from mlswire.vectors._rng import Drbg

from .conftest import ROOT, require, vectors_dir

COMMITTED = ROOT / "vectors"
COMMITTED_SEED = "mlswire"  # the seed vectors/README.md gives

# The official families (cross-encoding, mlswire's own, is picked up by ALL below).
FAMILIES = [
    "tree-math",
    "crypto-basics",
    "secret-tree",
    "message-protection",
    "key-schedule",
    "psk_secret",
    "transcript-hashes",
    "welcome",
    "tree-operations",
    "tree-validation",
    "treekem",
    "messages",
    "deserialization",
    "passive-client-welcome",
    "passive-client-handling-commit",
    "passive-client-random",
]
ALL = sorted(set(FAMILIES) | set(generator_families()))

# Small counts keep the suite fast; the committed files cover the default counts.
QUICK_COUNT = {
    "tree-validation": 3,
    "treekem": 2,
    "tree-operations": 5,
    "tree-math": 5,
    "deserialization": 8,  # past the fixed edge cases, into the random lengths
    "passive-client-welcome": 6,  # the four named cases, then random ones
    # Both sequences: together they hold every scenario.
    "passive-client-handling-commit": len(
        family_module("passive-client-handling-commit").SEQUENCES
    ),
    "passive-client-random": 1,
}
# Nothing in tree-math is random: its cases are fixed by the tree sizes.
SEED_FREE = {"tree-math"}


def _params() -> Iterator[Any]:
    for family in ALL:
        if family in FAMILIES and not is_suited(family):
            yield pytest.param(family, None, id=f"{family}")
            continue
        for suite in SUPPORTED_CIPHER_SUITES:
            yield pytest.param(family, suite, id=f"{family}-{suite}")


def _generate(family: str, suite: int | None, seed: str = "test") -> list[dict[str, Any]]:
    suites = [suite] if suite is not None else [1]
    return generate_family(family, suites=suites, count=QUICK_COUNT.get(family, 2), rng=Drbg(seed))


def test_the_families_of_this_change_all_generate() -> None:
    assert set(FAMILIES) <= set(generator_families())


@pytest.mark.parametrize(("family", "suite"), list(_params()))
def test_generated_cases_pass_check(family: str, suite: int | None) -> None:
    cases = _generate(family, suite)
    assert cases, "no cases generated"
    if suite is not None and "cipher_suite" in cases[0]:
        assert {c["cipher_suite"] for c in cases} == {suite}
    # Through the JSON text, as a reader of the file gets them.
    doc = json.loads(dumps(cases))
    results = list(run_cases(doc, family_module(family).check))
    assert not [r for r in results if r.error], "\n".join(
        f"{r.label}: {r.error}" for r in results if r.error
    )


# --- structure against the official files ------------------------------------------------
_HEX = re.compile(r"^(?:[0-9a-f]{2})*$")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, str):
        return "hex" if _HEX.match(value) else "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object{" + ",".join(sorted(value)) + "}"
    return type(value).__name__


def structure(value: Any, path: str = "$") -> set[tuple[str, str]]:
    """(path, kind) of every value in a JSON document; list elements share the path
    ``[]`` and objects carry their key set, so two documents with equal structures have
    the same keys, nesting and value kinds everywhere."""
    out = {(path, _kind(value))}
    if isinstance(value, dict):
        for k, v in value.items():
            out |= structure(v, f"{path}.{k}")
    elif isinstance(value, list):
        for v in value:
            out |= structure(v, f"{path}[]")
    return out


@pytest.fixture(scope="module")
def default_set() -> dict[str, str]:
    """Every family at its default count for all suites, under the committed seed:
    what ``mlswire vectors generate all --seed mlswire`` writes (a few seconds, once)."""
    return generate_files(ALL, suites=None, count=None, seed=COMMITTED_SEED)


@pytest.mark.parametrize("family", [f for f in ALL if f in official_families()])
def test_structure_matches_the_official_file(family: str, default_set: dict[str, str]) -> None:
    official = json.loads(require(vectors_dir() / f"{family}.json").read_text())
    ours, theirs = structure(json.loads(default_set[family])), structure(official)
    assert ours == theirs, (
        f"only in generated: {sorted(ours - theirs)}\nonly in official: {sorted(theirs - ours)}"
    )


def test_structure_sees_a_difference() -> None:
    assert structure([{"a": "00", "b": [1, None]}]) != structure([{"a": "00", "b": [1]}])
    assert structure([{"a": "00"}]) != structure([{"a": 0}])
    assert structure([{"a": "00"}]) != structure([{"a": "00", "c": None}])
    assert structure([{"label": "RefHash"}]) != structure([{"label": "ab"}])


# --- what the passive-client families exercise -------------------------------------------
def _follow(case: dict[str, Any]) -> Iterator[tuple[MLSMessage, Any]]:
    """Each message of a passive-client case, decoded, with what the passive client got
    from processing it (a ProposalMessage or a merged StagedCommit): the public view of
    the engine's results plus the clear content of PublicMessages."""
    kp = tls.decode(bytes.fromhex(case["key_package"]), MLSMessage).key_package
    client = Client.from_keys(
        kp.leaf_node.credential, case["cipher_suite"], bytes.fromhex(case["signature_priv"])
    )
    client.add_key_package(
        kp, bytes.fromhex(case["init_priv"]), bytes.fromhex(case["encryption_priv"])
    )
    for psk in case["external_psks"]:
        client.add_external_psk(bytes.fromhex(psk["psk_id"]), bytes.fromhex(psk["psk"]))
    tree = case["ratchet_tree"]
    group = client.join_group(
        bytes.fromhex(case["welcome"]), None if tree is None else bytes.fromhex(tree), config=CONFIG
    )
    for epoch in case["epochs"]:
        for raw in [*epoch["proposals"], epoch["commit"]]:
            data = bytes.fromhex(raw)
            result = group.process(data)
            if isinstance(result, StagedCommit):
                result.merge()
            yield tls.decode(data, MLSMessage), result


def _exercised(cases: list[dict[str, Any]]) -> set[str]:
    """Labels for what the cases' messages do, e.g. ``commit:by-value:add``."""
    seen: set[str] = set()
    for case in cases:
        seen.add("tree:" + ("out-of-band" if case["ratchet_tree"] else "in-welcome"))
        seen.add("external-psks" if case["external_psks"] else "no-external-psks")
        for message, result in _follow(case):
            kind = "commit" if isinstance(result, StagedCommit) else "proposal"
            seen.add(f"{kind}:{message.wire_format.name}")
            if kind == "commit":
                seen.add(f"committer:{result.sender.sender_type.name}")
                seen.update(f"psk:{p.psktype.name}" for p in result.psks)
                if result.reinit is not None:
                    seen.add("reinit")
            public = message.public_message
            if public is None:
                continue
            content = public.content
            seen.add(f"{kind}-sender:{content.sender.sender_type.name}")
            if content.proposal is not None:
                seen.add(f"proposal:{content.proposal.proposal_type.name}")
            if content.commit is not None:
                seen.add("commit:" + ("with-path" if content.commit.path else "without-path"))
                for por in content.commit.proposals:
                    if por.proposal is None:
                        seen.add("commit:by-reference")
                    else:
                        seen.add(f"commit:by-value:{por.proposal.proposal_type.name}")
    return seen


PROPOSAL_TYPES = [
    "add",
    "update",
    "remove",
    "psk",
    "reinit",
    "external_init",
    "group_context_extensions",
]


def test_handling_commit_exercises_every_proposal_type_and_way_to_commit() -> None:
    seen = _exercised(_generate("passive-client-handling-commit", 1))
    by_value = {t for t in PROPOSAL_TYPES if t != "update"}  # §12.2: no Update by value
    expected = {
        *(f"proposal:{t}" for t in PROPOSAL_TYPES if t != "external_init"),
        *(f"commit:by-value:{t}" for t in by_value),
        "commit:by-reference",
        "commit:with-path",
        "commit:without-path",
        "commit:mls_public_message",
        "commit:mls_private_message",
        "proposal:mls_public_message",
        "proposal:mls_private_message",
        "committer:member",
        "committer:new_member_commit",  # external joins (new member and resync)
        "proposal-sender:member",
        "proposal-sender:external",
        "proposal-sender:new_member_proposal",
        "psk:external",
        "psk:resumption",
        "reinit",
        "external-psks",
    }
    assert expected <= seen, sorted(expected - seen)


def test_welcome_cases_join_every_way() -> None:
    seen = _exercised(_generate("passive-client-welcome", 1))
    assert {"tree:in-welcome", "tree:out-of-band", "external-psks", "no-external-psks"} <= seen


def test_random_case_mixes_operations() -> None:
    (case,) = _generate("passive-client-random", 1)
    assert len(case["epochs"]) == family_module("passive-client-random").EPOCHS
    seen = _exercised([case])
    assert {
        "commit:mls_public_message",
        "commit:mls_private_message",
        "commit:by-reference",
        "psk:resumption",
    } <= seen


# --- reproducibility -------------------------------------------------------------------
@pytest.mark.parametrize("family", ALL)
def test_same_seed_gives_identical_bytes(family: str) -> None:
    suite = [1] if is_suited(family) else None
    count = QUICK_COUNT.get(family, 2)
    first = generate_files([family], suites=suite, count=count, seed="same")
    again = generate_files([family], suites=suite, count=count, seed="same")
    assert first == again


@pytest.mark.parametrize("family", [f for f in ALL if f not in SEED_FREE])
def test_different_seeds_differ(family: str) -> None:
    suite = [1] if is_suited(family) else None
    count = QUICK_COUNT.get(family, 2)
    a = generate_files([family], suites=suite, count=count, seed="one")
    b = generate_files([family], suites=suite, count=count, seed="two")
    assert a != b


def test_no_seed_gives_fresh_vectors() -> None:
    a = generate_files(["crypto-basics"], suites=[1], count=1, seed=None)
    b = generate_files(["crypto-basics"], suites=[1], count=1, seed=None)
    assert a != b


def test_a_case_does_not_depend_on_what_else_is_generated() -> None:
    # Each suite and case has its own stream: more cases or more suites leave the
    # existing cases as they were.
    few = generate_family("psk_secret", suites=[3], count=2, rng=Drbg("s"))
    more = generate_family("psk_secret", suites=[1, 3], count=3, rng=Drbg("s"))
    assert [c for c in more if c["cipher_suite"] == 3][:2] == few


def test_drbg() -> None:
    rng = Drbg(b"seed")
    assert Drbg(b"seed")(100) == rng(40) + rng(60)  # a stream, however it is read
    assert Drbg("7")(16) == Drbg(7)(16) != Drbg(8)(16)
    assert rng.fork("a")(16) == Drbg(b"seed").fork("a")(16) != rng.fork("b")(16)
    assert all(0 <= rng.below(3) < 3 for _ in range(200))
    assert {rng.between(5, 6) for _ in range(100)} == {5, 6}
    assert sorted(rng.sample(range(10), 10)) == list(range(10))


# --- the committed vectors ---------------------------------------------------------------
def test_committed_vectors_cover_every_family_and_suite() -> None:
    present = {p.stem for p in COMMITTED.glob("*.json")}
    assert set(FAMILIES) <= present
    for family in FAMILIES:
        cases = json.loads((COMMITTED / f"{family}.json").read_text())
        if is_suited(family) and "cipher_suite" in cases[0]:
            assert {c["cipher_suite"] for c in cases} == set(SUPPORTED_CIPHER_SUITES), family


@pytest.mark.parametrize("family", FAMILIES)
def test_committed_vectors_verify(family: str) -> None:
    name, results = verify_file(COMMITTED / f"{family}.json")
    assert name == family
    done = list(results)
    assert done
    assert not [r for r in done if r.error], "\n".join(
        f"{r.label}: {r.error}" for r in done if r.error
    )


def test_committed_vectors_are_what_the_readme_command_makes(default_set: dict[str, str]) -> None:
    readme = (COMMITTED / "README.md").read_text()
    assert f"mlswire vectors generate all --seed {COMMITTED_SEED} -o vectors" in readme
    committed = sorted(p.stem for p in COMMITTED.glob("*.json"))
    stale = [f for f in committed if default_set.get(f) != (COMMITTED / f"{f}.json").read_text()]
    assert not stale, (
        f"vectors/ is out of date for {stale}: regenerate with "
        f"`mlswire vectors generate all --seed {COMMITTED_SEED} -o vectors`"
    )


# --- the command -------------------------------------------------------------------------
def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlswire", *args], capture_output=True, text=True, check=False
    )


def test_cli_generate_then_verify(tmp_path: Path) -> None:
    out = tmp_path / "welcome.json"
    gen = run(
        "vectors", "generate", "welcome", "--suite", "2", "0x0007", "--seed", "x", "-o", str(out)
    )
    assert gen.returncode == 0, gen.stderr
    assert gen.stdout == gen.stderr == ""  # quiet when not on a terminal
    assert [c["cipher_suite"] for c in json.loads(out.read_text())] == [2, 7]
    check = run("vectors", "verify", str(out))
    assert check.returncode == 0 and check.stdout.endswith("2 passed, 0 failed\n")


def test_cli_generate_to_stdout_is_reproducible() -> None:
    args = ("vectors", "generate", "psk_secret", "--suite", "1", "--count", "3", "--seed", "s")
    first, second = run(*args), run(*args)
    assert first.returncode == 0 and first.stdout == second.stdout
    assert len(json.loads(first.stdout)) == 3


def test_cli_generate_all(tmp_path: Path) -> None:
    gen = run("vectors", "generate", "all", "--suite", "1", "--count", "1", "-o", str(tmp_path))
    assert gen.returncode == 0, gen.stderr
    assert {p.stem for p in tmp_path.glob("*.json")} == set(generator_families())
    check = run("vectors", "verify", *map(str, sorted(tmp_path.glob("*.json"))))
    assert check.returncode == 0, check.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nope",), "unknown vector family"),
        (("welcome", "--suite", "9"), "unsupported cipher suite"),
        (("all",), "give -o DIR"),
        (("welcome", "--count", "-1"), "--count"),
    ],
)
def test_cli_generate_refuses_bad_arguments(args: tuple[str, ...], message: str) -> None:
    out = run("vectors", "generate", *args)
    assert out.returncode == 2
    assert message in out.stderr


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal() -> None:
    tty, pipe = _Tty(), io.StringIO()
    for stream in (tty, pipe):
        bar = Progress(4, stream=stream)
        bar.set_label("treekem")
        for _ in range(4):
            bar.tick()
        bar.close()
    assert pipe.getvalue() == ""
    assert "treekem" in tty.getvalue() and "4/4" in tty.getvalue()
