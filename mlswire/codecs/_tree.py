"""The data model shared by the CBOR and JSON encodings, compiled from the schema.

Both encodings carry the same tree: a struct is a map keyed by RFC field names, a
vector an array, ``optional<T>`` a value or null, an enum its RFC name (a number for a
registry value the schema does not name), a ``select`` arm a key present only in its
arm. They differ in three leaves only, so one compiler serves both, parameterised by a
:class:`Flavor`:

- bytes: a CBOR byte string, or a lowercase hex JSON string;
- ``uint64``: a CBOR unsigned integer, or a decimal JSON string (JavaScript-safe);
- key order: CBOR maps in RFC 8949 §4.2.1 order (bytewise order of the encoded keys),
  JSON objects in RFC field order.

As in :mod:`mlswire.codecs.tls`, each struct is compiled once into Python source for a
``to_tree`` and a ``from_tree`` function with every primitive inlined, so that the
generic codec runs like hand-written code. ``encodings/README.md`` is the normative text
of the mapping; this module implements it.
"""

from __future__ import annotations

import binascii
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import DecodeError, EncodeError
from ..schema.base import Type, describe, lookup
from ._compile import StructCompiler, compiled_once, is_open
from ._compile import external_keys as external_keys  # re-exported for tests/_schema_values

ToTree = Callable[[Any, dict[str, Any]], Any]
FromTree = Callable[[Any, dict[str, Any]], Any]

UINT64_MAX = (1 << 64) - 1
MAX_OPAQUE = (1 << 30) - 1  # what a TLS <V> header can carry: values stay convertible


@dataclass(frozen=True)
class Flavor:
    name: str  # "cbor" or "json": used in generated code names and error texts
    bytes_as_hex: bool  # JSON: lowercase hex strings; CBOR: byte strings
    uint64_as_string: bool  # JSON: decimal strings, so JavaScript loses no precision
    sort_keys: Callable[[list[str]], list[str]]  # emitted key order of a struct's map


def cbor_key_order(names: list[str]) -> list[str]:
    """RFC 8949 §4.2.1: map keys sorted by the bytewise order of their encodings. For text
    keys that is shorter first (the length is in the head), then bytewise."""
    return sorted(names, key=lambda n: (len(n.encode()), n.encode()))


def _path(segment: Any, path: str) -> str:
    if isinstance(segment, tuple):  # (vector field, element index)
        segment = f"{segment[0]}[{segment[1]}]"
    if not segment:
        return path
    if not path:
        return str(segment)
    return f"{segment}{path}" if path.startswith("[") else f"{segment}.{path}"


def reroot_decode(e: DecodeError, segment: Any) -> DecodeError:
    """The same error seen one level up: ``segment`` is prepended to its field path."""
    return DecodeError(e.reason, _path(segment, e.path), e.offset)


def reroot_encode(e: Exception, segment: Any) -> EncodeError:
    if isinstance(e, EncodeError):
        path, reason = getattr(e, "path", ""), getattr(e, "reason", str(e))
    else:
        path, reason = "", f"{type(e).__name__}: {e}"
    full = _path(segment, path)
    err = EncodeError(f"{full}: {reason}" if full else reason)
    err.path = full  # type: ignore[attr-defined]
    err.reason = reason  # type: ignore[attr-defined]
    return err


def _what(x: Any) -> str:
    """How a decoded leaf is named in errors: the data model's term, not Python's."""
    names = {
        dict: "a map",
        list: "an array",
        str: "a text string",
        bytes: "a byte string",
        bool: "a boolean",
        int: "an integer",
        float: "a float",
        type(None): "null",
    }
    return names.get(type(x), f"a {type(x).__name__}")


def wrong(expected: str, x: Any) -> DecodeError:
    return DecodeError(f"expected {expected}, not {_what(x)}")


def unexpected_keys(m: dict[Any, Any], active: set[str]) -> DecodeError:
    extra = sorted(repr(k) for k in m if k not in active)
    return DecodeError(f"unexpected key{'s' if len(extra) > 1 else ''} {', '.join(extra)}")


