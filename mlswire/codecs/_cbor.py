"""CBOR items at the byte level, for the decoders and encoders compiled in ``cbor``.

The compiled code reads the common short heads inline and calls these helpers for the
rest: long heads, skipping an item whole, and explaining why input was refused. Every
head is checked as RFC 8949 §4.2.1 (core deterministic encoding) requires it: shortest
form, definite length, no tags. Input is only ever read, never expanded, so the work is
bounded by its size.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import DecodeError, EncodeError
from ._tree import MAX_OPAQUE, cbor_key_order

_DETERMINISTIC = "not deterministic CBOR (RFC 8949 §4.2.1)"

_KINDS = {
    0: "an integer",
    1: "a negative integer",
    2: "a byte string",
    3: "a text string",
    4: "an array",
    5: "a map",
    6: "a tag",
}
_SIMPLE = {0xF4: "a boolean", 0xF5: "a boolean", 0xF6: "null", 0xF7: "undefined"}


def kind(b: int) -> str:
    """How the item whose head byte is ``b`` is named in errors: the data model's term."""
    if b >> 5 != 7:
        return _KINDS[b >> 5]
    if 0xF9 <= b <= 0xFB:
        return "a float"
    return _SIMPLE.get(b, "a simple value")


def truncated(pos: int, buf: bytes) -> DecodeError:
    return DecodeError(f"input ends early ({len(buf)} bytes)", "", min(pos, len(buf)))


def not_shortest(pos: int) -> DecodeError:
    return DecodeError(
        f"{_DETERMINISTIC}: integers and lengths must use their shortest form", "", pos
    )


def read_head(buf: bytes, pos: int) -> tuple[int, int, int]:
    """The head at ``pos`` as ``(major type, argument, offset after it)``, refused unless
    well-formed and deterministic. For a float the argument is its raw bits."""
    b = buf[pos]
    major, ai = b >> 5, b & 0x1F
    if ai < 24:
        arg, end = ai, pos + 1
    elif ai < 28:
        size = 1 << (ai - 24)
        end = pos + 1 + size
        if end > len(buf):
            raise truncated(pos, buf)
        arg = int.from_bytes(buf[pos + 1 : end], "big")
        if major == 7:
            if ai == 24 and arg < 32:
                raise DecodeError(f"not CBOR: simple value {arg} in two bytes", "", pos)
        elif arg < (24 if ai == 24 else 1 << (4 * size)):
            raise not_shortest(pos)
    elif ai == 31 and 2 <= major <= 5:
        raise DecodeError(
            f"{_DETERMINISTIC}: indefinite-length items are not allowed ({kind(b)})", "", pos
        )
    elif b == 0xFF:
        raise DecodeError("not CBOR: a break (0xff) outside an indefinite-length item", "", pos)
    else:
        raise DecodeError(f"not CBOR: head byte 0x{b:02x} is reserved or malformed", "", pos)
    if major == 6:
        raise DecodeError(f"{_DETERMINISTIC}: no tags are allowed (tag {arg})", "", pos)
    return major, arg, end


def item_error(buf: bytes, pos: int, expected: str) -> DecodeError:
    """Why the item at ``pos`` is not ``expected``: a malformed or non-deterministic head
    first (whatever its kind), else its kind."""
    try:
        read_head(buf, pos)
    except IndexError:
        return truncated(pos, buf)
    except DecodeError as e:
        return e
    return DecodeError(f"expected {expected}, not {kind(buf[pos])}", "", pos)


def arg_of(buf: bytes, pos: int, major: int, expected: str) -> tuple[int, int]:
    """The argument of a head of major type ``major`` at ``pos`` (the compiled code reads
    the short forms itself and calls this for the others)."""
    if buf[pos] >> 5 != major:
        raise item_error(buf, pos, expected)
    _, arg, end = read_head(buf, pos)
    return arg, end


def uint_of(buf: bytes, pos: int, top: int, expected: str) -> tuple[int, int]:
    """An unsigned integer 0..``top`` at ``pos``."""
    v, end = arg_of(buf, pos, 0, expected)
    if v > top:
        raise DecodeError(f"expected {expected}, not {v}", "", pos)
    return v, end


def len_of(buf: bytes, pos: int, major: int, expected: str) -> tuple[int, int]:
    """The length of a byte string (major 2) or array (major 4) whose head is not short;
    a byte string must fit the 2^30-1 bytes of a TLS vector."""
    n, end = arg_of(buf, pos, major, expected)
    if major == 2 and n > MAX_OPAQUE:
        raise DecodeError("longer than 2^30-1 bytes, which TLS cannot carry", "", pos)
    return n, end


