"""The JSON encoding (RFC 8259) of the schema.

The same tree as CBOR (:mod:`mlswire.codecs._tree`, ``encodings/README.md``) with two
JSON-specific leaves: bytes are lowercase hex strings and ``uint64`` values decimal
strings, so that JavaScript's doubles never round an epoch or a lifetime. Objects are
written in RFC field order, compactly, as UTF-8, by orjson.

Decoding takes a fast path first: msgspec parses the text straight into shadow structs,
which a compiled walk converts (:mod:`mlswire.codecs._shadow`); that skips the dicts of a
generic parse and the lookups in them, the largest costs after the text itself. Input
the fast path does not take whole is decoded again the reference way, orjson's tree
and the tree walk, which names what is wrong and where. Both take the same documents.
"""

from __future__ import annotations

import json as _stdlib_json
from collections.abc import Mapping
from typing import Any

import orjson

from ..errors import DecodeError, EncodeError
from ..schema.base import describe, lookup
from ._compile import compiled_once
from ._shadow import KEY_COUNT, Parse, ShadowCompiler, Walk
from ._tree import Flavor, TreeCodec, reroot_decode, reroot_encode

FLAVOR = Flavor("json", bytes_as_hex=True, uint64_as_string=True, sort_keys=list)
_loads, _dumps = orjson.loads, orjson.dumps
_codec = TreeCodec(FLAVOR)
_top = _codec.top  # type -> (from_tree, to_tree, name), filled on first use
_shadows = ShadowCompiler(FLAVOR)
_fast: dict[Any, tuple[Parse, Walk]] = {}


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise DecodeError(f"duplicate key {dup!r}")
    return out


def decode(
    data: bytes | bytearray | memoryview | str,
    tp: Any,
    context: Mapping[str, Any] | None = None,
) -> Any:
    """Decode one JSON text (UTF-8 bytes, or a str) as schema type ``tp``."""
    doc = data if data.__class__ is bytes or isinstance(data, str) else bytes(data)
    try:
        parse, walk = _fast[tp]
    except (KeyError, TypeError):
        parse, walk = _fast_functions(tp)
    env = {**context, KEY_COUNT: 0} if context else {KEY_COUNT: 0}
    try:
        shadow = parse(doc)
    except Exception:  # msgspec refuses in several ways; the reference decode explains
        return decode_exactly(doc, tp, context)
    try:
        value = walk(shadow, env)
    except DecodeError:
        return decode_exactly(doc, tp, context)
    # The walk counted the keys it took; a text with more members (one colon each)
    # holds a duplicate or an arm not taken (mlswire.codecs._shadow).
    colons = doc.count(b":") if doc.__class__ is bytes else doc.count(":")  # type: ignore[arg-type]
    if colons != env[KEY_COUNT]:
        return decode_exactly(doc, tp, context)
    return value


def decode_exactly(doc: bytes | str, tp: Any, context: Mapping[str, Any] | None = None) -> Any:
    """The reference decode: orjson's tree, walked by mlswire.codecs._tree. Slower than
    :func:`decode`, and equal to it on every input; errors say what and where."""
    dec, _, name = _codec.functions(tp)
    try:
        raw = _loads(doc)
    except orjson.JSONDecodeError as e:
        raise DecodeError(f"not JSON: {e.msg}", name, e.pos) from None
    try:
        value = dec(raw, dict(context) if context else {})
    except DecodeError as e:
        raise reroot_decode(e, name) from None
    # orjson keeps the last of duplicate keys silently, where other parsers keep the
    # first: two readers could see two messages. The output of any conforming encoder
    # (mlswire's is orjson's compact form) is recognised by re-serialising, in C; other
    # spellings of the text are re-parsed by the standard library to look for duplicates.
    if _dumps(raw) != (doc if doc.__class__ is bytes else doc.encode()):  # type: ignore[union-attr]
        try:
            _stdlib_json.loads(doc, object_pairs_hook=_reject_duplicates)
        except DecodeError as e:
            raise DecodeError(e.reason, name) from None
    return value


def _fast_functions(tp: Any) -> tuple[Parse, Walk]:
    return compiled_once(_fast, tp, lambda: _shadows.functions(describe(lookup(tp))))


def encode(value: Any, tp: Any, context: Mapping[str, Any] | None = None) -> bytes:
    """Encode ``value`` of schema type ``tp`` as compact UTF-8 JSON."""
    try:
        _, enc, name = _top[tp]
    except (KeyError, TypeError):
        _, enc, name = _codec.functions(tp)
    try:
        return _dumps(enc(value, dict(context) if context else {}))
    except EncodeError as e:
        raise reroot_encode(e, name) from None


# The data-model tree of a value (mlswire.codecs._tree.TreeCodec), as CBOR has it.
to_tree = _codec.to_tree
from_tree = _codec.from_tree
source = _codec.source
