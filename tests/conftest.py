"""What the test run needs, provisioned by the run itself, or a one-line reason why not.

- The official vectors: bundled with mlswire (``mlswire/vectors/official``);
  ``MLSWIRE_VECTORS`` may point at another folder of them.
- ts-mls (interop tests): ``npm ci --prefix node`` once per run when ``node/node_modules``
  is missing and npm exists (see ``tests/_provision.py``).
- PostgreSQL (store tests): ``MLSWIRE_PG_URL``, else a throwaway server started from the
  installed server binaries (``postgres_url``).
- Development-only material that is not part of the project (the RFC text in
  ``../shared/spec`` that ``tests/test_schema_rfc.py`` reads): ``MLSWIRE_SHARED`` names the
  folder holding ``spec/`` (default ``../shared`` beside the checkout).

Whatever is missing skips the tests that need it with one line saying what to install;
under CI (``CI=true``) or ``MLSWIRE_REQUIRE_SHARED=1`` it fails them instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest
from hypothesis import HealthCheck, settings

from mlswire.vectors import default_vectors_dir

from . import _provision

# Property tests assert behaviour, never timings: no per-example deadline and no
# too-slow health check, which only fired on loaded machines (performance lives in bench/).
settings.register_profile("mlswire", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("mlswire")

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MLSWIRE_SHARED", ROOT.parent / "shared"))


def strict() -> bool:
    """Under CI nothing may skip for a missing peer, server or file: it fails."""
    return (
        os.environ.get("CI", "").lower() == "true"
        or os.environ.get("MLSWIRE_REQUIRE_SHARED") == "1"
    )


def missing(message: str) -> NoReturn:
    """Skip the test for something absent from this machine (fail under CI)."""
    if strict():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def vectors_dir() -> Path:
    """The official vectors: the bundled set, or the folder ``MLSWIRE_VECTORS`` names."""
    return default_vectors_dir()


def require(path: Path) -> Path:
    """``path``, or a skip (a failure under CI) saying how to get it."""
    if path.exists():
        return path
    if path.is_relative_to(SHARED):
        # Development material (the RFC texts) is not part of a user's clone: its tests
        # skip there, and fail only where a run asks for it (CI sets MLSWIRE_REQUIRE_SHARED).
        message = (
            f"{path} not found: development material outside the project; set MLSWIRE_SHARED "
            "to the folder holding spec/ (the RFC texts)"
        )
        if os.environ.get("MLSWIRE_REQUIRE_SHARED") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    missing(f"{path} not found (MLSWIRE_VECTORS={os.environ.get('MLSWIRE_VECTORS', '')!r})")


@pytest.fixture(scope="session")
def vectors() -> Path:
    return require(vectors_dir())


@pytest.fixture(scope="session")
def rfc9420_text() -> str:
    return require(SHARED / "spec" / "rfc9420-mls-protocol.md").read_text()


def postgres_url() -> str:
    """``MLSWIRE_PG_URL``, else the URL of a throwaway server this run starts (once)."""
    url = os.environ.get("MLSWIRE_PG_URL")
    if url:
        return url
    try:
        return _provision.throwaway_postgres()
    except _provision.Unavailable as e:
        missing(str(e))


def pytest_collection_finish(session: pytest.Session) -> None:
    """Install the node peers before the run when an interop test was collected; the
    peers report (skip or fail) a failed install where they start."""
    interop = ROOT / "tests" / "interop"
    if any(Path(str(item.path)).is_relative_to(interop) for item in session.items):
        try:
            _provision.node_modules()
        except _provision.Unavailable as e:  # the ts-mls tests skip or fail on their own
            reporter = session.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.write_line(f"node peers not installed: {e}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    _provision.stop_postgres()
