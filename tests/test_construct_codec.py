"""``tls-construct`` (plugins/mlswire-construct) beside mlswire's compiled ``tls`` codec.

Two implementations of one encoding, written apart from the same schema: on every value
of the official messages.json and of the vectors mlswire generates (vectors/), both must
give the same value and the same bytes; on mutated bytes (a hypothesis property here,
the ``diff-tls-construct-*`` fuzz harnesses in test_fuzz_slice), the same verdict. The
plugin is installed by pip into this interpreter's environment (tests/_construct_plugin)
and used through the ``mlswire.codecs`` entry point, as a user would.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mlswire
from mlswire import DecodeError, EncodeError, codecs
from mlswire.cli import build_parser
from mlswire.codecs import tls
from mlswire.schema import (
    ContentType,
    Extension,
    FramedContentAuthData,
    PrivateMessageContent,
    Sender,
    SenderData,
    SenderType,
)
from mlswire.schema.base import describe, lookup
from mlswire.vectors.messages import TYPES

from . import _construct_plugin as plugin
from ._schema_values import EXTERNAL, struct_names, value_of
from .conftest import ROOT, vectors_dir

GENERATED = ROOT / "vectors"

# Where each generated vector family keeps TLS values, by JSON key (at any depth), with
# their RFC 9420 types. Families with no such values (tree-math, crypto-basics, ...) are
# not listed; cross-encoding.json names each value's type itself.
PASSIVE = {
    "key_package": "MLSMessage",
    "welcome": "MLSMessage",
    "ratchet_tree": "RatchetTree",
    "proposals": "MLSMessage",
    "commit": "MLSMessage",
}
FAMILY_TYPES: dict[str, dict[str, str]] = {
    "messages": dict(TYPES),
    "welcome": {"key_package": "MLSMessage", "welcome": "MLSMessage"},
    "passive-client-welcome": PASSIVE,
    "passive-client-handling-commit": PASSIVE,
    "passive-client-random": PASSIVE,
    "tree-validation": {"tree": "RatchetTree"},
    "treekem": {"ratchet_tree": "RatchetTree", "update_path": "UpdatePath"},
    "tree-operations": {
        "tree_before": "RatchetTree",
        "tree_after": "RatchetTree",
        "proposal": "Proposal",
    },
    "message-protection": {
        "proposal": "Proposal",
        "commit": "Commit",
        "proposal_pub": "MLSMessage",
        "proposal_priv": "MLSMessage",
        "commit_pub": "MLSMessage",
        "commit_priv": "MLSMessage",
        "application_priv": "MLSMessage",
    },
    "transcript-hashes": {"authenticated_content": "AuthenticatedContent"},
    "key-schedule": {"group_context": "GroupContext"},
}

APP = ContentType.application
Value = tuple[str, bytes, dict[str, Any]]  # (type, TLS bytes, decoding context)


@pytest.fixture(scope="module")
def other() -> codecs.Codec:
    plugin.require()
    return codecs.get_codec(plugin.ENCODING)


def typed_values(doc: Any, types: dict[str, str]) -> Iterator[tuple[str, bytes]]:
    """Every hex string (or list of them) under a key of ``types``, at any depth."""
    if isinstance(doc, list):
        for x in doc:
            yield from typed_values(x, types)
    elif isinstance(doc, dict):
        for key, x in doc.items():
            if key in types and isinstance(x, str):
                yield types[key], bytes.fromhex(x)
            elif key in types and isinstance(x, list) and all(isinstance(y, str) for y in x):
                yield from ((types[key], bytes.fromhex(y)) for y in x)
            else:
                yield from typed_values(x, types)


def enum_of(key: str) -> Any:
    """The enum class of a discriminant such as ``FramedContent.content_type``."""
    head, attr = key.split(".")
    return next(f.type.cls for f in describe(lookup(head)).fields if f.name == attr)


def context_of(names: dict[str, str]) -> dict[str, Any]:
    """cross-encoding.json's ``context`` ({"FramedContent.content_type": "commit"}) as
    enum values."""
    return {key: enum_of(key)[name] for key, name in names.items()}


def generated_values() -> dict[str, list[Value]]:
    out: dict[str, list[Value]] = {}
    for family, types in FAMILY_TYPES.items():
        doc = json.loads((GENERATED / f"{family}.json").read_text())
        out[family] = [(t, data, {}) for t, data in typed_values(doc, types)]
    cases = json.loads((GENERATED / "cross-encoding.json").read_text())
    out["cross-encoding"] = [
        (c["type"], bytes.fromhex(c["tls"]), context_of(c.get("context", {}))) for c in cases
    ]
    return out


def same_value_same_bytes(other: codecs.Codec, tp: str, data: bytes, ctx: dict[str, Any]) -> None:
    ours = tls.decode(data, tp, ctx)
    theirs = other.decode(data, tp, ctx)
    assert theirs == ours, f"{tp}: the codecs decode different values"
    assert other.encode(theirs, tp, ctx) == data, f"{tp}: tls-construct re-encodes differently"
    assert other.encode(ours, tp, ctx) == tls.encode(theirs, tp, ctx) == data


# -- the plugin as installed ---------------------------------------------------------------


def test_the_plugin_is_found_by_its_entry_point(other: codecs.Codec) -> None:
    assert plugin.installed_is_current()
    assert plugin.ENCODING in codecs.available()
    assert type(other).__module__ == "mlswire_construct"
    sender = Sender(sender_type=SenderType.member, leaf_index=7)
    assert mlswire.encode(sender, encoding="tls-construct") == bytes.fromhex("0100000007")
    assert mlswire.decode(b"\x01\x00\x00\x00\x07", "Sender", encoding="tls-construct") == sender


def test_the_core_never_imports_construct() -> None:
    """Without construct importable at all, the core (codecs, engine, CLI, fuzz harness
    table) works, and neither construct nor the plugin is ever imported."""
    script = textwrap.dedent(
        """
        import sys
        from importlib.abc import MetaPathFinder

        class Uninstalled(MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("construct", "mlswire_construct"):
                    raise ImportError(f"{name} is not installed")
                return None

        sys.meta_path.insert(0, Uninstalled())
        import mlswire
        from mlswire import codecs, fuzz
        from mlswire.cli import build_parser
        from mlswire.engine.group import Client

        alice = Client.generate(b"alice")
        kp = alice.key_package()
        for encoding in ("tls", "cbor", "json"):
            value = mlswire.decode(kp, "MLSMessage")
            assert mlswire.decode(mlswire.encode(value, encoding), "MLSMessage", encoding) == value
        group = alice.create_group(b"g")
        group.encrypt(b"hi")
        codecs.available()
        fuzz.harness_names()
        build_parser()
        try:
            mlswire.encode(value, "tls-construct")
        except ValueError as e:
            print("refused:", e)
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("construct", "mlswire_construct"))
        print("loaded:", loaded)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    assert "loaded: []" in out.stdout
    assert "refused: " in out.stdout  # the encoding is named, and cannot be used
    core = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert not [d for d in core if d.lower().startswith("construct")]


