"""Installing plugins/mlswire-construct (the ``tls-construct`` codec) for the tests.

The tests use the plugin as a user would: installed into the running interpreter's
environment by pip, found through the ``mlswire.codecs`` entry point. ``ensure()`` does
that once per environment: it reinstalls only when the installed copy is not this
checkout's (another branch, or an older version), under a file lock, since several test
runs (and checkouts) may share one environment.
"""

from __future__ import annotations

import fcntl
import importlib
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "plugins" / "mlswire-construct"
PACKAGE = "mlswire_construct"
ENCODING = "tls-construct"
LOCK = Path(tempfile.gettempdir()) / "mlswire-construct-install.lock"


def installed_is_current() -> bool:
    """The installed plugin is this checkout's: same entry point, same source files."""
    importlib.invalidate_caches()
    eps = importlib.metadata.entry_points(group="mlswire.codecs", name=ENCODING)
    if [ep.value for ep in eps] != [f"{PACKAGE}:codec"]:
        return False
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return False
    where = Path(next(iter(spec.submodule_search_locations)))
    for source in (PLUGIN / PACKAGE).glob("*.py"):
        copy = where / source.name
        if not copy.is_file() or copy.read_bytes() != source.read_bytes():
            return False
    return True


def _install() -> str | None:
    """pip install the plugin; None on success, else why not."""
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if importlib.util.find_spec("setuptools") is not None:
        cmd.append("--no-build-isolation")  # build with the setuptools already here
    try:
        out = subprocess.run(
            [*cmd, str(PLUGIN)], capture_output=True, text=True, timeout=300, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"pip could not run: {e}"
    if out.returncode != 0:
        return f"pip install {PLUGIN} failed: {out.stderr.strip().splitlines()[-1:]}"
    return None


def ensure() -> str | None:
    """Make this checkout's plugin importable here; None when it is, else why not."""
    if PACKAGE in sys.modules:  # already loaded in this process: checked when it was
        return None
    if installed_is_current():
        return None
    with LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not installed_is_current():  # (another run may have done it meanwhile)
                problem = _install()
                if problem is not None:
                    return problem
                if not installed_is_current():
                    return f"pip installed {PLUGIN}, but it is not importable from here"
            importlib.import_module(PACKAGE)  # while no other run can replace the files
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return None


def require() -> None:
    """Skip (in CI: fail) when the plugin cannot be installed here."""
    problem = ensure()
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"tls-construct plugin: {problem}")
    pytest.skip(f"tls-construct plugin not installable here: {problem}")
