"""mlswire as a user gets it from a package index: an sdist and a wheel built from this
tree, the wheel installed into a fresh virtual environment outside the tree."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"{cmd}: exit {out.returncode}\n{out.stdout}\n{out.stderr}"
    return out.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sdist, then the wheel built from that sdist (so the sdist is complete), as a
    publisher builds them: in an isolated environment with the build-system requirements
    of pyproject.toml (the environment's own setuptools may be older than they need)."""
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], out)
    return out


def test_sdist_and_wheel_carry_what_users_need(dist: Path) -> None:
    (wheel,) = dist.glob("mlswire-*.whl")
    (sdist,) = dist.glob("mlswire-*.tar.gz")
    names = zipfile.ZipFile(wheel).namelist()
    assert "mlswire/py.typed" in names
    official = [n for n in names if n.startswith("mlswire/vectors/official/")]
    assert len([n for n in official if n.endswith(".json")]) == 16
    assert "mlswire/vectors/official/SOURCE.md" in official
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    (meta_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    meta = zipfile.ZipFile(wheel).read(meta_name).decode()
    assert "License-Expression: Apache-2.0" in meta
    assert "Project-URL: Source," in meta
    assert "Classifier: Typing :: Typed" in meta
    assert "Description-Content-Type: text/markdown" in meta
    assert "pip install -e . && mlswire vectors verify" in meta  # the README is the description
    with tarfile.open(sdist) as tar:
        members = tar.getnames()
    assert any(m.endswith("/LICENSE") for m in members)
    assert any(m.endswith("/mlswire/vectors/official/messages.json") for m in members)


def test_wheel_in_a_fresh_venv_verifies_the_bundled_vectors(dist: Path, tmp_path: Path) -> None:
    (wheel,) = dist.glob("mlswire-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    _run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], tmp_path)
    # The dependencies come from the site-packages of the interpreter running the tests
    # (no package index needed), as plain path entries after the venv's own: their .pth
    # files (such as an editable mlswire's) are not run, so only the wheel's mlswire imports.
    purelib = _run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp_path
    )
    paths = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (Path(purelib.strip()) / "test-deps.pth").write_text("\n".join(sorted(paths)) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("MLSWIRE_VECTORS", "PYTHONPATH")}
    work = tmp_path / "elsewhere"  # not the source tree, so only the installed copy imports
    work.mkdir()
    where = _run([str(python), "-c", "import mlswire; print(mlswire.__file__)"], work, env)
    assert Path(where.strip()).is_relative_to(env_dir), where
    version = _run([str(bindir / "mlswire"), "--version"], work, env)
    import mlswire

    assert version.strip() == f"mlswire {mlswire.__version__}"
    out = _run([str(bindir / "mlswire"), "vectors", "verify"], work, env).splitlines()
    assert out[0].startswith("checking the vector files in ") and str(env_dir) in out[0]
    assert len(out) == 18  # the folder, 16 files, the total
    assert out[-1] == "785 passed, 0 failed"
