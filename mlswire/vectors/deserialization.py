"""deserialization.json: variable-length integer headers (RFC 9420 §2.1.2)."""

from __future__ import annotations

from typing import Any

from ..codecs import tls
from . import expect, unhex

FAMILY = "deserialization"
KEYS = frozenset({"vlbytes_header", "length"})


def check(case: dict[str, Any]) -> None:
    header = unhex(case["vlbytes_header"])
    length = case["length"]
    # Decode the header as the start of an opaque<V> whose body is `length` zero bytes:
    # the decoder must read exactly this header and accept exactly that body.
    value = tls.decode(header + bytes(length), "opaque")
    expect("decoded length", len(value), length)
    expect("re-encoded header", tls.encode(value, "opaque")[: len(header)], header)
