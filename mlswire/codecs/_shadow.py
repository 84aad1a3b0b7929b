"""The fast path of JSON decoding: msgspec parses the text straight into *shadow* structs.

A shadow struct has the fields of a schema struct, typed only as far as structure goes
(nested shadow structs, lists of them, ``| None`` for optionals, ``UNSET`` for a select
arm whose key is absent; every leaf is ``Any``), with unknown fields forbidden. msgspec
builds it in C without the dicts of a generic parse and refuses unknown keys, missing
required keys and arrays or objects in the wrong places on the way. The generated
``d_<Name>(shadow, env)`` then checks and converts each leaf with exactly the lines of
the tree walk (:class:`mlswire.codecs._tree.TreeCompiler`), which it extends.

What the shadow walk does not check, it counts: it adds up the keys it took (required
fields and taken arms) in ``env[KEY_COUNT]``. The text has one colon outside strings per
object member and none inside the strings the walk accepted, so it has exactly that
many colons unless it holds a member the walk did not take: a duplicate key (msgspec,
like orjson, keeps the last) or the key of an arm that is not taken. On any refusal or
count mismatch, :mod:`mlswire.codecs.json` decodes again by the tree walk, which says
exactly what is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from ..schema.base import Type
from ._tree import Flavor, TreeCompiler

Parse = Callable[[bytes | str], Any]
Walk = Callable[[Any, dict[str, Any]], Any]

#: The ``env`` entry in which the walk counts the keys it took.
KEY_COUNT = "#keys"


class ShadowCompiler(TreeCompiler):
    """Shadow struct types and the walks that convert them, per schema type."""

    def __init__(self, flavor: Flavor) -> None:
        super().__init__(flavor)
        self.label = "json shadow"
        self.ns["UNSET"] = UNSET
        self.shadows: dict[str, Any] = {}

    def shadow(self, t: Type) -> Any:
        """The msgspec type a value of ``t`` is parsed as: structure, not leaves."""
        if t.kind == "struct":
            assert t.name is not None
            if t.name not in self.shadows:
                fields: list[Any] = []
                for f in t.fields:
                    tp = self.shadow(f.type)
                    if f.case is None:
                        fields.append((f.name, tp))
                    else:  # an arm's key may be absent
                        fields.append((f.name, Any if tp is Any else tp | UnsetType, UNSET))
                self.shadows[t.name] = msgspec.defstruct(
                    t.name, fields, kw_only=True, forbid_unknown_fields=True
                )
            return self.shadows[t.name]
        if t.kind in ("vector", "optional"):
            assert t.elem is not None
            inner = self.shadow(t.elem)
            if inner is Any:
                return Any
            return list[inner] if t.kind == "vector" else inner | None  # type: ignore[valid-type]
        return Any

    def struct_decoder(self, d: Type) -> str:
        cls = self.const(f"C_{d.cls.__name__}_", d.cls)
        required = sum(f.case is None for f in d.fields)
        body = [f"n = {required}", *(f"v_{f.name} = None" for f in d.fields if f.case)]
        for f in d.fields:
            var = f"v_{f.name}"
            take = [f"x = s.{f.name}", *self.decode(f.type, "x", var, f.name)]
            if f.case is None:
                body += take
            else:
                # Without the enclosing discriminant, the document says: key present.
                body += self.selected(d, f, f"s.{f.name} is not UNSET")
                body.append("if sel:")
                # An arm taken must be there; one present but not taken is a key the
                # walk does not count.
                body += [
                    f"    if s.{f.name} is UNSET:",
                    "        raise DecodeError('required key is missing')",
                ]
                body += ["    " + line for line in take] + ["    n += 1"]
            key = f"{d.name}.{f.name}"
            if key in self.external:
                body.append(f"env[{key!r}] = {var}")
        args = ", ".join(f"{f.name}=v_{f.name}" for f in d.fields)
        body += [f"env[{KEY_COUNT!r}] += n", f"return {cls}({args})"]
        return "\n".join([f"def d_{d.name}(s, env):", *("    " + line for line in body)]) + "\n"

    def struct_encoder(self, d: Type) -> str:
        return ""  # encoding is the tree's (mlswire.codecs.json.encode)

    def functions(self, d: Type) -> tuple[Parse, Walk]:
        """msgspec's parser for the shadow of ``d``, and the walk that converts it."""
        parse = msgspec.json.Decoder(self.shadow(d)).decode
        if d.kind == "struct":
            self.ensure(d)
            return parse, self.ns[f"d_{d.name}"]
        name = self.fresh("top")
        src = "\n".join(
            [
                f"def d_{name}(x, env):",
                *("    " + s for s in self.decode(d, "x", "v", "")),
                "    return v",
            ]
        )
        exec(compile(src, f"<mlswire.json shadow {d.rfc()}>", "exec"), self.ns)
        return parse, self.ns[f"d_{name}"]
