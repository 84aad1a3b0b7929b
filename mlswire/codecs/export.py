"""Language-neutral descriptions of the encodings, generated from the schema.

``mlswire schema export tls|cddl|jsonschema`` prints these; the committed copies in
``encodings/`` are checked against them by a test, so they never drift from the code.

- :func:`tls_presentation`: the RFC 9420 structs in the TLS presentation language;
- :func:`cddl`: the CBOR mapping as CDDL (RFC 8610);
- :func:`json_schema`: the JSON mapping as JSON Schema (draft 2020-12).

A ``select`` whose discriminant is a field of the same struct becomes, in CDDL and JSON
Schema, a choice between complete maps, one per group of discriminant values with the
same fields. A discriminant that lives elsewhere (an enclosing message, or a nested
field) cannot be expressed in either language; its arm fields are optional there, and
``encodings/README.md`` states the rule a decoder applies.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..schema.base import Field, Type, describe, lookup, registered
from ._compile import is_open

PRIMITIVES = {"uint8", "uint16", "uint32", "uint64", "opaque"}
ROOT = "MLSMessage"


def _types() -> Iterator[tuple[str, Type]]:
    """Every RFC 9420 type in declaration order, MLSMessage (the usual root) first.

    Only the RFC's types: a type another module registers (stored group state, say) has
    no place in the published description of the wire, and must not make the output
    depend on what happens to be imported."""
    from ..schema import rfc9420

    rfc = {id(v) for v in vars(rfc9420).values()}
    items = [
        (n, describe(tp)) for n, tp in registered().items() if n not in PRIMITIVES and id(tp) in rfc
    ]
    items.sort(key=lambda item: item[0] != ROOT)  # stable: the rest keep their order
    yield from items


def _resolve(d: Type, on: str) -> Type:
    """The descriptor of a discriminant path such as ``PublicMessage.content.sender.sender_type``."""
    head, *attrs = on.split(".")
    t = d if head == d.name else describe(lookup(head))
    for a in attrs:
        t = next(f.type for f in t.fields if f.name == a)
    return t


def _is_internal(d: Type, f: Field) -> bool:
    """A select on a direct field of the same struct: expressible as a choice of maps."""
    assert f.case is not None
    parts = f.case.on.split(".")
    return parts[0] == d.name and len(parts) == 2


class _Arms:
    """The arms of one internal discriminant: groups of values with the same fields."""

    def __init__(self, d: Type, disc: str) -> None:
        self.field = disc
        self.enum = next(f.type for f in d.fields if f.name == disc)
        cls = self.enum.cls
        self.fields = [
            f
            for f in d.fields
            if f.case is not None and _is_internal(d, f) and f.case.on.split(".")[1] == disc
        ]
        named = {v for f in self.fields if f.case and not f.case.otherwise for v in f.case.values}
        by_fields: dict[tuple[str, ...], list[Any]] = {}
        for member in cls:
            # A member that no case names (``reserved``) falls in the ``otherwise`` arm,
            # exactly as an unnamed value does.
            names = tuple(
                f.name
                for f in self.fields
                if f.case
                and (
                    int(member) in f.case.values
                    if not f.case.otherwise
                    else int(member) not in named
                )
            )
            by_fields.setdefault(names, []).append(member)
        self.groups: list[tuple[list[Any], tuple[str, ...], bool]] = [
            (members, names, False) for names, members in by_fields.items()
        ]
        if is_open(cls):
            # Values the schema does not name: written as numbers, with the ``otherwise``
            # arm's fields (or none).
            other = tuple(f.name for f in self.fields if f.case and f.case.otherwise)
            self.groups.append(([], other, True))


def _struct_arms(d: Type) -> list[_Arms]:
    discs: list[str] = []
    for f in d.fields:
        if f.case is not None and _is_internal(d, f):
            name = f.case.on.split(".")[1]
            if name not in discs:
                discs.append(name)
    return [_Arms(d, name) for name in discs]


# ---------------------------------------------------------------------------
# TLS presentation language.


def _enum_tls(name: str, t: Type) -> str:
    cls = t.cls
    width = cls.__wire_size__
    fmt = (lambda v: f"0x{v:04x}") if is_open(cls) else str
    lines = [f"    {m.name}({fmt(int(m))})," for m in cls]
    lines.append(f"    ({(1 << (8 * width)) - 1})")
    return "enum {\n" + "\n".join(lines) + f"\n}} {name};\n"


def _field_tls(f: Field, indent: str) -> str:
    return f"{indent}{f.type.rfc()} {f.name}{f.type.suffix()};"


def _struct_tls(name: str, d: Type) -> str:
    lines = ["struct {"]
    fields = list(d.fields)
    i = 0
    while i < len(fields):
        f = fields[i]
        if f.case is None:
            lines.append(_field_tls(f, "    "))
            i += 1
            continue
        on = f.case.on
        block = []
        while i < len(fields) and fields[i].case is not None and fields[i].case.on == on:  # type: ignore[union-attr]
            block.append(fields[i])
            i += 1
        cls = _resolve(d, on).cls
        lines.append(f"    select ({on}) {{")
        arms: dict[tuple[str, ...], list[str]] = {}
        for member in cls:
            names = tuple(
                g.name
                for g in block
                if g.case and not g.case.otherwise and int(member) in g.case.values
            )
            if names:
                arms.setdefault(names, []).append(member.name)
        for names, members in arms.items():
            lines.extend(f"        case {m}:" for m in members)
            lines.extend(_field_tls(g, "            ") for g in block if g.name in names)
        others = [g for g in block if g.case and g.case.otherwise]
        if others:
            lines.append(
                "        default:  /* mlswire: the body of a type RFC 9420 does not name */"
            )
            lines.extend(_field_tls(g, "            ") for g in others)
        lines.append("    };")
    lines.append(f"}} {name};")
    return "\n".join(lines) + "\n"


def tls_presentation() -> str:
    out = [
        "/* The RFC 9420 structures in the TLS presentation language (RFC 9420 §2.1).",
        " * Generated by `mlswire schema export tls` from mlswire's schema; do not edit.",
        " * A select value with no case carries no fields. Registry enums (uint16,",
        " * written in hex) also admit values they do not name; closed enums do not. */",
        "",
    ]
    for name, t in _types():
        if t.kind == "enum":
            out.append(_enum_tls(name, t))
        elif t.kind == "struct":
            out.append(_struct_tls(name, t))
        elif t.kind in ("opaque", "vector"):
            out.append(f"{t.elem.rfc() if t.elem else 'opaque'} {name}<V>;\n")
        else:  # pragma: no cover - the schema has no other kind of alias
            raise AssertionError(t.kind)
    return "\n".join(out)


# ---------------------------------------------------------------------------
# CDDL (CBOR).

_CDDL_UINT = {1: "uint8", 2: "uint16", 4: "uint32", 8: "uint64"}


def _cddl_type(t: Type) -> str:
    if t.name and t.kind in ("struct", "enum", "opaque", "vector"):
        return t.name
    k = t.kind
    if k == "uint":
        return _CDDL_UINT[t.size]
    if k == "opaque":
        return "bstr"
    if k == "fixed":
        return f"bstr .size {t.size}"
    if k == "padding":
        return "bstr  ; all zero bytes"
    if k == "vector":
        assert t.elem is not None
        return f"[* {_cddl_elem(t.elem)}]"
    if k == "optional":
        assert t.elem is not None
        return f"({_cddl_type(t.elem)} / null)"
    raise AssertionError(k)


def _cddl_elem(t: Type) -> str:
    """An array element type. A struct with several alternative maps is spelled out as
    the choice of its alternatives' rules: equivalent CDDL, and the form that the
    cddl-rs validator (pycddl) checks correctly, where it tries only the first
    alternative of a choice named indirectly inside an array."""
    if t.kind == "optional":
        assert t.elem is not None
        inner = _cddl_elem(t.elem)
        return f"({inner.strip('()')} / null)"
    if t.kind == "struct" and t.name:
        alts = _alternative_names(t.name, t)
        if len(alts) > 1:
            return "(" + " / ".join(alts) + ")"
    if t.kind == "enum":
        return "(" + _enum_alternatives(t, " / ") + ")"
    return _cddl_type(t)


def _enum_cddl(name: str, t: Type) -> str:
    cls = t.cls
    alts = [f'"{m.name}"' for m in cls]
    if is_open(cls):
        alts.append(f"0..{(1 << (8 * cls.__wire_size__)) - 1}  ; a value without a name")
    return f"{name} = " + "\n    / ".join(alts) + "\n"


def _enum_alternatives(t: Type, sep: str) -> str:
    cls = t.cls
    alts = [f'"{m.name}"' for m in cls]
    if is_open(cls):
        alts.append(f"0..{(1 << (8 * cls.__wire_size__)) - 1}")
    return sep.join(alts)


@dataclass
class _Entry:
    """One key of one alternative map. For a discriminant, ``members`` are the enum
    values this alternative admits, or ``unnamed`` the values without a name."""

    field: Field
    optional: bool = False
    members: list[Any] | None = None
    unnamed: bool = False


def _maps(d: Type) -> list[list[_Entry]]:
    """Each alternative map of a struct, its keys in field order."""
    arms = _struct_arms(d)
    disc_names = {a.field for a in arms}
    arm_field_names = {f.name for a in arms for f in a.fields}
    out = []
    for choice in itertools.product(*(a.groups for a in arms)):
        chosen = {a.field: c for a, c in zip(arms, choice, strict=True)}
        entries = []
        for f in d.fields:
            if f.name in disc_names:
                members, _, unnamed = chosen[f.name]
                entries.append(_Entry(f, members=members, unnamed=unnamed))
            elif f.name in arm_field_names:
                if any(f.name in c[1] for c in chosen.values()):
                    entries.append(_Entry(f))
            else:
                # A select on a discriminant elsewhere: the key may be absent.
                entries.append(_Entry(f, optional=f.case is not None))
        out.append(entries)
    return out


def _unnamed_range(t: Type) -> tuple[int, int]:
    return 0, (1 << (8 * t.cls.__wire_size__)) - 1


def _entry_cddl(e: _Entry) -> str:
    if e.unnamed:
        lo, hi = _unnamed_range(e.field.type)
        typ = f"{lo}..{hi}"
    elif e.members is not None:
        typ = " / ".join(f'"{m.name}"' for m in e.members)
    else:
        typ = _cddl_type(e.field.type)
    return f"    {'? ' if e.optional else ''}{e.field.name}: {typ},\n"


def _alternative_names(name: str, d: Type) -> list[str]:
    """Rule names of a struct's alternative maps: ``Sender-member``, ``Proposal-unnamed``."""
    names = []
    for entries in _maps(d):
        tags = []
        for e in entries:
            if e.unnamed:
                tags.append("unnamed")
            elif e.members is not None:
                tags.append(e.members[0].name)
        names.append("-".join([name, *tags]))
    return names


