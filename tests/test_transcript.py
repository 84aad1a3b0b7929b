"""Transcript hashes and confirmation tags (RFC 9420 §8.2, §6.1) beyond
transcript-hashes.json: the hash inputs, tag verification failures, and non-Commits."""

from __future__ import annotations

import hashlib
import json

import pytest

from mlswire.codecs import tls
from mlswire.crypto.suites import cipher_suite
from mlswire.engine import transcript
from mlswire.errors import ValidationError
from mlswire.schema import (
    AuthenticatedContent,
    Commit,
    ConfirmedTranscriptHashInput,
    ContentType,
    FramedContent,
    FramedContentAuthData,
    Sender,
    SenderType,
    WireFormat,
)

from .conftest import require, vectors_dir

CS = cipher_suite(1)
KEY = b"\x42" * 32


def _commit(epoch: int = 5) -> FramedContent:
    return FramedContent(
        group_id=b"group",
        epoch=epoch,
        sender=Sender(sender_type=SenderType.member, leaf_index=1),
        authenticated_data=b"",
        content_type=ContentType.commit,
        commit=Commit(proposals=(), path=None),
    )


def _authenticated(content: FramedContent, tag: bytes | None) -> AuthenticatedContent:
    return AuthenticatedContent(
        wire_format=WireFormat.mls_public_message,
        content=content,
        auth=FramedContentAuthData(signature=b"sig", confirmation_tag=tag),
    )


def test_hashes_follow_the_rfc_formula() -> None:
    interim_before = b"\x01" * 32
    content = _commit()
    confirmed = transcript.confirmed_transcript_hash(
        CS, interim_before, WireFormat.mls_public_message, content, b"sig"
    )
    hashed = tls.encode(
        ConfirmedTranscriptHashInput(
            wire_format=WireFormat.mls_public_message, content=content, signature=b"sig"
        ),
        ConfirmedTranscriptHashInput,
    )
    assert confirmed == hashlib.sha256(interim_before + hashed).digest()
    tag = transcript.confirmation_tag(CS, KEY, confirmed)
    interim = transcript.interim_transcript_hash(CS, confirmed, tag)
    assert interim == hashlib.sha256(confirmed + bytes([len(tag)]) + tag).digest()
    assert transcript.update_transcript(
        CS, interim_before, _authenticated(content, tag)
    ) == transcript.TranscriptHashes(confirmed, interim)


def test_first_commit_starts_from_empty_hashes() -> None:
    assert transcript.TranscriptHashes(b"", b"") == transcript.INITIAL
    hashes = transcript.update_transcript(
        CS, transcript.INITIAL.interim, _authenticated(_commit(0), b"\x00" * 32)
    )
    assert len(hashes.confirmed) == len(hashes.interim) == 32


def test_good_tag_verifies() -> None:
    confirmed = b"\x07" * 32
    tag = transcript.confirmation_tag(CS, KEY, confirmed)
    transcript.verify_confirmation_tag(CS, KEY, confirmed, tag)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: bytes([t[0] ^ 1]) + t[1:],  # one bit flipped
        lambda t: t[:-1],  # truncated
        lambda t: b"",  # empty
        lambda t: t + b"\x00",  # extended
    ],
)
def test_wrong_confirmation_tag_raises_naming_the_rule(mutate: object) -> None:
    confirmed = b"\x07" * 32
    tag = transcript.confirmation_tag(CS, KEY, confirmed)
    with pytest.raises(ValidationError) as info:
        transcript.verify_confirmation_tag(CS, KEY, confirmed, mutate(tag), "commit")  # type: ignore[operator]
    assert info.value.rule == transcript.CONFIRMATION_TAG_RULE
    assert info.value.where == "commit"


def test_wrong_key_or_hash_fails_the_tag() -> None:
    confirmed = b"\x07" * 32
    tag = transcript.confirmation_tag(CS, KEY, confirmed)
    with pytest.raises(ValidationError):
        transcript.verify_confirmation_tag(CS, b"\x43" * 32, confirmed, tag)
    with pytest.raises(ValidationError):
        transcript.verify_confirmation_tag(CS, KEY, b"\x08" * 32, tag)


def test_only_commits_enter_the_transcript() -> None:
    proposal_like = FramedContent(
        group_id=b"group",
        epoch=1,
        sender=Sender(sender_type=SenderType.member, leaf_index=0),
        authenticated_data=b"",
        content_type=ContentType.application,
        application_data=b"hi",
    )
    with pytest.raises(ValidationError, match="only a Commit"):
        transcript.confirmed_transcript_hash(
            CS, b"", WireFormat.mls_private_message, proposal_like, b"sig"
        )


def test_commit_without_a_tag_is_rejected() -> None:
    with pytest.raises(ValidationError, match="confirmation_tag"):
        transcript.update_transcript(CS, b"", _authenticated(_commit(), None))


def test_tampered_vector_tag_fails() -> None:
    case = json.loads(require(vectors_dir() / "transcript-hashes.json").read_text())[0]
    content = tls.decode(bytes.fromhex(case["authenticated_content"]), AuthenticatedContent)
    tag = bytearray(content.auth.confirmation_tag)
    tag[-1] ^= 0x80
    cs = cipher_suite(case["cipher_suite"])
    with pytest.raises(ValidationError):
        transcript.verify_confirmation_tag(
            cs,
            bytes.fromhex(case["confirmation_key"]),
            bytes.fromhex(case["confirmed_transcript_hash_after"]),
            bytes(tag),
        )
