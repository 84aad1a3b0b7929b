"""Every doctest in mlswire/ runs (the examples a newcomer copies are checked), and the
examples of docs/GROUP_ENGINE.md run too."""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mlswire"
# Entry points that run a program when imported, and modules whose imports need
# optional extras; neither holds doctests.
SKIP = {"mlswire.__main__", "mlswire.fuzz"}


def _modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if name not in SKIP and ">>>" in path.read_text():
            names.append(name)
    return names


@pytest.mark.parametrize("name", _modules())
def test_module_doctests(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, name


def test_group_engine_doc_examples_run() -> None:
    """Each ```python block of docs/GROUP_ENGINE.md runs, in order, in one namespace."""
    text = (ROOT / "docs" / "GROUP_ENGINE.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, "docs/GROUP_ENGINE.md", "exec"), namespace)
