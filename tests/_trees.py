"""Building real ratchet trees for tests: signed leaves and a group grown by commits
(the tree-validation family's ``get_tree(n)``: leaf i adds leaf i+1 and commits)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from mlswire.codecs import tls
from mlswire.crypto import labeled
from mlswire.crypto.suites import CipherSuite, cipher_suite
from mlswire.engine import treekem
from mlswire.engine.ratchet_tree import RatchetTree, in_subtree
from mlswire.engine.tree_validation import leaf_node_tbs
from mlswire.schema import (
    Capabilities,
    Credential,
    CredentialType,
    GroupContext,
    LeafNode,
    LeafNodeSource,
    Lifetime,
    ProtocolVersion,
)
from mlswire.schema import CipherSuite as SchemaSuite

SUITE = 1


def seeded_rng(seed: bytes) -> Callable[[int], bytes]:
    """A reproducible randomness source (SHA-256 in counter mode)."""
    counter = 0

    def rng(n: int) -> bytes:
        nonlocal counter
        out = b""
        while len(out) < n:
            out += hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
            counter += 1
        return out[:n]

    return rng


@dataclass
class Member:
    leaf_node: LeafNode
    signature_priv: bytes
    encryption_priv: bytes


def make_member(suite: CipherSuite, name: str) -> Member:
    rng = seeded_rng(name.encode())
    sig_sk, sig_pk = suite.signature_key_pair(rng)
    enc_sk, enc_pk = suite.generate_key_pair(rng)
    unsigned = LeafNode(
        encryption_key=enc_pk,
        signature_key=sig_pk,
        credential=Credential(credential_type=CredentialType.basic, identity=name.encode()),
        capabilities=Capabilities(
            versions=(ProtocolVersion.mls10,),
            cipher_suites=(SchemaSuite(suite.suite_id),),
            extensions=(),
            proposals=(),
            credentials=(CredentialType.basic,),
        ),
        leaf_node_source=LeafNodeSource.key_package,
        lifetime=Lifetime(not_before=0, not_after=2**64 - 1),
        extensions=(),
        signature=b"",
    )
    tbs = leaf_node_tbs(unsigned, b"", 0)
    sig = labeled.sign_with_label(suite, sig_sk, "LeafNodeTBS", tbs, rng=rng)
    return Member(msgspec.structs.replace(unsigned, signature=sig), sig_sk, enc_sk)


@dataclass
class Group:
    tree: RatchetTree
    context: GroupContext
    members: dict[int, Member]
    private: dict[int, treekem.TreePrivateState] = field(default_factory=dict)

    def context_for_next_epoch(self) -> GroupContext:
        c = self.context
        return GroupContext(
            cipher_suite=c.cipher_suite,
            group_id=c.group_id,
            epoch=c.epoch + 1,
            tree_hash=b"",
            confirmed_transcript_hash=c.confirmed_transcript_hash,
            extensions=c.extensions,
        )

    def commit(self, sender: int, add: Member | None = None) -> treekem.CreatedPath:
        """``sender`` commits (optionally adding ``add``); every other member processes
        the path and checks it agrees on the commit secret and the tree."""
        staged = self.tree.copy()
        exclude: set[int] = set()
        new_index = None
        if add is not None:
            new_index = staged.add_leaf(add.leaf_node)
            exclude.add(new_index)
        ctx = self.context_for_next_epoch()
        created = treekem.create_update_path(
            staged,
            sender,
            self.members[sender].signature_priv,
            ctx,
            exclude=exclude,
            rng=seeded_rng(b"commit %d %d" % (sender, ctx.epoch)),
        )
        for j, state in list(self.private.items()):
            if j == sender:
                continue
            got = treekem.process_update_path(
                staged, sender, created.update_path, state, ctx, exclude=exclude
            )
            assert got.commit_secret == created.commit_secret
            assert got.tree == created.tree
            self.private[j] = got.private
        self.private[sender] = created.private
        self.members[sender] = Member(
            created.update_path.leaf_node,
            self.members[sender].signature_priv,
            created.private.keys[2 * sender],
        )
        if add is not None and new_index is not None:
            # What the Welcome's path_secret gives the new member (§12.4.3.1).
            secrets = {
                p: s for p, s in created.path_secrets.items() if in_subtree(2 * new_index, p)
            }
            self.members[new_index] = add
            self.private[new_index] = treekem.private_state_from_secrets(
                created.tree, new_index, add.encryption_priv, secrets
            )
        self.tree = created.tree
        self.context = created.group_context
        return created


def new_group(suite_id: int = SUITE, group_id: bytes = b"test group") -> Group:
    suite = cipher_suite(suite_id)
    first = make_member(suite, "member 0")
    tree = RatchetTree.with_first_leaf(suite_id, first.leaf_node)
    context = GroupContext(
        cipher_suite=SchemaSuite(suite_id),
        group_id=group_id,
        epoch=0,
        tree_hash=tree.tree_hash(),
        confirmed_transcript_hash=b"",
        extensions=(),
    )
    group = Group(tree, context, {0: first})
    group.private[0] = treekem.TreePrivateState(0, {0: first.encryption_priv})
    return group


def get_tree(n: int, suite_id: int = SUITE) -> Group:
    """Leaf i adds leaf i+1 and commits, for i in 0..n-2: a full, parent-hash-valid tree."""
    group = new_group(suite_id)
    suite = cipher_suite(suite_id)
    for i in range(n - 1):
        group.commit(i, add=make_member(suite, f"member {i + 1}"))
    return group


def encoded(tree: RatchetTree) -> bytes:
    return tls.encode(tree.to_nodes(), "RatchetTree")


def sample_leaves(n: int = 12) -> list[LeafNode]:
    """Signed leaves of n distinct members (seeded: the same every run)."""
    suite = cipher_suite(SUITE)
    return [make_member(suite, f"leaf {i}").leaf_node for i in range(n)]


def apply_tree_op(tree: RatchetTree, op: str, k: int, leaves: list[LeafNode]) -> None:
    """One step of the random operation sequences the tree properties are tested over:
    add / remove / update a leaf, set or blank a parent (k picks which). A step the tree
    refuses (an MLSError: e.g. a leaf already in it) leaves it as it was."""
    from mlswire.errors import MLSError
    from mlswire.schema import ParentNode

    members = list(tree.members())
    try:
        if op == "add":
            tree.add_leaf(leaves[k % len(leaves)])
        elif op == "remove" and len(members) > 1:
            tree.remove_leaf(members[k % len(members)])
        elif op == "update":
            tree.update_leaf(members[k % len(members)], leaves[k % len(leaves)])
        elif op == "parent" and tree.width > 1:
            x = 2 * (k % (tree.width // 2)) + 1
            tree.set_parent(
                x, ParentNode(encryption_key=bytes([k]) * 32, parent_hash=b"", unmerged_leaves=())
            )
        elif op == "blank" and tree.width > 1:
            tree.set_parent(2 * (k % (tree.width // 2)) + 1, None)
    except MLSError:
        pass
