"""The secret tree and its per-sender hash ratchets (RFC 9420 §9), with the deletion
schedule of §9.2 and the sender-data key derivation of §6.3.2.

The tree is derived lazily: at construction only the root (``encryption_secret``) is
held. Asking for a leaf's keys derives just the path from the lowest still-held ancestor
down to that leaf (O(log n)); each parent on the way is replaced by the secret of its
other child, so a parent secret is deleted as soon as both children exist. The leaf
secret itself is deleted once its two ratchet roots (handshake, application) exist.

Each ratchet keeps its current secret and generation, plus the keys of generations it
skipped over that are still inside the out-of-order window. A key handed out for
encryption or for a successful decryption is deleted, so asking for it again fails.
Lookups for receiving come in two steps, so a rejected message leaves the tree
unchanged: :meth:`SecretTree.prepare_receive` derives the key and returns a function that
deletes it once the message is accepted (:meth:`SecretTree.receive_key` only reads,
:meth:`SecretTree.consume_receive_key` does both at once).

All state is plain data (ints, bytes, dicts); :meth:`SecretTree.to_state` and
:meth:`SecretTree.from_state` turn it into a dictionary and back.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, NamedTuple

import msgspec

from ..codecs.tls import write_length
from ..crypto.labeled import expand_with_label, kdf_label
from ..crypto.suites import CipherSuite, cipher_suite
from ..errors import DecodeError, StaleMessageError, StateError, ValidationError
from ..schema import ContentType
from . import tree_math as tm

#: Default number of past generations whose keys a ratchet keeps for out-of-order messages.
DEFAULT_OUT_OF_ORDER_WINDOW = 32
#: Default limit on how many generations a receiver ratchets forward for one message.
DEFAULT_MAX_FORWARD_DISTANCE = 1000

_MAX_GENERATION = 0xFFFFFFFF  # generations are uint32 on the wire (SenderData)


_Index = Annotated[int, msgspec.Meta(ge=0, le=0xFFFFFFFF)]


class _StoredRatchet(msgspec.Struct, forbid_unknown_fields=True):
    generation: _Index
    secret: bytes
    skipped: dict[_Index, tuple[bytes, bytes]]


class _StoredSecretTree(msgspec.Struct, forbid_unknown_fields=True):
    """What :meth:`SecretTree.to_state` writes, with the types and ranges a reader checks."""

    cipher_suite: Annotated[int, msgspec.Meta(ge=0, le=0xFFFF)]
    n_leaves: Annotated[int, msgspec.Meta(ge=1, le=1 << 31)]
    out_of_order_window: _Index
    max_forward_distance: _Index
    nodes: dict[_Index, bytes]
    ratchets: dict[str, dict[_Index, _StoredRatchet]]


class RatchetType(enum.Enum):
    """The two hash ratchets of each leaf; the value is the §9 derivation label."""

    HANDSHAKE = "handshake"
    APPLICATION = "application"


def ratchet_type(content_type: ContentType) -> RatchetType:
    """The ratchet that protects a content type: application data uses the application
    ratchet, proposals and commits the handshake ratchet (§6.3.1)."""
    kind = _RATCHET_OF.get(content_type)
    if kind is None:
        raise ValidationError(
            "RFC 9420 §6: content type must be application, proposal or commit",
            detail=f"got {content_type!r}",
        )
    return kind


_RATCHET_OF = {
    ContentType.application: RatchetType.APPLICATION,
    ContentType.proposal: RatchetType.HANDSHAKE,
    ContentType.commit: RatchetType.HANDSHAKE,
}


class KeyNonce(NamedTuple):
    """One generation's AEAD key and nonce from a leaf's ratchet (a tuple: one is made
    per message, and a tuple is the cheapest immutable value to make)."""

    leaf: int
    ratchet: RatchetType
    generation: int
    key: bytes
    nonce: bytes

    def guarded_nonce(self, reuse_guard: bytes) -> bytes:
        """The nonce with its first four bytes XORed with ``reuse_guard`` (§6.3.1)."""
        return apply_reuse_guard(self.nonce, reuse_guard)


def apply_reuse_guard(nonce: bytes, reuse_guard: bytes) -> bytes:
    """XOR the 4-byte reuse guard into the first four bytes of ``nonce`` (§6.3.1)."""
    if len(reuse_guard) != 4:
        raise ValidationError(
            "RFC 9420 §6.3.2: reuse_guard is 4 bytes", detail=f"got {len(reuse_guard)}"
        )
    n = len(nonce)
    if n < 4:
        raise ValidationError("RFC 9420 §6.3.1: nonce shorter than the reuse guard")
    guard = int.from_bytes(reuse_guard, "big") << (8 * (n - 4))
    return (int.from_bytes(nonce, "big") ^ guard).to_bytes(n, "big")


# The KDFLabel heads of §9.1 and §6.3.2 per (Nk, Nn, Nh): everything of ExpandWithLabel's
# ``info`` before the context's bytes. Made once, so a message's five derivations are
# each a concatenation and an HMAC (the bytes are kdf_label's; tests compare).
_heads: dict[tuple[int, int, int], tuple[bytes, bytes, bytes, bytes, bytes]] = {}


def _label_heads(cs: CipherSuite) -> tuple[bytes, bytes, bytes, bytes, bytes]:
    """(ratchet key, ratchet nonce, ratchet secret) heads including the 4-byte
    generation's length byte, then the (sender-data key, nonce) heads."""
    shape = (cs.aead_key_len, cs.aead_nonce_len, cs.hash_len)
    heads = _heads.get(shape)
    if heads is None:
        nk, nn, nh = shape
        gen = bytes(4)
        heads = (
            kdf_label("key", gen, nk)[:-4],
            kdf_label("nonce", gen, nn)[:-4],
            kdf_label("secret", gen, nh)[:-4],
            kdf_label("key", b"", nk)[:-1],
            kdf_label("nonce", b"", nn)[:-1],
        )
        _heads[shape] = heads
    return heads