# -- same values, same bytes -----------------------------------------------------------------


def test_every_official_message_is_the_same_in_both(other: codecs.Codec, vectors: Path) -> None:
    cases = json.loads((vectors / "messages.json").read_text())
    values = [(TYPES[key], bytes.fromhex(h)) for case in cases for key, h in case.items()]
    assert len(values) == len(cases) * len(TYPES) > 0
    for tp, data in values:
        same_value_same_bytes(other, tp, data, {})


def test_every_generated_vector_value_is_the_same_in_both(other: codecs.Codec) -> None:
    found = generated_values()
    empty = [family for family, values in found.items() if not values]
    assert not empty, f"no TLS values found in {empty}: has the vector format changed?"
    for values in found.values():
        for tp, data, ctx in values:
            same_value_same_bytes(other, tp, data, ctx)
    kinds = {tp for values in found.values() for tp, _, _ in values}
    assert kinds >= {"MLSMessage", "RatchetTree", "UpdatePath", "Proposal", "Commit"}


def test_convert_to_tls_construct_round_trips_every_official_message(
    other: codecs.Codec, vectors: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``mlswire convert --from tls --to tls-construct`` and back, byte for byte: the
    CLI's own convert command, reading stdin and writing stdout, for every value (in
    this process, for speed; the fresh-process test below runs a few)."""
    cases = json.loads((vectors / "messages.json").read_text())
    forth = build_parser().parse_args(["convert", "--from", "tls", "--to", "tls-construct"])
    home = build_parser().parse_args(["convert", "--from", "tls-construct", "--to", "tls"])

    def run(args: argparse.Namespace, data: bytes) -> bytes:
        out = io.BytesIO()
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(out))
        assert args.func(args) == 0
        return out.getvalue()

    n = 0
    for case in cases:
        for key, tp in TYPES.items():
            data = bytes.fromhex(case[key])
            forth.type = home.type = tp
            converted = run(forth, data)
            assert converted == data, key
            assert run(home, converted) == data, key
            n += 1
    assert n == len(cases) * len(TYPES)


@pytest.mark.parametrize("key", ["mls_welcome", "ratchet_tree", "private_message"])
def test_convert_and_inspect_in_a_fresh_process(
    other: codecs.Codec, vectors: Path, key: str
) -> None:
    data = bytes.fromhex(json.loads((vectors / "messages.json").read_text())[0][key])
    tp = TYPES[key]

    def cli(*args: str, stdin: bytes) -> bytes:
        out = subprocess.run(
            [sys.executable, "-m", "mlswire", *args, "--type", tp],
            input=stdin,
            capture_output=True,
            check=False,
            cwd=ROOT,
        )
        assert out.returncode == 0, out.stderr
        return out.stdout

    assert cli("convert", "--from", "tls", "--to", "tls-construct", stdin=data) == data
    assert cli("convert", "--from", "tls-construct", "--to", "cbor", stdin=data) == (
        mlswire.encode(tls.decode(data, tp), "cbor", type=tp)
    )
    shown = cli("inspect", "--from", "tls-construct", "--in-format", "raw", stdin=data).decode()
    assert shown.splitlines()[0] == f"{tp} (tls-construct, {len(data)} bytes)"
    assert shown == cli(
        "inspect", "--from", "tls", "--in-format", "raw", stdin=data
    ).decode().replace(f"{tp} (tls,", f"{tp} (tls-construct,", 1)


# -- same verdicts on bad input ----------------------------------------------------------------


def verdict(codec: Any, data: bytes, tp: str, ctx: dict[str, Any]) -> tuple[str, Any]:
    try:
        return "accepts", codec.decode(data, tp, ctx)
    except DecodeError as e:
        return "refuses", e


def same_verdict(other: codecs.Codec, data: bytes, tp: str, ctx: dict[str, Any]) -> None:
    ours, theirs = verdict(tls, data, tp, ctx), verdict(other, data, tp, ctx)
    assert ours[0] == theirs[0], f"{tp} {data.hex()}: tls {ours}, tls-construct {theirs}"
    if ours[0] == "accepts":
        assert ours[1] == theirs[1]
        assert other.encode(ours[1], tp, ctx) == data == tls.encode(theirs[1], tp, ctx)
    else:
        assert theirs[1].path.startswith(tp)  # (RatchetTree[0].leaf_node, Sender.leaf_index)
        assert theirs[1].offset is not None and 0 <= theirs[1].offset <= len(data)


@st.composite
def encoded(draw: st.DrawFn) -> tuple[str, bytes, dict[str, Any]]:
    """A random value of a random struct, TLS-encoded; external discriminants that no
    enclosing struct fixes come from a random context, as a caller would give them."""
    name = draw(st.sampled_from(struct_names()))
    ctx = {key: draw(st.sampled_from(list(enum_of(key)))) for key in sorted(EXTERNAL)}
    value = draw(value_of(describe(lookup(name)), dict(ctx)))
    try:
        return name, tls.encode(value, name, ctx), ctx
    except EncodeError:
        return name, b"", ctx  # (a value the strategy made that TLS cannot carry)


def official_samples() -> list[tuple[str, bytes, dict[str, Any]]]:
    """Values of the first official messages.json cases, when the vectors are here."""
    path = vectors_dir() / "messages.json"
    if not path.exists():
        return []
    cases = json.loads(path.read_text())[:20]
    return [(TYPES[key], bytes.fromhex(h), {}) for case in cases for key, h in case.items()]


SAMPLES = official_samples()


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes, dict[str, Any]]:
    """Random values, or real messages (deeper structures), with a few bytes damaged."""
    if SAMPLES and draw(st.booleans()):
        name, data, ctx = draw(st.sampled_from(SAMPLES))
    else:
        name, data, ctx = draw(encoded())
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["flip", "set", "cut", "insert", "delete", "header"]))
        if op == "flip" and i < len(data):
            data = data[:i] + bytes([data[i] ^ (1 << draw(st.integers(0, 7)))]) + data[i + 1 :]
        elif op == "set" and i < len(data):
            byte = draw(st.sampled_from([0x00, 0x01, 0x02, 0x3F, 0x40, 0x7F, 0x80, 0xBF, 0xC0]))
            data = data[:i] + bytes([byte]) + data[i + 1 :]
        elif op == "cut":
            data = data[:i]
        elif op == "insert":
            data = data[:i] + draw(st.binary(min_size=1, max_size=4)) + data[i:]
        elif op == "delete":
            data = data[:i] + data[i + draw(st.integers(1, 4)) :]
        elif op == "header":  # a §2.1.2 length header: boundary, non-minimal, reserved
            header = draw(
                st.sampled_from(["00", "3f", "4040", "4001", "80004000", "80000001", "c0"])
            )
            data = data[:i] + bytes.fromhex(header) + data[i + draw(st.integers(0, 2)) :]
    if draw(st.booleans()):
        ctx = {}  # decoded on its own: a select outside the struct has no discriminant
    return name, data, ctx


@settings(max_examples=300)
@given(case=encoded())
def test_random_values_encode_alike(
    other: codecs.Codec, case: tuple[str, bytes, dict[str, Any]]
) -> None:
    name, data, ctx = case
    if data:
        same_value_same_bytes(other, name, data, ctx)


@settings(max_examples=800)
@given(case=mutated())
def test_mutated_bytes_get_the_same_verdict(
    other: codecs.Codec, case: tuple[str, bytes, dict[str, Any]]
) -> None:
    name, data, ctx = case
    same_verdict(other, data, name, ctx)


# Leaves a caller might put where the schema wants something else.
WRONG_LEAVES: list[Any] = [
    None,
    -1,
    0,
    256,
    1 << 32,
    1 << 64,
    True,
    1.5,
    "text",
    b"",
    b"\x00\x01\x02\x03",
    bytearray(b"ab"),
    memoryview(b"\x00\x00"),
    (),
    [b"x"],
    (1, 2),
]


def leaf_paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every field and element position in a schema value."""
    if isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            yield (*path, name)
            yield from leaf_paths(getattr(value, name), (*path, name))
    elif isinstance(value, tuple):
        for i, x in enumerate(value):
            yield (*path, i)
            yield from leaf_paths(x, (*path, i))


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, msgspec.Struct):
        return msgspec.structs.replace(value, **{head: replaced(getattr(value, head), rest, new)})
    items = list(value)
    items[head] = replaced(value[head], rest, new)
    return tuple(items)


