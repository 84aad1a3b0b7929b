"""What several generators need: signed LeafNodes and KeyPackages, and groups whose
ratchet trees are grown by real commits (TreeKEM UpdatePaths), with each member's
private keys and path secrets followed along.

Everything here composes the engine (``treekem``, ``ratchet_tree``, ``labeled``, and
``Client`` of ``engine.group`` for signature keys and KeyPackages); the
only thing computed here is bookkeeping: which member knows which path secret. All
randomness comes from the :class:`~mlswire.vectors._rng.Drbg` passed in, so a seed
fixes every key, signature and ciphertext.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ..codecs import tls
from ..crypto import labeled
from ..crypto.suites import CipherSuite, cipher_suite
from ..engine import treekem
from ..engine.group import MAX_LIFETIME, Client
from ..engine.ratchet_tree import RatchetTree, in_subtree
from ..engine.tree_validation import leaf_node_tbs
from ..schema import CipherSuite as SuiteId
from ..schema import (
    Credential,
    GroupContext,
    KeyPackage,
    LeafNode,
    LeafNodeSource,
    MLSMessage,
)
from ._rng import Drbg


@dataclass(frozen=True)
class Signer:
    """A signature key pair and the basic credential that goes with it: an engine
    :class:`~mlswire.engine.group.Client`, which also makes the KeyPackages."""

    client: Client

    @property
    def priv(self) -> bytes:
        return self.client.signature_private_key

    @property
    def pub(self) -> bytes:
        return self.client.signature_public_key

    @property
    def credential(self) -> Credential:
        return self.client.credential


def new_signer(cs: CipherSuite, rng: Drbg) -> Signer:
    return Signer(Client.generate(rng(16), cs.suite_id, rng=rng))


def sign_leaf_node(
    cs: CipherSuite,
    signer: Signer,
    unsigned: LeafNode,
    group_id: bytes,
    leaf_index: int,
    rng: Drbg,
) -> LeafNode:
    """``unsigned`` with its LeafNodeTBS signature (group id and index count only for
    update and commit leaves; ``leaf_node_tbs`` decides)."""
    tbs = leaf_node_tbs(unsigned, group_id, leaf_index)
    signature = labeled.sign_with_label(cs, signer.priv, "LeafNodeTBS", tbs, rng=rng)
    return msgspec.structs.replace(unsigned, signature=signature)


@dataclass(frozen=True)
class NewKeyPackage:
    key_package: KeyPackage
    signer: Signer
    init_priv: bytes
    encryption_priv: bytes

    @property
    def leaf_node(self) -> LeafNode:
        return self.key_package.leaf_node


# KeyPackage lifetimes as wide as the format allows: generated vectors must not expire.
FOREVER = (0, MAX_LIFETIME)


def new_key_package(cs: CipherSuite, rng: Drbg, signer: Signer | None = None) -> NewKeyPackage:
    """A KeyPackage with fresh init and encryption keys, signed (§10), made by the
    engine's :meth:`Client.key_package`; the private keys are what vectors publish."""
    signer = signer or new_signer(cs, rng)
    message = signer.client.key_package(lifetime=FOREVER, rng=rng)
    init_priv, encryption_priv = signer.client.key_package_private_keys(message)
    key_package = tls.decode(message, MLSMessage).key_package
    assert key_package is not None
    return NewKeyPackage(key_package, signer, init_priv, encryption_priv)


@dataclass
class Member:
    """One member's secrets: its signer, its HPKE private keys by node index (its own
    leaf included) and the path secrets of the parent nodes it knows."""

    signer: Signer
    keys: dict[int, bytes]
    path_secrets: dict[int, bytes] = field(default_factory=dict)


