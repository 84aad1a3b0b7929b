"""Transcript hashes and the confirmation tag (RFC 9420 §8.2, §6.1).

Each Commit moves the pair (confirmed, interim) forward::

    confirmed_[n] = Hash(interim_[n-1] || ConfirmedTranscriptHashInput_[n])
    interim_[n]   = Hash(confirmed_[n] || InterimTranscriptHashInput_[n])

The two halves are separate functions because a committer needs ``confirmed_[n]``
(it goes into the new GroupContext, hence the key schedule) before the
``confirmation_tag`` that ``interim_[n]`` covers can exist. A receiver holding the
whole AuthenticatedContent uses :func:`update_transcript`.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from ..codecs import tls
from ..crypto.suites import CipherSuite
from ..errors import ValidationError
from ..schema import (
    AuthenticatedContent,
    ConfirmedTranscriptHashInput,
    ContentType,
    FramedContent,
    InterimTranscriptHashInput,
    WireFormat,
)

CONFIRMATION_TAG_RULE = (
    "RFC 9420 §6.1: confirmation_tag must equal MAC(confirmation_key, confirmed_transcript_hash)"
)


@dataclass(frozen=True, slots=True)
class TranscriptHashes:
    """The two running hashes of a group after some Commit (both ``b""`` at creation)."""

    confirmed: bytes
    interim: bytes


INITIAL = TranscriptHashes(confirmed=b"", interim=b"")
"""§8.2: confirmed_transcript_hash_[0] = interim_transcript_hash_[0] = ""."""


def _require_commit(content: FramedContent) -> None:
    # Only Commits enter the transcript; hashing anything else would silently fork the
    # group's view of its history.
    if content.content_type != ContentType.commit:
        raise ValidationError(
            "RFC 9420 §8.2: only a Commit updates the transcript hash",
            f"content_type is {content.content_type.name}",
        )


def confirmed_transcript_hash(
    cs: CipherSuite,
    interim_before: bytes,
    wire_format: WireFormat,
    content: FramedContent,
    signature: bytes,
) -> bytes:
    """confirmed_[n] = Hash(interim_[n-1] || ConfirmedTranscriptHashInput(wire_format,
    content, signature)); ``content`` must carry a Commit."""
    _require_commit(content)
    data = tls.encode(
        ConfirmedTranscriptHashInput(wire_format=wire_format, content=content, signature=signature),
        ConfirmedTranscriptHashInput,
    )
    return cs.hash(interim_before + data)


def interim_transcript_hash(cs: CipherSuite, confirmed: bytes, confirmation_tag: bytes) -> bytes:
    """interim_[n] = Hash(confirmed_[n] || InterimTranscriptHashInput(confirmation_tag)).

    Also what a new member computes from the GroupInfo's confirmed hash and tag."""
    data = tls.encode(
        InterimTranscriptHashInput(confirmation_tag=confirmation_tag), InterimTranscriptHashInput
    )
    return cs.hash(confirmed + data)


def update_transcript(
    cs: CipherSuite, interim_before: bytes, authenticated_content: AuthenticatedContent
) -> TranscriptHashes:
    """Both hashes after the Commit in ``authenticated_content``."""
    content = authenticated_content.content
    auth = authenticated_content.auth
    confirmed = confirmed_transcript_hash(
        cs, interim_before, authenticated_content.wire_format, content, auth.signature
    )
    if auth.confirmation_tag is None:
        # Unreachable for decoded messages (the codec requires the tag for a Commit), but
        # a hand-built AuthenticatedContent can lack it.
        raise ValidationError("RFC 9420 §6.1: a Commit carries a confirmation_tag")
    return TranscriptHashes(
        confirmed, interim_transcript_hash(cs, confirmed, auth.confirmation_tag)
    )


def confirmation_tag(cs: CipherSuite, confirmation_key: bytes, confirmed: bytes) -> bytes:
    """MAC(confirmation_key, confirmed_transcript_hash) (§6.1)."""
    return cs.mac(confirmation_key, confirmed)


def verify_confirmation_tag(
    cs: CipherSuite, confirmation_key: bytes, confirmed: bytes, tag: bytes, where: str = ""
) -> None:
    """Raise :class:`ValidationError` (rule :data:`CONFIRMATION_TAG_RULE`) unless ``tag``
    is the confirmation tag; the comparison takes the same time wherever they differ."""
    if not hmac.compare_digest(confirmation_tag(cs, confirmation_key, confirmed), tag):
        raise ValidationError(CONFIRMATION_TAG_RULE, "the tag does not verify", where)


__all__ = [
    "CONFIRMATION_TAG_RULE",
    "INITIAL",
    "TranscriptHashes",
    "confirmation_tag",
    "confirmed_transcript_hash",
    "interim_transcript_hash",
    "update_transcript",
    "verify_confirmation_tag",
]
