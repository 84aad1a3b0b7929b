"""Parent-hash verification with resolutions made once (issue 20, session 4) finds the
same descendants, and raises the same errors, as the definition of §7.9.2 applied
literally (every resolution walked again, every candidate D tested on its own)."""

from __future__ import annotations

import json
import random

import msgspec
import pytest

from mlswire.codecs import tls
from mlswire.engine import tree_math as tm
from mlswire.engine import tree_validation as tv
from mlswire.engine.ratchet_tree import RatchetTree, in_subtree
from mlswire.errors import ValidationError
from mlswire.schema import Node, ParentNode

from .conftest import require, vectors_dir


def literal_children(tree: RatchetTree, p: int) -> list[int]:
    value = tree.parent_node(p)
    assert value is not None
    found: list[int] = []
    left, right = tm.left(p), tm.right(p, tree.n_leaves)
    for c, s in ((left, right), (right, left)):
        resolution = tree.resolution(c)
        unmerged = {2 * u for u in value.unmerged_leaves if in_subtree(2 * u, c)}
        candidates = [d for d in resolution if set(resolution) - {d} == unmerged]
        if candidates:
            expected = tree.parent_hash_of(p, s)
            found.extend(
                d for d in candidates if tv._declared_parent_hash(tree.node(d)) == expected
            )
    return found


def literal_error(tree: RatchetTree) -> str | None:
    for x, value in enumerate(tree.nodes()):
        if isinstance(value, ParentNode):
            found = literal_children(tree, x)
            if not found:
                return str(
                    ValidationError(
                        tv.PARENT_HASH, "no descendant carries its parent hash", f"node {x}"
                    )
                )
            if len(found) > 1:
                detail = f"several descendants chain to it: nodes {found}"
                return str(ValidationError(tv.PARENT_HASH, detail, f"node {x}"))
    return None


def _trees() -> list[tuple[int, list[Node | None]]]:
    cases = json.loads(require(vectors_dir() / "tree-validation.json").read_text())
    return [
        (case["cipher_suite"], list(tls.decode(bytes.fromhex(case["tree"]), "RatchetTree")))
        for case in cases
    ]


def _mutants(nodes: list[Node | None], r: random.Random) -> list[list[Node | None]]:
    """The tree itself and a few damaged copies: a parent's unmerged leaves changed
    (one dropped, one repeated, every leaf below it listed) or a node blanked."""
    out = [nodes]
    parents = [x for x, n in enumerate(nodes) if n is not None and n.parent_node is not None]
    leaves = [x for x, n in enumerate(nodes) if n is not None and n.leaf_node is not None]
    for _ in range(6):
        copy = list(nodes)
        kind = r.randrange(4)
        if kind < 3 and parents:
            x = r.choice(parents)
            node = copy[x]
            assert node is not None and node.parent_node is not None
            lo, hi = x - ((1 << tm.level(x)) - 1), x + ((1 << tm.level(x)) - 1)
            below = [v // 2 for v in leaves if lo <= v <= hi]
            unmerged = list(node.parent_node.unmerged_leaves)
            if kind == 0 and unmerged:
                unmerged.pop(r.randrange(len(unmerged)))
            elif kind == 1 and below:
                unmerged.append(r.choice(below))
            else:
                unmerged = below
            parent = msgspec.structs.replace(node.parent_node, unmerged_leaves=tuple(unmerged))
            copy[x] = msgspec.structs.replace(node, parent_node=parent)
        else:
            x = r.randrange(len(copy) - 1)  # the last node stays (it is never blank)
            copy[x] = None
        out.append(copy)
    return out


def test_parent_hash_children_match_the_literal_definition() -> None:
    r = random.Random(9)
    checked = failing = 0
    for suite, nodes in _trees():
        for mutant in _mutants(nodes, r):
            tree = RatchetTree.from_nodes(suite, mutant)
            for x, value in enumerate(tree.nodes()):
                if isinstance(value, ParentNode):
                    assert tv.parent_hash_children(tree, x) == literal_children(tree, x)
                    checked += 1
            want = literal_error(tree)
            if want is None:
                tv.verify_parent_hashes(tree)
                continue
            failing += 1
            with pytest.raises(ValidationError) as e:
                tv.verify_parent_hashes(tree)
            assert str(e.value) == want
    assert checked > 500 and failing > 50
