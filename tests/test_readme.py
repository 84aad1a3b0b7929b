"""The README's commands and Python examples work as written."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
SERVICE_URL = "http://127.0.0.1:8480"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_readme_library_examples_run() -> None:
    blocks = [b for b in _blocks() if SERVICE_URL not in b]
    assert len(blocks) >= 3
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(block, namespace)


def test_readme_service_example_runs_against_a_real_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from .service.conftest import Server

    (block,) = [b for b in _blocks() if SERVICE_URL in b]
    server = Server(str(tmp_path / "ds.sqlite3"), tmp_path).start()
    try:
        monkeypatch.chdir(tmp_path)
        namespace: dict[str, object] = {}
        exec(block.replace(SERVICE_URL, server.url), namespace)
        # The comments in the example say what receive() returns; check them.
        bob = namespace["bob"]
        alice = namespace["alice"]
        alice.send(namespace["gid"], b"again")  # type: ignore[attr-defined]
        events = bob.receive()  # type: ignore[attr-defined]
        assert [(e.kind, e.data) for e in events] == [("message", b"again")]
        assert os.path.isdir(tmp_path / "state" / "bob")
    finally:
        server.stop()


def test_readme_starts_with_the_two_commands() -> None:
    lines = README.read_text().splitlines()
    fence = lines.index("```sh")
    assert lines[fence + 3] == "```"
    assert lines[fence + 1].startswith("pip install -e . && mlswire vectors verify")
    assert lines[fence + 2] == "pip install -q -e '.[dev]' && python -m pytest"
    ci = (README.parent / ".ci" / "run").read_text()
    assert "pip install -q -e '.[dev]' && python -m pytest" in ci
