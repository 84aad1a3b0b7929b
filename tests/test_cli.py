from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import require, vectors_dir


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlswire", *args], capture_output=True, text=True, check=False
    )


def test_vectors_verify_output_format() -> None:
    files = [str(require(vectors_dir() / n)) for n in ("messages.json", "tree-math.json")]
    out = run("vectors", "verify", *files)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0] == f"{files[0]}: 300 passed, 0 failed"
    assert lines[1] == f"{files[1]}: 10 passed, 0 failed"
    assert lines[-1] == "310 passed, 0 failed"


def test_unknown_family_fails(tmp_path: Path) -> None:
    f = tmp_path / "mystery.json"
    f.write_text('[{"x": 1}]')
    out = run("vectors", "verify", str(f))
    assert out.returncode != 0
    assert "cannot tell which vector family" in out.stdout


def test_failing_case_is_reported_verbosely(tmp_path: Path) -> None:
    f = tmp_path / "deserialization.json"
    f.write_text('[{"vlbytes_header": "4000", "length": 0}, {"vlbytes_header": "00", "length": 0}]')
    out = run("vectors", "verify", "--verbose", str(f))
    assert out.returncode == 1
    assert "case 0" in out.stdout and "not minimally encoded" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "1 passed, 1 failed"