@dataclass
class Group:
    """A group reduced to what tree-shaped vectors need: the public ratchet tree, the
    members' secrets, and the fixed parts of the GroupContext.

    With ``track_private`` off, receivers do not decrypt UpdatePaths: the tree comes
    out the same (merging needs no secret), at a fraction of the cost, for families
    that publish only the public tree.
    """

    suite_id: int
    group_id: bytes
    epoch: int
    confirmed_transcript_hash: bytes
    tree: RatchetTree
    members: dict[int, Member]
    rng: Drbg
    track_private: bool = True

    @property
    def suite(self) -> CipherSuite:
        return cipher_suite(self.suite_id)

    @classmethod
    def create(cls, suite_id: int, rng: Drbg, *, track_private: bool = True) -> Group:
        cs = cipher_suite(suite_id)
        first = new_key_package(cs, rng)
        tree = RatchetTree.with_first_leaf(suite_id, first.leaf_node)
        member = Member(first.signer, {0: first.encryption_priv})
        return cls(
            suite_id=suite_id,
            group_id=rng(32),
            epoch=0,
            confirmed_transcript_hash=rng(cs.hash_len),
            tree=tree,
            members={0: member},
            rng=rng,
            track_private=track_private,
        )

    def context(self, epoch: int | None = None, tree: RatchetTree | None = None) -> GroupContext:
        """The GroupContext at ``epoch`` (default: now) over ``tree`` (default: ours)."""
        return GroupContext(
            cipher_suite=SuiteId(self.suite_id),
            group_id=self.group_id,
            epoch=self.epoch if epoch is None else epoch,
            tree_hash=(tree or self.tree).tree_hash(),
            confirmed_transcript_hash=self.confirmed_transcript_hash,
            extensions=(),
        )

    def private_state(self, leaf: int) -> treekem.TreePrivateState:
        return treekem.TreePrivateState(leaf, dict(self.members[leaf].keys))

    def _prune(self, tree: RatchetTree) -> None:
        # Removes blank a leaf's direct path and may truncate the tree: a member keeps
        # only keys of nodes that still exist and are not blank, as a real client would.
        for m in self.members.values():
            m.keys = {x: k for x, k in m.keys.items() if x < tree.width and not tree.is_blank(x)}
            m.path_secrets = {x: s for x, s in m.path_secrets.items() if x in m.keys}

    def commit(
        self,
        sender: int,
        *,
        add: int = 0,
        remove: Iterable[int] = (),
        path: bool = True,
    ) -> list[int]:
        """``sender`` commits removing ``remove`` and adding ``add`` new members, with an
        UpdatePath when ``path``. Every member who can follows; returns the new leaves."""
        cs = self.suite
        staged = self.tree.copy()
        for r in remove:
            staged.remove_leaf(r)
            del self.members[r]
        added: list[tuple[int, NewKeyPackage]] = []
        for _ in range(add):
            kp = new_key_package(cs, self.rng)
            added.append((staged.add_leaf(kp.leaf_node), kp))
        self._prune(staged)
        new_leaves = [i for i, _ in added]

        if not path:
            for i, kp in added:
                self.members[i] = Member(kp.signer, {2 * i: kp.encryption_priv})
            self.tree = staged
            self.epoch += 1
            return new_leaves

        # The provisional context: the next epoch; create_update_path fills tree_hash.
        template = self.context(self.epoch + 1, staged)
        created = treekem.create_update_path(
            staged,
            sender,
            self.members[sender].signer.priv,
            template,
            exclude=new_leaves,
            rng=self.rng,
        )
        if self.track_private:
            for j, m in self.members.items():
                if j == sender:
                    continue
                got = treekem.process_update_path(
                    staged,
                    sender,
                    created.update_path,
                    treekem.TreePrivateState(j, m.keys),
                    template,
                    exclude=new_leaves,
                )
                secrets = {x: s for x, s in m.path_secrets.items() if x in got.private.keys}
                secrets.update(
                    chain_from(cs, created.tree, sender, got.path_secret_node, got.path_secret)
                )
                m.keys, m.path_secrets = got.private.keys, secrets
        sender_member = self.members[sender]
        sender_member.keys = dict(created.private.keys)
        sender_member.path_secrets = dict(created.path_secrets)
        for i, kp in added:
            # What the Welcome's path_secret gives the joiner: the secrets from its
            # lowest common ancestor with the committer upwards (§12.4.3.1).
            known = {p: s for p, s in created.path_secrets.items() if in_subtree(2 * i, p)}
            keys = {2 * i: kp.encryption_priv}
            keys.update({p: created.private.keys[p] for p in known})
            self.members[i] = Member(kp.signer, keys, known)
        self.tree = created.tree
        self.epoch += 1
        return new_leaves

    def update_leaf_node(self, leaf: int) -> tuple[LeafNode, bytes]:
        """A fresh LeafNode for an Update proposal by ``leaf`` and its private key."""
        cs = self.suite
        current = self.tree.leaf(leaf)
        assert current is not None
        priv, pub = cs.generate_key_pair(self.rng)
        unsigned = msgspec.structs.replace(
            current,
            encryption_key=pub,
            leaf_node_source=LeafNodeSource.update,
            lifetime=None,
            parent_hash=None,
            signature=b"",
        )
        node = sign_leaf_node(
            cs, self.members[leaf].signer, unsigned, self.group_id, leaf, self.rng
        )
        return node, priv


def chain_from(
    cs: CipherSuite, tree: RatchetTree, sender: int, node: int, path_secret: bytes
) -> dict[int, bytes]:
    """The path secrets a receiver learns from the one it decrypted at ``node``: that
    node's and, by DeriveSecret(., "path"), each node above it on the sender's filtered
    direct path (§7.4)."""
    out: dict[int, bytes] = {}
    secret: bytes | None = None
    for p in tree.filtered_direct_path(sender):
        if p == node:
            secret = path_secret
        if secret is not None:
            out[p] = secret
            secret = treekem.next_path_secret(cs, secret)
    return out


def grow(suite_id: int, rng: Drbg, n: int, *, track_private: bool = True) -> Group:
    """``get_tree(n)`` of the tree-validation family: leaf i commits adding leaf i+1."""
    group = Group.create(suite_id, rng, track_private=track_private)
    for i in range(n - 1):
        group.commit(i, add=1)
    return group


# Named tree shapes, ordered from simple to complex, shared by tree-validation and
# treekem. Each starts from get_tree(n) (``grow``) as the official test trees do.
Shape = Callable[[int, Drbg, bool], Group]


