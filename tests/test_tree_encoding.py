"""RatchetTree.encode builds the ``ratchet_tree`` extension from per-node encodings that
it caches (shared by every version of a tree): whatever the tree went through, the
bytes are the codec's encoding of ``to_nodes()``, for the tree and for its older
versions."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mlswire.codecs import tls
from mlswire.engine.ratchet_tree import RatchetTree

from ._trees import SUITE, apply_tree_op, get_tree, sample_leaves

LEAVES = sample_leaves()


def by_codec(tree: RatchetTree) -> bytes:
    return tls.encode(tree.to_nodes(), "RatchetTree")


OPS = st.lists(
    st.tuples(
        st.sampled_from(["add", "remove", "update", "parent", "blank", "copy"]), st.integers(0, 15)
    ),
    max_size=30,
)


@settings(max_examples=60)
@given(OPS)
def test_encode_is_the_codecs_encoding_for_every_version(ops: list[tuple[str, int]]) -> None:
    tree = RatchetTree.with_first_leaf(SUITE, LEAVES[0])
    versions = [tree]
    for op, k in ops:
        if op == "copy":
            tree = tree.copy()  # the old one stays a version of it
            versions.append(tree)
        else:
            apply_tree_op(tree, op, k, LEAVES)
        for version in (tree, versions[k % len(versions)]):
            assert version.encode() == by_codec(version)
    for version in versions:
        data = version.encode()
        assert data == by_codec(version)
        assert RatchetTree.decode(SUITE, data) == version


def test_grown_tree_with_parents_and_unmerged_leaves() -> None:
    group = get_tree(8)
    tree = group.tree
    first = tree.encode()
    assert first == by_codec(tree)
    assert tree.encode() == first  # from the cache
    staged = tree.copy()
    staged.add_leaf(LEAVES[1])  # unmerged leaf in every non-blank parent above it
    assert staged.encode() == by_codec(staged) != first
    assert tree.encode() == first == by_codec(tree)