def _struct_cddl(name: str, d: Type) -> str:
    maps = ["{\n" + "".join(_entry_cddl(e) for e in entries) + "}" for entries in _maps(d)]
    if len(maps) == 1:
        return f"{name} = {maps[0]}\n"
    # Each alternative is a rule of its own so that array elements can name them all
    # (see _cddl_elem).
    alts = _alternative_names(name, d)
    rules = [f"{name} = " + " / ".join(alts) + "\n"]
    rules += [f"{alt} = {body}\n" for alt, body in zip(alts, maps, strict=True)]
    return "".join(rules)


def cddl() -> str:
    out = [
        "; The CBOR encoding of the RFC 9420 structures (see encodings/README.md).",
        "; Generated by `mlswire schema export cddl` from mlswire's schema; do not edit.",
        "; Beyond what CDDL can say, a decoder also requires deterministic encoding",
        "; (RFC 8949 §4.2.1), registry values that have a name written as that name, and",
        "; select arms whose discriminant is outside the map to match that discriminant.",
        "",
    ]
    for name, t in _types():
        if t.kind == "enum":
            out.append(_enum_cddl(name, t))
        elif t.kind == "struct":
            out.append(_struct_cddl(name, t))
        else:
            out.append(f"{name} = {_cddl_type(_anonymous(t))}\n")
    out.append(
        "uint8 = 0..255\nuint16 = 0..65535\nuint32 = 0..4294967295\nuint64 = uint  ; 0..2^64-1\n"
    )
    return "\n".join(out)


