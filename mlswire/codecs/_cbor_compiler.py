"""The compiler behind :mod:`mlswire.codecs.cbor`: per struct, Python source for a
decoder that reads CBOR bytes straight into schema objects and an encoder that writes them
straight from schema objects, over the byte-level helpers of :mod:`mlswire.codecs._cbor`.
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Callable
from typing import Any

from ..errors import DecodeError, EncodeError
from ..schema.base import Field, Type
from . import _cbor
from ._compile import StructCompiler, is_open
from ._tree import MISSING, as_bytes, cbor_key_order, reroot_decode, reroot_encode

Decoder = Callable[[bytes, int, dict[str, Any]], tuple[Any, int]]
Encoder = Callable[[Any, bytearray, dict[str, Any]], None]


def _indent(lines: list[str], by: str = "    ") -> list[str]:
    return [by + line for line in lines]


class CborCompiler(StructCompiler):
    """Generates ``d_<Name>(buf, pos, env) -> (value, pos)`` and ``e_<Name>(value, out,
    env)`` per struct, over the helpers of :mod:`mlswire.codecs._cbor`.

    Fields are read and written in map key order, which is not the RFC field order.
    That matters only where a field depends on a discriminant published in ``env`` by a
    sibling that comes *later* in key order (``PublicMessage.auth`` needs
    ``content.content_type``, and ``auth`` sorts before ``content``): such a *late*
    field is decoded at its key as a document on its own (an arm present iff its key
    is) and checked against the discriminant once the map is done (``k_<Name>``); it is
    encoded once the map is done, and inserted at its key.
    """

    def __init__(self) -> None:
        ns: dict[str, Any] = {
            name: getattr(_cbor, name)
            for name in (
                "bytes_head",
                "enum_error",
                "fixed_error",
                "head",
                "item_error",
                "len_of",
                "map_error",
                "not_shortest",
                "truncated",
                "uint_head",
                "uint_of",
            )
        }
        ns.update(
            DecodeError=DecodeError,
            EncodeError=EncodeError,
            reroot_decode=reroot_decode,
            reroot_encode=reroot_encode,
            as_bytes=as_bytes,
            index=operator.index,
            MISSING=MISSING,
            struct_error=struct.error,
            U16=struct.Struct(">H").unpack_from,
            U32=struct.Struct(">I").unpack_from,
            U64=struct.Struct(">Q").unpack_from,
            HEAD16=struct.Struct(">BH").pack,
            HEAD32=struct.Struct(">BI").pack,
            # Encoding a value that is not a schema value surfaces as one of these.
            CODE_ERRORS=(TypeError, AttributeError, ValueError, OverflowError),
        )
        super().__init__("cbor", ns)
        self._deps: dict[str, tuple[frozenset[str], frozenset[str]]] = {}

    # -- which fields wait for the end of the map -------------------------------

    def deps(self, t: Type) -> tuple[frozenset[str], frozenset[str]]:
        """The ``env`` keys that coding a value of ``t`` publishes, and those it reads."""
        if t.kind in ("vector", "optional"):
            assert t.elem is not None
            return self.deps(t.elem)
        if t.kind != "struct":
            return frozenset(), frozenset()
        assert t.name is not None
        if t.name not in self._deps:
            self._deps[t.name] = frozenset(), frozenset()  # no schema type contains itself
            pub: set[str] = set()
            con: set[str] = set()
            for f in t.fields:
                p, c = self.field_deps(t, f)
                pub |= p
                con |= c
                if f.case and self.is_external(t, f):
                    con.add(f.case.on)
            self._deps[t.name] = frozenset(pub), frozenset(con)
        return self._deps[t.name]

    def field_deps(self, d: Type, f: Field) -> tuple[frozenset[str], frozenset[str]]:
        pub, con = self.deps(f.type)
        if f"{d.name}.{f.name}" in self.external:
            pub |= {f"{d.name}.{f.name}"}
        return pub, con

    def deferred(self, d: Type) -> dict[str, frozenset[str]]:
        """The fields of ``d`` that need ``env`` keys published by a sibling later in key
        order, with those keys (in RFC field order). Each is coded as if it came after the
        rest of its map, so that it sees ``env`` as in RFC field order; checked for every
        pair of fields, for the schema at hand."""
        names = [f.name for f in d.fields]
        rfc = {n: i for i, n in enumerate(names)}
        key = {n: i for i, n in enumerate(cbor_key_order(names))}
        deps = {f.name: self.field_deps(d, f) for f in d.fields}
        pairs = [(a, b) for a in names for b in names if a != b and deps[a][0] & deps[b][1]]
        late: dict[str, frozenset[str]] = {}
        for a, b in pairs:
            if rfc[a] < rfc[b] and key[a] > key[b]:
                late[b] = late.get(b, frozenset()) | (deps[a][0] & deps[b][1])

        def before(a: str, b: str) -> bool:  # is a coded before b
            if (a in late) != (b in late):
                return b in late
            order = rfc if a in late else key
            return order[a] < order[b]

        for a, b in pairs:
            if before(a, b) != (rfc[a] < rfc[b]):
                raise AssertionError(f"{d.name}: cannot order {a} and {b} for CBOR")
        for b, keys in late.items():
            # Decoding checks a late field against ``env`` once the map is done (see
            # struct_decoder): that needs one publisher per key, and none inside it.
            if keys & deps[b][0] or any(
                len([a for a in names if k in deps[a][0]]) > 1 for k in keys
            ):
                raise AssertionError(f"{d.name}: cannot check {b} late for CBOR")
        return {n: late[n] for n in names if n in late}

    # -- decoding --------------------------------------------------------------

    def struct_decoder(self, d: Type) -> str:
        assert d.name is not None and len(d.fields) < 24
        cls = self.const(f"C_{d.cls.__name__}_", d.cls)
        names = [f.name for f in d.fields]
        byname = {f.name: f for f in d.fields}
        arms = [f for f in d.fields if f.case is not None]
        required = [f.name for f in d.fields if f.case is None]
        late = self.deferred(d)
        info = self.const("MAP", (d.name, tuple(names), tuple(required)))
        refuse = ["    f = ''", f"    raise map_error(buf, m0, *{info})"]
        body = ["m0 = pos"]
        if arms:
            # The head says how many arms are present (``left``): an arm's key is only
            # looked for while some are left, so that a map never reads its parent's
            # keys as its own. (Each required key is where it must be, or an error.)
            lo, hi = 0xA0 + len(required), 0xA0 + len(names)
            body += ["b = buf[pos]", f"if not {lo} <= b <= {hi}:", *refuse]
            body += [f"left = b - {lo}"]
            body += ["pos += 1", "seen = 0"]  # a bit per arm present
        bit = {f.name: 1 << i for i, f in enumerate(arms)}
        for i, name in enumerate(cbor_key_order(names)):
            f = byname[name]
            item = _cbor.text_item(name)
            if i == 0 and not arms:  # the map head is a constant: checked with the first key
                item = bytes((0xA0 + len(names),)) + item
            k = self.const("K", item)
            var = f"v_{name}"
            value = self.decode(f.type, var)
            if name in late:
                # Decoded here as a document on its own (those arms present iff their
                # keys are), checked against the sibling's discriminant below.
                saved = [(e, self.fresh("saved")) for e in sorted(late[name])]
                value = [f"{v} = env.pop({e!r}, MISSING)" for e, v in saved] + value
                for e, v in saved:
                    value += [f"if {v} is not MISSING:", f"    env[{e!r}] = {v}"]
            body.append(f"f = {name!r}")
            if f.case is None:
                test = f"buf[pos:pos + {len(item)}] != {k}"
                lines = [f"if {test}:", *refuse, f"pos += {len(item)}", *value]
                if f.type.kind == "enum" and len(item) == len(_cbor.text_item(name)):
                    lines = self.key_and_name(f.type, item, var, lines)
                body += lines
            else:
                body += [f"{var} = None"]
                # Most arms are absent: their key's head byte (its length) rules most out
                # without making a slice.
                body += [
                    f"if left and buf[pos] == {item[0]} and buf[pos:pos + {len(item)}] == {k}:"
                ]
                body += _indent(
                    [f"pos += {len(item)}", "left -= 1", f"seen += {bit[name]}", *value]
                )
            if f"{d.name}.{name}" in self.external:
                body.append(f"env['{d.name}.{name}'] = {var}")
        if arms:
            body += ["if left:", *refuse, *self.check_arms(d, arms, bit)]
        for name in late:
            body += [f"f = {name!r}", *self.check(byname[name].type, f"v_{name}")]
        args = ", ".join(f"{n}=v_{n}" for n in names)
        body.append(f"return {cls}({args}), pos")
        return "\n".join(
            [
                f"def d_{d.name}(buf, pos, env):",
                "    f = ''",
                "    try:",
                *_indent(body, "        "),
                "    except DecodeError as e:",
                "        raise reroot_decode(e, f) from None",
                "    except (IndexError, struct_error):",
                "        raise reroot_decode(truncated(pos, buf), f) from None",
                "",
            ]
        )

    def key_and_name(self, t: Type, key: bytes, var: str, otherwise: list[str]) -> list[str]:
        """A key and the enum name after it, looked up as one slice; anything else (an
        unnamed value, an error) takes the ``otherwise`` lines. The name's length is in
        the byte after the key (names under 24 bytes) or the one after that (24..255)."""
        names = [m.name for m in t.cls]
        assert all(len(n) < 256 for n in names)
        one = f"pos - {0x5F - len(key)} + buf[pos + {len(key)}]"  # a one-byte text head
        two = f"pos + {len(key) + 2} + buf[pos + {len(key) + 1}]"
        if all(len(n) < 24 for n in names):
            end = one
        else:  # CipherSuite: "reserved", and names of 39 to 51 bytes
            end = f"{one} if buf[pos + {len(key)}] < 0x78 else {two}"
        both = self.const(
            f"KN_{t.cls.__name__}_", {key + _cbor.text_item(n): t.cls[n] for n in names}
        )
        return [
            "try:",
            f"    end = {end}",
            "except IndexError:  # a shorter key at the end of the input",
            "    end = pos",
            f"{var} = {both}.get(buf[pos:end])",
            f"if {var} is None:",
            *_indent(otherwise),
            "else:",
            "    pos = end",
        ]

    def check_arms(self, d: Type, arms: list[Field], bit: dict[str, int]) -> list[str]:
        """Lines refusing arms present or absent against their discriminants: the arms
        present (``seen``) must be exactly those each discriminant selects, a table
        lookup per discriminant; :meth:`check_arm` says which arm is wrong when not."""
        groups: dict[str, list[Field]] = {}
        for f in arms:
            assert f.case is not None
            groups.setdefault(f.case.on, []).append(f)
        lines: list[str] = []
        parts: list[str] = []
        for on, group in groups.items():
            masks: dict[int, int] = {}
            default = 0
            for f in group:
                assert f.case is not None
                if f.case.otherwise:
                    default |= bit[f.name]
                for v in f.case.values:
                    masks[v] = masks.get(v, 0) | bit[f.name]
            table = self.const("SEL", masks)
            if self.is_external(d, group[0]):
                disc = self.fresh("disc")
                everyone = sum(bit[f.name] for f in group)
                lines.append(f"{disc} = env.get({on!r}, MISSING)")
                parts.append(
                    f"(seen & {everyone} if {disc} is MISSING else {table}.get({disc}, {default}))"
                )
            else:
                parts.append(f"{table}.get({self.internal(d, group[0])}, {default})")
        return [
            "f = ''",
            *lines,
            f"if seen != {' | '.join(parts)}:",
            *_indent([line for f in arms for line in self.check_arm(d, f)]),
            # Not reached: the same rule, arm by arm, fails above.
            "    raise DecodeError('select arms do not match their discriminants', '', m0)",
        ]

    def check_arm(self, d: Type, f: Field, var: str = "", at: str = "m0") -> list[str]:
        """Lines refusing an arm whose presence (``var``, by default its ``v_`` local, is
        not None) does not match its discriminant. A discriminant outside the struct
        (``env``) may be unknown: then the document says which arm it has, by its keys."""
        assert f.case is not None
        var = var or f"v_{f.name}"
        missing = [f"    raise DecodeError('required key is missing', '', {at})"]
        extra = ["    f = ''", f"    raise DecodeError(\"unexpected key {f.name!r}\", '', {at})"]
        if not self.is_external(d, f):
            sel = self.test(d, f, self.internal(d, f))
            return [
                f"f = {f.name!r}",
                f"if {var} is None and ({sel}):",
                *missing,
                f"if {var} is not None and not ({sel}):",
                *extra,
            ]
        sel = self.test(d, f, "disc")
        return [
            f"f = {f.name!r}",
            f"disc = env.get({f.case.on!r}, MISSING)",
            "if disc is not MISSING:",
            f"    if {var} is None and ({sel}):",
            *_indent(missing),
            f"    if {var} is not None and not ({sel}):",
            *_indent(extra),
        ]

    def check(self, t: Type, var: str) -> list[str]:
        """Lines checking the decoded value ``var`` of type ``t`` against the ``env``
        discriminants its arms depend on (a late field, see :meth:`deferred`)."""
        if t.kind in ("optional", "vector"):
            assert t.elem is not None
            y, i = self.fresh("y"), self.fresh("i")
            inner = self.check(t.elem, var if t.kind == "optional" else y)
            if not inner:
                return []
            if t.kind == "optional":
                return [f"if {var} is not None:", *_indent(inner)]
            return [
                f"for {i}, {y} in enumerate({var}):",
                "    try:",
                *_indent(inner, "        "),
                "    except DecodeError as e:",
                f"        raise reroot_decode(e, f'[{{{i}}}]') from None",
            ]
        if t.kind != "struct" or not self.deps(t)[1]:
            return []
        if f"k_{t.name}" not in self.ns:
            self.ns[f"k_{t.name}"] = None  # no schema type contains itself
            body: list[str] = []
            for f in t.fields:
                if f.case and self.is_external(t, f):
                    body += self.check_arm(t, f, f"o.{f.name}", at="None")
                inner = self.check(f.type, f"o.{f.name}")
                body += [f"f = {f.name!r}", *inner] if inner else []
            src = "\n".join(
                [
                    f"def k_{t.name}(o, env):",
                    "    f = ''",
                    "    try:",
                    *_indent(body, "        "),
                    "    except DecodeError as e:",
                    "        raise reroot_decode(e, f) from None",
                    "",
                ]
            )
            assert t.name is not None
            self.sources[f"{t.name} check"] = src
            exec(compile(src, f"<mlswire.cbor check {t.name}>", "exec"), self.ns)
        return [f"k_{t.name}({var}, env)"]

    def decode(self, t: Type, var: str) -> list[str]:
        """Lines that read one value of type ``t`` at ``pos`` into ``var``."""
        k = t.kind
        if k == "uint":
            top = (1 << (8 * t.size)) - 1
            expected = self.const("EXP", f"an integer 0..{top} (uint{8 * t.size})")
            lines = [
                "b = buf[pos]",
                "if b < 24:",
                f"    {var} = b",
                "    pos += 1",
                "elif b == 24:",
                f"    {var} = buf[pos + 1]",
                f"    if {var} < 24:",
                "        raise not_shortest(pos)",
                "    pos += 2",
            ]
            # Longer heads inline too, as far as the type reaches (test vectors, like
            # real leaf indices and epochs, use all 32 or 64 bits).
            for ai, bits in ((25, 16), (26, 32), (27, 64)):
                if top >> (bits // 2):
                    lines += [
                        f"elif b == {ai}:",
                        f"    {var} = U{bits}(buf, pos + 1)[0]",
                        f"    if {var} < {1 << (bits // 2)}:",
                        "        raise not_shortest(pos)",
                        f"    pos += {1 + bits // 8}",
                    ]
            return [*lines, "else:", f"    {var}, pos = uint_of(buf, pos, {top}, {expected})"]
        if k == "enum":
            return self.decode_enum(t, var)
        if k in ("opaque", "padding"):
            lines = [
                # Most byte strings here are keys, hashes and signatures of 24..255 bytes.
                "b = buf[pos]",
                "if b == 0x58:",
                "    end = buf[pos + 1]",
                "    if end < 24:",
                "        raise not_shortest(pos)",
                "    end += pos + 2",
                "    pos += 2",
                "elif 0x40 <= b < 0x58:",
                "    end = pos + b - 0x3f",
                "    pos += 1",
                "elif b == 0x59:",
                "    end = U16(buf, pos + 1)[0]",
                "    if end < 256:",
                "        raise not_shortest(pos)",
                "    end += pos + 3",
                "    pos += 3",
                "else:",
                "    end, pos = len_of(buf, pos, 2, 'a byte string')",
                "    end += pos",
                "if end > len(buf):",
                "    raise truncated(pos, buf)",
                f"{var} = buf[pos:end]",
                "pos = end",
            ]
            if k == "padding":
                lines += [
                    f"if {var}.strip(b'\\x00'):",
                    f"    raise DecodeError('padding must be all zero bytes', '', pos - len({var}))",
                ]
            return lines
        if k == "fixed":
            assert t.size < 24
            return [
                f"if buf[pos] != {0x40 + t.size}:",
                f"    raise fixed_error(buf, pos, {t.size})",
                f"{var} = buf[pos + 1:pos + {1 + t.size}]",
                f"if len({var}) != {t.size}:",
                "    raise truncated(pos, buf)",
                f"pos += {1 + t.size}",
            ]
        if k == "vector":
            assert t.elem is not None
            n, items, z = self.fresh("n"), self.fresh("items"), self.fresh("z")
            # The failing element's index is len(items) at the time of the error: no
            # per-element bookkeeping on the good path.
            where = f"f'[{{len({items})}}]'"
            return [
                "b = buf[pos]",
                "if 0x80 <= b < 0x98:",
                f"    {n} = b - 0x80",
                "    pos += 1",
                "else:",
                f"    {n}, pos = len_of(buf, pos, 4, 'an array')",
                f"{items} = []",
                "try:",
                # A count beyond the input stops at its end: every element takes a byte.
                f"    for _ in range({n}):",
                *_indent(self.decode(t.elem, z), "        "),
                f"        {items}.append({z})",
                "except DecodeError as e:",
                f"    raise reroot_decode(e, {where}) from None",
                "except (IndexError, struct_error):",
                f"    raise reroot_decode(truncated(pos, buf), {where}) from None",
                f"{var} = tuple({items})",
            ]
        if k == "optional":
            assert t.elem is not None
            return [
                "if buf[pos] == 0xf6:",
                f"    {var} = None",
                "    pos += 1",
                "else:",
                *_indent(self.decode(t.elem, var)),
            ]
        if k == "struct":
            self.ensure(t)
            return [f"{var}, pos = d_{t.name}(buf, pos, env)"]
        raise AssertionError(k)

    def decode_enum(self, t: Type, var: str) -> list[str]:
        """An enum is its RFC name, looked up by its whole encoding (head and text), so
        that a non-shortest head or a name cut short by the end of input finds nothing."""
        cls = t.cls
        names = self.const(f"N_{cls.__name__}_", {_cbor.text_item(m.name): m for m in cls})
        top = (1 << (8 * cls.__wire_size__)) - 1
        if is_open(cls):
            expected = f"a {cls.__name__} name or an unnamed value 0..{top}"
        else:
            expected = f"a {cls.__name__} name"
        lines = [
            "b = buf[pos]",
            "if 0x60 <= b <= 0x78:",
            "    end = pos + b - 0x5f if b < 0x78 else pos + 2 + buf[pos + 1]",
            f"    {var} = {names}.get(buf[pos:end])",
            f"    if {var} is None:",
            f"        raise enum_error(buf, pos, {cls.__name__!r}, {expected!r})",
            "    pos = end",
        ]
        if is_open(cls):
            known = self.const("NAMED", frozenset(int(m) for m in cls))
            lines += [
                "elif b < 0x20:",
                f"    {var}, end = (b, pos + 1) if b < 24 else uint_of(buf, pos, {top}, {expected!r})",
                f"    if {var} in {known}:",
                f"        raise DecodeError(f'{cls.__name__} value {{{var}}} has a name and must be written as it', '', pos)",
                f"    {var} = {self.const('OPEN', cls)}({var})",
                "    pos = end",
            ]
        return [*lines, "else:", f"    raise item_error(buf, pos, {expected!r})"]

    # -- encoding --------------------------------------------------------------

    def struct_encoder(self, d: Type) -> str:
        names = [f.name for f in d.fields]
        byname = {f.name: f for f in d.fields}
        late = self.deferred(d)
        body: list[str] = []
        # Every field is read and every arm decided first: the map head needs the count.
        for f in d.fields:
            var = f"v_{f.name}"
            body += [f"f = {f.name!r}", f"{var} = o.{f.name}"]
        count = [str(0xA0 + sum(f.case is None for f in d.fields))]
        for f in d.fields:
            if f.case is None:
                continue
            var, sel = f"v_{f.name}", f"p_{f.name}"
            body.append(f"f = {f.name!r}")
            body += self.selected(d, f, f"{var} is not None", sel)
            body += [
                f"if {sel} and {var} is None:",
                "    raise EncodeError('this select arm requires the field')",
            ]
            count.append(sel)
        body.append(f"out.append({' + '.join(count)})")
        for name in cbor_key_order(names):
            f = byname[name]
            k = self.const("K", _cbor.text_item(name))
            lines = [f"out += {k}"]
            lines += [f"at_{name} = len(out)"] if name in late else self.encode(f.type, f"v_{name}")
            body.append(f"f = {name!r}")
            body += [f"if p_{name}:", *_indent(lines)] if f.case else lines
            if f"{d.name}.{name}" in self.external and name not in late:
                body.append(f"env['{d.name}.{name}'] = v_{name}")
        for name in late:  # in RFC order, each into a buffer of its own
            f = byname[name]
            lines = [f"sub_{name} = bytearray()", *self.encode(f.type, f"v_{name}", f"sub_{name}")]
            body.append(f"f = {name!r}")
            body += [f"if p_{name}:", *_indent(lines)] if f.case else lines
            if f"{d.name}.{name}" in self.external:
                body.append(f"env['{d.name}.{name}'] = v_{name}")
        # ... then put in their places, the last first so that earlier offsets hold.
        for name in sorted(late, key=cbor_key_order(names).index, reverse=True):
            put = f"out[at_{name}:at_{name}] = sub_{name}"
            body += [f"if p_{name}:", "    " + put] if byname[name].case else [put]
        return "\n".join(
            [
                f"def e_{d.name}(o, out, env):",
                "    f = ''",
                "    try:",
                *_indent(body, "        "),
                "    except (EncodeError, *CODE_ERRORS) as e:",
                "        raise reroot_encode(e, f) from None",
                "",
            ]
        )

    def encode(self, t: Type, v: str, out: str = "out") -> list[str]:
        """Lines that append the encoding of ``v`` (type ``t``) to the bytearray ``out``."""
        k = t.kind
        if k == "uint":
            top = (1 << (8 * t.size)) - 1
            x = self.fresh("x")
            lines = [
                # index() admits what struct.pack admits (ints, IntEnums), never floats.
                f"{x} = {v} if {v}.__class__ is int else index({v})",
                f"if 0 <= {x} < 24:",
                f"    {out}.append({x})",
                f"elif 24 <= {x} < 256:",
                f"    {out}.append(24)",
                f"    {out}.append({x})",
            ]
            if top > 0xFFFF:  # random 32-bit values (leaf indices, generations) are common
                lines += [f"elif 0x10000 <= {x} <= 0xffffffff:", f"    {out} += HEAD32(26, {x})"]
            return [*lines, "else:", f"    {out} += uint_head({x}, {top})"]
        if k == "enum":
            cls = t.cls
            names = self.const(f"V_{cls.__name__}_", {int(m): _cbor.text_item(m.name) for m in cls})
            x = self.fresh("x")
            lines = [f"{x} = {names}.get({v})", f"if {x} is None:"]
            if is_open(cls):
                top = (1 << (8 * cls.__wire_size__)) - 1
                lines += [
                    f"    {x} = index({v})",
                    f"    if not 0 <= {x} <= {top}:",
                    f"        raise EncodeError(f'{{{v}!r}} is not a {cls.__name__}')",
                    f"    {x} = head(0, {x})",
                ]
            else:
                lines.append(f"    raise EncodeError(f'{{{v}!r}} is not a {cls.__name__}')")
            return [*lines, f"{out} += {x}"]
        if k in ("opaque", "fixed", "padding"):
            x, n = self.fresh("x"), self.fresh("n")
            lines = [f"{x} = {v} if {v}.__class__ is bytes else as_bytes({v})", f"{n} = len({x})"]
            if k == "fixed":
                lines += [
                    f"if {n} != {t.size}:",
                    f"    raise EncodeError(f'must be exactly {t.size} bytes, not {{{n}}}')",
                ]
            elif k == "padding":
                lines += [
                    f"if {x}.strip(b'\\x00'):",
                    "    raise EncodeError('padding must be all zero bytes')",
                ]
            return [
                *lines,
                f"if {n} < 24:",
                f"    {out}.append(0x40 + {n})",
                f"elif {n} < 256:",
                f"    {out}.append(0x58)",
                f"    {out}.append({n})",
                f"elif {n} < 0x10000:",
                f"    {out} += HEAD16(0x59, {n})",
                "else:",
                f"    {out} += bytes_head({n})" if k == "opaque" else f"    {out} += head(2, {n})",
                f"{out} += {x}",
            ]
        if k == "vector":
            assert t.elem is not None
            seq, i, y = self.fresh("seq"), self.fresh("i"), self.fresh("y")
            return [
                # A tuple (what decoding gives) as it is; any other iterable as its items.
                f"{seq} = {v} if {v}.__class__ is tuple else tuple({v})",
                f"if len({seq}) < 24:",
                f"    {out}.append(0x80 + len({seq}))",
                "else:",
                f"    {out} += head(4, len({seq}))",
                f"{i} = 0",
                "try:",
                f"    for {i}, {y} in enumerate({seq}):",
                *_indent(self.encode(t.elem, y, out), "        "),
                "except (EncodeError, *CODE_ERRORS) as e:",
                f"    raise reroot_encode(e, f'[{{{i}}}]') from None",
            ]
        if k == "optional":
            assert t.elem is not None
            return [
                f"if {v} is None:",
                f"    {out}.append(0xf6)",
                "else:",
                *_indent(self.encode(t.elem, v, out)),
            ]
        if k == "struct":
            self.ensure(t)
            return [f"e_{t.name}({v}, {out}, env)"]
        raise AssertionError(k)

    # -- any type --------------------------------------------------------------

    def top(self, d: Type) -> tuple[Decoder, Encoder]:
        if d.kind == "struct":
            self.ensure(d)
            return self.ns[f"d_{d.name}"], self.ns[f"e_{d.name}"]
        name = self.fresh("top")
        src = "\n".join(
            [
                f"def d_{name}(buf, pos, env):",
                "    f = ''",
                "    try:",
                *_indent(self.decode(d, "v"), "        "),
                "        return v, pos",
                "    except DecodeError as e:",
                "        raise reroot_decode(e, f) from None",
                "    except (IndexError, struct_error):",
                "        raise reroot_decode(truncated(pos, buf), f) from None",
                "",
                f"def e_{name}(v, out, env):",
                "    f = ''",
                "    try:",
                *_indent(self.encode(d, "v"), "        "),
                "    except (EncodeError, *CODE_ERRORS) as e:",
                "        raise reroot_encode(e, f) from None",
                "",
            ]
        )
        exec(compile(src, f"<mlswire.cbor {d.rfc()}>", "exec"), self.ns)
        return self.ns[f"d_{name}"], self.ns[f"e_{name}"]
