"""The official vectors bundled with mlswire are the files SOURCE.md describes, one per
official family, unmodified."""

from __future__ import annotations

import hashlib
import re

import pytest

from mlswire.vectors import BUNDLED_VECTORS, default_vectors_dir, official_families


def _listed_digests() -> dict[str, str]:
    text = (BUNDLED_VECTORS / "SOURCE.md").read_text()
    return {name: digest for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", text, re.M)}


def test_one_file_per_official_family() -> None:
    names = sorted(p.stem for p in BUNDLED_VECTORS.glob("*.json"))
    assert names == official_families()
    assert len(names) == 16


def test_files_are_the_ones_source_md_lists() -> None:
    listed = _listed_digests()
    assert sorted(listed) == sorted(p.name for p in BUNDLED_VECTORS.glob("*.json"))
    for name, digest in listed.items():
        assert hashlib.sha256((BUNDLED_VECTORS / name).read_bytes()).hexdigest() == digest, name


def test_source_md_names_repository_commit_and_terms() -> None:
    text = (BUNDLED_VECTORS / "SOURCE.md").read_text()
    assert "https://github.com/mlswg/mls-implementations" in text
    assert re.search(r"Commit: [0-9a-f]{40} \(\d{4}-\d{2}-\d{2}\)", text)
    assert "Terms:" in text


def test_mlswire_vectors_overrides_the_bundled_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLSWIRE_VECTORS", raising=False)
    assert default_vectors_dir() == BUNDLED_VECTORS
    monkeypatch.setenv("MLSWIRE_VECTORS", "/elsewhere")
    assert str(default_vectors_dir()) == "/elsewhere"
