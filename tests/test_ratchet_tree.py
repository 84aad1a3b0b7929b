"""The ratchet tree: shape changes, resolution, the ratchet_tree extension, cached tree
hashes, and validation of corrupted trees (each naming the RFC rule it breaks)."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlswire.crypto.suites import cipher_suite
from mlswire.engine import tree_math as tm
from mlswire.engine import tree_validation as tv
from mlswire.engine.ratchet_tree import RatchetTree
from mlswire.errors import DecodeError, ValidationError
from mlswire.schema import LeafNode, Node, NodeType, ParentNode

from ._trees import SUITE, Group, apply_tree_op, get_tree, make_member, sample_leaves

SUITE_OBJ = cipher_suite(SUITE)
LEAVES = sample_leaves()


def parent(key: bytes, unmerged: tuple[int, ...] = ()) -> ParentNode:
    return ParentNode(encryption_key=key, parent_hash=b"", unmerged_leaves=unmerged)


def test_add_fills_leftmost_blank_then_doubles() -> None:
    tree = RatchetTree.with_first_leaf(SUITE, LEAVES[0])
    assert (tree.n_leaves, tree.width) == (1, 1)
    assert tree.add_leaf(LEAVES[1]) == 1 and tree.n_leaves == 2
    assert tree.add_leaf(LEAVES[2]) == 2 and tree.n_leaves == 4
    assert tree.add_leaf(LEAVES[3]) == 3 and tree.n_leaves == 4
    tree.remove_leaf(1)
    assert tree.n_leaves == 4  # leaf 3 keeps the right half alive
    assert tree.add_leaf(LEAVES[4]) == 1  # the leftmost blank, no extension


def test_remove_truncates_to_smallest_power_above_last_member() -> None:
    tree = RatchetTree.with_first_leaf(SUITE, LEAVES[0])
    for leaf in LEAVES[1:6]:
        tree.add_leaf(leaf)
    assert tree.n_leaves == 8
    tree.remove_leaf(5)
    assert tree.n_leaves == 8  # leaf 4 still in the right half
    tree.remove_leaf(4)
    assert tree.n_leaves == 4
    tree.remove_leaf(1)
    tree.remove_leaf(2)
    tree.remove_leaf(3)
    assert tree.n_leaves == 1 and list(tree.members()) == [0]


def test_add_marks_new_leaf_unmerged_in_non_blank_parents() -> None:
    tree = RatchetTree.with_first_leaf(SUITE, LEAVES[0])
    tree.add_leaf(LEAVES[1])
    tree.add_leaf(LEAVES[2])
    tree.set_parent(3, parent(b"root key"))
    tree.add_leaf(LEAVES[3])
    value = tree.parent_node(3)
    assert value is not None and value.unmerged_leaves == (3,)
    assert tree.parent_node(5) is None  # blank parents get no unmerged list
    assert tree.resolution(3) == [3, 6]
    assert tree.resolution(5) == [4, 6]
    assert tree.resolution(5, exclude={3}) == [4]


def test_resolution_example_of_rfc_4_1_1() -> None:
    # The RFC's figure: X[B] at node 3, Y at node 9; leaves 2 and 6 blank.
    tree = RatchetTree(SUITE, [None] * 15)
    for i in (0, 1, 3, 4, 5, 7):
        tree.set_leaf(i, LEAVES[i])
    tree.set_parent(3, parent(b"X", (1,)))
    tree.set_parent(9, parent(b"Y"))
    assert tree.resolution(3) == [3, 2]
    assert tree.resolution(4) == [] and tree.resolution(12) == []
    assert tree.resolution(7) == [3, 2, 9, 14]


def test_filtered_direct_path_skips_nodes_with_empty_copath_resolution() -> None:
    tree = RatchetTree(SUITE, [None] * 15)
    for i in (0, 1, 4, 5, 6):
        tree.set_leaf(i, LEAVES[i])
    # Leaf 0: copath is leaf 1 (non-empty), node 5 (leaves 2,3 blank), node 11.
    assert tree.filtered_direct_path(0) == [1, 7]
    assert tm.direct_path(0, 8) == [1, 3, 7]


def test_extension_round_trip_omits_trailing_blanks() -> None:
    tree = RatchetTree.with_first_leaf(SUITE, LEAVES[0])
    for leaf in LEAVES[1:5]:
        tree.add_leaf(leaf)
    nodes = tree.to_nodes()
    assert len(nodes) == 9 and nodes[-1] is not None  # 15 nodes, 6 trailing blanks dropped
    again = RatchetTree.decode(SUITE, tree.encode())
    assert again == tree and again.width == 15
    assert again.tree_hash() == tree.tree_hash()


def test_extension_errors() -> None:
    leaf = Node(node_type=NodeType.leaf, leaf_node=LEAVES[0])
    with pytest.raises(ValidationError, match="last node"):
        RatchetTree.from_nodes(SUITE, (leaf, None))
    with pytest.raises(ValidationError, match="even"):
        RatchetTree.from_nodes(SUITE, (leaf, leaf, leaf))
    with pytest.raises(ValidationError):
        RatchetTree.from_nodes(SUITE, ())
    with pytest.raises(DecodeError):
        RatchetTree.decode(SUITE, b"\x05\x01\x01")
    with pytest.raises(ValidationError):
        RatchetTree.with_first_leaf(SUITE, LEAVES[0]).remove_leaf(3)


def test_one_change_rehashes_only_its_path() -> None:
    tree = RatchetTree(SUITE, [None] * 63)
    for i in range(32):
        tree.set_leaf(i, LEAVES[i % len(LEAVES)])
    tree.tree_hash()
    assert tree.cached_hash_count() == 63
    tree.set_leaf(13, LEAVES[0])
    # The changed leaf and its 5 ancestors lose their cached hash, nothing else.
    assert tree.cached_hash_count() == 63 - 6
    cached = tree.tree_hash()
    fresh = RatchetTree.decode(SUITE, tree.encode()).tree_hash()
    assert cached == fresh


@settings(max_examples=40)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["add", "remove", "update", "parent", "blank"]), st.integers(0, 15)
        ),
        max_size=25,
    )
)
def test_cached_hash_equals_fresh_hash_after_any_operations(ops: list[tuple[str, int]]) -> None:
    tree = RatchetTree.with_first_leaf(SUITE, LEAVES[0])
    for op, k in ops:
        apply_tree_op(tree, op, k, LEAVES)
        assert tree.tree_hash() == RatchetTree.decode(SUITE, tree.encode()).tree_hash()


# --- validation of corrupted trees --------------------------------------------------------


@pytest.fixture(scope="module")
def group8() -> Group:
    return get_tree(8)


def _replace_node(tree: RatchetTree, x: int, value: LeafNode | ParentNode | None) -> RatchetTree:
    bad = tree.copy()
    if x % 2:
        assert value is None or isinstance(value, ParentNode)
        bad.set_parent(x, value)
    else:
        assert value is None or isinstance(value, LeafNode)
        bad.set_leaf(x // 2, value)
    return bad


def test_valid_tree_validates(group8: Group) -> None:
    tv.validate_tree(group8.tree, group8.context.group_id, group8.context.tree_hash)


def test_flipped_byte_in_a_parent_hash(group8: Group) -> None:
    p = group8.tree.parent_node(5)
    assert p is not None and p.parent_hash
    flipped = bytes([p.parent_hash[0] ^ 1]) + p.parent_hash[1:]
    bad = _replace_node(group8.tree, 5, msgspec.structs.replace(p, parent_hash=flipped))
    with pytest.raises(ValidationError) as e:
        tv.validate_tree(bad, group8.context.group_id)
    assert e.value.rule == tv.PARENT_HASH
    # Node 5's own parent hash no longer matches what its parent (node 3) hashes to.
    assert e.value.where == "node 3"


def test_bad_leaf_signature(group8: Group) -> None:
    leaf = group8.tree.leaf(5)
    assert leaf is not None
    sig = bytes([leaf.signature[0] ^ 0x80]) + leaf.signature[1:]
    bad = _replace_node(group8.tree, 10, msgspec.structs.replace(leaf, signature=sig))
    with pytest.raises(ValidationError) as e:
        tv.validate_tree(bad, group8.context.group_id)
    assert (e.value.rule, e.value.where) == (tv.LEAF_SIGNATURE, "leaf 5")
    with pytest.raises(ValidationError) as e:  # the wrong group id fails the same rule
        tv.verify_leaf_signatures(group8.tree, b"another group")
    assert e.value.rule == tv.LEAF_SIGNATURE


def test_duplicated_encryption_key(group8: Group) -> None:
    leaf2, leaf6 = group8.tree.leaf(2), group8.tree.leaf(6)
    assert leaf2 is not None and leaf6 is not None
    bad = _replace_node(
        group8.tree, 12, msgspec.structs.replace(leaf6, encryption_key=leaf2.encryption_key)
    )
    with pytest.raises(ValidationError) as e:
        tv.validate_tree(bad, group8.context.group_id)
    assert (e.value.rule, e.value.where) == (tv.UNIQUE_ENCRYPTION_KEY, "node 12")


def test_duplicated_key_between_parent_and_leaf(group8: Group) -> None:
    p, leaf = group8.tree.parent_node(9), group8.tree.leaf(7)
    assert p is not None and leaf is not None
    bad = _replace_node(
        group8.tree, 9, msgspec.structs.replace(p, encryption_key=leaf.encryption_key)
    )
    with pytest.raises(ValidationError) as e:
        tv.verify_unique_keys(bad)
    assert (e.value.rule, e.value.where) == (tv.UNIQUE_ENCRYPTION_KEY, "node 14")


def test_inconsistent_unmerged_leaves() -> None:
    group = get_tree(7)
    tree = group.tree.copy()
    assert tree.add_leaf(make_member(SUITE_OBJ, "late joiner").leaf_node) == 7
    # Leaf 7 is now unmerged at the non-blank parents above it: nodes 11 and 7.
    assert [x for x in (13, 11, 7) if tree.parent_node(x) is not None] == [11, 7]
    for x in (11, 7):
        value = tree.parent_node(x)
        assert value is not None and value.unmerged_leaves == (7,)
    tv.validate_tree(tree, group.context.group_id)

    # Drop it from node 11 only: node 7 still lists it, so the chain is broken.
    mid = tree.parent_node(11)
    assert mid is not None
    bad = _replace_node(tree, 11, msgspec.structs.replace(mid, unmerged_leaves=()))
    with pytest.raises(ValidationError) as e:
        tv.validate_tree(bad, group.context.group_id)
    assert (e.value.rule, e.value.where) == (tv.UNMERGED_CHAIN, "node 7")

    # A leaf outside the node's subtree, and a leaf outside the tree.
    left = tree.parent_node(3)
    assert left is not None
    for stray in (6, 99):
        bad = _replace_node(tree, 3, msgspec.structs.replace(left, unmerged_leaves=(stray,)))
        with pytest.raises(ValidationError) as e:
            tv.validate_tree(bad, group.context.group_id)
        assert (e.value.rule, e.value.where) == (tv.UNMERGED_LEAF, "node 3")


def test_wrong_tree_hash(group8: Group) -> None:
    with pytest.raises(ValidationError) as e:
        tv.validate_tree(group8.tree, group8.context.group_id, bytes(32))
    assert e.value.rule == tv.TREE_HASH