@st.composite
def miswritten(draw: st.DrawFn) -> tuple[str, Any, dict[str, Any]]:
    """A random struct value with one field or element replaced by a wrong leaf."""
    name = draw(st.sampled_from(struct_names()))
    ctx = {key: draw(st.sampled_from(list(enum_of(key)))) for key in sorted(EXTERNAL)}
    value = draw(value_of(describe(lookup(name)), dict(ctx)))
    paths = list(leaf_paths(value))
    if paths:
        value = replaced(value, draw(st.sampled_from(paths)), draw(st.sampled_from(WRONG_LEAVES)))
    return name, value, ctx


def encoded_by(codec: Any, value: Any, tp: str, ctx: dict[str, Any]) -> bytes | None:
    try:
        return bytes(codec.encode(value, tp, ctx))
    except EncodeError:
        return None


@settings(max_examples=500)
@given(case=miswritten())
def test_miswritten_values_get_the_same_verdict(
    other: codecs.Codec, case: tuple[str, Any, dict[str, Any]]
) -> None:
    """Both encoders take the same values (to the same bytes) and refuse the same."""
    name, value, ctx = case
    assert encoded_by(tls, value, name, ctx) == encoded_by(other, value, name, ctx)


# The disagreements the differential checks found, kept: (type, value, context, bytes or
# None for "refused by both").
PMC = {"PrivateMessage.content_type": APP, "FramedContent.content_type": APP}
FOUND = [
    # tls-construct built an int as a fixed-size byte string (construct's Bytes(n) does).
    ("SenderData", SenderData(leaf_index=1, generation=2, reuse_guard=5), {}, None),  # type: ignore[arg-type]
    ("SenderData", SenderData(leaf_index=1, generation=2, reuse_guard=True), {}, None),  # type: ignore[arg-type]
    # tls-construct refused a memoryview where tls takes one (construct's GreedyBytes).
    ("Extension", Extension(extension_type=1, extension_data=memoryview(b"ab")), {}, "0001026162"),  # type: ignore[arg-type]
    # tls refused a memoryview as padding (it called .strip on it).
    (
        "PrivateMessageContent",
        PrivateMessageContent(
            application_data=b"x",
            auth=FramedContentAuthData(signature=b""),
            padding=memoryview(b"\x00\x00"),  # type: ignore[arg-type]
        ),
        PMC,
        "0178000000",
    ),
]


