"""tree-operations.json: apply one Add, Update or Remove proposal to a tree and compare
the resulting tree and the tree hashes before and after."""

from __future__ import annotations

from typing import Any

from ..codecs import tls
from ..engine.ratchet_tree import RatchetTree
from ..errors import ValidationError
from ..schema import Proposal, ProposalType
from . import expect, unhex

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
