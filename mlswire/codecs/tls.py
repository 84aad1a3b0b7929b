"""The RFC 9420 TLS presentation wire format (§2.1), generic over the schema.

Nothing here knows a particular struct. On first use of a type, its descriptor tree
(:func:`mlswire.schema.describe`) is compiled into Python source for one decode and one
encode function per struct, with every primitive field inlined, and ``exec``-ed once.
That keeps the codec generic (one compiler for all types) while running at the speed of
hand-written code.

Decoders take ``(buf, pos, env)`` and return ``(value, new_pos)``; encoders take
``(value, out, env)`` and append to the bytearray ``out``. ``env`` carries ``select``
discriminants that live outside the struct being coded (``FramedContent.content_type``
seen from FramedContentAuthData); callers may seed it through ``context``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import DecodeError, EncodeError
from ..limits import Limits
from ..schema.base import Field, Type, describe, lookup
from ._compile import COMPILE_LOCK, StructCompiler, compiled_once, is_open

Decoder = Callable[[bytes, int, dict[str, Any]], tuple[Any, int]]
Encoder = Callable[[Any, bytearray, dict[str, Any]], None]


_CODE_ERRORS = (TypeError, AttributeError, struct.error, ValueError, OverflowError)


def _join(segment: str, path: str) -> str:
    if not segment:
        return path
    return segment + ("." + path if path and not path.startswith("[") else path)


def _reroot_decode(e: DecodeError, segment: Any) -> DecodeError:
    """The same error one level up: ``segment`` is prepended to its field path."""
    if isinstance(segment, tuple):  # (vector name, list of the elements decoded so far)
        segment = f"{segment[0]}[{len(segment[1])}]"
    return DecodeError(e.reason, _join(segment, e.path), e.offset)


def _reroot_encode(e: Exception, segment: Any) -> EncodeError:
    if isinstance(segment, tuple):
        segment = f"{segment[0]}[{segment[1]}]"
    if isinstance(e, EncodeError):
        path, reason = getattr(e, "path", ""), getattr(e, "reason", str(e))
    else:
        path, reason = "", f"{type(e).__name__}: {e}"
    full = _join(segment, path)
    err = EncodeError(f"{full}: {reason}")
    err.path = full  # type: ignore[attr-defined]
    err.reason = reason  # type: ignore[attr-defined]
    return err


def _truncated(pos: int, buf: bytes) -> DecodeError:
    return DecodeError(f"input ends early ({len(buf)} bytes)", "", min(pos, len(buf)))


def _varint_error(kind: str, pos: int) -> DecodeError:
    return DecodeError(kind, "", pos)


#: The ``env`` keys under which a limited decode passes ``Limits.max_vector_length`` and
#: ``Limits.max_vector_elements``.
VECTOR_LIMIT_KEY = "!max_vector_length"
ELEMENT_LIMIT_KEY = "!max_vector_elements"


#: Structs whose encodings are remembered per value (issue 20, encode once): the
#: immutable pieces one operation encodes many times over (a KeyPackage of an Add is
#: encoded for its signature, its reference, the Commit's signature, transcript and
#: message; its LeafNode and Capabilities for two signatures, the tree hash and the
#: ratchet tree). None of them has a select that depends on an enclosing struct, so
#: the bytes depend on the value alone.
MEMO_ENCODED = frozenset({"KeyPackage", "LeafNode", "Capabilities"})
#: At most this many encodings per type are kept; then the memo starts over.
MEMO_SIZE = 1 << 16


_MEMOS: set[Encoder | Decoder] = set()  # the memo wrappers made (never wrapped twice)
# One memo per type, shared by the plain and the limited compiler: a value decoded by
# either (see REMEMBER_KEY) is known to both encoders.
_MEMO_TABLES: dict[str, dict[int, tuple[Any, bytes]]] = {}

#: The ``env`` key (set by ``decode(..., remember=True)``, to a dict private to that
#: call) under which the decoders of the MEMO_ENCODED types enter each decoded value in
#: the memo with the exact bytes it was read from. TLS decoding is exact (a decoded value
#: re-encodes to the bytes it was read from: length headers are minimal, presence bytes
#: 0 or 1, no trailing bytes; the fuzz harness checks it on every accepted input), so
#: those bytes are its encoding.
REMEMBER_KEY = "!remember"


def _memo_encoder(enc: Encoder, memo: dict[int, tuple[Any, bytes]]) -> Encoder:
    # Keyed by id(); the entry holds the value itself, so the id cannot be reused by
    # another object while the entry lives. Schema structs are frozen (their fields are
    # tuples, bytes, ints and frozen structs), so the same object has the same bytes.

    def encode_memo(value: Any, out: bytearray, env: dict[str, Any]) -> None:
        hit = memo.get(id(value))
        if hit is not None and hit[0] is value:
            out += hit[1]
            return
        start = len(out)
        enc(value, out, env)
        if len(memo) >= MEMO_SIZE:
            memo.clear()
        memo[id(value)] = (value, bytes(out[start:]))

    return encode_memo


#: How many distinct values of a shared struct (Capabilities) remembering decodes
#: without limits keep across calls; then they start over.
SHARED_SIZE = 1 << 10


def _memo_decoder(
    dec: Decoder, memo: dict[int, tuple[Any, bytes]], d: Type, limited: bool
) -> Decoder:
    # A struct made only of length-prefixed fields (Capabilities) is also shared by
    # remembering decodes: its end is found from its length headers alone, and equal
    # bytes give the one value already decoded (structs are frozen). A group's members
    # mostly run the same software, so N leaves or KeyPackages carry a handful of
    # distinct Capabilities. Decodes without limits share them across calls; a limited
    # decode only within the call (its limits are those the value was checked against).
    shared = all(f.case is None and f.type.kind in ("opaque", "vector") for f in d.fields)
    fields = len(d.fields) if shared else 0
    name = d.name
    across: dict[Any, Any] | None = None if limited else {}

    def decode_memo(buf: bytes, pos: int, env: dict[str, Any]) -> tuple[Any, int]:
        seen = env.get(REMEMBER_KEY)
        if seen is None:
            return dec(buf, pos, env)
        if across is not None:
            if len(across) >= SHARED_SIZE:
                across.clear()
            seen = across
        key = None
        if fields:
            end = pos
            try:
                for _ in range(fields):
                    n = buf[end]
                    if n < 0x40:  # one-byte header: most of them
                        end += 1 + n
                    else:
                        n, end = read_length(buf, end)
                        end += n
            except (DecodeError, IndexError):
                end = -1  # the decoder below reports it
            if 0 <= end <= len(buf):
                key = (name, buf[pos:end])
                hit = seen.get(key)
                if hit is not None:
                    memo[id(hit)] = (hit, key[1])
                    return hit, end
        value, end = dec(buf, pos, env)
        if len(memo) >= MEMO_SIZE:
            memo.clear()
        data = buf[pos:end]
        memo[id(value)] = (value, data)
        if key is not None and key[1] == data:
            seen[key] = value
        return value, end

    return decode_memo


class _Compiler(StructCompiler):
    """Generates and caches the per-type functions in one shared namespace.

    ``limited``: also compare every length header with ``env[VECTOR_LIMIT_KEY]`` and
    every vector's element count with ``env[ELEMENT_LIMIT_KEY]`` (stopping at the first
    element past it). That is a second set of functions, used only when a caller's limit
    is smaller than its input (a larger one can never be reached, since no vector
    outgrows the input), so the default path pays nothing for it.
    """

    def __init__(self, limited: bool = False) -> None:
        self.limited = limited
        ns: dict[str, Any] = {
            "DecodeError": DecodeError,
            "EncodeError": EncodeError,
            "_reroot_decode": _reroot_decode,
            "_reroot_encode": _reroot_encode,
            "_truncated": _truncated,
            "_varint_error": _varint_error,
            "_CODE_ERRORS": _CODE_ERRORS,
            "U16": struct.Struct(">H").unpack_from,
            "U32": struct.Struct(">I").unpack_from,
            "U64": struct.Struct(">Q").unpack_from,
            "P16": struct.Struct(">H").pack,
            "P32": struct.Struct(">I").pack,
            "P64": struct.Struct(">Q").pack,
        }
        super().__init__("tls", ns)

    def struct_name(self, d: Type) -> str:
        assert d.cls is not None
        return str(d.cls.__name__)

    def condition(self, d: Type, f: Field) -> str:
        """Is field ``f``'s arm selected: its discriminant is an already coded ``v_`` local,
        or, outside the struct, ``env`` (an error if neither message nor caller gave it)."""
        assert f.case is not None
        disc = f"env[{f.case.on!r}]" if self.is_external(d, f) else self.internal(d, f)
        return self.test(d, f, disc)

    # -- decoding --------------------------------------------------------------

    def struct_decoder(self, d: Type) -> str:
        cls = self.const(f"C_{self.struct_name(d)}_", d.cls)
        lines = [f"def d_{d.name}(buf, pos, env):", "    f = ''", "    try:"]
        body: list[str] = []
        for f in d.fields:
            body.append(f"f = {f.name!r}")
            var = f"v_{f.name}"
            if f.case is not None:
                body.append(f"{var} = None")
                body.append(f"if {self.condition(d, f)}:")
                body.extend("    " + line for line in self.decode(f.type, var, f.name))
            else:
                body.extend(self.decode(f.type, var, f.name))
            key = f"{d.name}.{f.name}"
            if key in self.external:
                body.append(f"env[{key!r}] = {var}")
        args = ", ".join(f"{f.name}=v_{f.name}" for f in d.fields)
        body.append(f"return {cls}({args}), pos")
        lines.extend("        " + line for line in body)
        lines += [
            "    except DecodeError as e:",
            "        raise _reroot_decode(e, f) from None",
            "    except (IndexError, struct_error):",
            "        raise _reroot_decode(_truncated(pos, buf), f) from None",
            "    except KeyError as e:",
            "        raise _reroot_decode(DecodeError(f'needs the value of {e.args[0]} from "
            "the enclosing message (pass it in context)', '', pos), f) from None",
        ]
        self.ns["struct_error"] = struct.error
        return "\n".join(lines) + "\n"

    def decode(self, t: Type, var: str, label: str) -> list[str]:
        """Lines that decode one value of type ``t`` at ``pos`` into ``var``."""
        k = t.kind
        if k == "uint":
            if t.size == 1:
                return [f"{var} = buf[pos]", "pos += 1"]
            return [f"{var} = U{8 * t.size}(buf, pos)[0]", f"pos += {t.size}"]
        if k == "enum":
            cls = t.cls
            table = self.const(f"E_{cls.__name__}_", {int(m): m for m in cls})
            raw = self.fresh("raw")
            lines = self.decode(Type("uint", size=t.size), raw, label)
            lines.append(f"{var} = {table}.get({raw})")
            lines.append(f"if {var} is None:")
            if is_open(cls):
                lines.append(f"    {var} = {self.const('OPEN', cls)}({raw})")
            else:
                lines.append(
                    f"    raise DecodeError(f'unknown {cls.__name__} value {{{raw}}}', '', pos - {t.size})"
                )
            return lines
        if k in ("opaque", "vector"):
            n, end, start = self.fresh("n"), self.fresh("end"), self.fresh("at")
            lines = [f"{start} = pos", *self.read_length(n)]
            if self.limited:
                lim = self.fresh("lim")
                lines += [
                    f"{lim} = env[{VECTOR_LIMIT_KEY!r}]",
                    f"if {n} > {lim}:",
                    f"    raise DecodeError(f'vector length {{{n}}} exceeds the limit of "
                    f"{{{lim}}} bytes (Limits.max_vector_length)', '', {start})",
                ]
            lines += [
                f"{end} = pos + {n}",
                f"if {end} > len(buf):",
                f"    raise DecodeError(f'length {{{n}}} exceeds the {{len(buf) - pos}} bytes left', '', {start})",
            ]
            if k == "opaque":
                return [*lines, f"{var} = buf[pos:{end}]", f"pos = {end}"]
            items, x = self.fresh("items"), self.fresh("x")
            assert t.elem is not None
            lines += [f"{items} = []", f"f = ({label!r}, {items})", f"while pos < {end}:"]
            if self.limited:
                most = self.fresh("most")
                lines.insert(-1, f"{most} = env[{ELEMENT_LIMIT_KEY!r}]")
                lines += [
                    f"    if len({items}) >= {most}:",
                    f"        raise DecodeError(f'more than {{{most}}} elements "
                    "(Limits.max_vector_elements)', '', pos)",
                ]
            lines += ["    " + line for line in self.decode(t.elem, x, label)]
            lines += [
                f"    {items}.append({x})",
                f"if pos != {end}:",
                f"    raise DecodeError('an element runs past the end of the vector', '', {end})",
                f"{var} = tuple({items})",
                f"f = {label!r}",
            ]
            return lines
        if k == "fixed":
            return [
                f"{var} = buf[pos:pos + {t.size}]",
                f"if len({var}) != {t.size}:",
                "    raise _truncated(pos, buf)",
                f"pos += {t.size}",
            ]
        if k == "padding":
            return [
                f"{var} = buf[pos:]",
                f"if {var}.strip(b'\\x00'):",
                "    raise DecodeError('padding must be all zero bytes', '', pos)",
                "pos = len(buf)",
            ]
        if k == "optional":
            assert t.elem is not None
            flag = self.fresh("present")
            return [
                f"{flag} = buf[pos]",
                "pos += 1",
                f"if {flag} == 0:",
                f"    {var} = None",
                f"elif {flag} == 1:",
                *("    " + line for line in self.decode(t.elem, var, label)),
                "else:",
                f"    raise DecodeError(f'optional presence byte is {{{flag}}}, not 0 or 1', '', pos - 1)",
            ]
        if k == "struct":
            self.ensure(t)
            return [f"{var}, pos = d_{t.name}(buf, pos, env)"]
        raise AssertionError(k)

    def read_length(self, n: str) -> list[str]:
        """Inline RFC 9420 §2.1.2 variable-length integer, minimal encoding enforced."""
        return [
            f"{n} = buf[pos]",
            f"if {n} < 0x40:",
            "    pos += 1",
            f"elif {n} < 0x80:",
            f"    {n} = (({n} & 0x3f) << 8) | buf[pos + 1]",
            f"    if {n} < 0x40:",
            "        raise _varint_error('length header is not minimally encoded', pos)",
            "    pos += 2",
            f"elif {n} < 0xc0:",
            f"    {n} = U32(buf, pos)[0] & 0x3fffffff",
            f"    if {n} < 0x4000:",
            "        raise _varint_error('length header is not minimally encoded', pos)",
            "    pos += 4",
            "else:",
            "    raise _varint_error('length header uses the reserved 0b11 prefix', pos)",
        ]

    # -- encoding --------------------------------------------------------------

    def struct_encoder(self, d: Type) -> str:
        lines = [f"def e_{d.name}(o, out, env):", "    f = ''", "    try:"]
        body: list[str] = []
        for f in d.fields:
            var = f"v_{f.name}"
            body.append(f"f = {f.name!r}")
            body.append(f"{var} = o.{f.name}")
            if f.case is not None:
                body.append(f"if {self.condition(d, f)}:")
                body.append(f"    if {var} is None:")
                body.append("        raise EncodeError('this select arm requires the field')")
                body.extend("    " + line for line in self.encode(f.type, var, f.name))
            else:
                body.extend(self.encode(f.type, var, f.name))
            key = f"{d.name}.{f.name}"
            if key in self.external:
                body.append(f"env[{key!r}] = {var}")
        lines.extend("        " + line for line in body)
        lines += [
            "    except (EncodeError, *_CODE_ERRORS) as e:",
            "        raise _reroot_encode(e, f) from None",
            "    except KeyError as e:",
            "        raise _reroot_encode(EncodeError(f'needs the value of {e.args[0]} "
            "(pass it in context)'), f) from None",
        ]
        return "\n".join(lines) + "\n"

    def encode(self, t: Type, var: str, label: str, out: str = "out") -> list[str]:
        """Lines that append the encoding of ``var`` (type ``t``) to the bytearray ``out``."""
        k = t.kind
        if k == "uint":
            if t.size == 1:
                return [f"{out}.append({var})"]
            return [f"{out} += P{8 * t.size}({var})"]
        if k == "enum":
            lines = []
            if not is_open(t.cls):
                allowed = self.const("VALUES", frozenset(int(m) for m in t.cls))
                lines += [
                    f"if {var} not in {allowed}:",
                    f"    raise EncodeError(f'{{{var}!r}} is not a {t.cls.__name__}')",
                ]
            return lines + self.encode(Type("uint", size=t.size), var, label, out)
        if k == "opaque":
            n = self.fresh("n")
            return [f"{n} = len({var})", *self.write_length(n, out), f"{out} += {var}"]
        if k == "fixed":
            return [
                f"if len({var}) != {t.size}:",
                f"    raise EncodeError(f'must be exactly {t.size} bytes, not {{len({var})}}')",
                f"{out} += {var}",
            ]
        if k == "padding":
            # any(), not .strip(): a memoryview has no strip, and padding takes the same
            # bytes-like values as every other byte string (bytes, bytearray, memoryview).
            return [
                f"if any({var}):",
                "    raise EncodeError('padding must be all zero bytes')",
                f"{out} += {var}",
            ]
        if k == "vector":
            assert t.elem is not None
            sub, x, i, n = self.fresh("sub"), self.fresh("x"), self.fresh("i"), self.fresh("n")
            return [
                f"{sub} = bytearray()",
                f"for {i}, {x} in enumerate({var}):",
                f"    f = ({label!r}, {i})",
                *("    " + line for line in self.encode(t.elem, x, label, sub)),
                f"f = {label!r}",
                f"{n} = len({sub})",
                *self.write_length(n, out),
                f"{out} += {sub}",
            ]
        if k == "optional":
            assert t.elem is not None
            return [
                f"if {var} is None:",
                f"    {out}.append(0)",
                "else:",
                f"    {out}.append(1)",
                *("    " + line for line in self.encode(t.elem, var, label, out)),
            ]
        if k == "struct":
            self.ensure(t)
            return [f"e_{t.name}({var}, {out}, env)"]
        raise AssertionError(k)

    def write_length(self, n: str, out: str) -> list[str]:
        """Inline minimal variable-length integer header for the length ``n``."""
        return [
            f"if {n} < 0x40:",
            f"    {out}.append({n})",
            f"elif {n} < 0x4000:",
            f"    {out} += P16({n} | 0x4000)",
            f"elif {n} < 0x40000000:",
            f"    {out} += P32({n} | 0x80000000)",
            "else:",
            f"    raise EncodeError(f'length {{{n}}} exceeds the maximum of 2^30-1')",
        ]

    # -- entry points for any type ---------------------------------------------

    def ensure(self, d: Type) -> None:
        if d.name not in MEMO_ENCODED:
            super().ensure(d)
            return
        with COMPILE_LOCK:
            memo = _MEMO_TABLES.setdefault(d.name, {})
            names = (f"e_{d.name}", f"d_{d.name}")
            before = {name: self.ns.get(name) for name in names}
            super().ensure(d)
            for name in names:
                fn = self.ns.get(name)
                if fn is not None and fn is not before[name] and fn not in _MEMOS:
                    # Freshly compiled: callers find e_<name> and d_<name> in the
                    # namespace at call time, so they all use the memo.
                    wrapped = (
                        _memo_encoder(fn, memo)
                        if name[0] == "e"
                        else _memo_decoder(fn, memo, d, self.limited)
                    )
                    _MEMOS.add(wrapped)
                    self.ns[name] = wrapped

    def top(self, d: Type) -> tuple[Decoder, Encoder]:
        if d.kind == "struct":
            self.ensure(d)
            assert d.name is not None
            return self.ns[f"d_{d.name}"], self.ns[f"e_{d.name}"]
        name = self.fresh("top")
        dec = [f"def d_{name}(buf, pos, env):", "    f = ''", "    try:"]
        dec += ["        " + line for line in self.decode(d, "v", "")]
        dec += [
            "        return v, pos",
            "    except DecodeError as e:",
            "        raise _reroot_decode(e, f) from None",
            "    except (IndexError, struct_error):",
            "        raise _reroot_decode(_truncated(pos, buf), f) from None",
        ]
        enc = [f"def e_{name}(v, out, env):", "    f = ''", "    try:"]
        enc += ["        " + line for line in self.encode(d, "v", "")]
        enc += [
            "    except (EncodeError, *_CODE_ERRORS) as e:",
            "        raise _reroot_encode(e, f) from None",
        ]
        self.ns["struct_error"] = struct.error
        src = "\n".join(dec) + "\n\n" + "\n".join(enc) + "\n"
        exec(compile(src, f"<mlswire.tls {d.rfc()}>", "exec"), self.ns)
        return self.ns[f"d_{name}"], self.ns[f"e_{name}"]


_compiler = _Compiler()
_top: dict[Any, tuple[Decoder, Encoder, str]] = {}
_limited_compiler = _Compiler(limited=True)
_limited_top: dict[Any, tuple[Decoder, Encoder, str]] = {}


def _functions(tp: Any, limited: bool = False) -> tuple[Decoder, Encoder, str]:
    table, compiler = (_limited_top, _limited_compiler) if limited else (_top, _compiler)

    def build() -> tuple[Decoder, Encoder, str]:
        d = describe(lookup(tp))
        dec, enc = compiler.top(d)
        return dec, enc, d.name or d.rfc()

    return compiled_once(table, tp, build)


def decode(
    data: bytes | bytearray | memoryview,
    tp: Any,
    context: Mapping[str, Any] | None = None,
    *,
    limits: Limits | None = None,
    remember: bool = False,
) -> Any:
    """Decode exactly one value of schema type ``tp`` from ``data``; trailing bytes are an
    error. ``limits`` bounds the input size, every vector length header and every
    vector's element count. ``remember``: the decoded KeyPackages, LeafNodes and
    Capabilities keep the bytes they were read from as their encoding (``REMEMBER_KEY``),
    so encoding them again (tree hash, signature inputs) costs nothing, and equal
    Capabilities in the input are decoded once and shared."""
    dec, _, name = _top.get(tp) or _functions(tp)
    buf = data if data.__class__ is bytes else bytes(data)
    env = dict(context) if context else {}
    if remember:
        env[REMEMBER_KEY] = {}
    if limits is not None:
        limits.check_size(len(buf), name)
        if min(limits.max_vector_length, limits.max_vector_elements) < len(buf):
            dec = _functions(tp, limited=True)[0]
            env[VECTOR_LIMIT_KEY] = limits.max_vector_length
            env[ELEMENT_LIMIT_KEY] = limits.max_vector_elements
    try:
        value, pos = dec(buf, 0, env)
    except DecodeError as e:
        raise _reroot_decode(e, name) from None
    if pos != len(buf):
        raise DecodeError(f"{len(buf) - pos} trailing bytes after the value", name, pos)
    return value


def decode_prefix(
    data: bytes, tp: Any, pos: int = 0, context: Mapping[str, Any] | None = None
) -> tuple[Any, int]:
    """Decode one value starting at ``pos``; return it and the offset just past it."""
    dec, _, name = _functions(tp)
    try:
        return dec(bytes(data), pos, dict(context) if context else {})
    except DecodeError as e:
        raise _reroot_decode(e, name) from None


def encode(value: Any, tp: Any, context: Mapping[str, Any] | None = None) -> bytes:
    """Encode ``value`` as schema type ``tp``."""
    _, enc, name = _top.get(tp) or _functions(tp)
    out = bytearray()
    try:
        enc(value, out, dict(context) if context else {})
    except EncodeError as e:
        raise _reroot_encode(e, name) from None
    return bytes(out)


def source(tp: Any) -> str:
    """The generated Python source for a struct type (for the curious and for debugging)."""
    d = describe(lookup(tp))
    _functions(tp)
    return _compiler.sources.get(d.name or "", "")


def _compile_length_functions() -> tuple[
    Callable[[bytes, int], tuple[int, int]], Callable[[int], bytes]
]:
    # The same lines the compiler inlines into every decoder and encoder, wrapped as
    # functions for callers that handle headers alone (vector checks, stream framing).
    read = ["def read_length(buf, pos):", "    try:"]
    read += ["        " + line for line in _compiler.read_length("n")]
    read += [
        "    except IndexError:",
        "        raise _truncated(pos, buf) from None",
        "    return n, pos",
    ]
    write = ["def write_length(n):", "    out = bytearray()"]
    write += ["    " + line for line in _compiler.write_length("n", "out")]
    write += ["    return bytes(out)"]
    ns = _compiler.ns
    exec(
        compile("\n".join(read) + "\n\n" + "\n".join(write) + "\n", "<mlswire.tls length>", "exec"),
        ns,
    )
    return ns["read_length"], ns["write_length"]


read_length, _compiled_write_length = _compile_length_functions()
_ONE_BYTE = tuple(bytes((n,)) for n in range(0x40))


def write_length(n: int) -> bytes:
    # The compiled lines above, without their bytearray: hot paths (labels, AADs) call
    # it per message; tests compare the two.
    if 0 <= n < 0x40:
        return _ONE_BYTE[n]
    if 0x40 <= n < 0x4000:
        return (n | 0x4000).to_bytes(2, "big")
    if 0x4000 <= n < 0x40000000:
        return (n | 0x80000000).to_bytes(4, "big")
    return _compiled_write_length(n)  # raises its error


read_length.__doc__ = (
    "Read an RFC 9420 §2.1.2 variable-length integer at ``pos``; return ``(value, "
    "offset after it)``. Non-minimal encodings and the 0b11 prefix raise DecodeError."
)
write_length.__doc__ = "The minimal RFC 9420 §2.1.2 variable-length encoding of ``n`` (< 2^30)."
