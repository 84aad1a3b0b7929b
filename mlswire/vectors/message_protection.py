"""message-protection.json: PublicMessage and PrivateMessage protection (RFC 9420 §6).

For each of proposal, commit and application, in both directions: the vector's
messages unprotect (signature, membership tag and AEAD checked) to the vector's raw
content, and what mlswire protects from that content unprotects to it again. Each
direction starts from a fresh secret tree of two leaves; the sender is leaf 1.
"""

from __future__ import annotations

from typing import Any

from ..codecs import tls
from ..crypto.suites import CipherSuite, cipher_suite
from ..engine import framing
from ..engine import psk as psks
from ..engine.secret_tree import SecretTree
from ..errors import ValidationError
from ..schema import (
    AuthenticatedContent,
    Commit,
    GroupContext,
    MLSMessage,
    PreSharedKey,
    Proposal,
    ProposalOrRef,
    ProposalOrRefType,
    ProposalType,
    Remove,
    WireFormat,
)
from ..schema import (
    CipherSuite as CipherSuiteId,
)
from . import Mismatch, expect, unhex
from ._build import per_suite_generator
from ._rng import Drbg

FAMILY = "message-protection"
KEYS = frozenset(
    {"cipher_suite", "membership_key", "proposal_priv", "commit_pub", "application_priv"}
)

SENDER_LEAF = 1
N_LEAVES = 2


class _Case:
    def __init__(self, case: dict[str, Any]) -> None:
        self.case = case
        self.cs: CipherSuite = cipher_suite(case["cipher_suite"])
        self.group_context = GroupContext(
            cipher_suite=CipherSuiteId(case["cipher_suite"]),
            group_id=unhex(case["group_id"]),
            epoch=case["epoch"],
            tree_hash=unhex(case["tree_hash"]),
            confirmed_transcript_hash=unhex(case["confirmed_transcript_hash"]),
            extensions=(),
        )
        self.sig_priv = unhex(case["signature_priv"])
        self.sig_pub = unhex(case["signature_pub"])
        self.membership_key = unhex(case["membership_key"])
        self.sender_data_secret = unhex(case["sender_data_secret"])

    def tree(self) -> SecretTree:
        return SecretTree(self.cs, unhex(self.case["encryption_secret"]), N_LEAVES)

    def message(self, field: str, wire_format: WireFormat) -> MLSMessage:
        msg: MLSMessage = tls.decode(unhex(self.case[field]), MLSMessage)
        if msg.wire_format != wire_format:
            raise Mismatch(f"{field}: wire format is {msg.wire_format!r}, expected {wire_format!r}")
        framing.framed_message(msg)  # version and wire format checks
        return msg

    def unprotect_public(self, msg: MLSMessage) -> AuthenticatedContent:
        assert msg.public_message is not None
        return framing.unprotect_public(
            self.cs,
            msg.public_message,
            group_context=self.group_context,
            signature_key=self.sig_pub,
            membership_key=self.membership_key,
        )

    def unprotect_private(self, msg: MLSMessage, tree: SecretTree) -> AuthenticatedContent:
        assert msg.private_message is not None
        return framing.unprotect_private(
            self.cs,
            msg.private_message,
            group_context=self.group_context,
            secret_tree=tree,
            sender_data_secret=self.sender_data_secret,
            signature_key=self.sig_pub,
        )

    def protect(
        self, like: AuthenticatedContent, wire_format: WireFormat, tree: SecretTree | None = None
    ) -> MLSMessage:
        """Sign and protect the content of ``like`` afresh (same content, same
        authenticated_data and confirmation tag) as ``wire_format``."""
        auth = framing.authenticate(
            self.cs,
            self.sig_priv,
            like.content,
            wire_format,
            self.group_context,
            confirmation_tag=like.auth.confirmation_tag,
        )
        if wire_format == WireFormat.mls_public_message:
            pub = framing.protect_public(
                self.cs, auth, group_context=self.group_context, membership_key=self.membership_key
            )
            out = framing.to_mls_message(pub)
        else:
            assert tree is not None
            priv = framing.protect_private(
                self.cs,
                auth,
                secret_tree=tree,
                sender_data_secret=self.sender_data_secret,
                padding=framing.pad_to_multiple(32),
            )
            out = framing.to_mls_message(priv)
        # Through the wire encoding, as a receiver would get it.
        again: MLSMessage = tls.decode(tls.encode(out, MLSMessage), MLSMessage)
        return again


def _raw(name: str, content: AuthenticatedContent) -> bytes:
    fc = content.content
    if name == "proposal":
        return tls.encode(fc.proposal, Proposal) if fc.proposal is not None else b""
    if name == "commit":
        return tls.encode(fc.commit, Commit) if fc.commit is not None else b""
    return fc.application_data or b""


def _check_content(c: _Case, name: str, what: str, content: AuthenticatedContent) -> None:
    fc = content.content
    expect(f"{what}: content_type", fc.content_type.name, name)
    expect(f"{what}: sender leaf", fc.sender.leaf_index, SENDER_LEAF)
    expect(f"{what}: {name}", _raw(name, content), unhex(c.case[name]))


