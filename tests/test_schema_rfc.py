"""The schema against the RFC text: every ``struct {...} Name;`` and ``enum {...} Name;``
block of RFC 9420 exists in mlswire.schema with the same fields, in the same order, of
the same types, and the same select arms."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from mlswire.schema import describe, registered
from mlswire.schema.base import Type

# Presentation-language illustrations in RFC 9420 §2.1, not MLS types.
NOT_MLS_TYPES = {"optional", "StructWithVectors"}

BLOCK = re.compile(r"(?ms)^\s*(struct|enum) \{(.*?)^\s*\}\s*(\w+)\s*(<T>)?\s*;")
TOKEN = re.compile(r"\.\.|[A-Za-z_][A-Za-z_0-9]*|\d+|[{}()<>\[\];:=,.]")


@dataclass
class RfcField:
    type: str
    name: str | None
    suffix: str
    default: str | None = None


@dataclass
class RfcSelect:
    on: str
    arms: dict[str, list[RfcField]] = field(default_factory=dict)


def rfc_blocks(text: str) -> dict[str, tuple[str, str]]:
    blocks = {}
    for m in BLOCK.finditer(text):
        kind, body, name = m.group(1), m.group(2), m.group(3)
        if name in NOT_MLS_TYPES:
            continue
        blocks[name] = (kind, re.sub(r"(?s)/\*.*?\*/", "", body))
    return blocks


class Parser:
    def __init__(self, body: str) -> None:
        self.toks = TOKEN.findall(body)
        self.i = 0

    def peek(self, k: int = 0) -> str | None:
        return self.toks[self.i + k] if self.i + k < len(self.toks) else None

    def take(self, want: str | None = None) -> str:
        tok = self.toks[self.i]
        if want is not None:
            assert tok == want, f"expected {want!r}, found {tok!r} at token {self.i}"
        self.i += 1
        return tok

    def items(self, stop: set[str]) -> list[Any]:
        out: list[Any] = []
        while self.peek() is not None and self.peek() not in stop:
            out.append(self.select() if self.peek() == "select" else self.field())
        return out

    def select(self) -> RfcSelect:
        self.take("select")
        self.take("(")
        on = ""
        while self.peek() != ")":
            on += self.take()
        self.take(")")
        self.take("{")
        sel = RfcSelect(on)
        while self.peek() == "case":
            labels = []
            while self.peek() == "case":
                self.take("case")
                labels.append(self.take())
                self.take(":")
            fields = [f for f in self.items({"case", "}"}) if f is not None]
            for label in labels:
                sel.arms[label] = fields
        self.take("}")
        self.take(";")
        return sel

    def field(self) -> Any:
        if self.peek() == "struct":  # struct{}; an empty arm
            self.take("struct")
            self.take("{")
            self.take("}")
            self.take(";")
            return None
        tp = self.take()
        if tp == "optional":
            self.take("<")
            tp = f"optional<{self.take()}>"
            self.take(">")
        name = None
        if self.peek() not in (";",):
            name = self.take()
        suffix = ""
        if self.peek() == "<":
            while self.peek() != ">":
                suffix += self.take()
            suffix += self.take()
        elif self.peek() == "[":
            while self.peek() != "]":
                suffix += self.take()
            suffix += self.take()
        default = None
        if self.peek() == "=":
            self.take("=")
            default = self.take()
        self.take(";")
        return RfcField(tp, name, suffix, default)


def enum_of(struct_type: Type, path: list[str]) -> Any:
    """The enum class of a discriminant written as a path of field names."""
    t = struct_type
    for name in path:
        (f,) = [f for f in t.fields if f.name == name]
        t = f.type
    return t.cls


def schema_items(d: Type) -> list[Any]:
    out: list[Any] = []
    for f in d.fields:
        if f.case is None:
            default = f.default.name if hasattr(f.default, "name") else None
            out.append(RfcField(f.type.rfc(), f.name, f.type.suffix(), default))
            continue
        if f.case.otherwise:  # mlswire's arm for unknown values, not part of the RFC
            continue
        if not (out and isinstance(out[-1], RfcSelect) and out[-1].on == f.case.on):
            out.append(RfcSelect(f.case.on))
        head, *path = f.case.on.split(".")
        owner = describe(registered()[head])
        enum = enum_of(owner, path)
        for value in f.case.values:
            out[-1].arms.setdefault(enum(value).name, []).append(
                RfcField(f.type.rfc(), f.name, f.type.suffix())
            )
    return out


def normalise(items: list[Any]) -> list[Any]:
    norm: list[Any] = []
    for it in items:
        if isinstance(it, RfcSelect):
            arms = {k: [(f.type, f.name, f.suffix) for f in v] for k, v in it.arms.items() if v}
            norm.append(("select", it.on, arms))
        else:
            norm.append((it.type, it.name, it.suffix, it.default))
    return norm


def unnamed_to_schema(items: list[Any]) -> list[Any]:
    """``case add: Add;`` has no field name in the RFC; mlswire names the field after the arm."""
    for it in items:
        if isinstance(it, RfcSelect):
            for label, fields in it.arms.items():
                for f in fields:
                    if f.name is None:
                        f.name = label
    return items


@pytest.fixture(scope="module")
def blocks(request: pytest.FixtureRequest) -> dict[str, tuple[str, str]]:
    return rfc_blocks(request.getfixturevalue("rfc9420_text"))


def test_rfc_has_the_expected_number_of_types(blocks: dict[str, tuple[str, str]]) -> None:
    # 59 structs and 8 enums in RFC 9420, beyond the two §2.1 illustrations.
    assert sum(k == "struct" for k, _ in blocks.values()) == 59
    assert sum(k == "enum" for k, _ in blocks.values()) == 8


def test_every_rfc_type_is_in_the_schema(blocks: dict[str, tuple[str, str]]) -> None:
    missing = sorted(set(blocks) - set(registered()))
    assert not missing, f"schema lacks {missing}"


def test_structs_match_the_rfc(blocks: dict[str, tuple[str, str]]) -> None:
    problems = []
    checked = 0
    for name, (kind, body) in sorted(blocks.items()):
        if kind != "struct":
            continue
        rfc = normalise(unnamed_to_schema(Parser(body).items(set())))
        ours = normalise(schema_items(describe(registered()[name])))
        checked += 1
        if rfc != ours:
            problems.append(f"{name}:\n  rfc:    {rfc}\n  schema: {ours}")
    assert checked == 59
    assert not problems, "\n".join(problems)


def test_enums_match_the_rfc(blocks: dict[str, tuple[str, str]]) -> None:
    for name, (kind, body) in blocks.items():
        if kind != "enum":
            continue
        pairs = dict((k, int(v)) for k, v in re.findall(r"(\w+)\((\d+)\)", body))
        limit = int(re.search(r"\((\d+)\)\s*$", body.strip()).group(1))  # type: ignore[union-attr]
        cls = registered()[name]
        assert {m.name: int(m) for m in cls} == pairs, name
        assert cls.__wire_size__ == (limit.bit_length() + 7) // 8, name


def test_aliases_match_the_rfc(rfc9420_text: str) -> None:
    aliases = re.findall(r"(?m)^(opaque|uint16|HashReference) (\w+)(<V>)?;$", rfc9420_text)
    assert len(aliases) == 12
    # The RFC's one unnamed payload typedef, `opaque application_id<V>;`
    python_names = {"application_id": "ApplicationId"}
    for base, name, _ in aliases:
        d = describe(registered()[python_names.get(name, name)])
        if base == "uint16":  # the IANA registry types: open two-byte enums
            assert d.kind == "enum" and d.size == 2, name
        else:
            assert d.kind == "opaque", name


def test_typed_extension_payloads_exist(rfc9420_text: str) -> None:
    # `optional<Node> ratchet_tree<V>;` and friends: vectors with no struct around them.
    assert describe(registered()["RatchetTree"]).kind == "vector"
    assert describe(registered()["RatchetTree"]).elem.rfc() == "optional<Node>"  # type: ignore[union-attr]
    assert describe(registered()["ExternalSenders"]).elem.rfc() == "ExternalSender"  # type: ignore[union-attr]
    assert describe(registered()["ApplicationId"]).kind == "opaque"


def test_the_comparison_notices_a_difference() -> None:
    # The same check must fail for a struct whose fields are swapped or retyped.
    sender = describe(registered()["Sender"])
    swapped = """
        SenderType sender_type;
        select (Sender.sender_type) {
            case member: uint32 sender_index;
            case external: uint32 leaf_index;
        };"""
    retyped = """
        SenderType sender_type;
        select (Sender.sender_type) {
            case member: uint16 leaf_index;
            case external: uint32 sender_index;
        };"""
    ours = normalise(schema_items(sender))
    assert normalise(Parser(swapped).items(set())) != ours
    assert normalise(Parser(retyped).items(set())) != ours
