"""TreeKEM: every member agrees on commit secrets and trees as a group grows by
commits; tampered UpdatePaths are rejected with the rule named and the input tree
untouched; creation is reproducible with an injected randomness source."""

from __future__ import annotations

import msgspec
import pytest

from mlswire.crypto.suites import SUPPORTED_CIPHER_SUITES
from mlswire.engine import tree_validation as tv
from mlswire.engine import treekem
from mlswire.errors import CryptoError, StateError, ValidationError
from mlswire.schema import GroupContext, HPKECiphertext, LeafNodeSource, UpdatePath

from ._trees import Group, encoded, get_tree, seeded_rng


@pytest.mark.parametrize("suite_id", SUPPORTED_CIPHER_SUITES)
def test_group_grown_by_commits_stays_in_sync(suite_id: int) -> None:
    # get_tree checks, at every commit, that each member derives the committer's
    # commit secret and tree; the result is a valid tree under every suite.
    group = get_tree(5, suite_id)
    tv.validate_tree(group.tree, group.context.group_id, group.context.tree_hash)
    for j, state in group.private.items():
        treekem.check_private_state(group.tree, state)
        assert state.leaf_index == j


def test_commit_after_removals_and_unmerged_leaves() -> None:
    group = get_tree(6)
    group.tree.remove_leaf(2)
    del group.private[2], group.members[2]
    created = group.commit(4)  # every member processes it inside commit()
    tv.validate_tree(group.tree, group.context.group_id, group.context.tree_hash)
    # The path reaches every member: one ciphertext per copath resolution node.
    for (_, s), node in zip(created.tree.filtered_path(4), created.update_path.nodes, strict=True):
        assert len(node.encrypted_path_secret) == len(created.tree.resolution(s))


def _path_and_tree() -> tuple[Group, GroupContext, treekem.CreatedPath]:
    group = get_tree(8)
    ctx = group.context_for_next_epoch()
    created = treekem.create_update_path(
        group.tree, 2, group.members[2].signature_priv, ctx, rng=seeded_rng(b"x")
    )
    return group, ctx, created


def test_creation_is_reproducible_and_does_not_touch_the_tree() -> None:
    group, ctx, created = _path_and_tree()
    before = encoded(group.tree)
    again = treekem.create_update_path(
        group.tree, 2, group.members[2].signature_priv, ctx, rng=seeded_rng(b"x")
    )
    assert again.update_path == created.update_path
    assert again.commit_secret == created.commit_secret
    assert encoded(group.tree) == before
    assert created.update_path.leaf_node.leaf_node_source == LeafNodeSource.commit


def _rejected(group: Group, ctx: GroupContext, path: UpdatePath, receiver: int = 5) -> Exception:
    before = encoded(group.tree)
    with pytest.raises((ValidationError, CryptoError)) as e:
        treekem.process_update_path(group.tree, 2, path, group.private[receiver], ctx)
    assert encoded(group.tree) == before  # a rejected path leaves the tree as it was
    return e.value


def test_tampered_leaf_parent_hash() -> None:
    group, ctx, created = _path_and_tree()
    leaf = created.update_path.leaf_node
    assert leaf.parent_hash
    bad_leaf = msgspec.structs.replace(leaf, parent_hash=bytes(len(leaf.parent_hash)))
    err = _rejected(group, ctx, msgspec.structs.replace(created.update_path, leaf_node=bad_leaf))
    assert isinstance(err, ValidationError) and err.rule == treekem.LEAF_PARENT_HASH


def test_tampered_node_key() -> None:
    group, ctx, created = _path_and_tree()
    nodes = list(created.update_path.nodes)
    nodes[-1] = msgspec.structs.replace(nodes[-1], encryption_key=nodes[0].encryption_key)
    err = _rejected(group, ctx, msgspec.structs.replace(created.update_path, nodes=tuple(nodes)))
    # The parent hash chain covers every node key, so the leaf's parent hash breaks first.
    assert isinstance(err, ValidationError) and err.rule == treekem.LEAF_PARENT_HASH


def test_wrong_number_of_nodes() -> None:
    group, ctx, created = _path_and_tree()
    short = msgspec.structs.replace(created.update_path, nodes=created.update_path.nodes[:-1])
    err = _rejected(group, ctx, short)
    assert isinstance(err, ValidationError) and err.rule == treekem.PATH_LENGTH


def test_tampered_ciphertext_and_wrong_context() -> None:
    group, ctx, created = _path_and_tree()
    nodes = list(created.update_path.nodes)
    # Leaf 5 decrypts at the root (node 7), whose copath child for leaf 2 is node 11.
    ct = nodes[-1].encrypted_path_secret[0]
    flipped = HPKECiphertext(
        kem_output=ct.kem_output, ciphertext=bytes([ct.ciphertext[0] ^ 1]) + ct.ciphertext[1:]
    )
    nodes[-1] = msgspec.structs.replace(nodes[-1], encrypted_path_secret=(flipped,))
    err = _rejected(group, ctx, msgspec.structs.replace(created.update_path, nodes=tuple(nodes)))
    assert isinstance(err, CryptoError)
    other_epoch = msgspec.structs.replace(ctx, epoch=ctx.epoch + 1)
    with pytest.raises(CryptoError):
        treekem.process_update_path(
            group.tree, 2, created.update_path, group.private[5], other_epoch
        )


def test_missing_ciphertext() -> None:
    group, ctx, created = _path_and_tree()
    nodes = list(created.update_path.nodes)
    nodes[-1] = msgspec.structs.replace(nodes[-1], encrypted_path_secret=())
    err = _rejected(group, ctx, msgspec.structs.replace(created.update_path, nodes=tuple(nodes)))
    assert isinstance(err, ValidationError) and err.rule == treekem.CIPHERTEXT_COUNT


def test_own_path_and_new_member_are_state_errors() -> None:
    group, ctx, created = _path_and_tree()
    with pytest.raises(StateError):
        treekem.process_update_path(group.tree, 2, created.update_path, group.private[2], ctx)
    with pytest.raises(StateError):
        treekem.process_update_path(
            group.tree, 2, created.update_path, group.private[5], ctx, exclude={5}
        )

