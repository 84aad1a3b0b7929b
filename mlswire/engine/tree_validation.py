"""Checks on a ratchet tree received from others (RFC 9420 §7.3, §7.9.2, §12.4.3.1).

Each check raises :class:`ValidationError` whose ``rule`` names the RFC rule (stable
strings, listed in ``RULES``) and whose ``where`` names the node or leaf. They need no
group state beyond what is passed: the tree, and the group id for leaf signatures.
Policy checks that need the GroupContext (required capabilities, lifetimes, credential
acceptance) belong to the group layer.
"""

from __future__ import annotations

from collections.abc import Callable

from ..codecs import tls
from ..crypto import labeled
from ..crypto.suites import CipherSuite
from ..errors import CryptoError, ValidationError
from ..schema import LeafNode, LeafNodeSource, ParentNode
from . import tree_math as tm
from .parallel import SERIAL, Parallelism, verify_signed_ahead
from .ratchet_tree import RatchetTree, in_subtree

PARENT_HASH = "RFC 9420 §7.9.2: every non-blank parent node is parent-hash valid"
TREE_HASH = "RFC 9420 §12.4.3.1: the tree hash matches"
LEAF_SIGNATURE = "RFC 9420 §7.3: the LeafNode signature verifies"
UNIQUE_SIGNATURE_KEY = "RFC 9420 §7.3: signature_key is unique among the members"
UNIQUE_ENCRYPTION_KEY = "RFC 9420 §7.3/§12.4.3.1: encryption_key appears in one node only"
UNMERGED_LEAF = "RFC 9420 §12.4.3.1: an unmerged leaf is a non-blank descendant leaf"
UNMERGED_CHAIN = (
    "RFC 9420 §12.4.3.1: non-blank nodes between an unmerged leaf and its parent list it too"
)

RULES = (
    PARENT_HASH,
    TREE_HASH,
    LEAF_SIGNATURE,
    UNIQUE_SIGNATURE_KEY,
    UNIQUE_ENCRYPTION_KEY,
    UNMERGED_LEAF,
    UNMERGED_CHAIN,
)


def without_signature(encoding: bytes, signature: bytes) -> bytes:
    """A signed struct's encoding without its last field, ``opaque signature<V>``: for
    LeafNode and KeyPackage, the fields their TBS structs start with (§7.2, §10)."""
    header = tls.write_length(len(signature))
    cut = len(encoding) - len(signature) - len(header)
    if cut < 0 or not encoding.endswith(signature) or not encoding.startswith(header, cut):
        raise AssertionError("the encoding does not end with this signature")
    return encoding[:cut]


def leaf_node_tbs(leaf_node: LeafNode, group_id: bytes, leaf_index: int) -> bytes:
    """The TLS-encoded LeafNodeTBS: group_id and leaf_index are part of it only for
    leaves created by an Update or a Commit (§7.2).

    LeafNodeTBS is LeafNode's fields up to its signature, then (update, commit) the
    group id and leaf index, so it is written from the LeafNode's encoding, which the
    codec remembers per value (tls.MEMO_ENCODED) and a decoded tree already has: the
    signature checks of a joined tree encode nothing (tests/test_encode_once.py
    compares this with the codec's LeafNodeTBS)."""
    head = without_signature(tls.encode(leaf_node, LeafNode), leaf_node.signature)
    if leaf_node.leaf_node_source not in (LeafNodeSource.update, LeafNodeSource.commit):
        return head
    return b"".join(
        (head, tls.write_length(len(group_id)), group_id, leaf_index.to_bytes(4, "big"))
    )


def verify_leaf_signature(
    suite: CipherSuite,
    leaf_node: LeafNode,
    group_id: bytes,
    leaf_index: int,
    where: str | None = None,
) -> None:
    try:
        labeled.verify_with_label(
            suite,
            leaf_node.signature_key,
            "LeafNodeTBS",
            leaf_node_tbs(leaf_node, group_id, leaf_index),
            leaf_node.signature,
        )
    except CryptoError as e:
        raise ValidationError(LEAF_SIGNATURE, str(e), where or f"leaf {leaf_index}") from None


def verify_leaf_signatures(
    tree: RatchetTree, group_id: bytes, parallelism: Parallelism = SERIAL
) -> None:
    """Every member's LeafNode signature; a failure names the leftmost bad leaf, with
    threads or without (engine/parallel.py)."""
    suite = tree.suite
    nodes = tree.nodes()
    # (leaf index, (key, SignContent, signature)): each signed content made once.
    checks = [
        (x >> 1, (leaf.signature_key, sign_content(leaf, group_id, x >> 1), leaf.signature))
        for x in range(0, len(nodes), 2)
        if isinstance(leaf := nodes[x], LeafNode)
    ]
    good = verify_signed_ahead(suite, [triple for _, triple in checks], parallelism)
    for i, triple in checks:
        if triple in good:
            continue
        try:
            suite.verify(*triple)
        except CryptoError as e:
            raise ValidationError(LEAF_SIGNATURE, str(e), f"leaf {i}") from None


def sign_content(leaf_node: LeafNode, group_id: bytes, leaf_index: int) -> bytes:
    """The SignContent a LeafNode's signature covers (SignWithLabel "LeafNodeTBS")."""
    return labeled.sign_content("LeafNodeTBS", leaf_node_tbs(leaf_node, group_id, leaf_index))


