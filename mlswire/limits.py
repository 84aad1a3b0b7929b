"""Resource limits: how much a peer's input may make mlswire allocate or compute.

Every bound is checked *before* the work it protects, against the value the input
declares (a length header, a tree's node count, a commit's proposal count, a
generation), so a hostile message costs at most a constant plus the size of the message
itself, and the message size is bounded too.

The codec-level limits (:class:`Limits`) go to :func:`mlswire.decode`; the engine's live
on :class:`mlswire.engine.group.GroupConfig` (same names, plus ``max_tree_leaves``,
``max_proposals``, ``max_forward_distance`` and ``out_of_order_window``), whose
:attr:`~mlswire.engine.group.GroupConfig.limits` gives the codec-level part.

What is bounded without a setting: the TLS decoder compares every vector length header
with the bytes left before reading or allocating anything, so no vector (in bytes or
elements, each element taking at least one byte) outgrows the input; the CBOR decoder
refuses tags (shared and string references would let a few bytes expand while parsing);
nesting depth is fixed by the schema.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import DecodeError

#: 16 MiB: a Welcome carrying the ratchet tree of a group of about 50,000 members.
#: Post-quantum suites have much larger keys and signatures (the largest, ML-KEM-1024 +
#: ML-DSA-87, has a 9.2 MB Welcome at 1,024 members, bench/pq.py), so there the same
#: bound carries the tree inline for ~1,800 members. Not raised for them: larger PQ
#: groups send the tree out of band or raise ``GroupConfig.max_message_size``
#: deliberately (docs/POST_QUANTUM.md).
DEFAULT_MAX_MESSAGE_SIZE = 16 << 20
#: No extra bound by default: a vector is already bounded by the message size, and so is
#: its element count (every element takes at least one byte).
DEFAULT_MAX_VECTOR_LENGTH = DEFAULT_MAX_MESSAGE_SIZE
DEFAULT_MAX_VECTOR_ELEMENTS = DEFAULT_MAX_MESSAGE_SIZE
#: 2^16 leaves: far beyond the groups MLS is deployed for, far below what memory allows.
DEFAULT_MAX_TREE_LEAVES = 1 << 16
#: Proposals in one Commit, and proposals cached for the next Commit.
DEFAULT_MAX_PROPOSALS = 4096


@dataclass(frozen=True)
class Limits:
    """Codec-level bounds on one decoded input.

    ``max_message_size``: bytes (or characters, for JSON text) of the whole input,
    checked before parsing starts. ``max_vector_length``: the largest length a TLS
    vector header may declare (in bytes), checked when the header is read, before the
    vector's contents are. ``max_vector_elements``: the most elements one TLS vector may
    hold, checked before each element is decoded (a blank ratchet tree node is one
    byte, so bytes alone do not bound how many nodes a tree declares).
    """

    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    max_vector_length: int = DEFAULT_MAX_VECTOR_LENGTH
    max_vector_elements: int = DEFAULT_MAX_VECTOR_ELEMENTS

    def __post_init__(self) -> None:
        if min(self.max_message_size, self.max_vector_length, self.max_vector_elements) < 0:
            raise ValueError("limits must be >= 0")

    def check_size(self, size: int, what: str = "") -> None:
        """DecodeError if an input of ``size`` bytes is larger than ``max_message_size``."""
        if size > self.max_message_size:
            raise DecodeError(
                f"input of {size} bytes exceeds the limit of {self.max_message_size} "
                "bytes (Limits.max_message_size)",
                what,
                0,
            )


DEFAULT_LIMITS = Limits()

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "DEFAULT_MAX_PROPOSALS",
    "DEFAULT_MAX_TREE_LEAVES",
    "DEFAULT_MAX_VECTOR_ELEMENTS",
    "DEFAULT_MAX_VECTOR_LENGTH",
    "Limits",
]
