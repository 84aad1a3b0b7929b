"""tree-math.json: node counts, root, and left/right/parent/sibling of every node."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..engine import tree_math as tm
from ..errors import ValidationError
from . import expect
from ._build import per_case
from ._rng import Drbg

FAMILY = "tree-math"
KEYS = frozenset({"n_leaves", "n_nodes", "root", "left", "right", "parent", "sibling"})

# Generation: the cases do not depend on a cipher suite; case i is the tree of 2**i
# leaves (RFC 9420 trees are always full), as in the official file. Eight cases keep
# the file small (the official ten reach 512 leaves).
SUITED = False
DEFAULT_COUNT = 8


def _or_none(f: Callable[[int], int], x: int) -> int | None:
    try:
        return f(x)
    except ValidationError:  # no such node (a leaf's child, the root's parent)
        return None


def _relations(n: int) -> dict[str, Callable[[int], int]]:
    return {
        "left": tm.left,
        "right": lambda x: tm.right(x, n),
        "parent": lambda x: tm.parent(x, n),
        "sibling": lambda x: tm.sibling(x, n),
    }


def check(case: dict[str, Any]) -> None:
    n = case["n_leaves"]
    expect("n_nodes", tm.node_width(n), case["n_nodes"])
    expect("root", tm.root(n), case["root"])
    for name in ("left", "right", "parent", "sibling"):
        want = case[name]
        expect(f"len({name})", len(want), case["n_nodes"])
    for name, relation in _relations(n).items():
        for i in range(case["n_nodes"]):
            expect(f"{name}[{i}]", _or_none(relation, i), case[name][i])


def generate(
    suite: int | None,
    rng: Drbg,
    count: int | None = None,
    *,
    progress: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """Cases for trees of 1, 2, 4, ... leaves (nothing here is random)."""
    out: list[dict[str, Any]] = []
    for i, _ in per_case(rng, DEFAULT_COUNT if count is None else count, progress):
        n = 1 << i
        width = tm.node_width(n)
        case: dict[str, Any] = {"n_leaves": n, "n_nodes": width, "root": tm.root(n)}
        for name, relation in _relations(n).items():
            case[name] = [_or_none(relation, x) for x in range(width)]
        out.append(case)
    return out