def bad_hex(x: Any) -> DecodeError:
    """Why ``x`` is not lowercase hex: only even-length lowercase digits are, so that
    the JSON encoding of a value is unique, as its CBOR encoding is."""
    if x.__class__ is not str:
        return wrong("a lowercase hex string", x)
    if len(x) % 2:
        return DecodeError("hex must have two digits per byte (odd length)")
    if any(c not in "0123456789abcdef" for c in x):
        return DecodeError("hex must be lowercase digits 0-9a-f only, without spaces")
    if len(x) > 2 * MAX_OPAQUE:
        return DecodeError("longer than 2^30-1 bytes, which TLS cannot carry")
    return DecodeError("not a hex string")  # pragma: no cover - a2b_hex accepts the rest


def decimal_uint64(x: Any) -> int:
    if x.__class__ is not str:
        raise wrong("a decimal string (uint64)", x)
    if not (0 < len(x) <= 20 and x.isascii() and x.isdigit()) or (x[0] == "0" and len(x) > 1):
        raise DecodeError(f"{x[:24]!r} is not a canonical decimal uint64")
    v = int(x)
    if v > UINT64_MAX:
        raise DecodeError(f"{x} exceeds 2^64-1")
    return v


def as_bytes(v: Any) -> bytes:
    # bytes(5) would be five zero bytes and bytes("x") an error the caller cannot place:
    # only byte-like values are bytes.
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v)
    raise EncodeError(f"expected bytes, not {type(v).__name__}")


MISSING = object()


