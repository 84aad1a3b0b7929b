"""Shared helpers for benchmarks that compare mlswire with independent MLS implementations.

The npm side of the peers lives in ``node/`` at the project root (``npm ci --prefix node``
installs it). A benchmark hands a node script its input as JSON on stdin and reads JSON
from stdout, so the timing loop runs inside node and only the numbers cross over.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NODE_DIR = ROOT / "node"
# The official vectors bundled with mlswire (a path, not an import: see use_project_mlswire).
DEFAULT_VECTORS = ROOT / "mlswire" / "vectors" / "official"


class PeerUnavailable(Exception):
    """A peer cannot be run here (not installed, or it crashed); the message says why."""


def vectors_dir() -> Path:
    """Where the official test vectors are: $MLSWIRE_VECTORS, else the bundled set."""
    override = os.environ.get("MLSWIRE_VECTORS")
    return Path(override) if override else DEFAULT_VECTORS


def use_project_mlswire() -> None:
    """Make ``import mlswire`` pick up this working tree, not some installed copy.

    Running ``python bench/x.py`` puts ``bench/`` on sys.path, not the project root, so
    without this an uninstalled checkout would not import at all, and an older installed
    release would be measured instead of the code being benchmarked.
    """
    root = str(ROOT)
    if root not in sys.path:
        sys.path.insert(0, root)


def run_node_script(script: str, payload: Any, timeout: float = 1800.0) -> Any:
    """Run ``node/<script>`` with ``payload`` as JSON on stdin; return its parsed JSON stdout."""
    node = shutil.which("node")
    if node is None:
        raise PeerUnavailable("node is not on PATH (Node >= 20 is needed)")
    if not (NODE_DIR / "node_modules" / "ts-mls").is_dir():
        raise PeerUnavailable(f"ts-mls is not installed: run `npm ci --prefix {NODE_DIR}`")
    try:
        proc = subprocess.run(
            [node, str(NODE_DIR / script)],
            input=json.dumps(payload),
            capture_output=True,
            text=True,
            cwd=NODE_DIR,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise PeerUnavailable(f"node {script} did not finish within {timeout:.0f} s") from exc
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-5:]
        raise PeerUnavailable(f"node {script} exited with {proc.returncode}: " + " | ".join(tail))
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise PeerUnavailable(f"node {script} printed no JSON: {proc.stdout[:200]!r}") from exc


def package_version(name: str) -> str | None:
    """Installed version of a Python distribution, or None when it is not installed."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_description() -> str:
    """One line about the machine, for the header of a results table."""
    cpu = platform.processor() or platform.machine()
    try:
        # platform.processor() is often empty or just "x86_64" on Linux; cpuinfo has the model.
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()} ({platform.python_implementation()})"
    )
