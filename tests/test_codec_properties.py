"""Property tests: the TLS decoder either round-trips or raises DecodeError, never anything else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlswire import DecodeError
from mlswire.codecs import tls
from mlswire.vectors.messages import TYPES

from .conftest import require, vectors_dir

TYPE_NAMES = [
    *sorted(set(TYPES.values())),
    "Welcome",
    "GroupInfo",
    "KeyPackage",
    "LeafNode",
    "PublicMessage",
]


def _samples() -> list[tuple[str, bytes]]:
    path = vectors_dir() / "messages.json"
    if not path.exists():
        return []
    out = []
    for case in json.loads(Path(path).read_text())[:40]:
        for field, type_name in TYPES.items():
            out.append((type_name, bytes.fromhex(case[field])))
    return out


SAMPLES = _samples()


def decodes_or_rejects(type_name: str, data: bytes) -> None:
    try:
        value = tls.decode(data, type_name)
    except DecodeError:
        return
    assert tls.encode(value, type_name) == data


@settings(max_examples=300)
@given(type_name=st.sampled_from(TYPE_NAMES), data=st.binary(max_size=300))
def test_random_bytes(type_name: str, data: bytes) -> None:
    decodes_or_rejects(type_name, data)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    type_name, data = draw(st.sampled_from(SAMPLES))
    kind = draw(st.sampled_from(["flip", "truncate", "extend", "set"]))
    if kind == "truncate":
        return type_name, data[: draw(st.integers(0, max(len(data) - 1, 0)))]
    if kind == "extend":
        return type_name, data + draw(st.binary(min_size=1, max_size=8))
    i = draw(st.integers(0, len(data) - 1))
    if kind == "flip":
        byte = data[i] ^ (1 << draw(st.integers(0, 7)))
    else:
        byte = draw(st.sampled_from([0x00, 0x01, 0x3F, 0x40, 0x7F, 0x80, 0xBF, 0xC0, 0xFF]))
    return type_name, data[:i] + bytes([byte]) + data[i + 1 :]


@pytest.mark.skipif(not SAMPLES, reason="official messages.json vectors not found")
@settings(max_examples=1500)
@given(case=mutated())
def test_mutated_vector_values(case: tuple[str, bytes]) -> None:
    decodes_or_rejects(*case)


def test_every_sample_round_trips() -> None:
    require(vectors_dir() / "messages.json")
    assert len(SAMPLES) == 40 * len(TYPES)
    for type_name, data in SAMPLES:
        assert tls.encode(tls.decode(data, type_name), type_name) == data
