from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def vectors_dir() -> Path:
    return Path(os.environ.get("MLSWIRE_VECTORS", SHARED / "mls-test-vectors"))


def require(path: Path) -> Path:
    """Skip (or, under CI with MLSWIRE_REQUIRE_SHARED=1, fail) when shared material is absent."""
    if path.exists():
        return path
    message = (
        f"{path} not found: get the official vectors from the mlswg/mls-implementations "
        "repository (test-vectors/) and point MLSWIRE_VECTORS at them"
    )
    if os.environ.get("MLSWIRE_REQUIRE_SHARED") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def vectors() -> Path:
    return require(vectors_dir())


@pytest.fixture(scope="session")
def rfc9420_text() -> str:
    return require(SHARED / "spec" / "rfc9420-mls-protocol.md").read_text()
