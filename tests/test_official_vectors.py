"""Every case of every official vector family mlswire knows, through the same code as
``mlswire vectors verify``. A failing case is a failing test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlswire.vectors import detect_family, official_families, verify_file

from .conftest import require, vectors_dir


@pytest.mark.parametrize("family", official_families())
def test_family(family: str) -> None:
    path = require(vectors_dir() / f"{family}.json")
    name, results = verify_file(path)
    assert name == family
    results = list(results)
    failures = [f"{r.label}: {r.error}" for r in results if r.error]
    assert results, "no cases"
    assert not failures, "\n".join(failures[:20])


def test_family_detected_from_content(tmp_path: Path) -> None:
    src = require(vectors_dir() / "tree-math.json")
    copy = tmp_path / "renamed.json"
    copy.write_text(src.read_text())
    assert detect_family(copy, json.loads(copy.read_text())) == "tree-math"


def test_a_wrong_value_fails(tmp_path: Path) -> None:
    cases = json.loads(require(vectors_dir() / "tree-math.json").read_text())
    cases[3]["root"] += 1
    bad = tmp_path / "tree-math.json"
    bad.write_text(json.dumps(cases))
    results = list(verify_file(bad)[1])
    assert [r.index for r in results if r.error] == [3]
    assert "root" in (results[3].error or "")
