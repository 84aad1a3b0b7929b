"""The TLS presentation codec (RFC 9420 §2.1): headers, optionals, selects, errors."""

from __future__ import annotations

import pytest

import mlswire
from mlswire import DecodeError, EncodeError
from mlswire.codecs import tls
from mlswire.schema import (
    Capabilities,
    CipherSuite,
    ContentType,
    EncryptedGroupSecrets,
    ExtensionType,
    FramedContentAuthData,
    HPKECiphertext,
    MLSMessage,
    PrivateMessageContent,
    Proposal,
    ProposalType,
    ProtocolVersion,
    Sender,
    SenderType,
    Welcome,
    WireFormat,
)


@pytest.mark.parametrize(
    ("header", "length"),
    [
        ("00", 0),
        ("3f", 63),
        ("4040", 64),
        ("7fff", 16383),
        ("80004000", 16384),
        ("bfffffff", (1 << 30) - 1),
    ],
)
def test_varint_headers_round_trip(header: str, length: int) -> None:
    if length > 100_000:
        # Only the header matters; a 1 GiB body is not needed to test it.
        with pytest.raises(DecodeError, match="exceeds"):
            tls.decode(bytes.fromhex(header), "opaque")
        return
    data = bytes.fromhex(header) + bytes(length)
    assert tls.decode(data, "opaque") == bytes(length)
    assert tls.encode(bytes(length), "opaque") == data


@pytest.mark.parametrize("header", ["4000", "403f", "80000000", "80003fff"])
def test_non_minimal_headers_are_rejected(header: str) -> None:
    with pytest.raises(DecodeError, match="not minimally encoded"):
        tls.decode(bytes.fromhex(header) + bytes(64), "opaque")


def test_reserved_header_prefix_is_rejected() -> None:
    with pytest.raises(DecodeError, match="reserved 0b11 prefix"):
        tls.decode(bytes.fromhex("c0000000"), "opaque")


def test_lengths_of_2_to_the_30_cannot_be_encoded() -> None:
    class Huge(bytes):
        def __len__(self) -> int:
            return 1 << 30

    with pytest.raises(EncodeError, match="2\\^30"):
        tls.encode(Huge(), "opaque")


def test_trailing_bytes_are_an_error() -> None:
    with pytest.raises(DecodeError, match="1 trailing bytes") as e:
        mlswire.decode(bytes.fromhex("010000000700"), "Sender")
    assert e.value.offset == 5


def test_decode_error_names_the_field_path_and_offset() -> None:
    secret = EncryptedGroupSecrets(
        new_member=b"r" * 4,
        encrypted_group_secrets=HPKECiphertext(kem_output=b"k", ciphertext=b"c"),
    )
    welcome = Welcome(cipher_suite=CipherSuite(1), secrets=(secret,) * 4, encrypted_group_info=b"")
    data = bytearray(mlswire.encode(welcome))
    # Point secrets[3].encrypted_group_secrets.kem_output's header at 70000 bytes.
    at = 2 + 1 + 3 * 9 + 5
    assert data[at] == 1
    data[at : at + 1] = (0x80000000 | 70000).to_bytes(4, "big")
    with pytest.raises(DecodeError) as e:
        mlswire.decode(bytes(data), "Welcome")
    assert e.value.path == "Welcome.secrets[3].encrypted_group_secrets.kem_output"
    assert e.value.offset == at
    assert str(e.value) == (
        "Welcome.secrets[3].encrypted_group_secrets.kem_output: length 70000 exceeds the "
        f"{len(data) - at - 4} bytes left (offset {at})"
    )


def test_truncation_is_a_decode_error_with_a_path() -> None:
    data = mlswire.encode(Sender(sender_type=SenderType.member, leaf_index=7))
    with pytest.raises(DecodeError) as e:
        mlswire.decode(data[:3], "Sender")
    assert e.value.path == "Sender.leaf_index"


def test_optional_presence_byte_must_be_0_or_1() -> None:
    with pytest.raises(DecodeError, match="presence byte is 2"):
        mlswire.decode(bytes([0, 2]), "Commit")


def test_unknown_closed_enum_value_is_rejected() -> None:
    with pytest.raises(DecodeError, match="unknown SenderType value 9"):
        mlswire.decode(bytes([9]), "Sender")