@pytest.mark.parametrize(("tp", "value", "ctx", "expected"), FOUND)
def test_disagreements_found_stay_fixed(
    other: codecs.Codec, tp: str, value: Any, ctx: dict[str, Any], expected: str | None
) -> None:
    want = None if expected is None else bytes.fromhex(expected)
    assert encoded_by(tls, value, tp, ctx) == want
    assert encoded_by(other, value, tp, ctx) == want


# -- errors say what and where ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("tp", "hexdata", "ctx", "path", "offset", "reason"),
    [
        ("Sender", "05", {}, "Sender.sender_type", 0, "unknown SenderType value 5"),
        ("Sender", "010000", {}, "Sender.leaf_index", 1, "input ends early"),
        ("Sender", "0100000007ff", {}, "Sender", 5, "1 trailing bytes"),
        ("Extension", "0001400100", {}, "Extension.extension_data", 2, "not minimally"),
        ("Extension", "0001c0", {}, "Extension.extension_data", 2, "reserved 0b11"),
        ("Extension", "00010500", {}, "Extension.extension_data", 2, "input ends early"),
        ("Commit", "0002", {}, "Commit.path", 1, "presence byte is 2"),
        ("Commit", "030100", {}, "Commit.proposals", 0, "input ends early"),
        (
            "FramedContentAuthData",
            "0000",
            {},
            "FramedContentAuthData.confirmation_tag",
            1,
            "needs the value of FramedContent.content_type",
        ),
        (
            "PrivateMessageContent",
            "00000001",
            {"PrivateMessage.content_type": APP, "FramedContent.content_type": APP},
            "PrivateMessageContent.padding",
            2,
            "padding must be all zero bytes",
        ),
    ],
)
def test_errors_name_the_field_and_offset(
    other: codecs.Codec,
    tp: str,
    hexdata: str,
    ctx: dict[str, Any],
    path: str,
    offset: int,
    reason: str,
) -> None:
    data = bytes.fromhex(hexdata)
    for codec in (tls, other):
        with pytest.raises(DecodeError) as info:
            codec.decode(data, tp, ctx)
        assert (info.value.path, info.value.offset) == (path, offset), codec
    assert reason in str(info.value)  # (the wording is the plugin's own)