def verify_unique_keys(tree: RatchetTree) -> None:
    """Signature keys unique among leaves; HPKE keys unique among all nodes."""
    signature_keys: dict[bytes, int] = {}
    encryption_keys: dict[bytes, int] = {}
    for x, value in enumerate(tree.nodes()):
        if value is None:
            continue
        seen = encryption_keys.setdefault(value.encryption_key, x)
        if seen != x:
            raise ValidationError(UNIQUE_ENCRYPTION_KEY, f"same key as node {seen}", f"node {x}")
        if isinstance(value, LeafNode):
            seen = signature_keys.setdefault(value.signature_key, x)
            if seen != x:
                raise ValidationError(
                    UNIQUE_SIGNATURE_KEY, f"same key as leaf {seen // 2}", f"leaf {x // 2}"
                )


def verify_unmerged_leaves(tree: RatchetTree) -> None:
    n = tree.n_leaves
    for x, value in enumerate(tree.nodes()):
        if not isinstance(value, ParentNode):
            continue
        for u in value.unmerged_leaves:
            if not (0 <= u < n and in_subtree(2 * u, x) and tree.leaf(u) is not None):
                raise ValidationError(
                    UNMERGED_LEAF, f"unmerged leaf {u} is blank or not below", f"node {x}"
                )
            for y in tm.direct_path(2 * u, n):
                if y == x:
                    break
                between = tree.parent_node(y)
                if between is not None and u not in between.unmerged_leaves:
                    raise ValidationError(
                        UNMERGED_CHAIN,
                        f"node {y} between leaf {u} and node {x} does not list it",
                        f"node {x}",
                    )


def _declared_parent_hash(value: LeafNode | ParentNode | None) -> bytes | None:
    if isinstance(value, ParentNode):
        return value.parent_hash
    if isinstance(value, LeafNode) and value.leaf_node_source == LeafNodeSource.commit:
        return value.parent_hash
    return None


def parent_hash_children(
    tree: RatchetTree, p: int, resolution: Callable[[int], list[int]] | None = None
) -> list[int]:
    """The nodes D below ``p`` whose parent hash is valid with respect to ``p`` (§7.9.2):
    D in the resolution of child C, D.parent_hash = ParentHash(p, sibling S), and p's
    unmerged leaves under C are exactly resolution(C) without D. ``resolution``: where
    to get resolutions from (default: ``tree.resolution``)."""
    value = tree.parent_node(p)
    assert value is not None
    n = tree.n_leaves
    found: list[int] = []
    left, right = tm.left(p), tm.right(p, n)
    for c, s in ((left, right), (right, left)):
        res = tree.resolution(c) if resolution is None else resolution(c)
        unmerged_here = {2 * u for u in value.unmerged_leaves if in_subtree(2 * u, c)}
        # resolution(C) without D is the unmerged set exactly when the resolution is
        # that set plus D (D not in it): one set difference, not one per D.
        members = set(res)
        extra = members - unmerged_here
        if len(extra) != 1 or not unmerged_here <= members:
            continue
        (d,) = extra
        candidates = [x for x in res if x == d]
        expected = tree.parent_hash_of(p, s)
        found.extend(x for x in candidates if _declared_parent_hash(tree.node(x)) == expected)
    return found


def verify_parent_hashes(tree: RatchetTree) -> None:
    """Top down: each non-blank parent has exactly one descendant chaining to it."""
    nodes = tree.nodes()
    # Resolutions made once each, from the children's (§4.1.1), as the parents ask
    # for them: the same lists tree.resolution gives, without walking a blank subtree
    # again for every non-blank parent above it.
    known: dict[int, list[int]] = {}

    def resolution(x: int) -> list[int]:
        got = known.get(x)
        if got is None:
            value = nodes[x]
            if isinstance(value, ParentNode):
                got = [x, *(2 * u for u in value.unmerged_leaves)]
            elif value is not None:
                got = [x]
            elif x % 2 == 0:
                got = []
            else:
                got = resolution(tm.left(x)) + resolution(tm.right(x))
            known[x] = got
        return got

    for x, value in enumerate(nodes):
        if not isinstance(value, ParentNode):
            continue
        found = parent_hash_children(tree, x, resolution)
        if len(found) != 1:
            detail = (
                "no descendant carries its parent hash"
                if not found
                else f"several descendants chain to it: nodes {found}"
            )
            raise ValidationError(PARENT_HASH, detail, f"node {x}")


def verify_tree_hash(tree: RatchetTree, expected: bytes) -> None:
    got = tree.tree_hash()
    if got != expected:
        raise ValidationError(TREE_HASH, f"computed {got.hex()}, expected {expected.hex()}", "root")


def validate_tree(
    tree: RatchetTree,
    group_id: bytes,
    tree_hash: bytes | None = None,
    parallelism: Parallelism = SERIAL,
) -> None:
    """All checks a joiner runs on a received tree (§12.4.3.1) that need no GroupContext
    beyond the group id: tree hash (when given), unmerged leaves, unique keys, leaf
    signatures, parent hashes. Leaf signatures come before parent hashes because a
    tampered leaf also breaks the parent hashes above it (its tree hash is part of
    them), and "leaf 5's signature" is the more precise report."""
    if tree_hash is not None:
        verify_tree_hash(tree, tree_hash)
    verify_unmerged_leaves(tree)
    verify_unique_keys(tree)
    verify_leaf_signatures(tree, group_id, parallelism)
    verify_parent_hashes(tree)


__all__ = [
    "LEAF_SIGNATURE",
    "PARENT_HASH",
    "RULES",
    "TREE_HASH",
    "UNIQUE_ENCRYPTION_KEY",
    "UNIQUE_SIGNATURE_KEY",
    "UNMERGED_CHAIN",
    "UNMERGED_LEAF",
    "leaf_node_tbs",
    "parent_hash_children",
    "validate_tree",
    "verify_leaf_signature",
    "verify_leaf_signatures",
    "verify_parent_hashes",
    "verify_tree_hash",
    "verify_unique_keys",
    "verify_unmerged_leaves",
    "without_signature",
]
