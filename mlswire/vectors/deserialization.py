"""deserialization.json: variable-length integer headers (RFC 9420 §2.1.2)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..codecs import tls
from . import expect, unhex
from ._build import per_case
from ._rng import Drbg

FAMILY = "deserialization"
KEYS = frozenset({"vlbytes_header", "length"})

# Generation: suite-independent. The first cases are the edges of the three header
# sizes, then random lengths of each size in turn (four-byte lengths up to 2**18, to
# keep generated files' headers varied but small).
SUITED = False
DEFAULT_COUNT = 12
EDGES = (0, 63, 64, 16383, 16384)
RANGES = ((0, 63), (64, 16383), (16384, 1 << 18))


def check(case: dict[str, Any]) -> None:
    header = unhex(case["vlbytes_header"])
    length = case["length"]
    # The codec's own header reader and writer (the lines its compiled decoders inline).
    value, end = tls.read_length(header, 0)
    expect("decoded length", value, length)
    expect("header size", end, len(header))
    expect("re-encoded header", tls.write_length(length), header)


def generate(
    suite: int | None,
    rng: Drbg,
    count: int | None = None,
    *,
    progress: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, r in per_case(rng, DEFAULT_COUNT if count is None else count, progress):
        if i < len(EDGES):
            length = EDGES[i]
        else:
            lo, hi = RANGES[(i - len(EDGES)) % len(RANGES)]
            length = r.between(lo, hi)
        out.append({"vlbytes_header": tls.write_length(length).hex(), "length": length})
    return out
