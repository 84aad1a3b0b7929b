"""messages.json: every value decodes as its RFC 9420 type and re-encodes byte-identically."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from ..codecs import tls
from ..crypto import labeled
from ..engine import framing, transcript, treekem
from ..engine import key_schedule as ks
from ..engine import psk as psks
from ..engine import welcome as wl
from ..engine.ratchet_tree import in_subtree
from ..engine.secret_tree import SecretTree
from ..schema import (
    Add,
    AuthenticatedContent,
    CipherSuite,
    Commit,
    CredentialType,
    Extension,
    ExtensionType,
    ExternalInit,
    ExternalPub,
    ExternalSender,
    FramedContent,
    GroupContextExtensions,
    GroupSecrets,
    MLSMessage,
    PathSecret,
    PreSharedKey,
    Proposal,
    ProposalOrRef,
    ProposalOrRefType,
    ProposalType,
    ProtocolVersion,
    PublicMessage,
    ReInit,
    Remove,
    RequiredCapabilities,
    Update,
    WireFormat,
    lookup,
)
from . import Mismatch, unhex
from ._build import grow, new_key_package, new_signer, per_case
from ._rng import Drbg

# vector field -> RFC 9420 type
TYPES: dict[str, str] = {
    "mls_welcome": "MLSMessage",
    "mls_group_info": "MLSMessage",
    "mls_key_package": "MLSMessage",
    "ratchet_tree": "RatchetTree",
    "group_secrets": "GroupSecrets",
    "add_proposal": "Add",
    "update_proposal": "Update",
    "remove_proposal": "Remove",
    "pre_shared_key_proposal": "PreSharedKey",
    "re_init_proposal": "ReInit",
    "external_init_proposal": "ExternalInit",
    "group_context_extensions_proposal": "GroupContextExtensions",
    "commit": "Commit",
    "public_message_application": "MLSMessage",
    "public_message_proposal": "MLSMessage",
    "public_message_commit": "MLSMessage",
    "private_message": "MLSMessage",
}

# The wire format each MLSMessage field must carry.
WIRE_FORMATS: dict[str, str] = {
    "mls_welcome": "mls_welcome",
    "mls_group_info": "mls_group_info",
    "mls_key_package": "mls_key_package",
    "public_message_application": "mls_public_message",
    "public_message_proposal": "mls_public_message",
    "public_message_commit": "mls_public_message",
    "private_message": "mls_private_message",
}

FAMILY = "messages"
KEYS = frozenset({"mls_welcome", "commit", "ratchet_tree"})


def check(case: dict[str, Any]) -> None:
    missing = set(TYPES) - case.keys()
    if missing:
        raise Mismatch(f"case lacks {', '.join(sorted(missing))}")
    for field, type_name in TYPES.items():
        data = unhex(case[field])
        tp = lookup(type_name)
        value = tls.decode(data, tp)
        if field in WIRE_FORMATS and value.wire_format.name != WIRE_FORMATS[field]:
            raise Mismatch(f"{field}: wire format is {value.wire_format.name}")
        again = tls.encode(value, tp)
        if again != data:
            raise Mismatch(f"{field}: re-encoding differs from the vector")


# --- generation -----------------------------------------------------------------------
# One case is one real epoch change in a small group: member 1 proposes a Remove by
# reference; member 0 commits it with an Add and an external PSK by value and an
# UpdatePath; the new member gets a Welcome. The other fields are the proposal types
# the commit does not use, a GroupInfo, the GroupSecrets and framed messages of each
# kind. The cases carry no cipher_suite field (as the official file), but each is made
# with one suite, so every suite's encodings (key and signature sizes) are covered.
DEFAULT_COUNT = 1
GROUP_SIZE = 3


def _proposal(**kwargs: Any) -> Proposal:
    (name,) = kwargs
    return Proposal(proposal_type=ProposalType[name], **kwargs)


def _hex(value: Any, tp: Any) -> str:
    return tls.encode(value, tp).hex()


def _case(suite_id: int, r: Drbg) -> dict[str, Any]:
    g = grow(suite_id, r, GROUP_SIZE, track_private=False)
    cs = g.suite
    nh = cs.hash_len
    context = g.context()
    # The current epoch's secrets (its key schedule inputs are not published).
    current = ks.derive_epoch(cs, r(nh), context, r(nh))
    interim_before = r(nh)
    public, private = WireFormat.mls_public_message, WireFormat.mls_private_message
    signer0, signer1 = g.members[0].signer, g.members[1].signer

    def content(sender: int, **body: Any) -> FramedContent:
        return framing.framed_content(
            group_id=g.group_id, epoch=g.epoch, sender=framing.member_sender(sender), **body
        )

    # Member 1 proposes removing member 2, as a PublicMessage; the commit refers to it.
    remove = _proposal(remove=Remove(removed=2))
    proposed = framing.authenticate(
        cs, signer1.priv, content(1, proposal=remove), public, context, rng=r
    )
    proposal_msg = framing.protect_public(
        cs, proposed, group_context=context, membership_key=current.membership_key
    )
    ref = labeled.make_proposal_ref(cs, tls.encode(proposed, AuthenticatedContent))

    joiner = new_key_package(cs, r)
    add = _proposal(add=Add(key_package=joiner.key_package))
    psk_id = psks.external_psk_id(r(32), psks.fresh_psk_nonce(cs, r))
    psk_value = r(nh)
    psk = _proposal(psk=PreSharedKey(psk=psk_id))

    # The commit: apply the proposals to a copy of the tree (§12.3 order: removes, then
    # adds), then the committer's UpdatePath, excluding the new member.
    staged = g.tree.copy()
    staged.remove_leaf(2)
    new_leaf = staged.add_leaf(joiner.leaf_node)
    template = g.context(g.epoch + 1, staged)
    created = treekem.create_update_path(
        staged, 0, signer0.priv, template, exclude=[new_leaf], rng=r
    )
    commit = Commit(
        proposals=(
            ProposalOrRef(type=ProposalOrRefType.reference, reference=ref),
            ProposalOrRef(type=ProposalOrRefType.proposal, proposal=add),
            ProposalOrRef(type=ProposalOrRefType.proposal, proposal=psk),
        ),
        path=created.update_path,
    )
    framed = content(0, commit=commit)
    signature = framing.sign_framed_content(cs, signer0.priv, framed, public, context, r)
    confirmed = transcript.confirmed_transcript_hash(cs, interim_before, public, framed, signature)
    new_context = msgspec.structs.replace(
        created.group_context, confirmed_transcript_hash=confirmed
    )
    psk_secret = psks.psk_secret(cs, [(psk_id, psk_value)])
    nxt = ks.derive_epoch(cs, current.init_secret, new_context, created.commit_secret, psk_secret)
    tag = transcript.confirmation_tag(cs, nxt.confirmation_key, confirmed)
    committed = framing.authenticated_content(framed, public, signature, tag)
    commit_msg = framing.protect_public(
        cs, committed, group_context=context, membership_key=current.membership_key
    )

    # The new epoch's GroupInfo (with the tree and the external key) and Welcome.
    extensions = (
        Extension(extension_type=ExtensionType.ratchet_tree, extension_data=created.tree.encode()),
        Extension(
            extension_type=ExtensionType.external_pub,
            extension_data=_bytes(ExternalPub(external_pub=nxt.external_key_pair()[1])),
        ),
    )
    group_info = wl.sign_group_info(
        cs,
        signer0.priv,
        group_context=new_context,
        confirmation_tag=tag,
        signer=0,
        extensions=extensions,
        rng=r,
    )
    # The joiner's path secret is the one of its lowest ancestor on the committer's
    # filtered direct path (§12.4.3.1); path_secrets is ordered bottom-up.
    path_secret = next(s for p, s in created.path_secrets.items() if in_subtree(2 * new_leaf, p))
    welcome = wl.create_welcome(
        nxt, group_info, [wl.NewMember(joiner.key_package, path_secret)], [psk_id], rng=r
    )
    group_secrets = GroupSecrets(
        joiner_secret=nxt.joiner_secret,
        path_secret=PathSecret(path_secret=path_secret),
        psks=(psk_id,),
    )

    # Application data, private (as it must be) and, for the format's sake, public.
    app_framed = content(1, application_data=r(r.between(1, 64)), authenticated_data=r(8))
    app_private = framing.authenticate(cs, signer1.priv, app_framed, private, context, rng=r)
    private_msg = framing.protect_private(
        cs,
        app_private,
        secret_tree=SecretTree(cs, current.encryption_secret, g.tree.n_leaves),
        sender_data_secret=current.sender_data_secret,
        rng=r,
    )
    # §6 forbids application data in a PublicMessage, so framing.protect_public refuses
    # it; the vector format still asks for one (syntax only), so it is assembled here
    # from a real signature and membership tag.
    app_public = framing.authenticate(cs, signer1.priv, app_framed, public, context, rng=r)
    app_public_msg = PublicMessage(
        content=app_framed,
        auth=app_public.auth,
        membership_tag=framing.membership_tag(cs, current.membership_key, app_public, context),
    )

    update_leaf, _ = g.update_leaf_node(1)
    kem_output, _ = ks.external_init_sender(cs, current.external_key_pair()[1], rng=r)
    required = RequiredCapabilities(
        extension_types=(ExtensionType.external_senders,),
        proposal_types=(),
        credential_types=(CredentialType.basic,),
    )
    senders = (ExternalSender(signature_key=new_signer(cs, r).pub, credential=signer1.credential),)

    def message(**body: Any) -> str:
        (name,) = body
        return _hex(MLSMessage(wire_format=WireFormat[f"mls_{name}"], **body), MLSMessage)

    return {
        "mls_welcome": message(welcome=welcome),
        "mls_group_info": message(group_info=group_info),
        "mls_key_package": message(key_package=joiner.key_package),
        "ratchet_tree": created.tree.encode().hex(),
        "group_secrets": _hex(group_secrets, GroupSecrets),
        "add_proposal": _hex(add.add, Add),
        "update_proposal": _hex(Update(leaf_node=update_leaf), Update),
        "remove_proposal": _hex(remove.remove, Remove),
        "pre_shared_key_proposal": _hex(psk.psk, PreSharedKey),
        "re_init_proposal": _hex(
            ReInit(
                group_id=r(32),
                version=ProtocolVersion.mls10,
                cipher_suite=CipherSuite(suite_id),
                extensions=(),
            ),
            ReInit,
        ),
        "external_init_proposal": _hex(ExternalInit(kem_output=kem_output), ExternalInit),
        "group_context_extensions_proposal": _hex(
            GroupContextExtensions(
                extensions=(
                    Extension(
                        extension_type=ExtensionType.required_capabilities,
                        extension_data=_bytes(required),
                    ),
                    Extension(
                        extension_type=ExtensionType.external_senders,
                        extension_data=tls.encode(senders, "ExternalSenders"),
                    ),
                )
            ),
            GroupContextExtensions,
        ),
        "commit": _hex(commit, Commit),
        "public_message_application": _hex(framing.to_mls_message(app_public_msg), MLSMessage),
        "public_message_proposal": _hex(framing.to_mls_message(proposal_msg), MLSMessage),
        "public_message_commit": _hex(framing.to_mls_message(commit_msg), MLSMessage),
        "private_message": _hex(framing.to_mls_message(private_msg), MLSMessage),
    }


def _bytes(value: Any) -> bytes:
    return tls.encode(value, type(value))


def generate(
    suite: int | None,
    rng: Drbg,
    count: int | None = None,
    *,
    progress: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    suite_id = suite if suite is not None else 1
    n = DEFAULT_COUNT if count is None else count
    return [_case(suite_id, r) for _, r in per_case(rng, n, progress)]
