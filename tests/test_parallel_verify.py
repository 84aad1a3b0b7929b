"""Signatures checked ahead on threads (engine/parallel.py): the same verdicts and the
same first error as the serial path, for a joined tree's leaves and a commit's Adds."""

from __future__ import annotations

import msgspec
import pytest

from mlswire.crypto.suites import cipher_suite
from mlswire.engine import GroupConfig, ValidationPolicy
from mlswire.engine.group import Client
from mlswire.engine.group._wire import as_key_package
from mlswire.engine.parallel import SERIAL, Parallelism, verify_ahead
from mlswire.engine.ratchet_tree import RatchetTree
from mlswire.engine.tree_validation import leaf_node_tbs, verify_leaf_signatures
from mlswire.errors import ValidationError
from mlswire.schema import KeyPackage, LeafNode, Node, NodeType

from ._trees import make_member

CS = cipher_suite(1)
THREADS = Parallelism(threads=2, threshold=1)
MODES = [SERIAL, THREADS, Parallelism(threads=3, threshold=1)]


def _bad(leaf: LeafNode) -> LeafNode:
    return msgspec.structs.replace(leaf, signature=bytes(len(leaf.signature)))


def _tree(n: int, bad: set[int]) -> RatchetTree:
    nodes: list[Node | None] = []
    for i in range(n):
        leaf = make_member(CS, f"member {i}").leaf_node
        nodes.append(Node(node_type=NodeType.leaf, leaf_node=_bad(leaf) if i in bad else leaf))
        if i < n - 1:
            nodes.append(None)
    return RatchetTree.from_nodes(1, nodes)


def _error(f: object, *args: object) -> tuple[str, str | None]:
    with pytest.raises(ValidationError) as e:
        f(*args)  # type: ignore[operator]
    return str(e.value), e.value.where


def test_verify_ahead_keeps_exactly_the_good_signatures() -> None:
    tree = _tree(12, {2, 9})
    checks = []
    for i in tree.members():
        leaf = tree.leaf(i)
        assert leaf is not None
        checks.append(
            (leaf.signature_key, "LeafNodeTBS", leaf_node_tbs(leaf, b"g", i), leaf.signature)
        )
    good = verify_ahead(CS, checks, THREADS)
    assert len(good) == 10
    assert {c[3] for c in checks} - {g[2] for g in good} == {bytes(64)}
    # Below the threshold, or with one thread, nothing is checked ahead.
    assert verify_ahead(CS, checks, Parallelism(threads=2, threshold=13)) == frozenset()
    assert verify_ahead(CS, checks, SERIAL) == frozenset()


def test_a_valid_tree_passes_in_every_mode() -> None:
    tree = _tree(40, set())
    for mode in MODES:
        verify_leaf_signatures(tree, b"g", mode)


def test_the_first_bad_leaf_is_named_with_threads_as_without() -> None:
    tree = _tree(40, {37, 5, 22})
    errors = {_error(verify_leaf_signatures, tree, b"g", mode) for mode in MODES}
    assert len(errors) == 1
    ((message, where),) = errors
    assert where == "leaf 5" and "§7.3" in message


def _key_packages(n: int) -> list[KeyPackage]:
    return [as_key_package(Client.generate(b"m%d" % i).key_package()) for i in range(n)]


KPS = _key_packages(24)


@pytest.mark.parametrize(
    ("bad_kp", "bad_leaf", "where"),
    [
        ({7, 15}, set(), "proposals[7]"),
        (set(), {4, 20}, "proposals[4]"),
        ({9}, {3}, "proposals[3]"),
    ],
)
def test_a_commit_with_many_adds_names_the_first_bad_key_package(
    bad_kp: set[int], bad_leaf: set[int], where: str
) -> None:
    kps = [
        msgspec.structs.replace(
            kp,
            signature=bytes(64) if i in bad_kp else kp.signature,
            leaf_node=_bad(kp.leaf_node) if i in bad_leaf else kp.leaf_node,
        )
        for i, kp in enumerate(KPS)
    ]
    errors = set()
    for mode in MODES:
        alice = Client.generate(b"alice")
        alice.policy = ValidationPolicy(parallelism=mode)
        group = alice.create_group(config=GroupConfig(handshake_wire_format="public"))
        before = group.to_bytes()
        errors.add(_error(group.add_members, kps))
        assert group.to_bytes() == before
    assert len(errors) == 1
    assert next(iter(errors))[1] == where


def test_a_commit_with_many_adds_processed_by_a_member_with_threads() -> None:
    # Sender and receiver both check the Adds ahead on threads; the epochs agree.
    config = GroupConfig(handshake_wire_format="public")
    alice, bob = Client.generate(b"alice"), Client.generate(b"bob")
    for c in (alice, bob):
        c.policy = ValidationPolicy(parallelism=THREADS)
    group = alice.create_group(config=config)
    joined = bob.join_group(group.add_members([bob.key_package()]).welcome, config=config)
    group.merge_pending_commit()
    commit = group.add_members(KPS).commit
    group.merge_pending_commit()
    joined.process(commit).merge()
    assert joined.epoch_authenticator == group.epoch_authenticator
    assert len(joined.members) == 26


def test_groups_on_several_threads_with_growing_pools_agree() -> None:
    # Each caller may ask for a larger pool while others still use the smaller one.
    from concurrent.futures import ThreadPoolExecutor

    tree = _tree(24, {11})
    checks = []
    for i in tree.members():
        leaf = tree.leaf(i)
        assert leaf is not None
        tbs = leaf_node_tbs(leaf, b"g", i)
        checks.append((leaf.signature_key, "LeafNodeTBS", tbs, leaf.signature))
    modes = [Parallelism(threads=k, threshold=1) for k in (2, 3, 4, 5, 6, 7)]
    with ThreadPoolExecutor(max_workers=6) as callers:
        results = list(callers.map(lambda m: verify_ahead(CS, checks, m), modes))
    assert all(r == results[0] for r in results) and len(results[0]) == 23
