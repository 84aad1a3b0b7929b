"""transcript-hashes.json: one Commit's AuthenticatedContent moves the transcript hashes
forward, and its confirmation tag verifies under the given confirmation key."""

from __future__ import annotations

from typing import Any

from ..codecs import tls
from ..crypto.suites import CipherSuite, cipher_suite
from ..engine import framing, transcript
from ..engine import psk as psks
from ..schema import (
    AuthenticatedContent,
    Commit,
    ContentType,
    GroupContext,
    PreSharedKey,
    Proposal,
    ProposalOrRef,
    ProposalOrRefType,
    ProposalType,
    WireFormat,
)
from ..schema import CipherSuite as CipherSuiteId
from . import Mismatch, expect, unhex
from ._build import per_suite_generator
from ._rng import Drbg

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


# --- generation: a signed Commit from a random member, hashes and tag computed ---------
DEFAULT_COUNT = 1


def _case(cs: CipherSuite, r: Drbg) -> dict[str, Any]:
    nh = cs.hash_len
    confirmation_key, interim_before = r(nh), r(nh)
    group_id, epoch = r(16), r.uint(32)
    psk = PreSharedKey(psk=psks.external_psk_id(r(32), psks.fresh_psk_nonce(cs, r)))
    commit = Commit(
        proposals=(
            ProposalOrRef(
                type=ProposalOrRefType.proposal,
                proposal=Proposal(proposal_type=ProposalType.psk, psk=psk),
            ),
        ),
        path=None,
    )
    content = framing.framed_content(
        group_id=group_id,
        epoch=epoch,
        sender=framing.member_sender(r.below(8)),
        commit=commit,
    )
    # The signature covers a GroupContext; nothing in this family checks it, but a
    # real one keeps the content exactly what a member would send.
    signer_priv, _ = cs.signature_key_pair(r)
    context = GroupContext(
        cipher_suite=CipherSuiteId(cs.suite_id),
        group_id=group_id,
        epoch=epoch,
        tree_hash=r(nh),
        confirmed_transcript_hash=r(nh),
        extensions=(),
    )
    wire_format = WireFormat.mls_public_message
    signature = framing.sign_framed_content(cs, signer_priv, content, wire_format, context, r)
    confirmed = transcript.confirmed_transcript_hash(
        cs, interim_before, wire_format, content, signature
    )
    tag = transcript.confirmation_tag(cs, confirmation_key, confirmed)
    authenticated = framing.authenticated_content(content, wire_format, signature, tag)
    after = transcript.update_transcript(cs, interim_before, authenticated)
    return {
        "cipher_suite": cs.suite_id,
        "confirmation_key": confirmation_key.hex(),
        "authenticated_content": tls.encode(authenticated, AuthenticatedContent).hex(),
        "interim_transcript_hash_before": interim_before.hex(),
        "confirmed_transcript_hash_after": after.confirmed.hex(),
        "interim_transcript_hash_after": after.interim.hex(),
    }


generate = per_suite_generator(_case, DEFAULT_COUNT)