def _anonymous(t: Type) -> Type:
    """An alias's own structure (its name stripped), for its defining rule."""
    return Type(t.kind, None, t.size, t.elem, t.cls)


# ---------------------------------------------------------------------------
# JSON Schema (JSON).

_HEX = "^([0-9a-f]{2})*$"
_UINT64 = "^(0|[1-9][0-9]{0,19})$"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/$defs/{name}"}


def _json_type(t: Type) -> dict[str, Any]:
    if t.name and t.kind in ("struct", "enum", "opaque", "vector"):
        return _ref(t.name)
    k = t.kind
    if k == "uint":
        if t.size == 8:
            return {
                "type": "string",
                "pattern": _UINT64,
                "description": "uint64 as a decimal string, at most 18446744073709551615",
            }
        return {"type": "integer", "minimum": 0, "maximum": (1 << (8 * t.size)) - 1}
    if k == "opaque":
        return {"type": "string", "pattern": _HEX}
    if k == "fixed":
        return {"type": "string", "pattern": f"^[0-9a-f]{{{2 * t.size}}}$"}
    if k == "padding":
        return {"type": "string", "pattern": "^(00)*$"}
    if k == "vector":
        assert t.elem is not None
        return {"type": "array", "items": _json_type(t.elem)}
    if k == "optional":
        assert t.elem is not None
        return {"anyOf": [_json_type(t.elem), {"type": "null"}]}
    raise AssertionError(k)


