"""Hypothesis strategies for arbitrary schema values, built from the descriptors (so they
cover every type the schema declares, as the codecs do)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from mlswire.codecs._tree import external_keys, is_open
from mlswire.schema.base import Field, Type, describe, lookup, registered

EXTERNAL = external_keys()


def _leaf(t: Type) -> st.SearchStrategy[Any]:
    k = t.kind
    if k == "uint":
        top = (1 << (8 * t.size)) - 1
        return st.one_of(st.integers(0, min(top, 300)), st.just(top), st.integers(0, top))
    if k == "enum":
        named = st.sampled_from(list(t.cls))
        if is_open(t.cls):
            # Unnamed values, GREASE among them, must round-trip too.
            grease = st.integers(0, 15).map(lambda n: t.cls(0x0A0A + 0x1010 * n))
            return st.one_of(named, grease, st.integers(0, 0xFFFF).map(t.cls))
        return named
    if k == "opaque":
        return st.binary(max_size=12)
    if k == "fixed":
        return st.binary(min_size=t.size, max_size=t.size)
    if k == "padding":
        return st.integers(0, 5).map(bytes)
    raise AssertionError(k)


@st.composite
def value_of(draw: st.DrawFn, t: Type, env: dict[str, Any], depth: int = 0) -> Any:
    k = t.kind
    if k == "vector":
        assert t.elem is not None
        n = draw(st.integers(0, 2 if depth < 3 else 0))
        return tuple(draw(value_of(t.elem, env, depth + 1)) for _ in range(n))
    if k == "optional":
        assert t.elem is not None
        if depth > 4 or draw(st.booleans()):
            return None
        return draw(value_of(t.elem, env, depth + 1))
    if k == "struct":
        return draw(struct_of(t, env, depth))
    return draw(_leaf(t))


def _selected(
    d: Type, f: Field, drawn: dict[str, Any], env: dict[str, Any], draw: st.DrawFn
) -> bool:
    assert f.case is not None
    head, *path = f.case.on.split(".")
    if head == d.name:
        disc: Any = drawn[path[0]]
        for attr in path[1:]:
            disc = getattr(disc, attr)
    elif f.case.on in env:
        disc = env[f.case.on]
    else:
        return draw(st.booleans())  # decoded on its own: the arm is present or not
    if f.case.otherwise:
        known = {v for g in d.fields if g.case and g.case.on == f.case.on for v in g.case.values}
        return int(disc) not in known
    return int(disc) in f.case.values


@st.composite
def struct_of(draw: st.DrawFn, d: Type, env: dict[str, Any], depth: int = 0) -> Any:
    drawn: dict[str, Any] = {}
    for f in d.fields:
        if f.case is None or _selected(d, f, drawn, env, draw):
            drawn[f.name] = draw(value_of(f.type, env, depth + 1))
        else:
            drawn[f.name] = None
        key = f"{d.name}.{f.name}"
        if key in EXTERNAL:
            env[key] = drawn[f.name]
    return d.cls(**drawn)


def schema_values(name: str) -> st.SearchStrategy[Any]:
    """Values of the named type; a fresh discriminant environment per example."""
    d = describe(lookup(name))
    return st.builds(dict).flatmap(lambda env: value_of(d, env))


def struct_names() -> list[str]:
    return [n for n, tp in registered().items() if describe(tp).kind == "struct"]
