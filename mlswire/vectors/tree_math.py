"""tree-math.json: node counts, root, and left/right/parent/sibling of every node."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..engine import tree_math as tm
from ..errors import ValidationError
from . import expect

FAMILY = "tree-math"
KEYS = frozenset({"n_leaves", "n_nodes", "root", "left", "right", "parent", "sibling"})


def _or_none(f: Callable[[int], int], x: int) -> int | None:
    try:
        return f(x)
    except ValidationError:  # no such node (a leaf's child, the root's parent)
        return None


def check(case: dict[str, Any]) -> None:
    n = case["n_leaves"]
    expect("n_nodes", tm.node_width(n), case["n_nodes"])
    expect("root", tm.root(n), case["root"])
    for name in ("left", "right", "parent", "sibling"):
        want = case[name]
        expect(f"len({name})", len(want), case["n_nodes"])
    relations: dict[str, Callable[[int], int]] = {
        "left": tm.left,
        "right": lambda x: tm.right(x, n),
        "parent": lambda x: tm.parent(x, n),
        "sibling": lambda x: tm.sibling(x, n),
    }
    for name, relation in relations.items():
        for i in range(case["n_nodes"]):
            expect(f"{name}[{i}]", _or_none(relation, i), case[name][i])
