"""transcript-hashes.json: one Commit's AuthenticatedContent moves the transcript hashes
forward, and its confirmation tag verifies under the given confirmation key."""

from __future__ import annotations

from typing import Any

from ..codecs import tls
from ..crypto.suites import cipher_suite
from ..engine import transcript
from ..schema import AuthenticatedContent, ContentType
from . import Mismatch, expect, unhex

FAMILY = "transcript-hashes"
KEYS = frozenset(
    {
        "cipher_suite",
        "confirmation_key",
        "authenticated_content",
        "interim_transcript_hash_before",
        "confirmed_transcript_hash_after",
        "interim_transcript_hash_after",
    }
)


def check(case: dict[str, Any]) -> None:
    cs = cipher_suite(case["cipher_suite"])
    content = tls.decode(unhex(case["authenticated_content"]), AuthenticatedContent)
    expect("content_type", content.content.content_type, ContentType.commit)
    tag = content.auth.confirmation_tag
    if tag is None:  # the codec guarantees it for a Commit; keep mypy and readers sure
        raise Mismatch("authenticated_content has no confirmation_tag")

    confirmed_after = unhex(case["confirmed_transcript_hash_after"])
    transcript.verify_confirmation_tag(
        cs, unhex(case["confirmation_key"]), confirmed_after, tag, "authenticated_content"
    )

    hashes = transcript.update_transcript(
        cs, unhex(case["interim_transcript_hash_before"]), content
    )
    expect("confirmed_transcript_hash_after", hashes.confirmed, confirmed_after)
    expect(
        "interim_transcript_hash_after",
        hashes.interim,
        unhex(case["interim_transcript_hash_after"]),
    )
