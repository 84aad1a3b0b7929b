"""The ratchet tree of RFC 9420 §4 and §7 in its array representation.

A tree with ``2**d`` leaves is a list of ``2**(d+1) - 1`` nodes in in-order position:
leaves (``LeafNode | None``) at even indices, parents (``ParentNode | None``) at odd
ones, ``None`` meaning blank. RFC 9420 keeps the tree full (§7.7: it only ever doubles
or halves), so the plain Appendix C arithmetic applies without right-edge special cases.

The state is plain data (the suite id and the node list) so that it can be serialized
with the schema codecs; the only other thing kept is a cache of tree hashes (§7.8).
Every mutation goes through :meth:`RatchetTree._set`, which drops the cached hash of the
changed node and of its ancestors and nothing else, so after a change the tree hash is
recomputed over O(log N) nodes, not O(N). :meth:`RatchetTree.copy` is O(1): copies
share the arrays as versions (Baker's rerooting, see ``__slots__`` below), so staging a
commit on a copy costs what the commit changes, not the size of the tree.

The ``ratchet_tree`` extension (:meth:`RatchetTree.encode`) is likewise built from a
cache: each node's encoding, made once per node value (see ``_encoded`` below).

Leaves are addressed by *leaf index*, nodes by *node index* (``node = 2 * leaf``).
Resolutions and filtered paths are lists of node indices.
"""

from __future__ import annotations

import weakref
from collections.abc import Collection, Iterator, Sequence

from ..codecs import tls
from ..crypto.suites import CipherSuite, cipher_suite
from ..errors import DecodeError, ValidationError
from ..limits import Limits
from ..schema import (
    LeafNode,
    Node,
    NodeType,
    ParentHashInput,
    ParentNode,
)
from . import tree_math as tm

NodeValue = LeafNode | ParentNode | None

# The element type of the schema's ``RatchetTree`` (``optional<Node> ratchet_tree<V>``).
_TREE_ELEMENT = Node | None
_BLANK = tls.encode(None, _TREE_ELEMENT)


def _as_node(value: LeafNode | ParentNode) -> Node:
    if isinstance(value, LeafNode):
        return Node(node_type=NodeType.leaf, leaf_node=value)
    return Node(node_type=NodeType.parent, parent_node=value)


def _subtree_span(x: int) -> tuple[int, int]:
    """The lowest and highest node index in the subtree rooted at ``x``."""
    half = (1 << tm.level(x)) - 1
    return x - half, x + half


def in_subtree(node: int, x: int) -> bool:
    """Whether ``node`` is ``x`` or one of its descendants."""
    lo, hi = _subtree_span(x)
    return lo <= node <= hi


def leaf_hash_input(leaf_index: int, value: LeafNode | None) -> bytes:
    """``tls.encode(TreeHashInput(node_type=leaf, leaf_node=LeafNodeHashInput(leaf_index,
    value)), TreeHashInput)``, byte for byte (§7.8), written directly around the
    LeafNode's (memoized) encoding (tests/test_encode_once.py compares the two)."""
    head = b"\x01" + leaf_index.to_bytes(4, "big")
    if value is None:
        return head + b"\x00"
    return head + b"\x01" + tls.encode(value, LeafNode)


def parent_hash_input(value: ParentNode | None, left: bytes, right: bytes) -> bytes:
    """``tls.encode(TreeHashInput(node_type=parent, parent_node=ParentNodeHashInput(value,
    left, right)), TreeHashInput)``, byte for byte (§7.8), written directly."""
    node = b"\x00" if value is None else b"\x01" + tls.encode(value, ParentNode)
    return b"".join(
        (b"\x02", node, tls.write_length(len(left)), left, tls.write_length(len(right)), right)
    )