class TreeCompiler(StructCompiler):
    """Generates, per struct, ``e_<Name>(obj, env) -> tree`` and ``d_<Name>(tree, env) -> obj``."""

    def __init__(self, flavor: Flavor) -> None:
        self.flavor = flavor
        ns: dict[str, Any] = {
            "DecodeError": DecodeError,
            "EncodeError": EncodeError,
            "reroot_decode": reroot_decode,
            "reroot_encode": reroot_encode,
            "wrong": wrong,
            "unexpected_keys": unexpected_keys,
            "bad_hex": bad_hex,
            "unhex": binascii.a2b_hex,
            "decimal_uint64": decimal_uint64,
            "as_bytes": as_bytes,
            "index": operator.index,
            "MISSING": MISSING,
            "MAX_OPAQUE": MAX_OPAQUE,
            # Encoding a value that is not a schema value surfaces as one of these.
            "CODE_ERRORS": (TypeError, AttributeError, ValueError, OverflowError),
        }
        super().__init__(flavor.name, ns)

    # -- decoding: tree -> schema object --------------------------------------

    def struct_decoder(self, d: Type) -> str:
        cls = self.const(f"C_{d.cls.__name__}_", d.cls)
        required = [f.name for f in d.fields if f.case is None]
        lines = [
            f"def d_{d.name}(m, env):",
            "    f = ''",
            "    if m.__class__ is not dict:",
            f"        raise wrong('a map ({d.name})', m)",
            "    try:",
        ]
        arms = [f.name for f in d.fields if f.case is not None]
        body = [f"n = {len(required)}", *(f"v_{a} = None" for a in arms)]
        # A run of arms on the same discriminant with disjoint values is one if/elif
        # chain: at most one of them is taken.
        chain: tuple[str, set[int]] | None = None
        for f in d.fields:
            var = f"v_{f.name}"
            if f.case is None:
                chain = None
                body.append(f"f = {f.name!r}")
                body.append(f"x = m[{f.name!r}]")
                body.extend(self.decode(f.type, "x", var, f.name))
            else:
                if self.is_external(d, f):
                    chain = None
                    body.extend(self.selected(d, f, f"{f.name!r} in m"))
                    body.append("if sel:")
                else:
                    values = {-1} if f.case.otherwise else set(f.case.values)
                    test = self.test(d, f, self.internal(d, f))
                    if chain and chain[0] == f.case.on and not chain[1] & values:
                        body.append(f"elif {test}:")
                        chain[1].update(values)
                    else:
                        body.append(f"if {test}:")
                        chain = (f.case.on, set(values))
                body.append(f"    f = {f.name!r}")
                body.append(f"    x = m[{f.name!r}]")
                body.extend("    " + line for line in self.decode(f.type, "x", var, f.name))
                body.append("    n += 1")
            key = f"{d.name}.{f.name}"
            if key in self.external:
                chain = None
                body.append(f"env[{key!r}] = {var}")
        active = f"{set(required)!r}" if required else "set()"
        if arms:
            active += " | {k for k, v in (" + "".join(f"({a!r}, v_{a}), " for a in arms)
            active += ") if v is not None}"
        body += [
            "f = ''",
            "if len(m) != n:",
            f"    raise unexpected_keys(m, {active})",
        ]
        if self.flavor.name == "cbor" and len(d.fields) > 1:
            # Deterministic CBOR: keys in the §4.2.1 order. A key tuple seen in that order
            # once is remembered, so the check costs one set lookup afterwards.
            order = self.const("ORDERED", set())
            body += [
                "keys = tuple(m)",
                f"if keys not in {order}:",
                f"    check_order(keys, {order})",
            ]
            self.ns["check_order"] = check_order
        args = ", ".join(f"{f.name}=v_{f.name}" for f in d.fields)
        body.append(f"return {cls}({args})")
        lines.extend("        " + line for line in body)
        lines += [
            "    except DecodeError as e:",
            "        raise reroot_decode(e, f) from None",
            "    except KeyError:",
            "        raise reroot_decode(DecodeError('required key is missing'), f) from None",
        ]
        return "\n".join(lines) + "\n"

    def decode(self, t: Type, x: str, var: str, label: str) -> list[str]:
        """Lines that check tree value ``x`` as type ``t`` and set ``var`` to the schema value."""
        k = t.kind
        fl = self.flavor
        if k == "uint":
            if t.size == 8 and fl.uint64_as_string:
                # Canonical iff it is its own decimal spelling; decimal_uint64() says
                # what is wrong otherwise (the length bound keeps int() linear).
                return [
                    "try:",
                    f"    {var} = int({x}) if len({x}) <= 20 else -1",
                    "except (TypeError, ValueError):",
                    f"    {var} = -1",
                    f"if not 0 <= {var} <= {UINT64_MAX} or str({var}) != {x}:",
                    f"    {var} = decimal_uint64({x})",
                ]
            top = (1 << (8 * t.size)) - 1
            return [
                f"if {x}.__class__ is not int or not 0 <= {x} <= {top}:",
                f"    raise wrong('an integer 0..{top} (uint{8 * t.size})', {x})",
                f"{var} = {x}",
            ]
        if k == "enum":
            cls = t.cls
            names = self.const(f"N_{cls.__name__}_", {m.name: m for m in cls})
            lines = [
                f"if {x}.__class__ is str:",
                f"    {var} = {names}.get({x})",
                f"    if {var} is None:",
                f"        raise DecodeError(f'unknown {cls.__name__} name {{{x}[:40]!r}}')",
            ]
            if is_open(cls):
                known = self.const("NAMED", frozenset(int(m) for m in cls))
                top = (1 << (8 * cls.__wire_size__)) - 1
                lines += [
                    f"elif {x}.__class__ is int and 0 <= {x} <= {top}:",
                    f"    if {x} in {known}:",
                    f"        raise DecodeError(f'{cls.__name__} value {{{x}}} has a name and must be written as it')",
                    f"    {var} = {self.const('OPEN', cls)}({x})",
                    "else:",
                    f"    raise wrong('a {cls.__name__} name or an unnamed value 0..{top}', {x})",
                ]
            else:
                lines += ["else:", f"    raise wrong('a {cls.__name__} name', {x})"]
            return lines
        if k in ("opaque", "fixed", "padding"):
            if fl.bytes_as_hex:
                # bad_hex() explains what is wrong when the fast path fails. a2b_hex
                # refuses all but hex digits (whitespace and odd lengths included), but
                # takes bytes too; the digits are lowercase iff lower() changes nothing
                # (faster than str.islower(), and than hex() of the bytes when long).
                too_long = f" or len({x}) > {2 * MAX_OPAQUE}" if k == "opaque" else ""
                lines = [
                    "try:",
                    f"    {var} = unhex({x})",
                    "except (TypeError, ValueError):",
                    f"    raise bad_hex({x}) from None",
                    f"if {x}.__class__ is not str or {x}.lower() != {x}{too_long}:",
                    f"    raise bad_hex({x})",
                ]
            else:
                lines = [
                    f"if {x}.__class__ is not bytes:",
                    f"    raise wrong('a byte string', {x})",
                    f"{var} = {x}",
                ]
            if k == "opaque":
                if not fl.bytes_as_hex:  # (hex: checked on the string above)
                    lines += [
                        f"if len({var}) > MAX_OPAQUE:",
                        "    raise DecodeError('longer than 2^30-1 bytes, which TLS cannot carry')",
                    ]
            elif k == "fixed":
                lines += [
                    f"if len({var}) != {t.size}:",
                    f"    raise DecodeError(f'must be exactly {t.size} bytes, not {{len({var})}}')",
                ]
            else:
                lines += [
                    f"if {var}.strip(b'\\x00'):",
                    "    raise DecodeError('padding must be all zero bytes')",
                ]
            return lines
        if k == "vector":
            assert t.elem is not None
            items, y, z = self.fresh("items"), self.fresh("y"), self.fresh("z")
            # The failing element's index is len(items) at the time of the error: no
            # per-element bookkeeping on the good path.
            return [
                f"if {x}.__class__ is not list:",
                f"    raise wrong('an array', {x})",
                f"{items} = []",
                "try:",
                f"    for {y} in {x}:",
                *("        " + line for line in self.decode(t.elem, y, z, label)),
                f"        {items}.append({z})",
                "except DecodeError as e:",
                f"    raise reroot_decode(e, f'[{{len({items})}}]') from None",
                f"{var} = tuple({items})",
            ]
        if k == "optional":
            assert t.elem is not None
            return [
                f"if {x} is None:",
                f"    {var} = None",
                "else:",
                *("    " + line for line in self.decode(t.elem, x, var, label)),
            ]
        if k == "struct":
            self.ensure(t)
            return [f"{var} = d_{t.name}({x}, env)"]
        raise AssertionError(k)

    # -- encoding: schema object -> tree --------------------------------------

    def struct_encoder(self, d: Type) -> str:
        lines = [f"def e_{d.name}(o, env):", "    f = ''", "    try:"]
        body: list[str] = []
        for f in d.fields:
            var, out = f"v_{f.name}", f"t_{f.name}"
            body.append(f"f = {f.name!r}")
            body.append(f"{var} = o.{f.name}")
            if f.case is None:
                body.extend(self.encode(f.type, var, out, f.name))
            else:
                body.extend(self.selected(d, f, f"{var} is not None"))
                body.append(f"p_{f.name} = sel")
                body.append("if sel:")
                body.append(f"    if {var} is None:")
                body.append("        raise EncodeError('this select arm requires the field')")
                body.extend("    " + line for line in self.encode(f.type, var, out, f.name))
            key = f"{d.name}.{f.name}"
            if key in self.external:
                body.append(f"env[{key!r}] = {var}")
        body.append("f = ''")
        order = self.flavor.sort_keys([f.name for f in d.fields])
        arm = {f.name for f in d.fields if f.case is not None}
        if not arm:
            body.append("return {" + ", ".join(f"{n!r}: t_{n}" for n in order) + "}")
        else:
            # Conditional keys are inserted in their place in the emitted order.
            body.append("r = {}")
            for n in order:
                if n in arm:
                    body.append(f"if p_{n}:")
                    body.append(f"    r[{n!r}] = t_{n}")
                else:
                    body.append(f"r[{n!r}] = t_{n}")
            body.append("return r")
        lines.extend("        " + line for line in body)
        lines += [
            "    except (EncodeError, *CODE_ERRORS) as e:",
            "        raise reroot_encode(e, f) from None",
        ]
        return "\n".join(lines) + "\n"

    def encode(self, t: Type, v: str, out: str, label: str) -> list[str]:
        """Lines that check schema value ``v`` as type ``t`` and set ``out`` to its tree."""
        k = t.kind
        fl = self.flavor
        if k == "uint":
            top = (1 << (8 * t.size)) - 1
            lines = [
                # index() admits what struct.pack admits (ints, IntEnums), never floats.
                f"{out} = {v} if {v}.__class__ is int else index({v})",
                f"if not 0 <= {out} <= {top}:",
                f"    raise EncodeError(f'{{{out}}} is out of range for uint{8 * t.size}')",
            ]
            if t.size == 8 and fl.uint64_as_string:
                lines.append(f"{out} = str({out})")
            return lines
        if k == "enum":
            cls = t.cls
            names = self.const(f"V_{cls.__name__}_", {int(m): m.name for m in cls})
            lines = [f"{out} = {names}.get({v})", f"if {out} is None:"]
            if is_open(cls):
                top = (1 << (8 * cls.__wire_size__)) - 1
                lines += [
                    f"    {out} = index({v})",
                    f"    if not 0 <= {out} <= {top}:",
                    f"        raise EncodeError(f'{{{v}!r}} is not a {cls.__name__}')",
                ]
            else:
                lines.append(f"    raise EncodeError(f'{{{v}!r}} is not a {cls.__name__}')")
            return lines
        if k in ("opaque", "fixed", "padding"):
            lines = [f"{out} = {v} if {v}.__class__ is bytes else as_bytes({v})"]
            if k == "fixed":
                lines += [
                    f"if len({out}) != {t.size}:",
                    f"    raise EncodeError(f'must be exactly {t.size} bytes, not {{len({out})}}')",
                ]
            elif k == "padding":
                lines += [
                    f"if {out}.strip(b'\\x00'):",
                    "    raise EncodeError('padding must be all zero bytes')",
                ]
            if fl.bytes_as_hex:
                lines.append(f"{out} = {out}.hex()")
            return lines
        if k == "vector":
            assert t.elem is not None
            y, z = self.fresh("y"), self.fresh("z")
            return [
                f"{out} = []",
                "try:",
                f"    for {y} in {v}:",
                *("        " + line for line in self.encode(t.elem, y, z, label)),
                f"        {out}.append({z})",
                "except (EncodeError, *CODE_ERRORS) as e:",
                f"    raise reroot_encode(e, f'[{{len({out})}}]') from None",
            ]
        if k == "optional":
            assert t.elem is not None
            return [
                f"if {v} is None:",
                f"    {out} = None",
                "else:",
                *("    " + line for line in self.encode(t.elem, v, out, label)),
            ]
        if k == "struct":
            self.ensure(t)
            return [f"{out} = e_{t.name}({v}, env)"]
        raise AssertionError(k)

    # -- any type --------------------------------------------------------------

    def top(self, d: Type) -> tuple[FromTree, ToTree]:
        if d.kind == "struct":
            self.ensure(d)
            return self.ns[f"d_{d.name}"], self.ns[f"e_{d.name}"]
        name = self.fresh("top")
        src = "\n".join(
            [
                f"def d_{name}(x, env):",
                "    f = ''",
                "    try:",
                *("        " + line for line in self.decode(d, "x", "v", "")),
                "        return v",
                "    except DecodeError as e:",
                "        raise reroot_decode(e, f) from None",
                "",
                f"def e_{name}(v, env):",
                "    f = ''",
                "    try:",
                *("        " + line for line in self.encode(d, "v", "t", "")),
                "        return t",
                "    except (EncodeError, *CODE_ERRORS) as e:",
                "        raise reroot_encode(e, f) from None",
                "",
            ]
        )
        exec(compile(src, f"<mlswire.{self.flavor.name} {d.rfc()}>", "exec"), self.ns)
        return self.ns[f"d_{name}"], self.ns[f"e_{name}"]