def _where(kind: RatchetType, leaf: int) -> str:
    """Names a ratchet in errors (made only when one is raised: this is the hot path)."""
    return f"{kind.value} ratchet of leaf {leaf}"


def sender_data_key_nonce(
    cs: CipherSuite, sender_data_secret: bytes, ciphertext: bytes
) -> tuple[bytes, bytes]:
    """``(sender_data_key, sender_data_nonce)`` for a PrivateMessage whose content
    ciphertext is ``ciphertext`` (§6.3.2): the sample is its first KDF.Nh bytes, or all
    of it when it is shorter. ExpandWithLabel(sender_data_secret, "key"/"nonce",
    sample, Nk/Nn), with one HMAC key set-up for both."""
    sample = ciphertext[: cs.hash_len]
    heads = _label_heads(cs)
    context = write_length(len(sample)) + sample
    key, nonce = cs.kdf_expand_blocks(sender_data_secret, (heads[3] + context, heads[4] + context))
    return key[: cs.aead_key_len], nonce[: cs.aead_nonce_len]


@dataclass
class Ratchet:
    """One hash ratchet: ``secret`` is ratchet_secret_[N]_[generation]; ``skipped`` maps
    older generations that were never consumed (and are still in the window) to their
    ``(key, nonce)``."""

    generation: int
    secret: bytes
    skipped: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)


class _Advance(NamedTuple):
    """What moving a ratchet forward to serve one generation produces (not yet applied)."""

    key_nonce: KeyNonce
    kept: dict[int, tuple[bytes, bytes]]
    next_secret: bytes


@dataclass
class _LeafInit:
    """The derivation of a leaf's ratchet roots from the tree (not yet applied)."""

    added_nodes: dict[int, bytes]
    removed_nodes: list[int]
    roots: dict[RatchetType, bytes]


