"""TreeKEM (RFC 9420 §7.4-§7.7): creating, merging and decrypting UpdatePaths.

Nothing here mutates the tree it is given: every operation works on
:meth:`RatchetTree.copy` and returns the new tree in its result, so a commit can be
staged and dropped (docs/GROUP_ENGINE.md, design rule 3). Private keys live in
:class:`TreePrivateState`, plain data apart from the public tree.

The provisional GroupContext (§12.4.2) is passed as a template whose ``tree_hash`` is
replaced by the hash of the tree after the path is merged; the caller sets the epoch and
extensions of the new epoch.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import msgspec

from ..codecs import tls
from ..crypto import labeled
from ..crypto.primitives import Rng, random_bytes
from ..crypto.suites import CipherSuite
from ..errors import CryptoError, StateError, ValidationError
from ..schema import (
    GroupContext,
    HPKECiphertext,
    LeafNode,
    LeafNodeSource,
    ParentNode,
    UpdatePath,
    UpdatePathNode,
)
from . import tree_math as tm
from .ratchet_tree import RatchetTree, in_subtree
from .tree_validation import leaf_node_tbs, verify_leaf_signature

PATH_LENGTH = "RFC 9420 §7.6: one UpdatePathNode per node of the filtered direct path"
CIPHERTEXT_COUNT = "RFC 9420 §7.6: one ciphertext per node of the copath resolution"
LEAF_SOURCE = "RFC 9420 §7.3: the UpdatePath leaf_node has leaf_node_source commit"
LEAF_PARENT_HASH = "RFC 9420 §7.9.2: the committer's leaf parent_hash matches the path"
DERIVED_KEY = "RFC 9420 §7.5: derived node public keys equal the UpdatePath's"
PRIVATE_STATE = "RFC 9420 §7.4: private keys match the tree's public keys"


@dataclass
class TreePrivateState:
    """The HPKE private keys one member holds: node index -> private key, for its own
    leaf (node ``2 * leaf_index``) and the non-blank parents above it it knows."""

    leaf_index: int
    keys: dict[int, bytes] = field(default_factory=dict)


@dataclass
class CreatedPath:
    update_path: UpdatePath
    tree: RatchetTree  # the tree with the path merged
    private: TreePrivateState  # the committer's keys in the new tree
    path_secrets: dict[int, bytes]  # node index -> path secret (for Welcome)
    commit_secret: bytes
    group_context: GroupContext  # provisional: tree_hash of the new tree


@dataclass
class ProcessedPath:
    tree: RatchetTree
    private: TreePrivateState
    path_secret: bytes  # the one decrypted (at the lowest common filtered ancestor)
    path_secret_node: int
    commit_secret: bytes
    group_context: GroupContext


def node_key_pair(suite: CipherSuite, path_secret: bytes) -> tuple[bytes, bytes]:
    """DeriveKeyPair(DeriveSecret(path_secret, "node")) -> (private, public) (§7.4)."""
    return suite.derive_key_pair(labeled.derive_secret(suite, path_secret, "node"))


def next_path_secret(suite: CipherSuite, path_secret: bytes) -> bytes:
    return labeled.derive_secret(suite, path_secret, "path")


def private_state_from_secrets(
    tree: RatchetTree,
    leaf_index: int,
    leaf_private_key: bytes,
    path_secrets: Mapping[int, bytes],
) -> TreePrivateState:
    """A member's private state from its leaf key and per-node path secrets, checked
    against the tree: each node is non-blank and carries the matching public key."""
    suite = tree.suite
    keys = {2 * leaf_index: leaf_private_key}
    for x, secret in path_secrets.items():
        keys[x] = node_key_pair(suite, secret)[0]
    state = TreePrivateState(leaf_index, keys)
    check_private_state(tree, state)
    return state


def check_private_state(tree: RatchetTree, state: TreePrivateState) -> None:
    suite = tree.suite
    for x, sk in state.keys.items():
        value = tree.node(x)
        if value is None:
            raise ValidationError(PRIVATE_STATE, "the node is blank", f"node {x}")
        try:
            pk = suite.public_key_from_private(sk)
        except CryptoError as e:
            raise ValidationError(PRIVATE_STATE, str(e), f"node {x}") from None
        if pk != value.encryption_key:
            raise ValidationError(PRIVATE_STATE, "public key differs", f"node {x}")


def _provisional(context: GroupContext, tree: RatchetTree) -> tuple[GroupContext, bytes]:
    ctx = msgspec.structs.replace(context, tree_hash=tree.tree_hash())
    return ctx, tls.encode(ctx, GroupContext)


def create_update_path(
    tree: RatchetTree,
    sender: int,
    signature_private_key: bytes,
    context: GroupContext,
    *,
    exclude: Collection[int] = (),
    leaf_node: LeafNode | None = None,
    rng: Rng | None = None,
) -> CreatedPath:
    """Refresh the sender's direct path (§7.4, §7.5) and encrypt the path secrets to the
    copath resolutions (§7.6), leaving out the leaves in ``exclude`` (members added by
    this commit). ``leaf_node`` (default: the sender's current leaf) supplies the
    fields the new leaf keeps: signature key, credential, capabilities, extensions."""
    suite = tree.suite
    exclude = frozenset(exclude)  # looked up once per resolution leaf
    base = leaf_node if leaf_node is not None else tree.leaf(sender)
    if base is None:
        raise StateError(f"leaf {sender} is blank: a blank leaf cannot commit")
    new = tree.copy()
    pairs = new.filtered_path(sender)  # copath resolutions do not depend on the path
    new.blank_direct_path(sender)

    secret = random_bytes(rng, suite.hash_len)
    path_secrets: dict[int, bytes] = {}
    keys: dict[int, bytes] = {}
    for p, _ in pairs:
        sk, pk = node_key_pair(suite, secret)
        path_secrets[p] = secret
        keys[p] = sk
        new.set_parent(p, ParentNode(encryption_key=pk, parent_hash=b"", unmerged_leaves=()))
        secret = next_path_secret(suite, secret)
    commit_secret = secret

    leaf_parent_hash = new.set_path_parent_hashes(sender)
    leaf_sk, leaf_pk = suite.generate_key_pair(rng)
    keys[2 * sender] = leaf_sk
    unsigned = msgspec.structs.replace(
        base,
        encryption_key=leaf_pk,
        leaf_node_source=LeafNodeSource.commit,
        lifetime=None,
        parent_hash=leaf_parent_hash,
        signature=b"",
    )
    tbs = leaf_node_tbs(unsigned, context.group_id, sender)
    signature = labeled.sign_with_label(suite, signature_private_key, "LeafNodeTBS", tbs, rng=rng)
    new_leaf = msgspec.structs.replace(unsigned, signature=signature)
    new.set_leaf(sender, new_leaf)

    ctx, ctx_bytes = _provisional(context, new)
    # Every path secret is encrypted under the same context (the provisional
    # GroupContext): prepared once, not once per resolution node (up to N-1 of them).
    encryptor = labeled.LabeledEncryptor(suite, "UpdatePathNode", ctx_bytes)
    nodes: list[UpdatePathNode] = []
    for p, s in pairs:
        cts: list[HPKECiphertext] = []
        for r in new.resolution(s, exclude):
            target = new.node(r)
            assert target is not None
            kem_output, ct = encryptor.encrypt(target.encryption_key, path_secrets[p], rng=rng)
            cts.append(HPKECiphertext(kem_output=kem_output, ciphertext=ct))
        value = new.node(p)
        assert value is not None
        nodes.append(
            UpdatePathNode(encryption_key=value.encryption_key, encrypted_path_secret=tuple(cts))
        )
    path = UpdatePath(leaf_node=new_leaf, nodes=tuple(nodes))
    return CreatedPath(path, new, TreePrivateState(sender, keys), path_secrets, commit_secret, ctx)


def merge_update_path(
    tree: RatchetTree, sender: int, update_path: UpdatePath, group_id: bytes
) -> RatchetTree:
    """The tree with ``update_path`` merged (§7.5 "merges UpdatePath into the tree"):
    checks the path length, the leaf's source, parent hash and signature."""
    pairs = tree.filtered_path(sender)
    if tree.leaf(sender) is None:
        raise ValidationError("RFC 9420 §12.4.2: the committer is a member", where=f"leaf {sender}")
    if len(update_path.nodes) != len(pairs):
        raise ValidationError(
            PATH_LENGTH,
            f"{len(update_path.nodes)} nodes for a filtered direct path of {len(pairs)}",
            f"leaf {sender}",
        )
    leaf = update_path.leaf_node
    if leaf.leaf_node_source != LeafNodeSource.commit:
        raise ValidationError(LEAF_SOURCE, f"got {leaf.leaf_node_source!r}", f"leaf {sender}")
    new = tree.copy()
    new.blank_direct_path(sender)
    for (p, _), node in zip(pairs, update_path.nodes, strict=True):
        new.set_parent(
            p, ParentNode(encryption_key=node.encryption_key, parent_hash=b"", unmerged_leaves=())
        )
    expected = new.set_path_parent_hashes(sender)
    if leaf.parent_hash != expected:
        got = (leaf.parent_hash or b"").hex()
        raise ValidationError(
            LEAF_PARENT_HASH, f"leaf has {got}, path gives {expected.hex()}", f"leaf {sender}"
        )
    verify_leaf_signature(new.suite, leaf, group_id, sender)
    new.set_leaf(sender, leaf)
    return new


def check_update_path(
    tree: RatchetTree,
    sender: int,
    update_path: UpdatePath,
    group_id: bytes,
    *,
    exclude: Collection[int] = (),
) -> RatchetTree:
    """Every check of a received UpdatePath that needs no private key: those of
    :func:`merge_update_path`, and one ciphertext per resolution node at every node. What
    a member the commit removes can still check, so that it agrees with the others on
    the commit's validity. Returns the merged tree."""
    return _check_update_path(tree, sender, update_path, group_id, exclude)[0]


def _check_update_path(
    tree: RatchetTree,
    sender: int,
    update_path: UpdatePath,
    group_id: bytes,
    exclude: Collection[int],
) -> tuple[RatchetTree, list[list[int]]]:
    new = merge_update_path(tree, sender, update_path, group_id)
    exclude = frozenset(exclude)  # looked up once per resolution leaf
    # Every node's count, not only that of the node a member decrypts at: members must
    # agree on a commit's validity, or one malformed node would split the group.
    pairs = new.filtered_path(sender)
    resolutions = [new.resolution(s, exclude) for _, s in pairs]
    for (p, _), node, res in zip(pairs, update_path.nodes, resolutions, strict=True):
        if len(node.encrypted_path_secret) != len(res):
            raise ValidationError(
                CIPHERTEXT_COUNT,
                f"{len(node.encrypted_path_secret)} ciphertexts for {len(res)} nodes",
                f"node {p}",
            )
    return new, resolutions


def process_update_path(
    tree: RatchetTree,
    sender: int,
    update_path: UpdatePath,
    private: TreePrivateState,
    context: GroupContext,
    *,
    exclude: Collection[int] = (),
) -> ProcessedPath:
    """Merge a received UpdatePath and decrypt it with the receiver's private state
    (§7.5): decrypt at the first filtered-path node whose copath child covers the
    receiver, derive the secrets above it, check each derived public key, and return
    the commit secret (§12.4.2: DeriveSecret of the last path secret, "path")."""
    suite = tree.suite
    me = private.leaf_index
    if me == sender:
        raise StateError("a member does not process its own UpdatePath; use its CreatedPath")
    if me in exclude:
        raise StateError(f"leaf {me} was added by this commit: it joins through the Welcome")
    new, resolutions = _check_update_path(tree, sender, update_path, context.group_id, exclude)
    ctx, ctx_bytes = _provisional(context, new)
    pairs = new.filtered_path(sender)
    start = next((k for k, (_, s) in enumerate(pairs) if in_subtree(2 * me, s)), None)
    if start is None:
        raise StateError(f"leaf {me} is below no copath node of leaf {sender}'s path")
    p, s = pairs[start]
    resolution = resolutions[start]
    cts = update_path.nodes[start].encrypted_path_secret
    position = next((i for i, r in enumerate(resolution) if r in private.keys), None)
    if position is None:
        raise StateError(f"leaf {me} holds no private key in the resolution of node {s}")
    ct = cts[position]
    try:
        path_secret = labeled.decrypt_with_label(
            suite,
            private.keys[resolution[position]],
            "UpdatePathNode",
            ctx_bytes,
            ct.kem_output,
            ct.ciphertext,
        )
    except CryptoError as e:
        # Name the step and node: a bare "HPKE open failed" does not say which message
        # part or rule failed.
        raise CryptoError(
            f"RFC 9420 §12.4.2: the UpdatePath path secret for node {p} does not decrypt ({e})"
        ) from e

    # Keys of the sender's direct path are replaced or blanked; keep the rest.
    replaced = set(tm.direct_path(2 * sender, new.n_leaves))
    keys = {x: sk for x, sk in private.keys.items() if x not in replaced}
    secret = path_secret
    for k in range(start, len(pairs)):
        sk, pk = node_key_pair(suite, secret)
        if pk != update_path.nodes[k].encryption_key:
            raise ValidationError(DERIVED_KEY, "public key differs", f"node {pairs[k][0]}")
        keys[pairs[k][0]] = sk
        secret = next_path_secret(suite, secret)
    return ProcessedPath(new, TreePrivateState(me, keys), path_secret, p, secret, ctx)


__all__ = [
    "CIPHERTEXT_COUNT",
    "DERIVED_KEY",
    "LEAF_PARENT_HASH",
    "LEAF_SOURCE",
    "PATH_LENGTH",
    "PRIVATE_STATE",
    "CreatedPath",
    "ProcessedPath",
    "TreePrivateState",
    "check_private_state",
    "check_update_path",
    "create_update_path",
    "merge_update_path",
    "next_path_secret",
    "node_key_pair",
    "private_state_from_secrets",
    "process_update_path",
]
