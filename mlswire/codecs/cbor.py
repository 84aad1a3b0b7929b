"""The CBOR encoding (RFC 8949) of the schema, compiled per type like the TLS codec.

The mapping is in ``encodings/README.md`` and :mod:`mlswire.codecs._tree`: structs are
maps keyed by RFC field names, bytes are byte strings, enums their RFC names. Output is
deterministically encoded (RFC 8949 §4.2.1) and input must be too, so every value has
exactly one CBOR encoding, as it has exactly one TLS encoding.

Why not through cbor2: a generic parser builds the whole data item first (dicts, lists)
and cannot say whether the bytes were deterministic, so a decode was parse + tree walk +
re-encode and compare, three passes. Here each struct is compiled into Python source
that reads the bytes straight into schema objects in one pass (``d_<Name>``) and writes
them straight from schema objects (``e_<Name>``), as :mod:`mlswire.codecs.tls` does.
Since a struct's keys can only be in one order (§4.2.1 sorts them), the decoder expects
each key's exact bytes in turn: shortest heads, key order, no duplicates and no unknown
keys are then all checked by one comparison per key; every other head is checked as it
is read (shortest form, definite length, no tags), and nothing may follow the value.
cbor2 remains the independent implementation the tests check this one against.

:func:`to_tree` and :func:`from_tree` give the same value as a data-model tree (dicts,
lists, bytes, ints), shared with JSON (:mod:`mlswire.codecs._tree`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import DecodeError, EncodeError
from ..schema.base import describe, lookup
from ._cbor_compiler import CborCompiler, Decoder, Encoder
from ._compile import compiled_once
from ._tree import Flavor, TreeCodec, cbor_key_order, reroot_decode, reroot_encode

FLAVOR = Flavor("cbor", bytes_as_hex=False, uint64_as_string=False, sort_keys=cbor_key_order)
_tree = TreeCodec(FLAVOR)
_compiler = CborCompiler()
_top: dict[Any, tuple[Decoder, Encoder, str]] = {}


def _functions(tp: Any) -> tuple[Decoder, Encoder, str]:
    def build() -> tuple[Decoder, Encoder, str]:
        d = describe(lookup(tp))
        dec, enc = _compiler.top(d)
        return dec, enc, d.name or d.rfc()

    return compiled_once(_top, tp, build)


def decode(
    data: bytes | bytearray | memoryview, tp: Any, context: Mapping[str, Any] | None = None
) -> Any:
    """Decode exactly one deterministically encoded CBOR data item as schema type ``tp``."""
    buf = data if data.__class__ is bytes else bytes(data)
    try:
        dec, _, name = _top[tp]
    except (KeyError, TypeError):
        dec, _, name = _functions(tp)
    try:
        value, pos = dec(buf, 0, dict(context) if context else {})
    except DecodeError as e:
        raise reroot_decode(e, name) from None
    if pos != len(buf):
        raise DecodeError(f"{len(buf) - pos} trailing bytes after the value", name, pos)
    return value


def encode(value: Any, tp: Any, context: Mapping[str, Any] | None = None) -> bytes:
    """Encode ``value`` of schema type ``tp`` as deterministic CBOR."""
    try:
        _, enc, name = _top[tp]
    except (KeyError, TypeError):
        _, enc, name = _functions(tp)
    out = bytearray()
    try:
        enc(value, out, dict(context) if context else {})
    except EncodeError as e:
        raise reroot_encode(e, name) from None
    return bytes(out)


def source(tp: Any) -> str:
    """The generated Python source for a struct type (for the curious and for debugging)."""
    d = describe(lookup(tp))
    _functions(tp)
    check = _compiler.sources.get(f"{d.name} check")
    return _compiler.sources.get(d.name or "", "") + (f"\n{check}" if check else "")


# The data-model tree of a value (mlswire.codecs._tree.TreeCodec), as JSON has it.
to_tree = _tree.to_tree
from_tree = _tree.from_tree
