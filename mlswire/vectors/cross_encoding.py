"""cross-encoding.json (mlswire's own family): one value in the TLS, CBOR and JSON
encodings, for implementations of encodings/README.md to test against.

A case is ``{"type", "description", "tls", "cbor", "json"}``: ``tls`` and ``cbor`` are
hex, ``json`` is the JSON encoding embedded as a JSON value. The three decode to the
same value, and that value encodes back to exactly ``tls`` and ``cbor`` (both are
deterministic) and to a document equal to ``json``.

The cases cover every MLSMessage wire format (and an unnamed one), every sender type,
every proposal, extension and credential type, each alongside a GREASE value of its
registry, and the structures whose selects depend on an enclosing message. The values
are well formed, not cryptographically valid: only the encodings are tested here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from ..codecs import cbor, tls
from ..codecs import json as jsonc
from ..schema import (
    Add,
    Capabilities,
    Certificate,
    CipherSuite,
    Commit,
    ContentType,
    Credential,
    CredentialType,
    EncryptedGroupSecrets,
    Extension,
    ExtensionType,
    ExternalInit,
    ExternalPub,
    ExternalSender,
    FramedContent,
    FramedContentAuthData,
    GroupContext,
    GroupContextExtensions,
    GroupInfo,
    GroupSecrets,
    HPKECiphertext,
    KeyPackage,
    LeafNode,
    LeafNodeSource,
    Lifetime,
    MLSMessage,
    Node,
    NodeType,
    ParentNode,
    PathSecret,
    PreSharedKey,
    PreSharedKeyID,
    PrivateMessage,
    PrivateMessageContent,
    Proposal,
    ProposalOrRef,
    ProposalOrRefType,
    ProposalType,
    ProtocolVersion,
    PSKType,
    PublicMessage,
    ReInit,
    Remove,
    RequiredCapabilities,
    ResumptionPSKUsage,
    Sender,
    SenderType,
    Update,
    UpdatePath,
    UpdatePathNode,
    Welcome,
    WireFormat,
)
from . import Mismatch, unhex
from ._build import per_case
from ._rng import Drbg

FAMILY = "cross-encoding"
KEYS = frozenset({"type", "tls", "cbor", "json"})
SUITED = False  # about encodings, not cipher suites
OFFICIAL = False  # mlswire's own family: the MLS working group publishes no such file
DEFAULT_COUNT = 1  # rounds of the full set of cases (each round with fresh values)

GREASE = 0x3A3A  # RFC 9420 §13.5


def _context(case: dict[str, Any]) -> dict[str, Any] | None:
    """``context`` of a case: select discriminants from an enclosing message, written
    ``{"FramedContent.content_type": "commit"}`` (names, as in the JSON encoding)."""
    ctx = case.get("context")
    if not ctx:
        return None
    out = {}
    for key, name in ctx.items():
        if key.endswith("content_type"):
            out[key] = ContentType[name]
        else:
            raise Mismatch(f"context key {key!r} is not one this family uses")
    return out


def check(case: dict[str, Any]) -> None:
    tp = case["type"]
    ctx = _context(case)
    wire, cbor_bytes = unhex(case["tls"]), unhex(case["cbor"])
    json_text = orjson.dumps(case["json"])
    value = tls.decode(wire, tp, ctx)
    for name, codec, data in (("cbor", cbor, cbor_bytes), ("json", jsonc, json_text)):
        if codec.decode(data, tp, ctx) != value:
            raise Mismatch(f"{name} decodes to a different value than tls")
    if tls.encode(value, tp, ctx) != wire:
        raise Mismatch("tls: re-encoding differs")
    if cbor.encode(value, tp, ctx) != cbor_bytes:
        raise Mismatch("cbor: encoding differs (not deterministic?)")
    if orjson.loads(jsonc.encode(value, tp, ctx)) != case["json"]:
        raise Mismatch("json: encoding differs")


# --- generation ----------------------------------------------------------------------


class _Values:
    """Well-formed values drawn from one stream."""

    def __init__(self, r: Drbg) -> None:
        self.r = r

    def b(self, n: int = 32) -> bytes:
        return self.r(n)

    def credential(self, kind: str = "basic") -> Credential:
        if kind == "x509":
            certs = tuple(Certificate(cert_data=self.b(40)) for _ in range(2))
            return Credential(credential_type=CredentialType.x509, certificates=certs)
        if kind == "grease":
            return Credential(credential_type=CredentialType(GREASE), custom=self.b(8))
        return Credential(credential_type=CredentialType.basic, identity=b"alice")

    def capabilities(self) -> Capabilities:
        return Capabilities(
            versions=(ProtocolVersion.mls10,),
            cipher_suites=(CipherSuite(1), CipherSuite(GREASE)),
            extensions=(ExtensionType.application_id, ExtensionType(GREASE)),
            proposals=(ProposalType(GREASE),),
            credentials=(CredentialType.basic, CredentialType.x509, CredentialType(GREASE)),
        )

    def leaf_node(self, source: LeafNodeSource, credential: str = "basic") -> LeafNode:
        return LeafNode(
            encryption_key=self.b(),
            signature_key=self.b(),
            credential=self.credential(credential),
            capabilities=self.capabilities(),
            leaf_node_source=source,
            lifetime=(
                Lifetime(not_before=self.r.uint(32), not_after=(1 << 64) - 1)
                if source == LeafNodeSource.key_package
                else None
            ),
            parent_hash=self.b() if source == LeafNodeSource.commit else None,
            extensions=(Extension(extension_type=ExtensionType(GREASE), extension_data=b""),),
            signature=self.b(64),
        )

    def key_package(self, credential: str = "basic") -> KeyPackage:
        return KeyPackage(
            version=ProtocolVersion.mls10,
            cipher_suite=CipherSuite(1),
            init_key=self.b(),
            leaf_node=self.leaf_node(LeafNodeSource.key_package, credential),
            extensions=(),
            signature=self.b(64),
        )

    def extensions(self) -> tuple[Extension, ...]:
        """One extension of every type, each carrying its RFC 9420 body (TLS-encoded:
        ``extension_data`` is opaque in every encoding)."""
        tree = (
            Node(node_type=NodeType.leaf, leaf_node=self.leaf_node(LeafNodeSource.commit)),
            Node(
                node_type=NodeType.parent,
                parent_node=ParentNode(
                    encryption_key=self.b(), parent_hash=b"", unmerged_leaves=(2,)
                ),
            ),
            None,
        )
        bodies = {
            ExtensionType.application_id: tls.encode(b"app", "ApplicationId"),
            ExtensionType.ratchet_tree: tls.encode(tree, "RatchetTree"),
            ExtensionType.required_capabilities: tls.encode(
                RequiredCapabilities(
                    extension_types=(ExtensionType.external_senders,),
                    proposal_types=(ProposalType.group_context_extensions,),
                    credential_types=(CredentialType.x509,),
                ),
                RequiredCapabilities,
            ),
            ExtensionType.external_pub: tls.encode(ExternalPub(external_pub=self.b()), ExternalPub),
            ExtensionType.external_senders: tls.encode(
                (
                    ExternalSender(signature_key=self.b(), credential=self.credential("x509")),
                    ExternalSender(signature_key=self.b(), credential=self.credential("grease")),
                ),
                "ExternalSenders",
            ),
            ExtensionType(GREASE): self.b(5),
        }
        return tuple(Extension(extension_type=t, extension_data=d) for t, d in bodies.items())

    def group_context(self) -> GroupContext:
        return GroupContext(
            cipher_suite=CipherSuite(1),
            group_id=self.b(16),
            epoch=self.r.uint(64),
            tree_hash=self.b(),
            confirmed_transcript_hash=self.b(),
            extensions=self.extensions(),
        )

    def psk_id(self, kind: PSKType) -> PreSharedKeyID:
        if kind == PSKType.external:
            return PreSharedKeyID(psktype=kind, psk_id=self.b(8), psk_nonce=self.b())
        return PreSharedKeyID(
            psktype=kind,
            usage=ResumptionPSKUsage.application,
            psk_group_id=self.b(16),
            psk_epoch=self.r.uint(64),
            psk_nonce=self.b(),
        )

    def proposals(self) -> list[tuple[str, Proposal]]:
        """One proposal of every type, and a GREASE one."""
        P = ProposalType  # a local alias keeps the table readable
        return [
            ("add", Proposal(proposal_type=P.add, add=Add(key_package=self.key_package()))),
            (
                "update",
                Proposal(
                    proposal_type=P.update,
                    update=Update(leaf_node=self.leaf_node(LeafNodeSource.update)),
                ),
            ),
            ("remove", Proposal(proposal_type=P.remove, remove=Remove(removed=self.r.uint(32)))),
            (
                "psk (external)",
                Proposal(proposal_type=P.psk, psk=PreSharedKey(psk=self.psk_id(PSKType.external))),
            ),
            (
                "psk (resumption)",
                Proposal(
                    proposal_type=P.psk, psk=PreSharedKey(psk=self.psk_id(PSKType.resumption))
                ),
            ),
            (
                "reinit",
                Proposal(
                    proposal_type=P.reinit,
                    reinit=ReInit(
                        group_id=self.b(16),
                        version=ProtocolVersion.mls10,
                        cipher_suite=CipherSuite(3),
                        extensions=(),
                    ),
                ),
            ),
            (
                "external_init",
                Proposal(
                    proposal_type=P.external_init, external_init=ExternalInit(kem_output=self.b())
                ),
            ),
            (
                "group_context_extensions",
                Proposal(
                    proposal_type=P.group_context_extensions,
                    group_context_extensions=GroupContextExtensions(extensions=self.extensions()),
                ),
            ),
            ("GREASE", Proposal(proposal_type=P(GREASE), custom=self.b(6))),
        ]

    def commit(self) -> Commit:
        by_value = [
            ProposalOrRef(type=ProposalOrRefType.proposal, proposal=p)
            for _, p in self.proposals()
            if p.proposal_type in (ProposalType.remove, ProposalType.psk)
        ]
        by_ref = ProposalOrRef(type=ProposalOrRefType.reference, reference=self.b())
        path = UpdatePath(
            leaf_node=self.leaf_node(LeafNodeSource.commit),
            nodes=(
                UpdatePathNode(
                    encryption_key=self.b(),
                    encrypted_path_secret=(
                        HPKECiphertext(kem_output=self.b(), ciphertext=self.b(48)),
                    ),
                ),
            ),
        )
        return Commit(proposals=(*by_value, by_ref), path=path)

    def public(self, sender: Sender, content_type: ContentType) -> MLSMessage:
        body: dict[str, Any] = {}
        if content_type == ContentType.commit:
            body["commit"] = self.commit()
        elif content_type == ContentType.proposal:
            body["proposal"] = self.proposals()[2][1]
        else:
            body["application_data"] = self.b(11)
        content = FramedContent(
            group_id=self.b(16),
            epoch=self.r.uint(64),
            sender=sender,
            authenticated_data=self.b(3),
            content_type=content_type,
            **body,
        )
        auth = FramedContentAuthData(
            signature=self.b(64),
            confirmation_tag=self.b() if content_type == ContentType.commit else None,
        )
        tag = self.b() if sender.sender_type == SenderType.member else None
        message = PublicMessage(content=content, auth=auth, membership_tag=tag)
        return MLSMessage(wire_format=WireFormat.mls_public_message, public_message=message)


def _cases(v: _Values) -> list[tuple[str, str, Any, dict[str, str] | None]]:
    """(type, description, value, context) of one round."""
    S, C = SenderType, ContentType
    out: list[tuple[str, str, Any, dict[str, str] | None]] = []
    for sender, content_type, what in (
        (Sender(sender_type=S.member, leaf_index=v.r.uint(16)), C.commit, "a member's commit"),
        (
            Sender(sender_type=S.member, leaf_index=0),
            C.application,
            "application data (well formed; RFC 9420 §6 sends it only as a PrivateMessage)",
        ),
        (
            Sender(sender_type=S.external, sender_index=v.r.uint(8)),
            C.proposal,
            "an external sender's proposal",
        ),
        (Sender(sender_type=S.new_member_proposal), C.proposal, "a new member's proposal"),
        (Sender(sender_type=S.new_member_commit), C.commit, "an external commit"),
    ):
        out.append(
            ("MLSMessage", f"mls_public_message: {what}", v.public(sender, content_type), None)
        )
    private = PrivateMessage(
        group_id=v.b(16),
        epoch=v.r.uint(64),
        content_type=C.application,
        authenticated_data=b"",
        encrypted_sender_data=v.b(28),
        ciphertext=v.b(60),
    )
    out.append(
        (
            "MLSMessage",
            "mls_private_message",
            MLSMessage(wire_format=WireFormat.mls_private_message, private_message=private),
            None,
        )
    )
    secrets = tuple(
        EncryptedGroupSecrets(
            new_member=v.b(),
            encrypted_group_secrets=HPKECiphertext(kem_output=v.b(), ciphertext=v.b(90)),
        )
        for _ in range(2)
    )
    welcome = Welcome(cipher_suite=CipherSuite(1), secrets=secrets, encrypted_group_info=v.b(120))
    out.append(
        (
            "MLSMessage",
            "mls_welcome",
            MLSMessage(wire_format=WireFormat.mls_welcome, welcome=welcome),
            None,
        )
    )
    info = GroupInfo(
        group_context=v.group_context(),
        extensions=v.extensions()[1:2],
        confirmation_tag=v.b(),
        signer=v.r.uint(16),
        signature=v.b(64),
    )
    out.append(
        (
            "MLSMessage",
            "mls_group_info (a group context with every extension type)",
            MLSMessage(wire_format=WireFormat.mls_group_info, group_info=info),
            None,
        )
    )
    for cred in ("basic", "x509", "grease"):
        kp = v.key_package(cred)
        out.append(
            (
                "MLSMessage",
                f"mls_key_package ({cred} credential)",
                MLSMessage(wire_format=WireFormat.mls_key_package, key_package=kp),
                None,
            )
        )
    out.append(
        (
            "MLSMessage",
            "an unnamed (GREASE) wire format",
            MLSMessage(wire_format=WireFormat(GREASE)),
            None,
        )
    )
    for what, p in v.proposals():
        out.append(("Proposal", f"proposal: {what}", p, None))
    for ext in v.extensions():
        kind = ext.extension_type
        name = kind.name if kind.known else f"GREASE (0x{int(kind):04x})"
        out.append(("Extension", f"extension: {name}", ext, None))
    for cred in ("basic", "x509", "grease"):
        out.append(("Credential", f"credential: {cred}", v.credential(cred), None))
    out.append(
        (
            "GroupSecrets",
            "group secrets with a path secret and both PSK types",
            GroupSecrets(
                joiner_secret=v.b(),
                path_secret=PathSecret(path_secret=v.b()),
                psks=(v.psk_id(PSKType.external), v.psk_id(PSKType.resumption)),
            ),
            None,
        )
    )
    out.append(
        (
            "PrivateMessageContent",
            "the plaintext of a private commit, padded (selects from the enclosing message)",
            PrivateMessageContent(
                commit=v.commit(),
                auth=FramedContentAuthData(signature=v.b(64), confirmation_tag=v.b()),
                padding=bytes(7),
            ),
            {"PrivateMessage.content_type": "commit", "FramedContent.content_type": "commit"},
        )
    )
    return out


def generate(
    suite: int | None,
    rng: Drbg,
    count: int | None = None,
    *,
    progress: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    """``count`` rounds (default 1) of the full set of cases; ``suite`` is ignored."""
    del suite  # the family is about encodings: SUITED is False
    out: list[dict[str, Any]] = []
    for _, r in per_case(rng, DEFAULT_COUNT if count is None else count, progress):
        for type_name, description, value, ctx_names in _cases(_Values(r)):
            case: dict[str, Any] = {"type": type_name, "description": description}
            if ctx_names:
                case["context"] = ctx_names
            ctx = _context(case)
            case["tls"] = tls.encode(value, type_name, ctx).hex()
            case["cbor"] = cbor.encode(value, type_name, ctx).hex()
            case["json"] = orjson.loads(jsonc.encode(value, type_name, ctx))
            out.append(case)
    return out
