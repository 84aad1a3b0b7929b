"""A seedable deterministic random bit generator for test vector generation.

Same seed, same bytes: HMAC-SHA256 in counter mode under a key derived from the seed
(the output blocks are ``HMAC(key, "block" || counter)``). Without a seed the key is
``os.urandom(32)``, so generation then gets fresh randomness through the same code.

A generator is called like the ``rng`` of :mod:`mlswire.crypto` (``rng(n)`` returns
``n`` bytes), so it can be handed straight to the engine. :meth:`Drbg.fork` derives an
independent child stream from a label. Generation forks one stream per family, suite
and case, so a case does not depend on how many bytes other cases drew: asking for
more cases, or for other suites, leaves the cases already there unchanged.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Sequence
from typing import TypeVar

from ..crypto.primitives import SeededRng

T = TypeVar("T")

_DOMAIN = b"mlswire vectors DRBG v1"
_BLOCK = 32  # SHA-256 output


def seed_bytes(seed: str | bytes | int) -> bytes:
    """The seed as bytes: a str is taken as UTF-8 (what ``--seed`` passes), an int as
    its decimal digits, so ``--seed 7`` and ``Drbg(7)`` agree."""
    if isinstance(seed, bytes):
        return seed
    if isinstance(seed, int):
        return str(seed).encode()
    return seed.encode("utf-8")


class Drbg(SeededRng):
    """``rng(n) -> n bytes``, deterministic in the seed; see the module docstring."""

    __slots__ = ("_buffer", "_counter", "_key")

    def __init__(self, seed: str | bytes | int | None = None) -> None:
        material = os.urandom(32) if seed is None else seed_bytes(seed)
        self._key = hmac.digest(_DOMAIN, material, "sha256")
        self._counter = 0
        self._buffer = b""

    @classmethod
    def _from_key(cls, key: bytes) -> Drbg:
        out = cls.__new__(cls)
        out._key = key
        out._counter = 0
        out._buffer = b""
        return out

    def __call__(self, n: int) -> bytes:
        if n < 0:
            raise ValueError("cannot draw a negative number of bytes")
        while len(self._buffer) < n:
            block = hmac.digest(self._key, b"block" + self._counter.to_bytes(8, "big"), "sha256")
            self._counter += 1
            self._buffer += block
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out

    def fork(self, *labels: str | int | None) -> Drbg:
        """An independent stream named by ``labels``, whatever this one has produced."""
        name = "/".join("-" if x is None else str(x) for x in labels)
        return Drbg._from_key(hmac.digest(self._key, b"fork" + name.encode(), "sha256"))

    # --- conveniences built on the byte stream (all deterministic) ----------------------
    def below(self, n: int) -> int:
        """A uniform integer in ``[0, n)`` by rejection sampling."""
        if n <= 0:
            raise ValueError("below() needs a positive bound")
        size = max(1, (n.bit_length() + 7) // 8)
        limit = (256**size // n) * n  # reject the top sliver so the result is uniform
        while True:
            x = int.from_bytes(self(size), "big")
            if x < limit:
                return x % n

    def between(self, lo: int, hi: int) -> int:
        """A uniform integer in ``[lo, hi]``."""
        return lo + self.below(hi - lo + 1)

    def choice(self, items: Sequence[T]) -> T:
        return items[self.below(len(items))]

    def sample(self, items: Sequence[T], k: int) -> list[T]:
        """``k`` distinct elements of ``items`` in a random order (partial Fisher-Yates)."""
        pool = list(items)
        for i in range(k):
            j = i + self.below(len(pool) - i)
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:k]

    def uint(self, bits: int) -> int:
        return int.from_bytes(self(bits // 8), "big")


__all__ = ["Drbg", "seed_bytes"]