class RatchetTree:
    """A full left-balanced ratchet tree with cached tree hashes.

    Construct it from the ``ratchet_tree`` extension (:meth:`decode`,
    :meth:`from_nodes`) or empty-with-one-leaf (:meth:`with_first_leaf`). The mutators
    implement the tree changes of §7.7 and §12.1 (add, update, remove, truncate,
    extend, blanking a direct path); TreeKEM (``treekem.py``) builds on them.
    """

    # Versions: copy() is O(1). Of the trees that share one node array, exactly one (the
    # *root*) holds the arrays (_n, _h); every other is a *view*: a parent tree plus an
    # undo map {index: (node, cached hash)} of the entries where it differs from its
    # parent, and its own width. Any access to a view first *reroots* it (Baker's
    # trick): the undo entries are swapped into the arrays and the former root becomes
    # a view with the inverse entries. Writes to a root record the overwritten entry in
    # its direct views first. So staging a commit on a copy, merging it, or dropping it
    # costs O(entries changed) -- O(log N) for a commit -- not an O(N) array copy.
    #
    # _encoded: id(node value) -> (value, its TLS encoding as a RatchetTree element), shared
    # by all versions. Node values are immutable and the entry keeps its value alive (so
    # its id is not reused), so an entry whose value is the node is that node's
    # encoding in any version; encode() keeps only the entries of the nodes it met.
    __slots__ = (
        "__weakref__",
        "_encoded",
        "_h",
        "_n",
        "_parent",
        "_undo",
        "_views",
        "_width",
        "suite_id",
    )

    def __init__(self, suite_id: int, nodes: list[NodeValue]) -> None:
        width = len(nodes)
        # A full tree has 2**(d+1) - 1 nodes: width + 1 is a power of two.
        if width == 0 or (width + 1) & width:
            raise ValidationError(
                "RFC 9420 §7.7: a ratchet tree is full", f"{width} nodes is not 2^(d+1)-1"
            )
        self.suite_id = suite_id
        self._n: list[NodeValue] = nodes
        self._h: list[bytes | None] = [None] * width
        self._parent: RatchetTree | None = None
        self._undo: dict[int, tuple[NodeValue, bytes | None]] = {}
        self._width = width
        self._views: list[weakref.ref[RatchetTree]] = []
        self._encoded: dict[int, tuple[NodeValue, bytes]] = {}

    # --- versions ------------------------------------------------------------------------
    @property
    def _nodes(self) -> list[NodeValue]:
        if self._parent is not None:
            self._reroot()
        return self._n

    @property
    def _hashes(self) -> list[bytes | None]:
        if self._parent is not None:
            self._reroot()
        return self._h

    def _reroot(self) -> None:
        """Make this tree the holder of the shared arrays (see __slots__)."""
        parent = self._parent
        if parent is None:
            return
        parent._reroot()
        nodes, hashes = parent._n, parent._h
        width, parent_width = self._width, len(nodes)
        inverse: dict[int, tuple[NodeValue, bytes | None]] = {}
        if parent_width > width:
            for x in range(width, parent_width):
                inverse[x] = (nodes[x], hashes[x])
            del nodes[width:]
            del hashes[width:]
        elif width > parent_width:
            nodes.extend([None] * (width - parent_width))
            hashes.extend([None] * (width - parent_width))
        for x, (value, h) in self._undo.items():
            if x < parent_width and x not in inverse:
                inverse[x] = (nodes[x], hashes[x])
            nodes[x] = value
            hashes[x] = h
        self._n, self._h = nodes, hashes
        self._parent, self._undo = None, {}
        parent._n, parent._h = [], []
        parent._parent, parent._undo, parent._width = self, inverse, parent_width
        self._views = [r for r in self._views if (v := r()) is not None and v._parent is self]
        self._views.append(weakref.ref(parent))

    def _record(self, x: int) -> None:
        """Before a root overwrites (or drops) entry ``x``: keep it for its views."""
        views = self._views
        if not views:
            return
        live = False
        for ref in views:
            view = ref()
            if view is None or view._parent is not self:
                continue
            live = True
            if x < view._width and x not in view._undo:
                view._undo[x] = (self._n[x], self._h[x])
        if not live:
            views.clear()

    # --- construction and the ratchet_tree extension (§12.4.3.3) -------------------------
    @classmethod
    def with_first_leaf(cls, suite_id: int, leaf: LeafNode) -> RatchetTree:
        """The one-member tree of a newly created group."""
        return cls(suite_id, [leaf])

    @classmethod
    def from_nodes(cls, suite_id: int, nodes: Sequence[Node | None]) -> RatchetTree:
        """The tree carried by a ``ratchet_tree`` extension (a schema ``RatchetTree``).

        The sender omits trailing blank nodes; the receiver checks that the last node is
        not blank and pads to the smallest full width (§12.4.3.3)."""
        if not nodes:
            raise ValidationError("RFC 9420 §12.4.3.3: a ratchet tree has at least one node")
        if nodes[-1] is None:
            raise ValidationError(
                "RFC 9420 §12.4.3.3: the last node of ratchet_tree is not blank",
                where=f"node {len(nodes) - 1}",
            )
        values: list[NodeValue] = []
        for x, node in enumerate(nodes):
            if node is None:
                values.append(None)
                continue
            want = NodeType.leaf if x % 2 == 0 else NodeType.parent
            value: NodeValue = node.leaf_node if want == NodeType.leaf else node.parent_node
            if node.node_type != want or value is None:
                raise ValidationError(
                    "RFC 9420 §4.1/§12.4.3.3: leaves at even, parents at odd node indices",
                    f"found a {node.node_type.name} node",
                    f"node {x}",
                )
            values.append(value)
        width = 1
        while width < len(values):
            width = 2 * width + 1
        values.extend([None] * (width - len(values)))
        return cls(suite_id, values)

    @classmethod
    def decode(cls, suite_id: int, data: bytes, *, max_leaves: int | None = None) -> RatchetTree:
        """Decode the TLS-encoded ``ratchet_tree`` extension data. ``max_leaves`` refuses
        a tree of more leaves before it is padded to full width, hashed or validated
        (blank nodes cost one byte each, so a small input can declare a wide tree)."""
        # remember: each LeafNode keeps the bytes it came in as its encoding, which the
        # tree hash and the leaf signature checks need next (tls.REMEMBER_KEY).
        if max_leaves is None:
            nodes = tls.decode(data, "RatchetTree", remember=True)
        else:
            # Decoding stops at the first node past the limit, so the work done is
            # bounded by the limit, not by how many nodes the input declares. Every
            # vector inside a valid tree (unmerged_leaves, extensions) is shorter.
            most = 2 * max_leaves - 1
            try:
                nodes = tls.decode(
                    data,
                    "RatchetTree",
                    limits=Limits(max_message_size=len(data), max_vector_elements=most),
                    remember=True,
                )
            except DecodeError as e:
                if "max_vector_elements" not in e.reason:
                    raise
                raise ValidationError(
                    "resource limit: leaves of the ratchet tree (GroupConfig.max_tree_leaves)",
                    f"{e.path} holds more than {most} nodes or elements, so more than "
                    f"{max_leaves} leaves",
                    "ratchet_tree",
                ) from None
        if not isinstance(nodes, tuple):  # the codec always yields a tuple; be explicit
            raise DecodeError("RatchetTree: expected a vector")
        return cls.from_nodes(suite_id, nodes)

    def _sent_nodes(self) -> list[NodeValue]:
        """The nodes the ``ratchet_tree`` extension carries: trailing blanks omitted."""
        nodes = self._nodes
        last = len(nodes) - 1
        while last > 0 and nodes[last] is None:
            last -= 1
        return nodes[: last + 1]

    def to_nodes(self) -> tuple[Node | None, ...]:
        """The ``ratchet_tree`` extension value: trailing blanks omitted."""
        return tuple(None if v is None else _as_node(v) for v in self._sent_nodes())

    def encode(self) -> bytes:
        """The TLS-encoded ``ratchet_tree`` extension data: ``tls.encode(self.to_nodes(),
        "RatchetTree")``, byte for byte.

        Every Welcome, GroupInfo and saved group state carries the whole tree, while a
        commit changes O(log N) nodes of it; re-encoding every LeafNode each time was
        most of the cost of adding one member to a large group (5.4 of 7.4 ms at 1000
        members). So each node value is encoded once, by the codec, as a vector element,
        and the vector is those encodings under its length header (RFC 9420 §2.1.2)."""
        old = self._encoded
        kept: dict[int, tuple[NodeValue, bytes]] = {}
        parts: list[bytes] = []
        for value in self._sent_nodes():
            if value is None:
                parts.append(_BLANK)
                continue
            entry = old.get(id(value))
            if entry is None or entry[0] is not value:
                entry = (value, tls.encode(_as_node(value), _TREE_ELEMENT))
            kept[id(value)] = entry
            parts.append(entry[1])
        # In place: the other versions share this dict (and mostly these nodes).
        old.clear()
        old.update(kept)
        body = b"".join(parts)
        return tls.write_length(len(body)) + body

    def copy(self) -> RatchetTree:
        """An independent tree with the same nodes and hash cache, in O(1): the copy
        takes over the arrays and this tree becomes a view of it (see __slots__). This is
        what lets a commit be staged on a copy and merged by swapping trees, at a cost
        independent of the group size (docs/GROUP_ENGINE.md, design rule 3)."""
        self._reroot()
        other = RatchetTree.__new__(RatchetTree)
        other.suite_id = self.suite_id
        other._n, other._h = self._n, self._h
        other._parent, other._undo, other._width = None, {}, len(self._n)
        other._views = [weakref.ref(self)]
        other._encoded = self._encoded
        self._n, self._h = [], []
        self._parent, self._undo, self._width = other, {}, len(other._n)
        return other

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RatchetTree):
            return NotImplemented
        # Snapshot one side first: the two may share arrays, and reading the other
        # reroots them in place.
        mine = tuple(self._nodes)
        return self.suite_id == other.suite_id and mine == tuple(other._nodes)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"<RatchetTree suite={self.suite_id} leaves={self.n_leaves} members={len(list(self.members()))}>"

    # --- shape and access ------------------------------------------------------------------
    @property
    def suite(self) -> CipherSuite:
        return cipher_suite(self.suite_id)

    @property
    def width(self) -> int:
        return len(self._nodes)

    @property
    def n_leaves(self) -> int:
        return (len(self._nodes) + 1) // 2

    @property
    def root(self) -> int:
        return tm.root(self.n_leaves)

    def _check_node(self, x: int) -> None:
        if not 0 <= x < len(self._nodes):
            raise ValidationError(
                "RFC 9420 §4.1: node index inside the tree",
                f"width {len(self._nodes)}",
                f"node {x}",
            )

    def _check_leaf(self, leaf: int) -> None:
        if not 0 <= leaf < self.n_leaves:
            raise ValidationError(
                "RFC 9420 §4.1: leaf index inside the tree",
                f"{self.n_leaves} leaves",
                f"leaf {leaf}",
            )

    def node(self, x: int) -> NodeValue:
        self._check_node(x)
        return self._nodes[x]

    def leaf(self, leaf: int) -> LeafNode | None:
        self._check_leaf(leaf)
        value = self._nodes[2 * leaf]
        assert value is None or isinstance(value, LeafNode)
        return value

    def parent_node(self, x: int) -> ParentNode | None:
        self._check_node(x)
        value = self._nodes[x]
        assert value is None or isinstance(value, ParentNode)
        return value

    def is_blank(self, x: int) -> bool:
        return self.node(x) is None

    def members(self) -> Iterator[int]:
        """Leaf indices of the non-blank leaves."""
        for x in range(0, len(self._nodes), 2):
            if self._nodes[x] is not None:
                yield x // 2

    def nodes(self) -> Sequence[NodeValue]:
        """Read-only view of the node array (blank = None)."""
        return tuple(self._nodes)

    # --- mutation: the single choke point that keeps the hash cache honest ---------------
    def _set(self, x: int, value: NodeValue) -> None:
        nodes = self._nodes  # reroots
        record = self._record if self._views else None
        if record is not None:
            record(x)
        nodes[x] = value
        # Invariant: a node with a cached hash has children with cached hashes. So the
        # first uncached node on the way up has no cached ancestor and the walk stops.
        hashes = self._h
        n = self.n_leaves
        r = tm.root(n)
        while hashes[x] is not None:
            if record is not None:
                record(x)
            hashes[x] = None
            if x == r:
                break
            x = tm.parent(x, n)

    def set_leaf(self, leaf: int, value: LeafNode | None) -> None:
        self._check_leaf(leaf)
        self._set(2 * leaf, value)

    def set_parent(self, x: int, value: ParentNode | None) -> None:
        self._check_node(x)
        if x % 2 == 0:
            raise ValidationError(
                "RFC 9420 §4.1: parents sit at odd node indices", where=f"node {x}"
            )
        self._set(x, value)

    def blank_direct_path(self, leaf: int) -> None:
        """Blank every parent on the leaf's direct path (§12.1.2, §12.1.3, §7.5)."""
        self._check_leaf(leaf)
        for x in tm.direct_path(2 * leaf, self.n_leaves):
            if self._nodes[x] is not None:
                self._set(x, None)

    def extend(self) -> None:
        """Double the leaf count: the old tree becomes the left subtree of a new blank
        root, the right subtree is all blank (§7.7). Cached hashes stay valid."""
        # Views are never wider than their root's arrays were when they were made, and
        # a truncation recorded what they had beyond: appending needs no record.
        w = len(self._nodes)
        self._n.extend([None] * (w + 1))
        self._h.extend([None] * (w + 1))

    def truncate(self) -> None:
        """Halve the tree while the right subtree of the root is all blank (§12.1.3)."""
        nodes = self._nodes
        # The rightmost non-blank leaf decides; finding it costs the trailing blank
        # leaves, which are about to be dropped anyway.
        last = len(nodes) - 1
        while last > 0 and nodes[last] is None:
            last -= 2
        while len(nodes) > 1:
            half = (len(nodes) - 1) // 2  # the root's index; right subtree after it
            if last > half:
                break
            if self._views:
                for x in range(half, len(nodes)):
                    self._record(x)
            del nodes[half:]
            del self._h[half:]

    def leftmost_blank_leaf(self, skip: Collection[int] = (), start: int = 0) -> int | None:
        """The lowest blank leaf index >= ``start`` not in ``skip``. ``start`` is a hint
        the caller guarantees (no blank leaf below it): a commit adding k members then
        scans the leaves once, not k times (group engine, many Adds in one commit)."""
        if not skip:
            # The leaf slice and its index() run in C: a scan of 4096 leaves is ~10 µs.
            try:
                return self._nodes[2 * start :: 2].index(None) + start
            except ValueError:
                return None
        for x in range(2 * start, len(self._nodes), 2):
            if self._nodes[x] is None and x // 2 not in skip:
                return x // 2
        return None

    def add_leaf(self, leaf_node: LeafNode, start: int = 0) -> int:
        """Add a member (§12.1.1): the leftmost blank leaf, else extend; the new leaf
        becomes an unmerged leaf of every non-blank parent above it. Returns the index.
        ``start``: as for :meth:`leftmost_blank_leaf`."""
        index = self.leftmost_blank_leaf(start=start)
        if index is None:
            index = self.n_leaves
            self.extend()
        n = self.n_leaves
        for x in tm.direct_path(2 * index, n):
            p = self._nodes[x]
            if p is not None:
                assert isinstance(p, ParentNode)
                merged = ParentNode(
                    encryption_key=p.encryption_key,
                    parent_hash=p.parent_hash,
                    unmerged_leaves=(*p.unmerged_leaves, index),
                )
                self._set(x, merged)
        self._set(2 * index, leaf_node)
        return index

    def update_leaf(self, leaf: int, leaf_node: LeafNode) -> None:
        """Apply an Update (§12.1.2): replace the leaf, blank its direct path."""
        if self.leaf(leaf) is None:
            raise ValidationError(
                "RFC 9420 §12.1.2: an Update replaces a member's leaf",
                "the leaf is blank",
                f"leaf {leaf}",
            )
        self._set(2 * leaf, leaf_node)
        self.blank_direct_path(leaf)

    def remove_leaf(self, leaf: int) -> None:
        """Apply a Remove (§12.1.3): blank the leaf and its direct path, then truncate."""
        if not 0 <= leaf < self.n_leaves or self._nodes[2 * leaf] is None:
            raise ValidationError(
                "RFC 9420 §12.1.3: Remove names a non-blank leaf", where=f"leaf {leaf}"
            )
        self._set(2 * leaf, None)
        self.blank_direct_path(leaf)
        self.truncate()

    # --- resolution and paths (§4.1.1, §4.1.2) --------------------------------------------
    def resolution(self, x: int, exclude: Collection[int] = ()) -> list[int]:
        """Node indices of the resolution of ``x``; leaves in ``exclude`` (leaf indices,
        the members added by the current commit) are left out (§7.6)."""
        self._check_node(x)
        out: list[int] = []
        self._resolve(x, exclude, out)
        return out

    def _resolve(self, x: int, exclude: Collection[int], out: list[int]) -> None:
        value = self._nodes[x]
        if value is not None:
            if x % 2 == 0:
                if x // 2 not in exclude:
                    out.append(x)
                return
            assert isinstance(value, ParentNode)
            out.append(x)
            out.extend(2 * u for u in value.unmerged_leaves if u not in exclude)
            return
        if x % 2 == 0:
            return
        self._resolve(tm.left(x), exclude, out)
        self._resolve(tm.right(x), exclude, out)

    def _resolution_empty(self, x: int) -> bool:
        # Cheaper than building the list: stop at the first non-blank node.
        if self._nodes[x] is not None:
            return False
        if x % 2 == 0:
            return True
        return self._resolution_empty(tm.left(x)) and self._resolution_empty(tm.right(x))

    def filtered_path(self, leaf: int) -> list[tuple[int, int]]:
        """(parent, copath child) pairs of the leaf's filtered direct path, bottom-up: the
        parents whose copath child has a non-empty resolution (§4.1.2)."""
        self._check_leaf(leaf)
        n = self.n_leaves
        x = 2 * leaf
        pairs: list[tuple[int, int]] = []
        for p in tm.direct_path(x, n):
            s = tm.sibling(x, n)
            if not self._resolution_empty(s):
                pairs.append((p, s))
            x = p
        return pairs

    def filtered_direct_path(self, leaf: int) -> list[int]:
        return [p for p, _ in self.filtered_path(leaf)]

    # --- tree hashes (§7.8) ----------------------------------------------------------------
    def _hash_leaf(self, x: int, value: LeafNode | None) -> bytes:
        return self.suite.hash(leaf_hash_input(x // 2, value))

    def _hash_parent(self, value: ParentNode | None, left: bytes, right: bytes) -> bytes:
        return self.suite.hash(parent_hash_input(value, left, right))

    def tree_hash(self, x: int | None = None) -> bytes:
        """The tree hash of node ``x`` (default: the root), from the cache where valid."""
        if x is None:
            x = self.root
        else:
            self._check_node(x)
        return self._tree_hash(x)

    def _tree_hash(self, x: int) -> bytes:
        hashes = self._hashes  # reroots
        cached = hashes[x]
        if cached is not None:
            return cached
        # Every uncached node below x, children first: one recursion over plain lists
        # (a joined tree has none cached: this is N leaf and N-1 parent hashes).
        nodes = self._n
        digest = self.suite.hash
        record = self._record if self._views else None

        def walk(x: int, k: int) -> bytes:
            h = hashes[x]
            if h is not None:
                return h
            value = nodes[x]
            if k == 0:
                assert value is None or isinstance(value, LeafNode)
                h = digest(leaf_hash_input(x >> 1, value))
            else:
                assert value is None or isinstance(value, ParentNode)
                half = 1 << (k - 1)
                left = walk(x - half, k - 1)
                h = digest(parent_hash_input(value, left, walk(x + half, k - 1)))
            if record is not None:
                record(x)
            hashes[x] = h
            return h

        return walk(x, tm.level(x))

    def tree_hashes(self) -> list[bytes]:
        """The tree hash of every node, by node index."""
        return [self._tree_hash(x) for x in range(len(self._nodes))]

    def cached_hash_count(self) -> int:
        """How many nodes currently have a cached tree hash (for tests and benchmarks)."""
        return sum(h is not None for h in self._hashes)

    def original_tree_hash(self, x: int, removed: Collection[int]) -> bytes:
        """Tree hash of ``x`` in the tree where the leaves ``removed`` (leaf indices) are
        blank and dropped from every unmerged_leaves list (§7.9's original sibling tree
        hash). Subtrees holding none of them reuse the cached hashes."""
        self._check_node(x)
        lo, hi = _subtree_span(x)
        inside = {u for u in removed if lo <= 2 * u <= hi}
        if not inside:
            return self._tree_hash(x)
        return self._original_hash(x, inside)

    def _original_hash(self, x: int, removed: set[int]) -> bytes:
        lo, hi = _subtree_span(x)
        if not any(lo <= 2 * u <= hi for u in removed):
            return self._tree_hash(x)
        value = self._nodes[x]
        if x % 2 == 0:  # a removed leaf: hashed as blank
            return self._hash_leaf(x, None)
        assert value is None or isinstance(value, ParentNode)
        if value is not None:
            value = ParentNode(
                encryption_key=value.encryption_key,
                parent_hash=value.parent_hash,
                unmerged_leaves=tuple(u for u in value.unmerged_leaves if u not in removed),
            )
        return self._hash_parent(
            value,
            self._original_hash(tm.left(x), removed),
            self._original_hash(tm.right(x), removed),
        )

    # --- parent hashes (§7.9) ----------------------------------------------------------------
    def parent_hash_of(self, p: int, copath_child: int) -> bytes:
        """The parent hash of non-blank parent ``p`` with copath child ``copath_child``:
        Hash(ParentHashInput) over p's key, p's parent_hash and the original sibling
        tree hash (p's unmerged leaves removed from the sibling's subtree)."""
        value = self.parent_node(p)
        if value is None:
            raise ValidationError(
                "RFC 9420 §7.9: a parent hash is computed over a non-blank parent",
                where=f"node {p}",
            )
        data = tls.encode(
            ParentHashInput(
                encryption_key=value.encryption_key,
                parent_hash=value.parent_hash,
                original_sibling_tree_hash=self.original_tree_hash(
                    copath_child, value.unmerged_leaves
                ),
            ),
            ParentHashInput,
        )
        return self.suite.hash(data)

    def set_path_parent_hashes(self, leaf: int) -> bytes:
        """Fill in the parent_hash fields along the leaf's filtered direct path, top-down
        (each covers every key above it), after an UpdatePath set the keys (§7.9).
        Returns the parent hash the leaf's own LeafNode must carry."""
        above = b""
        for p, s in reversed(self.filtered_path(leaf)):
            value = self.parent_node(p)
            if value is None:
                raise ValidationError(
                    "RFC 9420 §7.5: filtered direct path nodes carry keys after a path update",
                    where=f"node {p}",
                )
            if value.parent_hash != above:
                value = ParentNode(
                    encryption_key=value.encryption_key,
                    parent_hash=above,
                    unmerged_leaves=value.unmerged_leaves,
                )
                self._set(p, value)
            above = self.parent_hash_of(p, s)
        return above


__all__ = ["NodeValue", "RatchetTree", "in_subtree", "leaf_hash_input", "parent_hash_input"]