def check(case: dict[str, Any]) -> None:
    c = _Case(case)
    for name in ("proposal", "commit", "application"):
        # The vector's PrivateMessage, with a fresh tree.
        priv = c.unprotect_private(
            c.message(f"{name}_priv", WireFormat.mls_private_message), c.tree()
        )
        _check_content(c, name, f"{name}_priv", priv)
        # Ours: protect with one fresh tree (the sender's), unprotect with another.
        sender_tree, receiver_tree = c.tree(), c.tree()
        mine = c.protect(priv, WireFormat.mls_private_message, sender_tree)
        _check_content(
            c,
            name,
            f"{name} (protected by mlswire, private)",
            c.unprotect_private(mine, receiver_tree),
        )

        if name == "application":
            # Application data MUST NOT be sent as a PublicMessage (§6).
            try:
                c.protect(priv, WireFormat.mls_public_message)
            except ValidationError:
                pass
            else:
                raise Mismatch("application: protecting as a PublicMessage should fail")
            continue
        pub = c.unprotect_public(c.message(f"{name}_pub", WireFormat.mls_public_message))
        _check_content(c, name, f"{name}_pub", pub)
        mine = c.protect(pub, WireFormat.mls_public_message)
        _check_content(c, name, f"{name} (protected by mlswire, public)", c.unprotect_public(mine))


# --- generation -----------------------------------------------------------------------
DEFAULT_COUNT = 1


def _proposal(cs: CipherSuite, r: Drbg) -> Proposal:
    return Proposal(proposal_type=ProposalType.remove, remove=Remove(removed=r.below(16)))


def _commit(cs: CipherSuite, r: Drbg) -> Commit:
    psk = PreSharedKey(psk=psks.external_psk_id(r(32), psks.fresh_psk_nonce(cs, r)))
    by_value = Proposal(proposal_type=ProposalType.psk, psk=psk)
    return Commit(
        proposals=(ProposalOrRef(type=ProposalOrRefType.proposal, proposal=by_value),),
        path=None,
    )


def _case(cs: CipherSuite, r: Drbg) -> dict[str, Any]:
    nh = cs.hash_len
    suite_id = cs.suite_id
    out: dict[str, Any] = {
        "cipher_suite": suite_id,
        "group_id": r(32).hex(),
        "epoch": r.uint(32),
        "tree_hash": r(nh).hex(),
        "confirmed_transcript_hash": r(nh).hex(),
    }
    signature_priv, signature_pub = cs.signature_key_pair(r)
    out["signature_priv"] = signature_priv.hex()
    out["signature_pub"] = signature_pub.hex()
    out["encryption_secret"] = r(nh).hex()
    out["sender_data_secret"] = r(nh).hex()
    out["membership_key"] = r(nh).hex()
    c = _Case(out)  # the same view of the case that check() takes

    proposal, commit, application = _proposal(cs, r), _commit(cs, r), r(r.between(1, 64))
    contents: dict[str, tuple[dict[str, Any], bytes]] = {
        "proposal": ({"proposal": proposal}, tls.encode(proposal, Proposal)),
        "commit": ({"commit": commit}, tls.encode(commit, Commit)),
        "application": ({"application_data": application}, application),
    }
    for name, (body, raw) in contents.items():
        content = framing.framed_content(
            group_id=c.group_context.group_id,
            epoch=c.group_context.epoch,
            sender=framing.member_sender(SENDER_LEAF),
            **body,
        )
        # A commit's confirmation tag depends on the next epoch's key schedule, which
        # this family does not model: any MAC-sized value is carried and signed over.
        tag = r(nh) if name == "commit" else None
        out[name] = raw.hex()
        if name != "application":  # application data is never a PublicMessage (§6)
            auth = framing.authenticate(
                cs,
                signature_priv,
                content,
                WireFormat.mls_public_message,
                c.group_context,
                confirmation_tag=tag,
                rng=r,
            )
            pub = framing.protect_public(
                cs, auth, group_context=c.group_context, membership_key=c.membership_key
            )
            out[f"{name}_pub"] = tls.encode(framing.to_mls_message(pub), MLSMessage).hex()
        auth = framing.authenticate(
            cs,
            signature_priv,
            content,
            WireFormat.mls_private_message,
            c.group_context,
            confirmation_tag=tag,
            rng=r,
        )
        # A fresh two-leaf tree for each message: the receiver in check() starts each
        # from generation 0 too.
        priv = framing.protect_private(
            cs,
            auth,
            secret_tree=c.tree(),
            sender_data_secret=c.sender_data_secret,
            padding=framing.pad_to_multiple(r.choice((1, 16, 32))),
            rng=r,
        )
        out[f"{name}_priv"] = tls.encode(framing.to_mls_message(priv), MLSMessage).hex()
    return out


generate = per_suite_generator(_case, DEFAULT_COUNT)
