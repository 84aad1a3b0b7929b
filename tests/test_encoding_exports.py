"""encodings/: the committed descriptions match the schema, and independent validators
(pycddl for CDDL, jsonschema for JSON Schema) accept every mlswire output and reject
documents that break the mapping."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import cbor2
import jsonschema
import pycddl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlswire.codecs import cbor, tls
from mlswire.codecs import json as jsonc
from mlswire.codecs.export import EXPORTS, FILES
from mlswire.vectors.messages import TYPES

from ._schema_values import schema_values, struct_names
from .conftest import require, vectors_dir

ENCODINGS = Path(__file__).resolve().parents[1] / "encodings"


@pytest.mark.parametrize("fmt", sorted(EXPORTS))
def test_committed_files_match_the_schema(fmt: str) -> None:
    committed = (ENCODINGS / FILES[fmt]).read_text()
    assert committed == EXPORTS[fmt](), (
        f"encodings/{FILES[fmt]} is out of date: run "
        f"`mlswire schema export {fmt} -o encodings/{FILES[fmt]}`"
    )


def test_tls_description_names_every_struct_like_the_rfc() -> None:
    text = (ENCODINGS / "mls.tls").read_text()
    assert "struct {\n    SenderType sender_type;\n    select (Sender.sender_type) {" in text
    assert "    opaque reuse_guard[4];\n" in text
    assert "optional<Node> RatchetTree<V>;" in text
    assert (
        "        default:  /* mlswire: the body of a type RFC 9420 does not name */\n            opaque custom<V>;"
        in text
    )


@cache
def cddl_for(type_name: str) -> Any:
    # pycddl validates against the first rule.
    return pycddl.Schema(f"root = {type_name}\n" + (ENCODINGS / "mls.cddl").read_text())


@cache
def json_schema_for(type_name: str) -> Any:
    doc = json.loads((ENCODINGS / "mls.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(doc)
    return jsonschema.Draft202012Validator({"$defs": doc["$defs"], "$ref": f"#/$defs/{type_name}"})


def _values() -> list[tuple[str, Any]]:
    path = require(vectors_dir() / "messages.json")
    return [
        (type_name, tls.decode(bytes.fromhex(case[field]), type_name))
        for case in json.loads(path.read_text())
        for field, type_name in TYPES.items()
    ]


def test_every_cbor_output_validates_against_the_cddl() -> None:
    values = _values()
    for type_name, value in values:
        cddl_for(type_name).validate_cbor(cbor.encode(value, type_name))


def test_every_json_output_validates_against_the_json_schema() -> None:
    for type_name, value in _values():
        json_schema_for(type_name).validate(json.loads(jsonc.encode(value, type_name)))


def test_the_root_is_mlsmessage() -> None:
    doc = json.loads((ENCODINGS / "mls.schema.json").read_text())
    assert doc["$ref"] == "#/$defs/MLSMessage"
    assert (ENCODINGS / "mls.cddl").read_text().split("\n\n")[1].startswith("MLSMessage = ")


SENDER = {"sender_type": "member", "leaf_index": 7}
BAD_SENDERS = [
    {"sender_type": "member"},  # arm key missing
    {"sender_type": "member", "leaf_index": "7"},  # wrong kind
    {"sender_type": "member", "leaf_index": 1 << 32},  # out of range
    {"sender_type": "leader", "leaf_index": 7},  # unknown name
    {"sender_type": 1, "leaf_index": 7},  # closed enum as a number
]


def test_validators_accept_the_mapping_and_reject_what_breaks_it() -> None:
    cddl_for("Sender").validate_cbor(cbor2.dumps(SENDER))
    json_schema_for("Sender").validate(SENDER)
    for bad in BAD_SENDERS:
        with pytest.raises(pycddl.ValidationError):
            cddl_for("Sender").validate_cbor(cbor2.dumps(bad))
        with pytest.raises(jsonschema.ValidationError):
            json_schema_for("Sender").validate(bad)
    # JSON only: bytes are lowercase hex, uint64 a decimal string, arm keys exact, and a
    # registry value with a name is written as the name.
    validate = json_schema_for
    with pytest.raises(jsonschema.ValidationError):
        validate("Certificate").validate({"cert_data": "ABCD"})
    with pytest.raises(jsonschema.ValidationError):
        validate("Lifetime").validate({"not_before": 0, "not_after": "1"})
    with pytest.raises(jsonschema.ValidationError):
        validate("Sender").validate({**SENDER, "sender_index": 1})
    with pytest.raises(jsonschema.ValidationError):
        validate("Extension").validate({"extension_type": 2, "extension_data": ""})
    validate("Extension").validate({"extension_type": 2570, "extension_data": ""})
    # CBOR only: bytes are byte strings.
    with pytest.raises(pycddl.ValidationError):
        cddl_for("Certificate").validate_cbor(cbor2.dumps({"cert_data": "abcd"}))


@settings(max_examples=300)
@given(data=st.data(), name=st.sampled_from(struct_names()))
def test_random_schema_values_validate_against_both_schemas(data: st.DataObject, name: str) -> None:
    """Not only the vectors' values: anything the schema can hold, unnamed registry
    values, unknown proposal and credential bodies and every select arm included."""
    value = data.draw(schema_values(name))
    cddl_for(name).validate_cbor(cbor.encode(value, name))
    json_schema_for(name).validate(json.loads(jsonc.encode(value, name)))
