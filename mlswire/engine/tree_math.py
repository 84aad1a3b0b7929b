"""Array-based left-balanced binary tree arithmetic (RFC 9420 Appendix C).

Nodes are numbered in-order: leaves at even indices, parents at odd ones. A tree with
``n`` leaves (any ``n >= 1``, not only powers of two) has ``2n - 1`` nodes. Functions that
depend on the tree's size take the number of leaves.
"""

from __future__ import annotations

from ..errors import ValidationError


def level(x: int) -> int:
    """Height of node ``x`` above the leaves: the number of trailing one bits."""
    return (x ^ (x + 1)).bit_length() - 1


def node_width(n_leaves: int) -> int:
    """Number of nodes in a tree with ``n_leaves`` leaves."""
    return 0 if n_leaves == 0 else 2 * (n_leaves - 1) + 1


def root(n_leaves: int) -> int:
    """Index of the root of a tree with ``n_leaves`` leaves."""
    if n_leaves < 1:
        raise ValidationError("RFC 9420 Appendix C: a tree has at least one leaf")
    w = node_width(n_leaves)
    return (1 << (w.bit_length() - 1)) - 1


def left(x: int) -> int:
    """Left child of parent node ``x``."""
    k = level(x)
    if k == 0:
        raise ValidationError("RFC 9420 Appendix C: a leaf has no children", where=f"node {x}")
    return x ^ (1 << (k - 1))


def right(x: int, n_leaves: int | None = None) -> int:
    """Right child of parent node ``x``. In a tree whose leaf count is not a power of
    two, pass ``n_leaves``: a right child past the tree's edge is replaced by its
    leftmost descendant inside the tree."""
    k = level(x)
    if k == 0:
        raise ValidationError("RFC 9420 Appendix C: a leaf has no children", where=f"node {x}")
    r = x ^ (3 << (k - 1))
    if n_leaves is not None:
        w = node_width(n_leaves)
        while r >= w:
            r = left(r)
    return r


def _parent_step(x: int) -> int:
    # The parent in the infinite complete tree: clear bit k+1, set bit k.
    k = level(x)
    b = (x >> (k + 1)) & 1
    return (x | (1 << k)) ^ (b << (k + 1))


def parent(x: int, n_leaves: int) -> int:
    """Parent of node ``x``: steps up past nodes beyond the tree's right edge."""
    if x == root(n_leaves):
        raise ValidationError("RFC 9420 Appendix C: the root has no parent", where=f"node {x}")
    w = node_width(n_leaves)
    p = _parent_step(x)
    while p >= w:
        p = _parent_step(p)
    return p


def sibling(x: int, n_leaves: int) -> int:
    """The other child of ``x``'s parent."""
    p = parent(x, n_leaves)
    return right(p, n_leaves) if x < p else left(p)


def direct_path(x: int, n_leaves: int) -> list[int]:
    """Parents of ``x`` up to and including the root (empty for the root)."""
    r = root(n_leaves)
    w = node_width(n_leaves)
    path: list[int] = []
    # parent() step by step, inlined: a commit adding k members walks k direct paths.
    while x != r:
        k = (x ^ (x + 1)).bit_length() - 1
        x = (x | (1 << k)) ^ (((x >> (k + 1)) & 1) << (k + 1))
        while x >= w:
            k += 1
            x = (x | (1 << k)) ^ (((x >> (k + 1)) & 1) << (k + 1))
        path.append(x)
    return path


def copath(x: int, n_leaves: int) -> list[int]:
    """Siblings of ``x`` and of each node on its direct path, excluding the root."""
    r = root(n_leaves)
    if x == r:
        return []
    nodes = [x, *direct_path(x, n_leaves)]
    nodes.pop()
    return [sibling(y, n_leaves) for y in nodes]


def common_ancestor(x: int, y: int) -> int:
    """Lowest common ancestor of nodes ``x`` and ``y`` (RFC 9420 Appendix C)."""
    lx, ly = level(x) + 1, level(y) + 1
    if lx <= ly and x >> ly == y >> ly:
        return y
    if ly <= lx and x >> lx == y >> lx:
        return x
    xn, yn, k = x, y, 0
    while xn != yn:
        xn, yn, k = xn >> 1, yn >> 1, k + 1
    return (xn << k) + (1 << (k - 1)) - 1


def leaf_to_node(leaf: int) -> int:
    return 2 * leaf


def node_to_leaf(node: int) -> int:
    return node // 2
