"""The JSON encoding (RFC 8259) of the schema, through orjson.

The same tree as CBOR (:mod:`mlswire.codecs._tree`, ``encodings/README.md``) with two
JSON-specific leaves: bytes are lowercase hex strings and ``uint64`` values decimal
strings, so that JavaScript's doubles never round an epoch or a lifetime. Objects are
written in RFC field order, compactly, as UTF-8.
"""

from __future__ import annotations

import json as _stdlib_json
from collections.abc import Mapping
from typing import Any

import orjson

from ..errors import DecodeError, EncodeError
from ._tree import KEY_COUNT, Flavor, TreeCodec, reroot_decode, reroot_encode

FLAVOR = Flavor("json", bytes_as_hex=True, uint64_as_string=True, sort_keys=list)
_loads, _dumps = orjson.loads, orjson.dumps
_codec = TreeCodec(FLAVOR)
_top = _codec.top  # type -> (from_tree, to_tree, name), filled on first use


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
        dec, _, name = _top[tp]
    except (KeyError, TypeError):
        dec, _, name = _codec.functions(tp)
    try:
        raw = _loads(doc)
    except orjson.JSONDecodeError as e:
        raise DecodeError(f"not JSON: {e.msg}", name, e.pos) from None
    env = {**context, KEY_COUNT: 0} if context else {KEY_COUNT: 0}
    try:
        value = dec(raw, env)
    except DecodeError as e:
        raise reroot_decode(e, name) from None
    # orjson keeps the last of duplicate keys silently, where other parsers keep the
    # first: two readers could see two messages. Every member of every object in the
    # text has one colon outside strings, and no string the tree walk accepted holds
    # one: so the text has as many colons as the walk counted keys unless some member
    # was dropped, a duplicate. Only then is it re-parsed by the standard library, to
    # say which.
    colons = doc.count(b":") if doc.__class__ is bytes else doc.count(":")  # type: ignore[arg-type]
    if colons != env[KEY_COUNT]:
        try:
            _stdlib_json.loads(doc, object_pairs_hook=_reject_duplicates)
        except DecodeError as e:
            raise DecodeError(e.reason, name) from None
    return value


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