def test_grease_and_unknown_registry_values_round_trip() -> None:
    caps = Capabilities(
        versions=(ProtocolVersion.mls10,),
        cipher_suites=(CipherSuite(1), CipherSuite(0x0A0A), CipherSuite(0xF123)),
        extensions=(ExtensionType(0x1A1A),),
        proposals=(ProposalType(0x2A2A),),
        credentials=(),
    )
    data = mlswire.encode(caps)
    back = mlswire.decode(data, Capabilities)
    assert back == caps
    assert back.cipher_suites[1].name == "unknown_0x0a0a"
    assert not back.cipher_suites[1].known
    assert mlswire.encode(back) == data


def test_unknown_proposal_type_body_round_trips() -> None:
    p = Proposal(proposal_type=ProposalType(0xF001), custom=b"payload")
    data = mlswire.encode(p)
    assert data == bytes.fromhex("f001") + bytes([7]) + b"payload"
    assert mlswire.decode(data, "Proposal") == p


def test_select_arm_missing_on_encode_is_an_error() -> None:
    with pytest.raises(EncodeError, match="Sender.leaf_index: this select arm requires the field"):
        mlswire.encode(Sender(sender_type=SenderType.member))


def test_wrong_python_type_is_an_encode_error() -> None:
    with pytest.raises(EncodeError, match="HPKECiphertext.kem_output"):
        mlswire.encode(HPKECiphertext(kem_output="text", ciphertext=b""))  # type: ignore[arg-type]
    with pytest.raises(EncodeError, match="Sender.leaf_index"):
        mlswire.encode(Sender(sender_type=SenderType.member, leaf_index=1 << 32))


def test_select_on_a_discriminant_outside_the_struct() -> None:
    auth = FramedContentAuthData(signature=b"sig", confirmation_tag=b"tag")
    ctx = {"FramedContent.content_type": ContentType.commit}
    data = mlswire.encode(auth, context=ctx)
    assert mlswire.decode(data, "FramedContentAuthData", context=ctx) == auth
    with pytest.raises(DecodeError, match="needs the value of FramedContent.content_type"):
        mlswire.decode(data, "FramedContentAuthData")


def test_private_message_content_padding() -> None:
    content = PrivateMessageContent(
        application_data=b"hi", auth=FramedContentAuthData(signature=b"s"), padding=bytes(5)
    )
    ctx = {
        "PrivateMessage.content_type": ContentType.application,
        "FramedContent.content_type": ContentType.application,
    }
    data = mlswire.encode(content, context=ctx)
    assert data.endswith(bytes(5))
    assert mlswire.decode(data, PrivateMessageContent, context=ctx) == content
    with pytest.raises(DecodeError, match="padding must be all zero"):
        mlswire.decode(data + b"\x01", PrivateMessageContent, context=ctx)


def test_mlsmessage_default_version_and_reprs() -> None:
    msg = MLSMessage(
        wire_format=WireFormat.mls_welcome,
        welcome=Welcome(cipher_suite=CipherSuite(1), secrets=(), encrypted_group_info=b""),
    )
    assert msg.version is ProtocolVersion.mls10
    assert "WireFormat.mls_welcome" in repr(msg)
    assert mlswire.decode(mlswire.encode(msg), "MLSMessage") == msg


def test_values_are_immutable() -> None:
    s = Sender(sender_type=SenderType.member, leaf_index=1)
    with pytest.raises(AttributeError):
        s.leaf_index = 2  # type: ignore[misc]


def test_type_names_and_classes_are_interchangeable() -> None:
    data = bytes.fromhex("0100000007")
    assert mlswire.decode(data, "Sender") == mlswire.decode(data, Sender)


def test_unknown_type_name() -> None:
    with pytest.raises(KeyError, match="unknown MLS type"):
        mlswire.decode(b"", "NoSuchType")


def test_decode_prefix_reads_one_value_of_a_stream() -> None:
    stream = bytes.fromhex("0100000007") + bytes.fromhex("0100000009") + b"\xff"
    first, pos = tls.decode_prefix(stream, "Sender")
    second, end = tls.decode_prefix(stream, "Sender", pos)
    assert (first.leaf_index, pos, second.leaf_index, end) == (7, 5, 9, 10)
    with pytest.raises(DecodeError, match="unknown SenderType value 255"):
        tls.decode_prefix(stream, "Sender", end)


def test_grease_values() -> None:
    from mlswire.schema import is_grease

    grease = [0x0A0A + 0x1010 * i for i in range(15)]  # RFC 9420 §13.5: 0x0A0A ... 0xEAEA
    assert all(is_grease(v) for v in grease)
    assert not any(is_grease(v) for v in (0x0001, 0x0A0B, 0x0A1A, 0xFAFA, 0xF000))
