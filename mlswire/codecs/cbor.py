"""The CBOR encoding (RFC 8949) of the schema, through cbor2.

The mapping is in ``encodings/README.md`` and :mod:`mlswire.codecs._tree`: structs are
maps keyed by RFC field names, bytes are byte strings, enums their RFC names. Output is
deterministically encoded (RFC 8949 §4.2.1) and input must be too, so every value has
exactly one CBOR encoding, as it has exactly one TLS encoding.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import cbor2

from ..errors import DecodeError
from ._tree import Flavor, TreeCodec, cbor_key_order, reroot_decode

FLAVOR = Flavor("cbor", bytes_as_hex=False, uint64_as_string=False, sort_keys=cbor_key_order)
_loads, _dumps = cbor2.loads, cbor2.dumps
# The tree's maps are built in §4.2.1 key order and cbor2 always writes shortest heads and
# definite lengths, so its default dumps is already deterministic; canonical=True would
# sort every map again at six times the cost.
_codec = TreeCodec(FLAVOR, _dumps)
_top = _codec.top  # type -> (from_tree, to_tree, name), filled on first use


def _refuse_tag(*_: Any) -> Any:
    raise ValueError("tag")


# Deterministic input has no tags at all, but cbor2 resolves them while parsing, before
# the determinism check: shared references (tag 29) and string references (tag 25) let
# a few bytes expand into a structure quadratically or exponentially larger, which the
# tree walk would then visit in full. Every tag cbor2 knows is refused as it is met (and
# unknown ones through tag_hook), so the parsed value is never larger than the input.
_NO_TAGS = dict.fromkeys(
    (0, 1, 2, 3, 4, 5, 25, 28, 29, 30, 35, 36, 37, 100, 256, 258, 260, 261, 1004, 55799),
    _refuse_tag,
)


def _not_deterministic(buf: bytes, name: str) -> DecodeError:
    """Say why ``buf`` is not the deterministic encoding of the value it decoded to."""
    fp = io.BytesIO(buf)
    try:
        cbor2.CBORDecoder(fp, allow_duplicate_keys=False, allow_indefinite=False).decode()
    except (cbor2.CBORDecodeError, ValueError) as e:
        return DecodeError(f"not deterministic CBOR (RFC 8949 §4.2.1): {e}", name)
    if fp.tell() != len(buf):
        return DecodeError(
            f"{len(buf) - fp.tell()} trailing bytes after the value", name, fp.tell()
        )
    return DecodeError(
        "not deterministic CBOR (RFC 8949 §4.2.1): integers and lengths must use their "
        "shortest form, and no tags are allowed",
        name,
    )


def decode(
    data: bytes | bytearray | memoryview, tp: Any, context: Mapping[str, Any] | None = None
) -> Any:
    """Decode exactly one deterministically encoded CBOR data item as schema type ``tp``."""
    buf = data if data.__class__ is bytes else bytes(data)
    try:
        dec, _, name = _top[tp]
    except (KeyError, TypeError):
        dec, _, name = _codec.functions(tp)
    try:
        # strict_hashable_types: map keys are field names (text); keys that Python hashes
        # by value (integers, arrays) could be chosen to collide and make a map quadratic.
        raw = _loads(
            buf, semantic_decoders=_NO_TAGS, tag_hook=_refuse_tag, strict_hashable_types=True
        )
    except (cbor2.CBORDecodeError, ValueError, TypeError, OverflowError, RecursionError) as e:
        # cbor2 raises these for malformed input; none of them may escape as such.
        if "semantic tag" in str(e):
            raise DecodeError(
                f"not deterministic CBOR (RFC 8949 §4.2.1): no tags are allowed ({e})", name
            ) from None
        raise DecodeError(f"not CBOR: {e}", name) from None
    try:
        value = dec(raw, dict(context) if context else {})
    except DecodeError as e:
        raise reroot_decode(e, name) from None
    # The tree walk checked types, ranges and key order; what only the bytes show
    # (non-shortest heads, indefinite lengths, tags, duplicate keys, trailing bytes) is
    # checked by re-encoding the generic data item, which cbor2 does in C.
    if _dumps(raw) != buf:
        raise _not_deterministic(buf, name)
    return value



# The same for every flavor (mlswire.codecs._tree.TreeCodec).
encode = _codec.encode
to_tree = _codec.to_tree
from_tree = _codec.from_tree
source = _codec.source
