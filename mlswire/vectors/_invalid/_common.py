"""Proposal builders the cases share."""

from __future__ import annotations

from ...engine import psk as psk_mod
from ...schema import CipherSuite as SuiteId
from ...schema import (
    Extension,
    GroupContextExtensions,
    PreSharedKey,
    PreSharedKeyID,
    Proposal,
    ProposalType,
    ProtocolVersion,
    ReInit,
    Remove,
)

CUSTOM_PROPOSAL = 0xF0F0
CUSTOM_EXT = 0xFF0A


def remove(leaf: int) -> Proposal:
    return Proposal(proposal_type=ProposalType.remove, remove=Remove(removed=leaf))


def psk(psk_id: PreSharedKeyID) -> Proposal:
    return Proposal(proposal_type=ProposalType.psk, psk=PreSharedKey(psk=psk_id))


def external_psk(name: bytes = b"psk", nonce_len: int = 32) -> PreSharedKeyID:
    return psk_mod.external_psk_id(name, bytes(nonce_len))


def gce(*extensions: Extension) -> Proposal:
    return Proposal(
        proposal_type=ProposalType.group_context_extensions,
        group_context_extensions=GroupContextExtensions(extensions=extensions),
    )


def reinit(
    suite: int,
    version: ProtocolVersion = ProtocolVersion.mls10,
    extensions: tuple[Extension, ...] = (),
) -> Proposal:
    return Proposal(
        proposal_type=ProposalType.reinit,
        reinit=ReInit(
            group_id=b"next", version=version, cipher_suite=SuiteId(suite), extensions=extensions
        ),
    )
