"""treekem.json: every leaf with a private state decrypts every UpdatePath to the given
path secret and commit secret; merged trees hash to tree_hash_after; and an UpdatePath
mlswire creates for each sender is processed by every other member."""

from __future__ import annotations

from typing import Any

from ..codecs import tls
from ..engine import tree_validation as tv
from ..engine import treekem
from ..engine.ratchet_tree import RatchetTree
from ..schema import CipherSuite, GroupContext, UpdatePath
from . import expect, unhex

FAMILY = "treekem"
KEYS = frozenset({"cipher_suite", "ratchet_tree", "leaves_private", "update_paths"})


def check(case: dict[str, Any]) -> None:
    suite_id = case["cipher_suite"]
    tree = RatchetTree.decode(suite_id, unhex(case["ratchet_tree"]))
    context = GroupContext(
        cipher_suite=CipherSuite(suite_id),
        group_id=unhex(case["group_id"]),
        epoch=case["epoch"],
        tree_hash=tree.tree_hash(),
        confirmed_transcript_hash=unhex(case["confirmed_transcript_hash"]),
        extensions=(),
    )
    private: dict[int, treekem.TreePrivateState] = {}
    signature_keys: dict[int, bytes] = {}
    for leaf in case["leaves_private"]:
        i = leaf["index"]
        secrets = {e["node"]: unhex(e["path_secret"]) for e in leaf["path_secrets"]}
        private[i] = treekem.private_state_from_secrets(
            tree, i, unhex(leaf["encryption_priv"]), secrets
        )
        signature_keys[i] = unhex(leaf["signature_priv"])
    # The family promises a private state for every member; every one is exercised.
    expect("leaves with a private state", sorted(private), sorted(tree.members()))

    for u in case["update_paths"]:
        sender = u["sender"]
        path = tls.decode(unhex(u["update_path"]), UpdatePath)
        # Merging checks the leaf's parent hash and signature against the path; the
        # whole merged tree must then be parent-hash valid as a joiner would see it.
        merged = treekem.merge_update_path(tree, sender, path, context.group_id)
        tv.verify_parent_hashes(merged)
        expect(f"sender {sender}: tree_hash_after", merged.tree_hash(), unhex(u["tree_hash_after"]))
        for j, state in private.items():
            if j == sender:
                continue
            got = treekem.process_update_path(tree, sender, path, state, context)
            want = u["path_secrets"][j]
            expect(f"sender {sender}, leaf {j}: path secret", got.path_secret, unhex(want))
            expect(
                f"sender {sender}, leaf {j}: commit secret",
                got.commit_secret,
                unhex(u["commit_secret"]),
            )

        created = treekem.create_update_path(tree, sender, signature_keys[sender], context)
        for j, state in private.items():
            if j == sender:
                continue
            got = treekem.process_update_path(tree, sender, created.update_path, state, context)
            expect(
                f"sender {sender}, leaf {j}: commit secret of our path",
                got.commit_secret,
                created.commit_secret,
            )
            expect(f"sender {sender}, leaf {j}: tree after our path", got.tree, created.tree)
        tv.verify_parent_hashes(created.tree)
