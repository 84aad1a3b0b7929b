"""tree-validation.json: resolutions and tree hashes of every node, parent hashes as
when joining, and the signatures of all leaves with the vector's group id."""

from __future__ import annotations

from typing import Any

from ..engine import tree_validation as tv
from ..engine.ratchet_tree import RatchetTree
from . import expect, unhex
from ._build import indexed_generator, shape_for
from ._rng import Drbg

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


# --- generation: trees grown by real commits, ordered from simple to complex ----------
# The default count covers one tree of each kind (full, trailing blanks, internal
# blanks, parent-hash links skipping blanks, unmerged leaves, both); higher counts add
# the other sizes of the official list, up to 34 leaves, then random trees.
DEFAULT_COUNT = 7
ORDER = (
    "full-2",
    "trailing-3",
    "full-4",
    "internal-blanks",
    "skipping-blanks",
    "unmerged",
    "unmerged-skipping",
    "trailing-5",
    "trailing-7",
    "full-8",
    "full-16",
    "trailing-33",
    "trailing-34",
)


def _case(suite: int, r: Drbg, index: int) -> dict[str, Any]:
    # Only the public tree is published: members need not decrypt the paths.
    group = shape_for(ORDER, index)(suite, r, False)
    tree = group.tree
    return {
        "cipher_suite": suite,
        "tree": tree.encode().hex(),
        "group_id": group.group_id.hex(),
        "resolutions": [tree.resolution(x) for x in range(tree.width)],
        "tree_hashes": [h.hex() for h in tree.tree_hashes()],
    }


generate = indexed_generator(_case, DEFAULT_COUNT)
