"""Proposal builders the cases share."""

from __future__ import annotations

from ...engine import psk as psk_mod
from ...schema import (
    Certificate,
    Credential,
    CredentialType,
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
from ...schema import CipherSuite as SuiteId

CUSTOM_PROPOSAL = 0xF0F0
CUSTOM_EXT = 0xFF0A

# A suite with the same KEM, signature scheme and hash, where there is one: naming it
# makes only the field wrong (suites 2, 5 and 7 have none; suite 1 is named instead).
SIBLING_SUITE = {1: 3, 3: 1, 4: 6, 6: 4}

X509 = Credential(
    credential_type=CredentialType.x509, certificates=(Certificate(cert_data=b"DER"),)
)


def sibling_suite(suite: int) -> int:
    return SIBLING_SUITE.get(suite, 1 if suite != 1 else 3)


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
