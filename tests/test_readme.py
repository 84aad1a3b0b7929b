"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(block, namespace)


def test_readme_starts_with_the_two_commands() -> None:
    lines = README.read_text().splitlines()
    fence = lines.index("```sh")
    assert lines[fence + 3] == "```"
    assert lines[fence + 1].startswith("pip install -e . && mlswire vectors verify")
    assert lines[fence + 2] == "pip install -q -e '.[dev]' && python -m pytest"
    assert "python -m pytest" in (Path(__file__).parents[1] / ".ci" / "run").read_text()
