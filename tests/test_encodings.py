"""The CBOR and JSON encodings: lossless round trips, and each decision of the mapping
written down in encodings/README.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cbor2
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mlswire
from mlswire import DecodeError, EncodeError
from mlswire.codecs import cbor, get_codec, tls
from mlswire.codecs import json as jsonc
from mlswire.schema import (
    Capabilities,
    CipherSuite,
    ContentType,
    Credential,
    CredentialType,
    ExtensionType,
    FramedContentAuthData,
    Lifetime,
    PrivateMessageContent,
    Proposal,
    ProposalType,
    ProtocolVersion,
    Sender,
    SenderData,
    SenderType,
)
from mlswire.vectors.messages import TYPES

from ._schema_values import schema_values, struct_names
from .conftest import require, vectors_dir

ROOT = Path(__file__).resolve().parents[1]


def message_values() -> list[tuple[str, str, bytes]]:
    path = require(vectors_dir() / "messages.json")
    return [
        (field, type_name, bytes.fromhex(case[field]))
        for case in json.loads(path.read_text())
        for field, type_name in TYPES.items()
    ]


def test_every_messages_value_survives_tls_cbor_json_tls() -> None:
    values = message_values()
    assert len(values) == 300 * len(TYPES)
    for field, type_name, data in values:
        value = mlswire.decode(data, type_name)
        as_cbor = mlswire.encode(value, "cbor", type=type_name)
        from_cbor = mlswire.decode(as_cbor, type_name, "cbor")
        assert from_cbor == value, field
        as_json = mlswire.encode(from_cbor, "json", type=type_name)
        from_json = mlswire.decode(as_json, type_name, "json")
        assert from_json == value, field
        assert mlswire.encode(from_json, type=type_name) == data, field


NOT_ALONE = {"FramedContentAuthData", "PrivateMessageContent"}  # need context in TLS


@settings(max_examples=400)
@given(data=st.data(), name=st.sampled_from(struct_names()))
def test_every_schema_value_round_trips_in_every_encoding(data: st.DataObject, name: str) -> None:
    value = data.draw(schema_values(name))
    for enc in ("cbor", "json"):
        encoded = mlswire.encode(value, enc)
        back = mlswire.decode(encoded, name, enc)
        assert back == value
        assert mlswire.encode(back, enc) == encoded  # one encoding per value
    if name not in NOT_ALONE:
        wire = tls.encode(value, name)
        via = jsonc.decode(jsonc.encode(cbor.decode(cbor.encode(value, name), name), name), name)
        assert tls.encode(via, name) == wire


def test_codecs_are_registered_by_name() -> None:
    assert get_codec("cbor") is cbor
    assert get_codec("json") is jsonc
    with pytest.raises(ValueError, match="unknown encoding 'xml'; known: (.*, )?cbor, json, .*tls"):
        get_codec("xml")


# -- the mapping, decision by decision -------------------------------------------------

SENDER = Sender(sender_type=SenderType.member, leaf_index=7)


def test_readme_example() -> None:
    readme = (ROOT / "encodings" / "README.md").read_text()
    cbor_hex = mlswire.encode(SENDER, "cbor").hex()
    assert cbor_hex == "a26a6c6561665f696e646578076b73656e6465725f74797065666d656d626572"
    assert cbor_hex in readme
    assert mlswire.encode(SENDER, "json").decode() in readme


def test_structs_are_maps_of_rfc_field_names_and_selects_keep_only_the_taken_arm() -> None:
    assert jsonc.to_tree(SENDER, Sender) == {"sender_type": "member", "leaf_index": 7}
    ext = Sender(sender_type=SenderType.new_member_commit)
    assert jsonc.to_tree(ext, Sender) == {"sender_type": "new_member_commit"}
    # Arm fields set where their arm is not taken are not written (TLS ignores them too).
    odd = Sender(sender_type=SenderType.external, sender_index=1, leaf_index=9)
    assert jsonc.to_tree(odd, Sender) == {"sender_type": "external", "sender_index": 1}


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ('{"sender_type":"member"}', "Sender.leaf_index: required key is missing"),
        (
            '{"sender_type":"member","leaf_index":1,"sender_index":2}',
            "Sender: unexpected key 'sender_index'",
        ),
        ('{"sender_type":"member","leaf_index":1,"x":0}', "Sender: unexpected key 'x'"),
        ('{"sender_type":"member","leaf_index":true}', "not a boolean"),
        ('{"sender_type":"member","leaf_index":1.0}', "not a float"),
        ('{"sender_type":"member","leaf_index":4294967296}', "0..4294967295"),
        ('{"sender_type":"member","leaf_index":-1}', "0..4294967295"),
        ('{"sender_type":1,"leaf_index":1}', "Sender.sender_type: expected a SenderType name"),
        ('{"sender_type":"Member","leaf_index":1}', "unknown SenderType name 'Member'"),
        ('["member", 1]', "Sender: expected a map (Sender), not an array"),
    ],
)
def test_decoders_reject_what_the_readme_says(doc: str, message: str) -> None:
    with pytest.raises(DecodeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        jsonc.decode(doc.encode(), Sender)
    tree = orjson.loads(doc)
    with pytest.raises(DecodeError):
        cbor.decode(cbor2.dumps(tree), Sender)


def test_bytes_are_cbor_byte_strings_and_lowercase_hex_in_json() -> None:
    aad = SenderData(leaf_index=1, generation=2, reuse_guard=b"\xab\xcd\x00\x01")
    assert cbor2.loads(mlswire.encode(aad, "cbor"))["reuse_guard"] == b"\xab\xcd\x00\x01"
    assert orjson.loads(mlswire.encode(aad, "json"))["reuse_guard"] == "abcd0001"
    good = {"leaf_index": 1, "generation": 2}
    for bad in ("ABCD0001", "abcd 0001", "abcd000", "0xabcd01", "abcd00010203", 5, None):
        doc = orjson.dumps({**good, "reuse_guard": bad})
        with pytest.raises(DecodeError, match="SenderData.reuse_guard"):
            jsonc.decode(doc, SenderData)
    assert jsonc.decode(orjson.dumps({**good, "reuse_guard": "00000000"}), SenderData)
    with pytest.raises(DecodeError, match="SenderData.reuse_guard: expected a byte string"):
        cbor.decode(cbor2.dumps({**good, "reuse_guard": "abcd0001"}, canonical=True), SenderData)
    assert jsonc.decode(b'{"cert_data":""}', "Certificate").cert_data == b""


def test_uint64_is_a_decimal_string_in_json_and_an_integer_in_cbor() -> None:
    life = Lifetime(not_before=0, not_after=(1 << 64) - 1)
    assert mlswire.encode(life, "json") == b'{"not_before":"0","not_after":"18446744073709551615"}'
    assert cbor2.loads(mlswire.encode(life, "cbor")) == {
        "not_after": (1 << 64) - 1,
        "not_before": 0,
    }
    for bad in ("01", "-1", "+1", " 1", "1.0", "18446744073709551616", "\uff11", "", 1):
        doc = orjson.dumps({"not_before": bad, "not_after": "1"})
        with pytest.raises(DecodeError, match="Lifetime.not_before"):
            jsonc.decode(doc, Lifetime)
    with pytest.raises(EncodeError, match="Lifetime.not_after: .*out of range"):
        mlswire.encode(Lifetime(not_before=0, not_after=1 << 64), "json")


def test_enums_are_names_and_unnamed_registry_values_numbers() -> None:
    caps = Capabilities(
        versions=(ProtocolVersion.mls10,),
        cipher_suites=(CipherSuite(1), CipherSuite(0x0A0A), CipherSuite(0xF123)),
        extensions=(ExtensionType(0x1A1A),),
        proposals=(ProposalType.add,),
        credentials=(CredentialType.basic,),
    )
    tree = jsonc.to_tree(caps, Capabilities)
    assert tree["cipher_suites"] == ["MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519", 0x0A0A, 0xF123]
    assert tree["extensions"] == [0x1A1A]
    for enc in ("cbor", "json"):
        back = mlswire.decode(mlswire.encode(caps, enc), Capabilities, enc)
        assert back == caps
        assert back.cipher_suites[1].name == "unknown_0x0a0a"
    for bad, message in [
        (1, "CipherSuite value 1 has a name and must be written as it"),
        ("unknown_0x0a0a", "unknown CipherSuite name"),
        (0x10000, "CipherSuite name or an unnamed value 0..65535"),
        (-1, "CipherSuite name or an unnamed value"),
    ]:
        doc = orjson.dumps({**tree, "cipher_suites": [bad]})
        with pytest.raises(DecodeError, match=message) as e:
            jsonc.decode(doc, Capabilities)
        assert e.value.path == "Capabilities.cipher_suites[0]"
    with pytest.raises(DecodeError, match="expected a ProtocolVersion name, not an integer"):
        jsonc.decode(orjson.dumps({**tree, "versions": [1]}), Capabilities)


def test_unknown_proposal_and_credential_bodies_round_trip() -> None:
    p = Proposal(proposal_type=ProposalType(0xF001), custom=b"payload")
    assert jsonc.to_tree(p, Proposal) == {"proposal_type": 0xF001, "custom": "7061796c6f6164"}
    c = Credential(credential_type=CredentialType(0x0A0A), custom=b"\x01")
    for enc in ("cbor", "json"):
        assert mlswire.decode(mlswire.encode(p, enc), Proposal, enc) == p
        assert mlswire.decode(mlswire.encode(c, enc), Credential, enc) == c


def test_optional_is_null_and_its_key_is_always_present() -> None:
    tree = jsonc.to_tree(
        mlswire.decode(bytes.fromhex("0000"), "Commit"), "Commit"
    )  # no proposals, no path
    assert tree == {"proposals": [], "path": None}
    with pytest.raises(DecodeError, match="Commit.path: required key is missing"):
        jsonc.decode(b'{"proposals":[]}', "Commit")
    ratchet_tree = (None, None)
    assert mlswire.encode(ratchet_tree, "json", type="RatchetTree") == b"[null,null]"


def test_select_on_an_enclosing_discriminant() -> None:
    auth = FramedContentAuthData(signature=b"s", confirmation_tag=b"t")
    commit = {"FramedContent.content_type": ContentType.commit}
    app = {"FramedContent.content_type": ContentType.application}
    for enc in ("cbor", "json"):
        codec = get_codec(enc)
        # Alone, the document says which arm it has.
        assert (
            codec.decode(codec.encode(auth, FramedContentAuthData), FramedContentAuthData) == auth
        )
        data = codec.encode(auth, FramedContentAuthData, commit)
        assert codec.decode(data, FramedContentAuthData, commit) == auth
        with pytest.raises(DecodeError, match="unexpected key 'confirmation_tag'"):
            codec.decode(data, FramedContentAuthData, app)
        bare = codec.encode(FramedContentAuthData(signature=b"s"), FramedContentAuthData, app)
        with pytest.raises(DecodeError, match="confirmation_tag: required key is missing"):
            codec.decode(bare, FramedContentAuthData, commit)


def test_padding_and_fixed_sizes() -> None:
    content = PrivateMessageContent(
        application_data=b"hi", auth=FramedContentAuthData(signature=b"s"), padding=bytes(3)
    )
    ctx = {"PrivateMessage.content_type": ContentType.application}
    tree = jsonc.to_tree(content, PrivateMessageContent, ctx)
    assert tree["padding"] == "000000"
    with pytest.raises(DecodeError, match="padding: padding must be all zero bytes"):
        jsonc.decode(orjson.dumps({**tree, "padding": "0001"}), PrivateMessageContent, ctx)
    with pytest.raises(EncodeError, match="reuse_guard: must be exactly 4 bytes"):
        mlswire.encode(SenderData(leaf_index=0, generation=0, reuse_guard=b"abc"), "cbor")


@pytest.mark.parametrize("enc", ["cbor", "json"])
def test_encode_errors_match_tls(enc: str) -> None:
    with pytest.raises(EncodeError, match="Sender.leaf_index: this select arm requires the field"):
        mlswire.encode(Sender(sender_type=SenderType.member), enc)
    with pytest.raises(EncodeError, match="HPKECiphertext.kem_output"):
        mlswire.encode(mlswire.schema.HPKECiphertext(kem_output="text", ciphertext=b""), enc)  # type: ignore[arg-type]
    with pytest.raises(EncodeError, match="Sender.leaf_index"):
        mlswire.encode(Sender(sender_type=SenderType.member, leaf_index=1 << 32), enc)
    with pytest.raises(EncodeError, match="Sender.leaf_index"):
        mlswire.encode(Sender(sender_type=SenderType.member, leaf_index=1.0), enc)  # type: ignore[arg-type]
    with pytest.raises(
        EncodeError, match=r"Capabilities.versions\[1\]: 7 is not a ProtocolVersion"
    ):
        caps = Capabilities(
            versions=(ProtocolVersion.mls10, 7),  # type: ignore[arg-type]
            cipher_suites=(),
            extensions=(),
            proposals=(),
            credentials=(),
        )
        mlswire.encode(caps, enc)


def test_error_paths_reach_into_vectors_and_nested_structs() -> None:
    msg = mlswire.decode(message_values()[0][2], "MLSMessage")  # a Welcome
    tree: Any = jsonc.to_tree(msg, "MLSMessage")
    tree["welcome"]["secrets"][0]["encrypted_group_secrets"]["kem_output"] = "zz"
    with pytest.raises(DecodeError) as e:
        jsonc.decode(orjson.dumps(tree), "MLSMessage")
    assert e.value.path == "MLSMessage.welcome.secrets[0].encrypted_group_secrets.kem_output"


# -- deterministic CBOR ----------------------------------------------------------------


def test_cbor_output_is_deterministic() -> None:
    data = mlswire.encode(mlswire.decode(message_values()[-1][2], "MLSMessage"), "cbor")
    assert data == cbor2.dumps(cbor2.loads(data), canonical=True)


def test_cbor_codec_agrees_with_cbor2() -> None:
    """mlswire writes and reads CBOR bytes itself (mlswire.codecs.cbor); cbor2, an
    independent implementation, writes the same bytes from the same data-model tree and
    reads them back as that tree."""
    for _, type_name, data in message_values()[:: len(TYPES) // 2 + 1] + message_values()[:40]:
        value = tls.decode(data, type_name)
        tree = cbor.to_tree(value, type_name)
        encoded = cbor.encode(value, type_name)
        assert encoded == cbor2.dumps(tree, canonical=True)
        assert cbor2.loads(encoded) == tree
        assert cbor.decode(cbor2.dumps(tree, canonical=True), type_name) == value


@pytest.mark.parametrize(
    ("hex_doc", "message"),
    [
        # keys out of order: sender_type before leaf_index
        ("a26b73656e6465725f74797065666d656d6265726a6c6561665f696e64657807", "order"),
        # leaf_index 7 as a two-byte integer
        ("a26a6c6561665f696e64657818076b73656e6465725f74797065666d656d626572", "deterministic"),
        # indefinite-length map
        ("bf6a6c6561665f696e646578076b73656e6465725f74797065666d656d626572ff", "deterministic"),
        # leaf_index as a bignum (tag 2)
        ("a26a6c6561665f696e646578c241076b73656e6465725f74797065666d656d626572", "deterministic"),
        # duplicate key
        (
            "a36a6c6561665f696e646578076a6c6561665f696e646578076b73656e6465725f74797065666d656d626572",
            "duplicate key 'leaf_index'",
        ),
        # trailing byte
        ("a26a6c6561665f696e646578076b73656e6465725f74797065666d656d62657200", "trailing"),
        # leaf_index as a float
        ("a26a6c6561665f696e646578f947006b73656e6465725f74797065666d656d626572", "float"),
        # not CBOR at all
        ("ff", "not CBOR"),
        # a key with a two-byte head
        ("a2780a6c6561665f696e646578076b73656e6465725f74797065666d656d626572", "deterministic"),
        # a map head with a two-byte count
        ("b8026a6c6561665f696e646578076b73656e6465725f74797065666d656d626572", "deterministic"),
        # the enum name as an indefinite-length text string
        ("a26a6c6561665f696e646578076b73656e6465725f747970657f666d656d626572ff", "deterministic"),
        # a tag around the whole map (self-described CBOR, tag 55799)
        ("d9d9f7a16b73656e6465725f74797065686578746572_6e616c".replace("_", ""), "no tags"),
        # an integer key
        ("a2016a6c6561665f696e6465786b73656e6465725f74797065666d656d626572", "text strings"),
        # a key that is no field
        ("a2616107" + "6b73656e6465725f74797065666d656d626572", "unexpected key 'a'"),
        # no sender_type
        ("a16a6c6561665f696e64657807", "Sender.sender_type: required key is missing"),
        # member without leaf_index
        ("a16b73656e6465725f74797065666d656d626572", "Sender.leaf_index: required key is missing"),
        # external with leaf_index
        (
            "a26a6c6561665f696e646578076b73656e6465725f747970656865787465726e616c",
            "unexpected key 'leaf_index'",
        ),
        # the input ends in the middle of a key
        ("a26a6c6561665f696e646578076b73656e646572", "input ends early"),
        # leaf_index true, undefined, -1, 2^32
        ("a26a6c6561665f696e646578f56b73656e6465725f74797065666d656d626572", "not a boolean"),
        ("a26a6c6561665f696e646578f76b73656e6465725f74797065666d656d626572", "not undefined"),
        (
            "a26a6c6561665f696e646578206b73656e6465725f74797065666d656d626572",
            "not a negative integer",
        ),
        (
            "a26a6c6561665f696e6465781b00000001000000006b73656e6465725f74797065666d656d626572",
            "0..4294967295",
        ),
        # sender_type as a number (a closed enum: names only)
        (
            "a26a6c6561665f696e646578076b73656e6465725f7479706501",
            "expected a SenderType name, not an integer",
        ),
        # a reserved head byte
        ("a26a6c6561665f696e6465781c6b73656e6465725f74797065666d656d626572", "not CBOR"),
    ],
)
def test_cbor_decoder_rejects_non_deterministic_input(hex_doc: str, message: str) -> None:
    with pytest.raises(DecodeError, match=message) as e:
        cbor.decode(bytes.fromhex(hex_doc), Sender)
    assert e.value.path.startswith("Sender")


def test_cbor_late_arms_follow_the_enclosing_discriminant() -> None:
    """In a PublicMessage, ``auth`` sorts before ``content`` but its confirmation_tag
    depends on content.content_type: decoded first, it is checked once that is known."""
    _, _, data = message_values()[list(TYPES).index("public_message_commit")]
    msg = mlswire.decode(data, "MLSMessage")
    assert msg.public_message is not None and msg.public_message.auth.confirmation_tag
    tree = cbor.to_tree(msg, "MLSMessage")
    app = {"FramedContent.content_type": ContentType.application}
    # A caller's context is overruled by the message's own content_type.
    assert cbor.decode(cbor2.dumps(tree, canonical=True), "MLSMessage", app) == msg
    del tree["public_message"]["auth"]["confirmation_tag"]
    with pytest.raises(DecodeError) as e:
        cbor.decode(cbor2.dumps(tree, canonical=True), "MLSMessage")
    assert str(e.value) == (
        "MLSMessage.public_message.auth.confirmation_tag: required key is missing"
    )
    # An application message's auth has no confirmation_tag, and a stray one in the
    # value is not written (as in TLS).
    _, _, data = message_values()[list(TYPES).index("public_message_application")]
    pm = mlswire.decode(data, "MLSMessage").public_message
    assert pm is not None
    stray = pm.__class__(
        content=pm.content,
        auth=FramedContentAuthData(signature=pm.auth.signature, confirmation_tag=b"t"),
        membership_tag=pm.membership_tag,
    )
    assert cbor.decode(cbor.encode(stray, "PublicMessage"), "PublicMessage") == pm
    tree = cbor.to_tree(pm, "PublicMessage")
    tree["auth"]["confirmation_tag"] = b"t"
    with pytest.raises(DecodeError, match="PublicMessage.auth: unexpected key 'confirmation_tag'"):
        cbor.decode(cbor2.dumps(tree, canonical=True), "PublicMessage")


def test_cbor_nesting_is_read_without_recursion() -> None:
    deep = b"\x81" * 100_000 + b"\xf6"
    with pytest.raises(DecodeError, match="expected a map"):
        cbor.decode(deep, "RatchetTree")
    # An unknown key's value is walked to explain the map, iteratively too.
    doc = b"\xa2\x61a" + deep + bytes.fromhex("6b73656e6465725f74797065666d656d626572")
    with pytest.raises(DecodeError, match="unexpected key 'a'"):
        cbor.decode(doc, Sender)


def test_json_decoder_rejects_duplicate_keys_and_accepts_any_layout() -> None:
    for doc in (
        b'{"sender_type":"member","leaf_index":1,"leaf_index":2}',
        b'{ "sender_type": "member", "leaf_index": 1, "leaf_index": 2 }',
        b'{"leaf_index" :1,"sender_type":"member","leaf_index":1}',
        # the dropped value holds colons, or is a document of its own
        b'{"leaf_index":"a:b\\":","sender_type":"member","leaf_index":1}',
        b'{"leaf_index":{"x":[1,{"y":2}]},"sender_type":"member","leaf_index":1}',
    ):
        with pytest.raises(DecodeError, match="Sender: duplicate key 'leaf_index'"):
            jsonc.decode(doc, Sender)
        with pytest.raises(DecodeError, match="duplicate key 'leaf_index'"):
            jsonc.decode(doc.decode(), Sender)
    nested = b'{"content_type":"commit","epoch":"1","group_id":"","epoch":"1"}'
    with pytest.raises(DecodeError, match="duplicate key 'epoch'"):
        jsonc.decode(nested, "SenderDataAAD")
    # Escapes are other spellings of the same text, not duplicates.
    assert jsonc.decode(b'{"sender_type":"\\u006dember","leaf_index":7}', Sender) == SENDER
    spaced = b'{\n  "leaf_index": 7,\n  "sender_type": "member"\n}\n'
    assert jsonc.decode(spaced, Sender) == SENDER
    assert jsonc.decode(spaced.decode(), Sender) == SENDER  # str accepted too
    with pytest.raises(DecodeError, match="not JSON"):
        jsonc.decode(b'{"sender_type":', Sender)


def test_select_on_a_nested_discriminant() -> None:
    """PublicMessage.membership_tag exists iff content.sender.sender_type is member."""
    field, _, data = message_values()[list(TYPES).index("public_message_commit")]
    msg = mlswire.decode(data, "MLSMessage")
    assert msg.public_message is not None, field  # from a member
    tree = jsonc.to_tree(msg.public_message, "PublicMessage")
    assert "membership_tag" in tree
    del tree["membership_tag"]
    with pytest.raises(DecodeError, match="PublicMessage.membership_tag: required key is missing"):
        jsonc.decode(orjson.dumps(tree), "PublicMessage")
    tree["content"]["sender"] = {"sender_type": "external", "sender_index": 0}
    assert jsonc.decode(orjson.dumps(tree), "PublicMessage").membership_tag is None
    tree["membership_tag"] = "00"
    with pytest.raises(DecodeError, match="PublicMessage: unexpected key 'membership_tag'"):
        jsonc.decode(orjson.dumps(tree), "PublicMessage")
