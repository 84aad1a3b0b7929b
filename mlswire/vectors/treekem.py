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
from ._build import indexed_generator, shape_for
from ._rng import Drbg

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


# --- generation -----------------------------------------------------------------------
# Trees grown by commits that every member processes, so each member's private state
# (leaf key and path secrets) is what a real client would hold. Then, from that tree,
# every member in turn creates an UpdatePath that every other member decrypts.
DEFAULT_COUNT = 3
ORDER = (
    "full-2",
    "trailing-3",
    "internal-blanks",
    "unmerged-skipping",
    "trailing-5",
    "full-8",
    "skipping-blanks",
    "unmerged",
    "full-4",
    "trailing-7",
)


def _case(suite_id: int, r: Drbg, index: int) -> dict[str, Any]:
    group = shape_for(ORDER, index)(suite_id, r, True)
    tree = group.tree
    context = group.context()
    members = sorted(group.members)
    leaves_private = [
        {
            "index": i,
            "encryption_priv": group.members[i].keys[2 * i].hex(),
            "signature_priv": group.members[i].signer.priv.hex(),
            "path_secrets": [
                {"node": x, "path_secret": s.hex()}
                for x, s in sorted(group.members[i].path_secrets.items())
            ],
        }
        for i in members
    ]
    update_paths = []
    for i in members:
        created = treekem.create_update_path(tree, i, group.members[i].signer.priv, context, rng=r)
        # null for the sender itself and for blank leaves, as in the official file.
        path_secrets: list[str | None] = [None] * tree.n_leaves
        for j in members:
            if j == i:
                continue
            got = treekem.process_update_path(
                tree, i, created.update_path, group.private_state(j), context
            )
            path_secrets[j] = got.path_secret.hex()
        update_paths.append(
            {
                "sender": i,
                "update_path": tls.encode(created.update_path, UpdatePath).hex(),
                "path_secrets": path_secrets,
                "commit_secret": created.commit_secret.hex(),
                "tree_hash_after": created.tree.tree_hash().hex(),
            }
        )
    return {
        "cipher_suite": suite_id,
        "group_id": group.group_id.hex(),
        "epoch": group.epoch,
        "confirmed_transcript_hash": group.confirmed_transcript_hash.hex(),
        "ratchet_tree": tree.encode().hex(),
        "leaves_private": leaves_private,
        "update_paths": update_paths,
    }


generate = indexed_generator(_case, DEFAULT_COUNT)
