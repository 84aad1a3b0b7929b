"""tree-operations.json: apply one Add, Update or Remove proposal to a tree and compare
the resulting tree and the tree hashes before and after."""

from __future__ import annotations

from typing import Any

from ..codecs import tls
from ..engine.ratchet_tree import RatchetTree
from ..errors import ValidationError
from ..schema import Add, Proposal, ProposalType, Remove, Update
from . import expect, unhex
from ._build import grow, indexed_generator, new_key_package
from ._rng import Drbg

FAMILY = "tree-operations"
KEYS = frozenset({"cipher_suite", "tree_before", "proposal", "proposal_sender", "tree_after"})


def apply_proposal(tree: RatchetTree, proposal: Proposal, sender: int) -> None:
    if proposal.proposal_type == ProposalType.add and proposal.add is not None:
        tree.add_leaf(proposal.add.key_package.leaf_node)
    elif proposal.proposal_type == ProposalType.update and proposal.update is not None:
        tree.update_leaf(sender, proposal.update.leaf_node)
    elif proposal.proposal_type == ProposalType.remove and proposal.remove is not None:
        tree.remove_leaf(proposal.remove.removed)
    else:
        raise ValidationError(
            "tree-operations: the proposal is an Add, Update or Remove",
            f"got {proposal.proposal_type!r}",
        )


def check(case: dict[str, Any]) -> None:
    tree = RatchetTree.decode(case["cipher_suite"], unhex(case["tree_before"]))
    expect("tree_hash_before", tree.tree_hash(), unhex(case["tree_hash_before"]))
    proposal = tls.decode(unhex(case["proposal"]), Proposal)
    apply_proposal(tree, proposal, case["proposal_sender"])
    expect("tree_after", tree.encode(), unhex(case["tree_after"]))
    expect("tree_hash_after", tree.tree_hash(), unhex(case["tree_hash_after"]))
    # The cached hashes must agree with hashing the decoded result from scratch.
    fresh = RatchetTree.decode(case["cipher_suite"], unhex(case["tree_after"]))
    expect("tree_hash_after (fresh tree)", fresh.tree_hash(), unhex(case["tree_hash_after"]))


# --- generation -----------------------------------------------------------------------
# The official file's five operations, in its order, then random ones on random trees.
DEFAULT_COUNT = 5
KINDS = ("add-extend", "add-blank", "update", "remove-truncate", "remove")


def _case(suite_id: int, r: Drbg, index: int) -> dict[str, Any]:
    kind = KINDS[index] if index < len(KINDS) else r.choice(KINDS)
    # Four leaves (the official file uses eight) show every effect (extend, fill a blank,
    # blank a path, truncate) at half the file size.
    size = 4 if index < len(KINDS) else r.between(2, 12)
    # Only public trees are published: members need not decrypt the paths.
    group = grow(suite_id, r, size + 1 if kind == "remove-truncate" else size, track_private=False)
    if kind == "add-blank":
        group.commit(0, remove=[r.between(1, size - 1)] if size > 1 else [])
    members = sorted(group.members)
    sender = members[0]
    if kind.startswith("add"):
        joiner = new_key_package(group.suite, r)
        proposal = Proposal(proposal_type=ProposalType.add, add=Add(key_package=joiner.key_package))
    elif kind == "update":
        sender = r.choice(members)
        leaf_node, _ = group.update_leaf_node(sender)
        proposal = Proposal(proposal_type=ProposalType.update, update=Update(leaf_node=leaf_node))
    else:
        # Removing the last leaf halves the tree when the rest of its right half is blank.
        target = members[-1] if kind == "remove-truncate" else r.choice(members[1:] or members)
        proposal = Proposal(proposal_type=ProposalType.remove, remove=Remove(removed=target))
    before = group.tree
    after = before.copy()
    apply_proposal(after, proposal, sender)
    return {
        "cipher_suite": suite_id,
        "tree_before": before.encode().hex(),
        "proposal": tls.encode(proposal, Proposal).hex(),
        "proposal_sender": sender,
        "tree_hash_before": before.tree_hash().hex(),
        "tree_after": after.encode().hex(),
        "tree_hash_after": after.tree_hash().hex(),
    }


generate = indexed_generator(_case, DEFAULT_COUNT)