class SecretTree:
    """The secret tree of one epoch over ``n_leaves`` leaves (RFC 9420 §9).

    ``out_of_order_window``: how many generations below a ratchet's newest one keep
    their keys for late messages (0: strictly in order). ``max_forward_distance``: how
    many generations past the current one a received message may jump.
    """

    def __init__(
        self,
        cs: CipherSuite | int,
        encryption_secret: bytes,
        n_leaves: int,
        *,
        out_of_order_window: int = DEFAULT_OUT_OF_ORDER_WINDOW,
        max_forward_distance: int = DEFAULT_MAX_FORWARD_DISTANCE,
    ) -> None:
        if n_leaves < 1:
            raise ValidationError(
                "RFC 9420 §9: a secret tree has at least one leaf", detail=f"n_leaves={n_leaves}"
            )
        if out_of_order_window < 0 or max_forward_distance < 0:
            raise ValueError("out_of_order_window and max_forward_distance must be >= 0")
        self.cs = cs if isinstance(cs, CipherSuite) else cipher_suite(cs)
        self.n_leaves = n_leaves
        self.out_of_order_window = out_of_order_window
        self.max_forward_distance = max_forward_distance
        # node index -> secret, only for nodes derived but whose children are not yet.
        self.nodes: dict[int, bytes] = {tm.root(n_leaves): encryption_secret}
        # ratchet type -> leaf index -> ratchet, only for leaves already reached.
        self.ratchets: dict[RatchetType, dict[int, Ratchet]] = {t: {} for t in RatchetType}

    # --- persistence --------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """A deep copy of the whole state as plain data (ints, strings, bytes, dicts)."""
        return {
            "cipher_suite": self.cs.suite_id,
            "n_leaves": self.n_leaves,
            "out_of_order_window": self.out_of_order_window,
            "max_forward_distance": self.max_forward_distance,
            "nodes": dict(self.nodes),
            "ratchets": {
                t.value: {
                    leaf: {
                        "generation": r.generation,
                        "secret": r.secret,
                        "skipped": {g: list(kn) for g, kn in r.skipped.items()},
                    }
                    for leaf, r in by_leaf.items()
                }
                for t, by_leaf in self.ratchets.items()
            },
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SecretTree:
        """The inverse of :meth:`to_state`; DecodeError if ``state`` is not its shape."""
        try:
            s = msgspec.convert(state, _StoredSecretTree)
        except msgspec.ValidationError as e:
            raise DecodeError(f"malformed secret tree state: {e}") from None
        tree = cls(
            s.cipher_suite,
            b"",
            s.n_leaves,
            out_of_order_window=s.out_of_order_window,
            max_forward_distance=s.max_forward_distance,
        )
        tree.nodes = s.nodes
        for t in RatchetType:
            tree.ratchets[t] = {
                leaf: Ratchet(generation=r.generation, secret=r.secret, skipped=r.skipped)
                for leaf, r in s.ratchets.get(t.value, {}).items()
            }
        return tree

    def copy(self) -> SecretTree:
        # Not copy.deepcopy: that would try to copy the CipherSuite (which holds
        # OpenSSL objects). The secrets are immutable bytes; only containers are copied.
        other = SecretTree.__new__(SecretTree)
        other.cs = self.cs
        other.n_leaves = self.n_leaves
        other.out_of_order_window = self.out_of_order_window
        other.max_forward_distance = self.max_forward_distance
        other.nodes = dict(self.nodes)
        other.ratchets = {
            t: {
                leaf: Ratchet(generation=r.generation, secret=r.secret, skipped=dict(r.skipped))
                for leaf, r in by_leaf.items()
            }
            for t, by_leaf in self.ratchets.items()
        }
        return other

    # --- sending ------------------------------------------------------------------------

    def next_send_key(self, leaf: int, kind: RatchetType) -> KeyNonce:
        """The key and nonce of the next unused generation of ``leaf``'s ratchet, for
        encrypting; consumed (deleted) at once so it can never be handed out twice."""
        ratchet = self.ratchets[kind].get(leaf) or self._ratchet_for_update(leaf, kind)
        if ratchet.generation > _MAX_GENERATION:
            raise StateError(f"{_where(kind, leaf)} is exhausted (generation past 2^32-1)")
        advance = self._advance(ratchet, leaf, kind, ratchet.generation, keep=False)
        self._apply(ratchet, advance)
        return advance.key_nonce

    # --- receiving ----------------------------------------------------------------------

    def receive_key(self, leaf: int, kind: RatchetType, generation: int) -> KeyNonce:
        """The key and nonce for decrypting generation ``generation`` of ``leaf``'s
        ratchet, without changing any state. Raises :class:`StateError` when that
        generation was already used, is too old to be kept, or too far ahead."""
        return self.prepare_receive(leaf, kind, generation)[0]

    def consume_receive_key(self, leaf: int, kind: RatchetType, generation: int) -> KeyNonce:
        """Like :meth:`receive_key`, then delete that key and every secret it came from
        (§9.2)."""
        key_nonce, consume = self.prepare_receive(leaf, kind, generation)
        consume()
        return key_nonce

    def prepare_receive(
        self, leaf: int, kind: RatchetType, generation: int
    ) -> tuple[KeyNonce, Callable[[], None]]:
        """The key and nonce for ``generation``, and a function that deletes them (and
        every secret they came from, §9.2) without deriving anything again: call it once
        the message decrypted and verified, before any other use of this tree. Nothing
        changes until then, so a rejected message leaves the tree as it was."""
        self._check_leaf(leaf)
        ratchet = self.ratchets[kind].get(leaf)
        init = None
        if ratchet is None:
            init = self._derive_leaf(leaf)
            ratchet = Ratchet(generation=0, secret=init.roots[kind])
        key_nonce, advance = self._serve(ratchet, leaf, kind, generation)

        def consume() -> None:
            stored = ratchet if init is None else self._store_leaf(leaf, init)[kind]
            if advance is None:
                del stored.skipped[generation]
            else:
                self._apply(stored, advance)

        return key_nonce, consume

    # --- internals ----------------------------------------------------------------------

    def _check_leaf(self, leaf: int) -> None:
        if not 0 <= leaf < self.n_leaves:
            raise ValidationError(
                "RFC 9420 §6.3.2: leaf index outside the tree",
                detail=f"the tree has {self.n_leaves} leaves",
                where=f"leaf {leaf}",
            )

    def _serve(
        self, ratchet: Ratchet, leaf: int, kind: RatchetType, generation: int
    ) -> tuple[KeyNonce, _Advance | None]:
        """The key of ``generation`` and how to advance the ratchet past it (None: it is
        a kept key of a skipped generation); changes nothing."""
        if not 0 <= generation <= _MAX_GENERATION:
            raise ValidationError(
                "RFC 9420 §6.3.2: generation is a uint32",
                detail=str(generation),
                where=_where(kind, leaf),
            )
        current = ratchet.generation
        if generation < current:
            kept = ratchet.skipped.get(generation)
            if kept is not None:
                return KeyNonce(leaf, kind, generation, kept[0], kept[1]), None
            # The newest generation served is current - 1; the window counts below it.
            where = _where(kind, leaf)
            if generation < current - 1 - self.out_of_order_window:
                raise StaleMessageError(
                    f"{where}: generation {generation} is too old: keys are kept only for "
                    f"the {self.out_of_order_window} generations below {current - 1}"
                )
            raise StaleMessageError(
                f"{where}: generation {generation} was already used (its key is deleted)"
            )
        if generation - current > self.max_forward_distance:
            raise StaleMessageError(
                f"{_where(kind, leaf)}: generation {generation} is too far "
                f"ahead of the current generation {current} (at most "
                f"{self.max_forward_distance} ahead)"
            )
        advance = self._advance(ratchet, leaf, kind, generation, keep=True)
        return advance.key_nonce, advance

    def _advance(
        self, ratchet: Ratchet, leaf: int, kind: RatchetType, generation: int, *, keep: bool
    ) -> _Advance:
        """Ratchet from ``ratchet.generation`` to ``generation`` without changing it;
        with ``keep``, the keys of generations passed over inside the window are kept.

        Each step j is §9.1's DeriveTreeSecret(secret, "key"/"nonce"/"secret", j, .):
        ExpandWithLabel with the 4-byte generation as context, all three from one secret,
        so :meth:`CipherSuite.kdf_expand_blocks` keys their HMAC once."""
        cs = self.cs
        key_head, nonce_head, secret_head = _label_heads(cs)[:3]
        nk, nn = cs.aead_key_len, cs.aead_nonce_len
        expand = cs.kdf_expand_blocks
        secret = ratchet.secret
        lowest_kept = generation - self.out_of_order_window
        kept: dict[int, tuple[bytes, bytes]] = {}
        for j in range(ratchet.generation, generation):
            g = j.to_bytes(4, "big")
            if keep and j >= lowest_kept:
                key, nonce, secret = expand(secret, (key_head + g, nonce_head + g, secret_head + g))
                kept[j] = (key[:nk], nonce[:nn])
            else:
                (secret,) = expand(secret, (secret_head + g,))
        g = generation.to_bytes(4, "big")
        key, nonce, next_secret = expand(secret, (key_head + g, nonce_head + g, secret_head + g))
        return _Advance(KeyNonce(leaf, kind, generation, key[:nk], nonce[:nn]), kept, next_secret)

    def _apply(self, ratchet: Ratchet, advance: _Advance) -> None:
        ratchet.generation = advance.key_nonce.generation + 1
        ratchet.secret = advance.next_secret
        skipped = ratchet.skipped
        if advance.kept:
            skipped.update(advance.kept)
        if skipped:  # in order delivery keeps none: nothing to scan
            # Evict what fell out of the window, which also bounds the number kept.
            floor = ratchet.generation - 1 - self.out_of_order_window
            for g in [g for g in skipped if g < floor]:
                del skipped[g]

    def _ratchet_for_update(self, leaf: int, kind: RatchetType) -> Ratchet:
        """The leaf's ratchet, deriving (and storing) its path from the tree if needed."""
        self._check_leaf(leaf)
        ratchet = self.ratchets[kind].get(leaf)
        if ratchet is not None:
            return ratchet
        return self._store_leaf(leaf, self._derive_leaf(leaf))[kind]

    def _store_leaf(self, leaf: int, init: _LeafInit) -> dict[RatchetType, Ratchet]:
        """Keep the secrets derived on the way to ``leaf`` and delete their parent."""
        for node in init.removed_nodes:
            del self.nodes[node]
        self.nodes.update(init.added_nodes)
        for t, root_secret in init.roots.items():
            self.ratchets[t][leaf] = Ratchet(generation=0, secret=root_secret)
        return {t: self.ratchets[t][leaf] for t in RatchetType}

    def _derive_leaf(self, leaf: int) -> _LeafInit:
        """Walk from the lowest held ancestor of ``leaf`` down to it (nothing stored)."""
        cs = self.cs
        n = self.n_leaves
        node = tm.leaf_to_node(leaf)
        path = [node, *tm.direct_path(node, n)]
        path.reverse()  # root first
        start = next((i for i, x in enumerate(path) if x in self.nodes), None)
        if start is None:
            # Cannot happen while the leaf's ratchets are absent: every leaf without
            # ratchets has exactly one held ancestor.
            raise StateError(f"secret tree: no secret left on the path of leaf {leaf}")
        secret = self.nodes[path[start]]
        added: dict[int, bytes] = {}
        for parent, child in zip(path[start:], path[start + 1 :], strict=False):
            left_node, right_node = tm.left(parent), tm.right(parent, n)
            left_secret = expand_with_label(cs, secret, "tree", b"left", cs.hash_len)
            right_secret = expand_with_label(cs, secret, "tree", b"right", cs.hash_len)
            if child == left_node:
                added[right_node] = right_secret
                secret = left_secret
            else:
                added[left_node] = left_secret
                secret = right_secret
        roots = {t: expand_with_label(cs, secret, t.value, b"", cs.hash_len) for t in RatchetType}
        return _LeafInit(added, [path[start]], roots)


__all__ = [
    "DEFAULT_MAX_FORWARD_DISTANCE",
    "DEFAULT_OUT_OF_ORDER_WINDOW",
    "KeyNonce",
    "Ratchet",
    "RatchetType",
    "SecretTree",
    "apply_reuse_guard",
    "ratchet_type",
    "sender_data_key_nonce",
]