def _grown(n: int) -> Shape:
    return lambda suite_id, rng, track: grow(suite_id, rng, n, track_private=track)


def _internal_blanks(suite_id: int, rng: Drbg, track: bool) -> Group:
    # Leaf 0 removes 2 and 3 and adds a member, which lands in leaf 2: leaf 3 and their
    # parent stay blank inside the tree.
    g = grow(suite_id, rng, 8, track_private=track)
    g.commit(0, remove=(2, 3), add=1)
    return g


def _skipping_blanks(suite_id: int, rng: Drbg, track: bool) -> Group:
    # Leaf 0 removes 1, 2 and 3: its filtered direct path skips the blank nodes 1 and 3,
    # so the parent-hash chain jumps over them.
    g = grow(suite_id, rng, 8, track_private=track)
    g.commit(0, remove=(1, 2, 3))
    return g


def _unmerged(suite_id: int, rng: Drbg, track: bool) -> Group:
    # The new leaf 7 is unmerged at the parents not on the committer's path (11, 13).
    g = grow(suite_id, rng, 7, track_private=track)
    g.commit(0, add=1)
    return g


def _unmerged_skipping(suite_id: int, rng: Drbg, track: bool) -> Group:
    # After the skipping-blanks tree, leaf 4 adds a member without a path: it lands in
    # leaf 1 and is unmerged at the root, whose parent-hash link skips blanks.
    g = _skipping_blanks(suite_id, rng, track)
    g.commit(4, add=1, path=False)
    return g


def _random(suite_id: int, rng: Drbg, track: bool) -> Group:
    """get_tree(n) for a random n, then a few random commits (removes, adds, with or
    without a path), for counts beyond the named shapes."""
    g = grow(suite_id, rng, rng.between(2, 10), track_private=track)
    for _ in range(rng.between(1, 3)):
        members = sorted(g.members)
        sender = rng.choice(members)
        others = [m for m in members if m != sender]
        remove = rng.sample(others, rng.below(min(3, len(others)) + 1))
        g.commit(sender, remove=remove, add=rng.below(3), path=rng.below(4) != 0)
    return g


SHAPES: dict[str, Shape] = {
    "full-2": _grown(2),
    "trailing-3": _grown(3),
    "full-4": _grown(4),
    "trailing-5": _grown(5),
    "trailing-7": _grown(7),
    "full-8": _grown(8),
    "internal-blanks": _internal_blanks,
    "skipping-blanks": _skipping_blanks,
    "unmerged": _unmerged,
    "unmerged-skipping": _unmerged_skipping,
    "full-16": _grown(16),
    "trailing-33": _grown(33),
    "trailing-34": _grown(34),
}


def shape_for(order: tuple[str, ...], index: int) -> Shape:
    """The ``index``-th shape of a family's ``order``; random shapes after the list."""
    return SHAPES[order[index]] if index < len(order) else _random


__all__ = [
    "SHAPES",
    "Group",
    "Member",
    "NewKeyPackage",
    "Signer",
    "chain_from",
    "grow",
    "indexed_generator",
    "new_key_package",
    "new_signer",
    "per_case",
    "per_suite_generator",
    "shape_for",
    "sign_leaf_node",
]


def per_case(
    rng: Drbg, count: int, progress: Callable[[], None] | None = None
) -> Iterator[tuple[int, Drbg]]:
    """``(index, stream)`` for each case: one forked stream per case keeps case ``i`` the
    same whatever ``count`` is. Calls ``progress`` after each case is built."""
    for i in range(count):
        yield i, rng.fork("case", i)
        if progress is not None:
            progress()


def per_suite_generator(
    case: Callable[[CipherSuite, Drbg], dict[str, Any]], default_count: int
) -> Callable[..., list[dict[str, Any]]]:
    """A family's ``generate``: ``count`` cases (``default_count`` when None) for cipher
    suite ``suite`` (1 when None), each built by ``case`` from its own forked stream."""

    def generate(
        suite: int | None,
        rng: Drbg,
        count: int | None = None,
        *,
        progress: Callable[[], None] | None = None,
    ) -> list[dict[str, Any]]:
        cs = cipher_suite(suite if suite is not None else 1)
        n = default_count if count is None else count
        return [case(cs, r) for _, r in per_case(rng, n, progress)]

    return generate


def indexed_generator(
    case: Callable[[int, Drbg, int], dict[str, Any]], default_count: int
) -> Callable[..., list[dict[str, Any]]]:
    """A family's ``generate`` whose cases take the suite's number (1 when None, used as
    it is) and the case's index: ``case(suite_id, stream, index)``, ``count`` times
    (``default_count`` when None)."""

    def generate(
        suite: int | None,
        rng: Drbg,
        count: int | None = None,
        *,
        progress: Callable[[], None] | None = None,
    ) -> list[dict[str, Any]]:
        suite_id = suite if suite is not None else 1
        n = default_count if count is None else count
        return [case(suite_id, r, i) for i, r in per_case(rng, n, progress)]

    return generate
