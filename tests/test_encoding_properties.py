"""Property tests: random and mutated CBOR and JSON input either decodes (and then
re-encodes to exactly what was read, where the encoding is deterministic) or raises
DecodeError with a field path rooted at the type; nothing else ever escapes."""

from __future__ import annotations

import copy
import json
from typing import Any

import cbor2
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlswire import DecodeError
from mlswire.codecs import cbor, tls
from mlswire.codecs import json as jsonc
from mlswire.schema.base import describe, lookup
from mlswire.vectors.messages import TYPES

from .conftest import vectors_dir

TYPE_NAMES = sorted({*TYPES.values(), "Welcome", "GroupInfo", "KeyPackage", "LeafNode", "Sender"})


def _samples() -> list[tuple[str, Any]]:
    path = vectors_dir() / "messages.json"
    if not path.exists():
        return []
    return [
        (type_name, tls.decode(bytes.fromhex(case[field]), type_name))
        for case in json.loads(path.read_text())[:20]
        for field, type_name in TYPES.items()
    ]


SAMPLES = _samples()
needs_samples = pytest.mark.skipif(not SAMPLES, reason="official messages.json vectors not found")


def _rooted(e: DecodeError, type_name: str) -> None:
    d = describe(lookup(type_name))
    assert e.path.split(".")[0].split("[")[0] == (d.name or d.rfc()), e


def cbor_round(type_name: str, data: bytes) -> None:
    try:
        value = cbor.decode(data, type_name)
    except DecodeError as e:
        _rooted(e, type_name)
        return
    assert cbor.encode(value, type_name) == data  # deterministic: the only encoding


def json_round(type_name: str, data: bytes) -> None:
    try:
        value = jsonc.decode(data, type_name)
    except DecodeError as e:
        _rooted(e, type_name)
        return
    # The fast path (msgspec shadow structs) takes only what the reference decode takes.
    assert jsonc.decode_exactly(data, type_name) == value
    again = jsonc.encode(value, type_name)
    assert jsonc.decode(again, type_name) == value
    assert orjson.loads(again) == orjson.loads(data)


# Data-model values that look like MLS documents often enough to get past the first map.
FIELD_NAMES = sorted(
    {f.name for n in TYPE_NAMES for f in describe(lookup(n)).fields}
    | {"leaf_index", "sender_type", "epoch", "content_type", "custom"}
)
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**64), 2**64 + 1),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.sampled_from(["member", "mls10", "commit", "mls_welcome", "00", "ff", "0", "1"]),
    st.binary(max_size=8),
)
TREES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=4)), inner, max_size=6
        ),
    ),
    max_leaves=30,
)


@settings(max_examples=400)
@given(type_name=st.sampled_from(TYPE_NAMES), tree=TREES)
def test_random_cbor_documents(type_name: str, tree: Any) -> None:
    cbor_round(type_name, cbor2.dumps(tree))


@settings(max_examples=400)
@given(type_name=st.sampled_from(TYPE_NAMES), tree=TREES)
def test_random_json_documents(type_name: str, tree: Any) -> None:
    try:
        doc = orjson.dumps(tree, default=lambda b: b.hex())
    except TypeError:  # integers beyond 64 bits: not JSON orjson can write
        return
    json_round(type_name, doc)


@settings(max_examples=300)
@given(type_name=st.sampled_from(TYPE_NAMES), data=st.binary(max_size=200))
def test_random_bytes(type_name: str, data: bytes) -> None:
    cbor_round(type_name, data)
    json_round(type_name, data)


