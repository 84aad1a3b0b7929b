"""tree-math.json: node counts, root, and left/right/parent/sibling of every node."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..engine import tree_math as tm
from ..errors import ValidationError
from . import expect

KEYS = frozenset({"n_leaves", "n_nodes", "root", "left", "right", "parent", "sibling"})


def _or_none(f: Callable[[], int]) -> int | None:
    try:
        return f()
    except ValidationError:  # no such node (a leaf's child, the root's parent)
        return None


def check(case: dict[str, Any]) -> None:
    n = case["n_leaves"]
    expect("n_nodes", tm.node_width(n), case["n_nodes"])
    expect("root", tm.root(n), case["root"])
    for name in ("left", "right", "parent", "sibling"):
        want = case[name]
        expect(f"len({name})", len(want), case["n_nodes"])
    for i in range(case["n_nodes"]):
        expect(f"left[{i}]", _or_none(lambda: tm.left(i)), case["left"][i])
        expect(f"right[{i}]", _or_none(lambda: tm.right(i, n)), case["right"][i])
        expect(f"parent[{i}]", _or_none(lambda: tm.parent(i, n)), case["parent"][i])
        expect(f"sibling[{i}]", _or_none(lambda: tm.sibling(i, n)), case["sibling"][i])
