"""Helpers for the negative tests of docs/VALIDATION.md: build a valid message with the
engine, change one thing, and sign / MAC / encrypt it again with the real keys so that
the only rule the message breaks is the one under test.

Everything signs through the engine's own functions (``framing.sign_framed_content``,
``framing.membership_tag``, ``labeled.sign_with_label``, ``welcome.sign_group_info``,
...), so a helper cannot disagree with the engine about what is signed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import msgspec
import pytest

from mlswire.codecs import tls
from mlswire.crypto import labeled
from mlswire.crypto.suites import cipher_suite
from mlswire.engine import framing
from mlswire.engine import key_schedule as ks
from mlswire.engine import psk as psk_mod
from mlswire.engine.group import Client, Group, GroupConfig, StagedCommit, default_capabilities
from mlswire.engine.ratchet_tree import RatchetTree
from mlswire.engine.transcript import confirmation_tag
from mlswire.engine.tree_validation import leaf_node_tbs
from mlswire.engine.welcome import (
    decrypt_group_info,
    decrypt_group_secrets,
    encrypt_group_info,
    encrypt_group_secrets,
    key_package_ref,
    sign_group_info,
)
from mlswire.errors import MLSError
from mlswire.schema import (
    Add,
    Capabilities,
    Commit,
    CredentialType,
    Extension,
    ExtensionType,
    FramedContent,
    GroupInfo,
    GroupSecrets,
    KeyPackage,
    KeyPackageTBS,
    LeafNode,
    MLSMessage,
    Node,
    PreSharedKeyID,
    Proposal,
    ProposalOrRef,
    ProposalOrRefType,
    ProposalType,
    ProtocolVersion,
    PublicMessage,
    RequiredCapabilities,
    Sender,
    SenderType,
    UpdatePath,
    Welcome,
    WireFormat,
)
from mlswire.schema import CipherSuite as SuiteId

PUBLIC = GroupConfig(handshake_wire_format="public")


# --- groups ------------------------------------------------------------------------------


def make_group(
    n: int,
    config: GroupConfig = PUBLIC,
    *,
    clients: Sequence[Client] | None = None,
    extensions: Sequence[Extension] = (),
) -> tuple[list[Client], list[Group]]:
    """n members (leaves 0..n-1) of one group, all at the same epoch. Handshake messages
    are PublicMessages by default so that tests can take them apart and rebuild them;
    PrivateMessage rules have their own tests with ``GroupConfig()``."""
    clients = (
        list(clients)
        if clients is not None
        else [Client.generate(f"member{i}".encode()) for i in range(n)]
    )
    creator = clients[0].create_group(b"group-id", config=config, extensions=extensions)
    groups = [creator]
    if n > 1:
        out = creator.add_members([c.key_package() for c in clients[1:n]])
        creator.merge_pending_commit()
        assert out.welcome is not None
        groups += [c.join_group(out.welcome, config=config) for c in clients[1:n]]
    return clients, groups


def caps(
    *,
    extensions: Sequence[int] = (),
    proposals: Sequence[int] = (),
    credentials: Sequence[int] | None = None,
    suites: Sequence[int] | None = None,
    versions: Sequence[int] | None = None,
) -> Capabilities:
    base = default_capabilities(1)
    return msgspec.structs.replace(
        base,
        extensions=tuple(ExtensionType(e) for e in extensions),
        proposals=tuple(ProposalType(p) for p in proposals),
        credentials=(
            base.credentials
            if credentials is None
            else tuple(CredentialType(c) for c in credentials)
        ),
        cipher_suites=(base.cipher_suites if suites is None else tuple(SuiteId(s) for s in suites)),
        versions=(
            base.versions if versions is None else tuple(ProtocolVersion(v) for v in versions)
        ),
    )


def required_capabilities_ext(
    extensions: Sequence[int] = (), proposals: Sequence[int] = (), credentials: Sequence[int] = ()
) -> Extension:
    value = RequiredCapabilities(
        extension_types=tuple(ExtensionType(e) for e in extensions),
        proposal_types=tuple(ProposalType(p) for p in proposals),
        credential_types=tuple(CredentialType(c) for c in credentials),
    )
    return Extension(
        extension_type=ExtensionType.required_capabilities,
        extension_data=tls.encode(value, RequiredCapabilities),
    )


# --- messages ----------------------------------------------------------------------------


def decode(data: bytes) -> MLSMessage:
    msg: MLSMessage = tls.decode(data, MLSMessage)
    return msg


def encode(msg: MLSMessage) -> bytes:
    return tls.encode(msg, MLSMessage)


def public(data: bytes) -> PublicMessage:
    pm = decode(data).public_message
    assert pm is not None, "expected a PublicMessage (use the PUBLIC config)"
    return pm


def encode_public(pm: PublicMessage) -> bytes:
    return encode(MLSMessage(wire_format=WireFormat.mls_public_message, public_message=pm))


def sign_public(
    group: Group,
    content: FramedContent,
    *,
    signature_key: bytes | None = None,
    confirmation_tag: bytes | None = None,
) -> bytes:
    """``content`` as a PublicMessage MLSMessage, signed with ``signature_key`` (default:
    the group member's own key) over the group's current GroupContext and, for a member
    sender, with a correct membership tag from the group's membership key."""
    st = group._state
    cs = st.suite
    key = signature_key if signature_key is not None else group.client.signature_private_key
    wf = WireFormat.mls_public_message
    sig = framing.sign_framed_content(cs, key, content, wf, st.context)
    ac = framing.authenticated_content(content, wf, sig, confirmation_tag)
    tag = None
    if content.sender.sender_type == SenderType.member:
        tag = framing.membership_tag(cs, st.secrets.membership_key, ac, st.context)
    return encode_public(PublicMessage(content=content, auth=ac.auth, membership_tag=tag))


def resign(group: Group, pm: PublicMessage, *, signature_key: bytes | None = None) -> bytes:
    """A (changed) PublicMessage signed and tagged again, keeping its confirmation tag."""
    return sign_public(
        group, pm.content, signature_key=signature_key, confirmation_tag=pm.auth.confirmation_tag
    )


def content_of(
    group: Group,
    *,
    group_id: bytes | None = None,
    epoch: int | None = None,
    sender: Sender | None = None,
    application_data: bytes | None = None,
    proposal: Proposal | None = None,
    commit: Commit | None = None,
) -> FramedContent:
    """A FramedContent from ``group``'s member at its current epoch, unless the
    arguments say otherwise."""
    return framing.framed_content(
        group_id=group.group_id if group_id is None else group_id,
        epoch=group.epoch if epoch is None else epoch,
        sender=framing.member_sender(group.own_leaf_index) if sender is None else sender,
        application_data=application_data,
        proposal=proposal,
        commit=commit,
    )


def by_value(p: Proposal) -> ProposalOrRef:
    return ProposalOrRef(type=ProposalOrRefType.proposal, proposal=p)


def by_ref(ref: bytes) -> ProposalOrRef:
    return ProposalOrRef(type=ProposalOrRefType.reference, reference=ref)


def forge_commit(
    sender: Group,
    proposals: Sequence[Proposal | ProposalOrRef],
    *,
    path: UpdatePath | None = None,
) -> bytes:
    """A Commit by ``sender`` with exactly ``proposals``, signed and tagged. Its
    confirmation tag is a placeholder of the right length: every rule the negative
    tests break is checked before the confirmation tag (which needs the next epoch,
    something a forger of an invalid commit cannot derive), and the error each test
    expects proves that the rule under test is the one that fired."""
    commit = Commit(
        proposals=tuple(p if isinstance(p, ProposalOrRef) else by_value(p) for p in proposals),
        path=path,
    )
    return sign_public(
        sender,
        content_of(sender, commit=commit),
        confirmation_tag=bytes(sender._state.suite.hash_len),
    )


def forge_proposal(sender: Group, proposal: Proposal) -> bytes:
    return sign_public(sender, content_of(sender, proposal=proposal))


def real_commit(committer: Group, proposals: Sequence[Proposal] = ()) -> PublicMessage:
    """A genuine commit (with a path) that ``committer`` creates and then drops, so that
    its state stays at the current epoch."""
    out = committer.commit(list(proposals), update_path=True)
    committer.clear_pending_commit()
    return public(out.commit)


def with_path_leaf(pm: PublicMessage, leaf: LeafNode) -> PublicMessage:
    commit = pm.content.commit
    assert commit is not None and commit.path is not None
    path = msgspec.structs.replace(commit.path, leaf_node=leaf)
    content = msgspec.structs.replace(pm.content, commit=msgspec.structs.replace(commit, path=path))
    return msgspec.structs.replace(pm, content=content)


def path_of(pm: PublicMessage) -> UpdatePath:
    assert pm.content.commit is not None and pm.content.commit.path is not None
    return pm.content.commit.path


def with_path(pm: PublicMessage, path: object) -> PublicMessage:
    commit = pm.content.commit
    assert commit is not None
    content = msgspec.structs.replace(pm.content, commit=msgspec.structs.replace(commit, path=path))
    return msgspec.structs.replace(pm, content=content)


def leaf_at(group: Group, index: int) -> LeafNode:
    """The LeafNode at ``index`` of ``group``'s current tree (which must be non-blank)."""
    leaf = group._state.tree.leaf(index)
    assert leaf is not None
    return leaf


def staged(result: object) -> StagedCommit:
    assert isinstance(result, StagedCommit), f"expected a StagedCommit, got {result!r}"
    return result


# --- LeafNodes and KeyPackages -----------------------------------------------------------


def sign_leaf(
    signature_private_key: bytes, leaf: LeafNode, group_id: bytes = b"", leaf_index: int = 0
) -> LeafNode:
    """``leaf`` with a valid LeafNodeTBS signature (group_id and leaf_index only matter
    for update and commit leaves, as in the engine). Suite 1, the suite of every group
    these tests build."""
    cs = cipher_suite(1)
    tbs = leaf_node_tbs(leaf, group_id, leaf_index)
    sig = labeled.sign_with_label(cs, signature_private_key, "LeafNodeTBS", tbs)
    return msgspec.structs.replace(leaf, signature=sig)


def sign_key_package(signature_private_key: bytes, kp: KeyPackage, suite: int = 1) -> KeyPackage:
    tbs = KeyPackageTBS(
        version=kp.version,
        cipher_suite=kp.cipher_suite,
        init_key=kp.init_key,
        leaf_node=kp.leaf_node,
        extensions=kp.extensions,
    )
    sig = labeled.sign_with_label(
        cipher_suite(suite), signature_private_key, "KeyPackageTBS", tls.encode(tbs, KeyPackageTBS)
    )
    return msgspec.structs.replace(kp, signature=sig)


def key_package(
    client: Client,
    *,
    lifetime: int | tuple[int, int] = 90 * 24 * 3600,
    leaf_extensions: Sequence[Extension] = (),
) -> KeyPackage:
    data = client.key_package(lifetime=lifetime, leaf_extensions=leaf_extensions)
    kp = decode(data).key_package
    assert kp is not None
    return kp


def altered_key_package(
    client: Client,
    *,
    leaf: Callable[[LeafNode], LeafNode] | None = None,
    kp: Callable[[KeyPackage], KeyPackage] | None = None,
    sign_leaf_with: bytes | None = None,
) -> KeyPackage:
    """One of ``client``'s KeyPackages with its leaf and/or itself changed, then signed
    again (leaf, then KeyPackage) with the client's key."""
    value = key_package(client)
    key = client.signature_private_key
    if leaf is not None:
        new_leaf = sign_leaf(sign_leaf_with or key, leaf(value.leaf_node))
        value = msgspec.structs.replace(value, leaf_node=new_leaf)
    if kp is not None:
        value = kp(value)
    return sign_key_package(key, value)


def add(kp: KeyPackage) -> Proposal:
    return Proposal(proposal_type=ProposalType.add, add=Add(key_package=kp))


# --- Welcome and GroupInfo ---------------------------------------------------------------


def tree_nodes(info: GroupInfo) -> list[Node | None]:
    ext = next(e for e in info.extensions if e.extension_type == ExtensionType.ratchet_tree)
    return list(RatchetTree.decode(1, ext.extension_data).to_nodes())


def set_tree(info: GroupInfo, nodes: Sequence[Node | None]) -> GroupInfo:
    """``info`` with its ratchet_tree extension replaced and the GroupContext's
    tree_hash set to the new tree's, so that the tree hash still matches."""
    tree = RatchetTree.from_nodes(1, nodes)
    exts = tuple(
        Extension(extension_type=e.extension_type, extension_data=tree.encode())
        if e.extension_type == ExtensionType.ratchet_tree
        else e
        for e in info.extensions
    )
    context = msgspec.structs.replace(info.group_context, tree_hash=tree.tree_hash())
    return msgspec.structs.replace(info, extensions=exts, group_context=context)


def forge_welcome(
    welcome_bytes: bytes,
    joiner: Client,
    signer: Group,
    *,
    info: Callable[[GroupInfo], GroupInfo] | None = None,
    secrets: Callable[[GroupSecrets], GroupSecrets] | None = None,
    psk_values: Callable[[PreSharedKeyID], bytes | None] | None = None,
    retag: bool = True,
    resign_info: bool = True,
    welcome: Callable[[Welcome], Welcome] | None = None,
    encrypted_info: Callable[[bytes], bytes] | None = None,
) -> bytes:
    """Open ``welcome_bytes`` with ``joiner``'s KeyPackage, change its GroupInfo and/or
    GroupSecrets, and rebuild it the way a committer would: confirmation tag recomputed
    from the (possibly changed) GroupContext, GroupInfo signed by ``signer``'s member
    key, GroupInfo and GroupSecrets encrypted again for the joiner."""
    msg = decode(welcome_bytes)
    w = msg.welcome
    assert w is not None
    cs = signer._state.suite
    entry_secrets = next(
        s for ref, s in joiner._key_packages.items() if any(e.new_member == ref for e in w.secrets)
    )
    kp = entry_secrets.key_package
    ref = key_package_ref(cs, kp)
    entry = next(e for e in w.secrets if e.new_member == ref)
    gs = decrypt_group_secrets(cs, entry_secrets.init_private_key, entry, w.encrypted_group_info)
    old_psk = psk_mod.psk_secret(cs, psk_mod.resolve_psks(gs.psks, psk_values)) if gs.psks else None
    group_info = decrypt_group_info(
        cs, ks.welcome_secret(cs, gs.joiner_secret, old_psk), w.encrypted_group_info
    )
    if secrets is not None:
        gs = secrets(gs)
    if info is not None:
        group_info = info(group_info)
    try:
        psk_secret = (
            psk_mod.psk_secret(cs, psk_mod.resolve_psks(gs.psks, psk_values)) if gs.psks else None
        )
    except MLSError:
        psk_secret = None  # the joiner will not get this far (its PSK is missing)
    ctx = group_info.group_context
    tag = group_info.confirmation_tag
    if retag:
        epoch = ks.epoch_from_joiner(cs, gs.joiner_secret, ctx, psk_secret)
        tag = confirmation_tag(cs, epoch.confirmation_key, ctx.confirmed_transcript_hash)
    if resign_info:
        group_info = sign_group_info(
            cs,
            signer.client.signature_private_key,
            group_context=ctx,
            confirmation_tag=tag,
            signer=group_info.signer,
            extensions=group_info.extensions,
        )
    else:
        group_info = msgspec.structs.replace(group_info, confirmation_tag=tag)
    encrypted = encrypt_group_info(
        cs, ks.welcome_secret(cs, gs.joiner_secret, psk_secret), group_info
    )
    if encrypted_info is not None:
        # e.g. a corrupted blob: the GroupSecrets are then encrypted for it (their HPKE
        # info is the encrypted GroupInfo), so that only the GroupInfo fails to decrypt
        encrypted = encrypted_info(encrypted)
    new_entry = encrypt_group_secrets(cs, kp, encrypted, gs)
    new_welcome = Welcome(
        cipher_suite=w.cipher_suite, secrets=(new_entry,), encrypted_group_info=encrypted
    )
    if welcome is not None:
        new_welcome = welcome(new_welcome)
    return encode(MLSMessage(wire_format=WireFormat.mls_welcome, welcome=new_welcome))


# --- assertions --------------------------------------------------------------------------


def rejects(
    target: Group | Callable[[], object],
    message: bytes | None,
    error: type[MLSError],
    rule: str,
) -> MLSError:
    """``target.process(message)`` (or ``target()``) raises ``error`` whose text names
    ``rule`` (a regular expression); a group's ``to_bytes()`` is byte-identical after."""
    if isinstance(target, Group):
        before = target.to_bytes()
        with pytest.raises(error) as info:
            assert message is not None
            target.process(message)
        assert target.to_bytes() == before, "a rejected message changed the group state"
    else:
        with pytest.raises(error) as info:
            target()
    text = str(info.value)
    assert re.search(rule, text), f"{text!r} does not name {rule!r}"
    return info.value


def rejects_join(
    joiner: Client,
    welcome: bytes,
    error: type[MLSError],
    rule: str,
    psks: Callable[[PreSharedKeyID], bytes | None] | None = None,
    resumed_from: Group | None = None,
) -> None:
    """Joining from ``welcome`` fails naming ``rule``, and the joiner keeps its
    KeyPackage private keys (a rejected Welcome consumes nothing)."""
    held = dict(joiner._key_packages)
    old_state = None if resumed_from is None else resumed_from.to_bytes()
    rejects(
        lambda: joiner.join_group(welcome, psks=psks, resumed_from=resumed_from), None, error, rule
    )
    assert resumed_from is None or resumed_from.to_bytes() == old_state
    assert joiner._key_packages == held


def update_leaf(
    group: Group, signature_private_key: bytes | None = None, **changes: object
) -> LeafNode:
    """A LeafNode for an Update by ``group``'s member: a fresh encryption key, source
    update, then ``changes``, signed for the member's leaf."""
    from mlswire.schema import LeafNodeSource

    leaf = group._state.tree.leaf(group.own_leaf_index)
    assert leaf is not None
    _, pk = group._state.suite.generate_key_pair()
    fields: dict[str, object] = {
        "encryption_key": pk,
        "leaf_node_source": LeafNodeSource.update,
        "lifetime": None,
        "parent_hash": None,
    }
    fields.update(changes)
    new = msgspec.structs.replace(leaf, **fields)
    return sign_leaf(
        signature_private_key or group.client.signature_private_key,
        new,
        group.group_id,
        group.own_leaf_index,
    )


def update(leaf: LeafNode) -> Proposal:
    from mlswire.schema import Update

    return Proposal(proposal_type=ProposalType.update, update=Update(leaf_node=leaf))
