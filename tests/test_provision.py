"""What the test run provisions for itself, and what it says when it cannot."""

from __future__ import annotations

import pytest

from . import _provision, conftest


def test_missing_skips_locally_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("MLSWIRE_REQUIRE_SHARED", raising=False)
    with pytest.raises(pytest.skip.Exception, match="install X"):
        conftest.missing("install X")
    for name, value in (("CI", "true"), ("MLSWIRE_REQUIRE_SHARED", "1")):
        with monkeypatch.context() as m:
            m.setenv(name, value)
            with pytest.raises(pytest.fail.Exception, match="install X"):
                conftest.missing("install X")


def test_without_npm_the_reason_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_provision, "node_modules_current", lambda: False)
    monkeypatch.setattr(_provision.shutil, "which", lambda name: None)
    with pytest.raises(_provision.Unavailable, match=r"Node\.js >= 20 with npm is not installed"):
        _provision.node_modules()


def test_node_modules_are_current_here() -> None:
    """This run installed them (tests/conftest.py) when an interop test was collected, or
    they were there already; either way the locked versions are what is installed."""
    if not (_provision.NODE_DIR / "node_modules").is_dir():
        conftest.missing("node/node_modules is not installed (npm ci --prefix node)")
    assert _provision.node_modules_current()


def test_without_postgres_binaries_the_reason_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_provision.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(_provision.shutil, "which", lambda name: None)
    with pytest.raises(_provision.Unavailable, match=r"apt-get install postgresql"):
        _provision._pg_bin()


def test_the_throwaway_postgres_answers() -> None:
    import psycopg

    url = conftest.postgres_url()
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT 1 + 1").fetchone()
    assert row == (2,)