def check_order(keys: tuple[Any, ...], seen: set[tuple[Any, ...]]) -> None:
    if list(keys) != cbor_key_order(list(keys)):
        raise DecodeError(
            "map keys are not in deterministic order (RFC 8949 §4.2.1): "
            + ", ".join(cbor_key_order(list(keys)))
        )
    seen.add(keys)


class TreeCodec:
    """Schema value <-> data-model tree for one flavor, with per-type caching."""

    def __init__(self, flavor: Flavor) -> None:
        self.compiler = TreeCompiler(flavor)
        self.top: dict[Any, tuple[FromTree, ToTree, str]] = {}

    def functions(self, tp: Any) -> tuple[FromTree, ToTree, str]:
        def build() -> tuple[FromTree, ToTree, str]:
            d = describe(lookup(tp))
            dec, enc = self.compiler.top(d)
            return dec, enc, d.name or d.rfc()

        return compiled_once(self.top, tp, build)

    def to_tree(self, value: Any, tp: Any, context: Mapping[str, Any] | None = None) -> Any:
        """The data-model tree (dicts, lists, bytes/str, ints, None) of ``value``."""
        _, enc, name = self.functions(tp)
        try:
            return enc(value, dict(context) if context else {})
        except EncodeError as e:
            raise reroot_encode(e, name) from None

    def from_tree(self, tree: Any, tp: Any, context: Mapping[str, Any] | None = None) -> Any:
        dec, _, name = self.functions(tp)
        try:
            return dec(tree, dict(context) if context else {})
        except DecodeError as e:
            raise reroot_decode(e, name) from None
        except RecursionError:
            raise DecodeError("nested too deeply", name) from None

    def source(self, tp: Any) -> str:
        """The generated Python source for a struct type (for debugging)."""
        d = describe(lookup(tp))
        self.functions(tp)
        return self.compiler.sources.get(d.name or "", "")
