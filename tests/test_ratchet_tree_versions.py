"""RatchetTree.copy() is O(1) (versions share arrays, Baker's rerooting): every version
must still behave exactly like an independent eager copy, whatever order versions are
read, changed, copied and dropped in."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mlswire.crypto.suites import cipher_suite
from mlswire.engine.ratchet_tree import NodeValue, RatchetTree
from mlswire.schema import ParentNode

from ._trees import make_member

SUITE = 1
_LEAVES = [make_member(cipher_suite(SUITE), f"v{i}").leaf_node for i in range(6)]
_PARENTS = [
    ParentNode(encryption_key=bytes([i]) * 32, parent_hash=b"", unmerged_leaves=())
    for i in range(4)
]

OPS = st.tuples(
    st.sampled_from(["copy", "add", "remove", "set_parent", "blank_path", "hash", "drop"]),
    st.integers(0, 10**6),
    st.integers(0, 10**6),
)


def _apply(tree: RatchetTree, op: str, a: int, b: int) -> None:
    members = list(tree.members())
    if op == "add":
        tree.add_leaf(_LEAVES[a % len(_LEAVES)])
    elif op == "remove" and len(members) > 1:
        tree.remove_leaf(members[a % len(members)])
    elif op == "set_parent" and tree.width > 1:
        x = 2 * (a % (tree.width // 2)) + 1
        tree.set_parent(x, _PARENTS[b % len(_PARENTS)])
    elif op == "blank_path":
        tree.blank_direct_path(members[a % len(members)])
    elif op == "hash":
        tree.tree_hash()


@settings(max_examples=200)
@given(st.lists(OPS, min_size=1, max_size=40))
def test_versions_behave_like_independent_copies(ops: list[tuple[str, int, int]]) -> None:
    first = RatchetTree.with_first_leaf(SUITE, _LEAVES[0])
    versions: list[tuple[RatchetTree, list[NodeValue]]] = [(first, list(first.nodes()))]
    for op, a, b in ops:
        i = a % len(versions)
        tree, model = versions[i]
        if op == "copy":
            versions.append((tree.copy(), list(model)))
            continue
        if op == "drop" and len(versions) > 1:
            del versions[i]
            continue
        _apply(tree, op, a // 7, b)
        # the model: the same operation on an eager, independent tree
        reference = RatchetTree(SUITE, list(model))
        _apply(reference, op, a // 7, b)
        versions[i] = (tree, list(reference.nodes()))
        for other, other_model in versions:
            assert list(other.nodes()) == other_model
    for tree, model in versions:
        assert tree.tree_hash() == RatchetTree(SUITE, list(model)).tree_hash()
        assert tree.tree_hashes() == RatchetTree(SUITE, list(model)).tree_hashes()


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["copy", "set", "del", "drop", "read"]),
            st.integers(0, 10**6),
            st.integers(0, 5),
        ),
        max_size=60,
    )
)
def test_versioned_dict_versions_are_independent(ops: list[tuple[str, int, int]]) -> None:
    from mlswire.engine.versioned import VersionedDict

    versions: list[tuple[VersionedDict[int, int], dict[int, int]]] = [(VersionedDict(), {})]
    for op, a, key in ops:
        i = a % len(versions)
        d, model = versions[i]
        if op == "copy":
            versions.append((d.copy(), dict(model)))
        elif op == "drop" and len(versions) > 1:
            del versions[i]
        elif op == "set":
            d[key] = a
            model[key] = a
        elif op == "del" and key in model:
            del d[key]
            del model[key]
        for other, other_model in versions:
            assert other.to_dict() == other_model
            assert all((k in other) == (k in other_model) for k in range(6))
