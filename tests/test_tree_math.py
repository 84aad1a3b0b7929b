"""Tree math for arbitrary tree sizes, beyond the power-of-two sizes of tree-math.json."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mlswire.engine import tree_math as tm


@settings(max_examples=60)
@given(st.integers(1, 1100))
def test_structure_is_consistent(n: int) -> None:
    w = tm.node_width(n)
    r = tm.root(n)
    assert 0 <= r < w
    for x in range(w):
        if x == r:
            assert tm.direct_path(x, n) == []
            continue
        p = tm.parent(x, n)
        assert p < w
        assert x in (tm.left(p), tm.right(p, n))
        s = tm.sibling(x, n)
        assert s != x and tm.parent(s, n) == p
        path = tm.direct_path(x, n)
        assert path[-1] == r
        assert len(tm.copath(x, n)) == len(path)


@given(st.integers(1, 2000), st.data())
def test_common_ancestor_is_on_both_paths(n: int, data: st.DataObject) -> None:
    a = 2 * data.draw(st.integers(0, n - 1))
    b = 2 * data.draw(st.integers(0, n - 1))
    c = tm.common_ancestor(a, b)
    if a == b:
        assert c == a
    else:
        assert c in tm.direct_path(a, n) or c >= tm.node_width(n)
