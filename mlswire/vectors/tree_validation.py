"""tree-validation.json: resolutions and tree hashes of every node, parent hashes as
when joining, and the signatures of all leaves with the vector's group id."""

from __future__ import annotations

from typing import Any

from ..engine import tree_validation as tv
from ..engine.ratchet_tree import RatchetTree
from . import expect, unhex

FAMILY = "tree-validation"
KEYS = frozenset({"cipher_suite", "tree", "group_id", "resolutions", "tree_hashes"})


def check(case: dict[str, Any]) -> None:
    tree = RatchetTree.decode(case["cipher_suite"], unhex(case["tree"]))
    expect("node count", tree.width, len(case["resolutions"]))
    for x, want in enumerate(case["resolutions"]):
        expect(f"resolution[{x}]", tree.resolution(x), want)
    hashes = tree.tree_hashes()
    expect("len(tree_hashes)", len(hashes), len(case["tree_hashes"]))
    for x, want in enumerate(case["tree_hashes"]):
        expect(f"tree_hash[{x}]", hashes[x], unhex(want))
    tv.verify_parent_hashes(tree)
    tv.verify_leaf_signatures(tree, unhex(case["group_id"]))
    tv.verify_unmerged_leaves(tree)
    tv.verify_unique_keys(tree)