@st.composite
def mutated_bytes(draw: st.DrawFn, enc: str) -> tuple[str, bytes]:
    type_name, value = draw(st.sampled_from(SAMPLES))
    data = (cbor if enc == "cbor" else jsonc).encode(value, type_name)
    kind = draw(st.sampled_from(["flip", "truncate", "extend", "set"]))
    if kind == "truncate":
        return type_name, data[: draw(st.integers(0, len(data) - 1))]
    if kind == "extend":
        return type_name, data + draw(st.binary(min_size=1, max_size=4))
    i = draw(st.integers(0, len(data) - 1))
    if kind == "flip":
        byte = data[i] ^ (1 << draw(st.integers(0, 7)))
    else:
        byte = draw(
            st.sampled_from(
                b'\x00\x18\x19\x1a\x1b\x40\x5f\x60\x7f\x9f\xbf\xc2\xf6\xf9\xff"{}[]:,0aA'
            )
        )
    return type_name, data[:i] + bytes([byte]) + data[i + 1 :]


@needs_samples
@settings(max_examples=1000)
@given(case=mutated_bytes("cbor"))
def test_mutated_cbor_bytes(case: tuple[str, bytes]) -> None:
    cbor_round(*case)


@needs_samples
@settings(max_examples=1000)
@given(case=mutated_bytes("json"))
def test_mutated_json_bytes(case: tuple[str, bytes]) -> None:
    json_round(*case)


def _containers(tree: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    items = (
        tree.items()
        if isinstance(tree, dict)
        else enumerate(tree)
        if isinstance(tree, list)
        else ()
    )
    for k, v in items:
        out.extend(_containers(v, (*path, k)))
    return out


@st.composite
def mutated_tree(draw: st.DrawFn, enc: str) -> tuple[str, Any]:
    """A valid document with one structural change: a key dropped, added or renamed,
    a value replaced by another kind, an array element dropped or duplicated."""
    type_name, value = draw(st.sampled_from(SAMPLES))
    tree = copy.deepcopy((cbor if enc == "cbor" else jsonc).to_tree(value, type_name))
    if not isinstance(tree, dict | list):
        return type_name, tree
    where = draw(st.sampled_from(_containers(tree)))
    parent: Any = tree
    for k in where[:-1]:
        parent = parent[k]
    node = parent[where[-1]] if where else tree
    kind = draw(st.sampled_from(["drop", "add", "replace", "dup"]))
    if isinstance(node, dict) and node:
        key = draw(st.sampled_from(sorted(node)))
        if kind == "drop":
            del node[key]
        elif kind == "add":
            node[draw(st.sampled_from(FIELD_NAMES))] = draw(LEAVES)
        else:
            node[key] = draw(
                st.one_of(
                    st.just(node[key]),
                    st.lists(st.none(), max_size=1),
                    st.integers(-1, 70000),
                    st.text(max_size=3),
                    st.none(),
                )
            )
    elif isinstance(node, list) and node:
        i = draw(st.integers(0, len(node) - 1))
        if kind == "drop":
            del node[i]
        elif kind == "dup":
            node.insert(i, copy.deepcopy(node[i]))
        else:
            node[i] = draw(st.one_of(st.none(), st.integers(-1, 2**33), st.text(max_size=3)))
    elif where:
        parent[where[-1]] = draw(
            st.one_of(st.none(), st.integers(-1, 2**33), st.text(max_size=3), st.just({}))
        )
    return type_name, tree


@needs_samples
@settings(max_examples=800)
@given(case=mutated_tree("json"))
def test_mutated_json_documents(case: tuple[str, Any]) -> None:
    type_name, tree = case
    try:
        doc = orjson.dumps(tree, default=lambda b: b.hex())
    except TypeError:
        return
    json_round(type_name, doc)


@needs_samples
@settings(max_examples=800)
@given(case=mutated_tree("cbor"))
def test_mutated_cbor_documents(case: tuple[str, Any]) -> None:
    type_name, tree = case
    cbor_round(type_name, cbor2.dumps(_sorted(tree)))


def _sorted(tree: Any) -> Any:
    """Deterministic key order, so that mutations test the mapping, not the ordering."""
    if isinstance(tree, dict):
        keys = sorted(tree, key=lambda k: (len(str(k).encode()), str(k).encode()))
        return {k: _sorted(tree[k]) for k in keys}
    if isinstance(tree, list):
        return [_sorted(v) for v in tree]
    return tree
