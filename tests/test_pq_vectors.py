"""The committed post-quantum vector set (vectors/pq/): every suite-dependent family,
all eleven draft suites, every case verifies, and the README's command reproduces it
byte for byte (checked here one suite per family, rotating through the eleven)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlswire.crypto.suites import PQ_CIPHER_SUITES
from mlswire.vectors import verify_file
from mlswire.vectors._generate import generate_files, generator_families
from mlswire.vectors.invalid_input import representative

from .conftest import ROOT

PQ_DIR = ROOT / "vectors" / "pq"
PQ_SEED = "mlswire-pq"  # the seed vectors/README.md gives
SUITE_FREE = {"cross-encoding", "tree-math", "deserialization"}
FAMILIES = sorted(set(generator_families()) - SUITE_FREE)
# The must-reject family has one case per area in each suite (vectors/README.md), the
# others one case per suite.
PER_SUITE = {"invalid-input": len(representative())}


def _cases(family: str) -> list[dict[str, Any]]:
    return json.loads((PQ_DIR / f"{family}.json").read_text())  # type: ignore[no-any-return]


def test_every_suite_dependent_family_is_there() -> None:
    assert sorted(p.stem for p in PQ_DIR.glob("*.json")) == FAMILIES
    readme = (ROOT / "vectors" / "README.md").read_text()
    suites = " ".join(f"--suite TBD{i}" for i in range(1, 12))
    assert (
        f"mlswire vectors generate all {suites} --count 1 --seed {PQ_SEED} -o vectors/pq" in readme
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_pq_vectors_cover_the_eleven_suites_and_verify(family: str) -> None:
    cases = _cases(family)
    per_suite = PER_SUITE.get(family, 1)
    if "cipher_suite" in cases[0]:
        expected = [s for s in PQ_CIPHER_SUITES for _ in range(per_suite)]
        assert [c["cipher_suite"] for c in cases] == expected
    else:  # messages: one case per suite, in order, no suite field
        assert len(cases) == len(PQ_CIPHER_SUITES)
    name, results = verify_file(PQ_DIR / f"{family}.json")
    assert name == family
    done = list(results)
    assert len(done) == len(PQ_CIPHER_SUITES) * per_suite
    assert not [r for r in done if r.error], "\n".join(
        f"{r.label}: {r.error}" for r in done if r.error
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_same_seed_gives_the_committed_bytes(family: str) -> None:
    """A fresh run reproduces the committed case exactly: derandomized ML-KEM
    encapsulation and deterministic ML-DSA signing at work (a hedged signature or a
    random encapsulation would differ on every run)."""
    index = FAMILIES.index(family) % len(PQ_CIPHER_SUITES)
    suite = PQ_CIPHER_SUITES[index]
    text = generate_files([family], suites=[suite], count=1, seed=PQ_SEED)[family]
    # count=1 makes each family's first case of the suite (invalid-input: its first rule).
    assert json.loads(text) == [_cases(family)[index * PER_SUITE.get(family, 1)]]


def test_cli_generate_is_byte_identical_across_runs() -> None:
    """The command itself, twice, in fresh processes: the same bytes, and the same case
    as the committed file's."""
    import subprocess
    import sys

    args = [sys.executable, "-m", "mlswire", "vectors", "generate", "crypto-basics"]
    args += ["--suite", "TBD11", "--suite", "TBD9", "--count", "1", "--seed", PQ_SEED]
    first, again = (
        subprocess.run(args, capture_output=True, text=True, check=True).stdout for _ in range(2)
    )
    assert first == again
    committed = {c["cipher_suite"]: c for c in _cases("crypto-basics")}
    assert json.loads(first) == [committed[PQ_CIPHER_SUITES[10]], committed[PQ_CIPHER_SUITES[8]]]