def text_of(buf: bytes, pos: int) -> tuple[str, int]:
    """The text string at ``pos`` (invalid UTF-8 shows as U+FFFD: it names nothing)."""
    major, n, start = read_head(buf, pos)
    if major != 3:
        raise item_error(buf, pos, "a text string")
    if start + n > len(buf):
        raise truncated(pos, buf)
    return bytes(buf[start : start + n]).decode("utf-8", "replace"), start + n


def enum_error(buf: bytes, pos: int, name: str, expected: str) -> DecodeError:
    """Why the item at ``pos`` is not a name (or an unnamed value) of enum ``name``."""
    if buf[pos] >> 5 != 3:
        return item_error(buf, pos, expected)
    try:
        text, _ = text_of(buf, pos)
    except DecodeError as e:
        return e
    return DecodeError(f"unknown {name} name {text[:40]!r}", "", pos)


def fixed_error(buf: bytes, pos: int, size: int) -> DecodeError:
    """Why the item at ``pos`` is not a byte string of exactly ``size`` bytes."""
    n, _ = arg_of(buf, pos, 2, "a byte string")
    return DecodeError(f"must be exactly {size} bytes, not {n}", "", pos)


def skip(buf: bytes, pos: int) -> int:
    """The offset just past the item at ``pos``, every head in it checked. Iterative, so
    that nesting in the input cannot exhaust the stack; each step consumes input."""
    todo = 1
    while todo:
        todo -= 1
        major, arg, pos = read_head(buf, pos)
        if major == 2 or major == 3:
            pos += arg
            if pos > len(buf):
                raise truncated(pos, buf)
        elif major == 4:
            todo += arg
        elif major == 5:
            todo += 2 * arg
    return pos


def map_error(
    buf: bytes, pos: int, name: str, fields: tuple[str, ...], required: Iterable[str]
) -> DecodeError:
    """Why the item at ``pos`` is not the map of struct ``name`` (``fields`` in schema
    order): called when its keys did not follow the one order the schema allows, to
    say which rule they break."""
    try:
        return _map_problem(buf, pos, name, fields, required)
    except IndexError:
        return truncated(pos, buf)
    except DecodeError as e:
        return e


def _map_problem(
    buf: bytes, pos: int, name: str, fields: tuple[str, ...], required: Iterable[str]
) -> DecodeError:
    if buf[pos] >> 5 != 5:
        return item_error(buf, pos, f"a map ({name})")
    _, n, p = read_head(buf, pos)
    keys: list[str] = []
    for _ in range(n):
        if buf[p] >> 5 != 3:
            return DecodeError(
                f"map keys are field names (text strings), not {kind(buf[p])}", "", p
            )
        key, p = text_of(buf, p)
        keys.append(key)
        p = skip(buf, p)
    extra = sorted(repr(k) for k in keys if k not in fields)
    if extra:
        return DecodeError(
            f"unexpected key{'s' if len(extra) > 1 else ''} {', '.join(extra)}", "", pos
        )
    seen: set[str] = set()
    for k in keys:
        if k in seen:
            return DecodeError(f"duplicate key {k!r}", "", pos)
        seen.add(k)
    if keys != cbor_key_order(keys):
        return DecodeError(
            f"map keys are not in deterministic order (RFC 8949 §4.2.1): "
            f"{', '.join(cbor_key_order(keys))}",
            "",
            pos,
        )
    for f in required:
        if f not in seen:
            return DecodeError("required key is missing", f, pos)
    return DecodeError(f"not a map of {name}", "", pos)  # pragma: no cover - see callers


# -- encoding --------------------------------------------------------------------------


def head(major: int, n: int) -> bytes:
    """The shortest head of major type ``major`` with argument ``n`` (0 <= n < 2^64)."""
    if n < 24:
        return bytes(((major << 5) | n,))
    if n < 0x100:
        return bytes(((major << 5) | 24, n))
    if n < 0x10000:
        return bytes(((major << 5) | 25,)) + n.to_bytes(2, "big")
    if n < 0x100000000:
        return bytes(((major << 5) | 26,)) + n.to_bytes(4, "big")
    return bytes(((major << 5) | 27,)) + n.to_bytes(8, "big")


def uint_head(x: int, top: int) -> bytes:
    """The encoding of unsigned integer ``x``, which must be 0..``top``."""
    if not 0 <= x <= top:
        raise EncodeError(f"{x} is out of range for uint{top.bit_length()}")
    return head(0, x)


def bytes_head(n: int) -> bytes:
    """The head of a byte string of ``n`` bytes, which TLS must be able to carry too."""
    if n > MAX_OPAQUE:
        raise EncodeError(f"length {n} exceeds the maximum of 2^30-1")
    return head(2, n)


def text_item(s: str) -> bytes:
    """The whole encoding of text string ``s`` (map keys, enum names)."""
    data = s.encode()
    return head(3, len(data)) + data