def _enum_json(t: Type) -> dict[str, Any]:
    cls = t.cls
    names = {"enum": [m.name for m in cls]}
    if not is_open(cls):
        return names
    unnamed = {
        "type": "integer",
        "minimum": 0,
        "maximum": (1 << (8 * cls.__wire_size__)) - 1,
        "not": {"enum": [int(m) for m in cls]},
    }
    return {"anyOf": [names, unnamed]}


def _entry_json(e: _Entry) -> dict[str, Any]:
    if e.unnamed:
        return dict(_enum_json(e.field.type)["anyOf"][1])
    if e.members is not None:
        return {"enum": [m.name for m in e.members]}
    return _json_type(e.field.type)


def _struct_json(d: Type) -> dict[str, Any]:
    alternatives = [
        {
            "type": "object",
            "properties": {e.field.name: _entry_json(e) for e in entries},
            "required": [e.field.name for e in entries if not e.optional],
            "additionalProperties": False,
        }
        for entries in _maps(d)
    ]
    if len(alternatives) == 1:
        return alternatives[0]
    return {"oneOf": alternatives}


def json_schema() -> str:
    defs: dict[str, Any] = {}
    for name, t in _types():
        if t.kind == "enum":
            defs[name] = _enum_json(t)
        elif t.kind == "struct":
            defs[name] = _struct_json(t)
        else:
            defs[name] = _json_type(_anonymous(t))
    doc = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://mlswire.invalid/encodings/mls.schema.json",
        "title": "The JSON encoding of the RFC 9420 structures (see encodings/README.md)",
        "description": (
            "Generated by `mlswire schema export jsonschema` from mlswire's schema; do not "
            "edit. The root is MLSMessage; every other type is under $defs. Beyond what "
            "this schema says, a decoder rejects duplicate keys, numbers with a fraction "
            "or exponent, and select arms whose discriminant is outside the object when "
            "they do not match that discriminant."
        ),
        "$ref": f"#/$defs/{ROOT}",
        "$defs": defs,
    }
    return json.dumps(doc, indent=2) + "\n"


EXPORTS = {"tls": tls_presentation, "cddl": cddl, "jsonschema": json_schema}
FILES = {"tls": "mls.tls", "cddl": "mls.cddl", "jsonschema": "mls.schema.json"}