@pytest.mark.parametrize(
    ("value", "tp", "ctx", "path"),
    [
        (Sender(sender_type=SenderType.member), "Sender", {}, "Sender.leaf_index"),
        (Sender(sender_type=7), "Sender", {}, "Sender.sender_type"),  # type: ignore[arg-type]
        (
            Sender(sender_type=SenderType.member, leaf_index=1 << 32),
            "Sender",
            {},
            "Sender.leaf_index",
        ),
        (
            FramedContentAuthData(signature=b""),
            "FramedContentAuthData",
            {},
            "FramedContentAuthData.confirmation_tag",
        ),
        (
            PrivateMessageContent(
                application_data=b"x", auth=FramedContentAuthData(signature=b""), padding=b"\x01"
            ),
            "PrivateMessageContent",
            {"PrivateMessage.content_type": APP, "FramedContent.content_type": APP},
            "PrivateMessageContent.padding",
        ),
    ],
)
def test_values_tls_cannot_carry_are_refused_by_both(
    other: codecs.Codec, value: Any, tp: str, ctx: dict[str, Any], path: str
) -> None:
    for codec in (tls, other):
        with pytest.raises(EncodeError) as info:
            codec.encode(value, tp, ctx)
        assert info.value.path == path, codec  # type: ignore[attr-defined]


def test_the_construct_is_derived_from_the_schema(other: codecs.Codec) -> None:
    """One rule per kind, no struct written by hand: every registered struct has a
    construct, whose members are the schema's fields, in order."""
    derived = other.construct  # type: ignore[attr-defined]
    for name in struct_names():
        record = derived(name).subcon  # (the top-level wrapper, then the struct)
        members = [sc.name for sc in record.subcon.subcons if sc.name]
        assert members == [f.name for f in describe(lookup(name)).fields], name


def test_first_use_from_many_threads(other: codecs.Codec, vectors: Path) -> None:
    """A fresh codec instance, used first by several threads at once (as the service's
    worker threads would): each derives types while the others do."""
    fresh = type(other)()
    case = json.loads((vectors / "messages.json").read_text())[0]
    work = [(TYPES[key], bytes.fromhex(h)) for key, h in case.items()]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns often, so that they meet mid-derivation
    try:
        with ThreadPoolExecutor(8) as pool:
            got = list(pool.map(lambda item: fresh.decode(item[1], item[0]), work * 4))
    finally:
        sys.setswitchinterval(interval)
    assert got == [tls.decode(data, tp) for tp, data in work * 4]
