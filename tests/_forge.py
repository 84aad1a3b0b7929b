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
from mlswire.crypto.primitives import Rng
from mlswire.crypto.suites import cipher_suite
from mlswire.engine import framing, treekem
from mlswire.engine import key_schedule as ks
from mlswire.engine import psk as psk_mod
from mlswire.engine import tree_validation as tv
from mlswire.engine.group import Client, Group, GroupConfig, StagedCommit, default_capabilities
from mlswire.engine.proposals import DEFAULT_PROPOSAL_TYPES, PATH_REQUIRED_TYPES
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
from mlswire.errors import MLSError, ValidationError
from mlswire.schema import (
    Add,
    Capabilities,
    Commit,
    CredentialType,
    Extension,
    ExtensionType,
    ExternalInit,
    FramedContent,
    GroupContext,
    GroupInfo,
    GroupSecrets,
    HPKECiphertext,
    KeyPackage,
    KeyPackageTBS,
    LeafNode,
    LeafNodeSource,
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
    suite: int = 1,
) -> tuple[list[Client], list[Group]]:
    """n members (leaves 0..n-1) of one group, all at the same epoch. Handshake messages
    are PublicMessages by default so that tests can take them apart and rebuild them;
    PrivateMessage rules have their own tests with ``GroupConfig()``."""
    clients = (
        list(clients)
        if clients is not None
        else [Client.generate(f"member{i}".encode(), suite) for i in range(n)]
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


# --- forged commits ----------------------------------------------------------------------

#: The error of a Commit whose confirmation tag is wrong: the last check a receiver makes.
CONFIRMATION_TAG = (
    r"§6\.1: confirmation_tag must equal MAC\(confirmation_key, confirmed_transcript_hash\)"
)

Item = tuple[Proposal, Sender]


def _items(
    group: Group, proposals: Sequence[Proposal | ProposalOrRef], sender: Sender
) -> list[Item | None]:
    """The proposals as committed (by value from ``sender``, by reference from ``group``'s
    cache); None for a reference the committer does not know."""
    out: list[Item | None] = []
    for p in proposals:
        por = p if isinstance(p, ProposalOrRef) else by_value(p)
        if por.type == ProposalOrRefType.reference:
            item = group._state.proposals.get(por.reference or b"")
            out.append(None if item is None else (item.proposal, item.sender))
        else:
            assert por.proposal is not None
            out.append((por.proposal, sender))
    return out


def _path_required(items: Sequence[Item | None]) -> bool:
    """§12.4: an empty list, or a type that needs the path (unknown types and unknown
    references: the safe answer, as the engine's; a path is always allowed)."""
    return not items or any(
        it is None
        or int(it[0].proposal_type) in PATH_REQUIRED_TYPES
        or int(it[0].proposal_type) not in DEFAULT_PROPOSAL_TYPES
        for it in items
    )


def _applied(
    group: Group, items: Sequence[Item | None], committer: int | None
) -> tuple[RatchetTree, tuple[Extension, ...], list[int]]:
    """The tree, GroupContext extensions and added leaves after ``items`` (§12.3 order),
    applied as far as each proposal can be: the committer's own Update or Remove, a
    second Update or Remove of a leaf and a Remove of a non-member change nothing. What
    a committer of the list means by it, the tree its path is made for."""
    st = group._state
    tree = st.tree.copy()
    known = [it for it in items if it is not None]

    def of(t: ProposalType) -> list[Item]:
        return [it for it in known if it[0].proposal_type == t]

    gce = [p.group_context_extensions for p, _ in of(ProposalType.group_context_extensions)]
    extensions = tuple(gce[0].extensions) if gce and gce[0] else tuple(st.context.extensions)
    done = set() if committer is None else {committer}
    for p, s in of(ProposalType.update):
        i = s.leaf_index
        if p.update is not None and i is not None and i not in done and tree.leaf(i) is not None:
            tree.update_leaf(i, p.update.leaf_node)
            done.add(i)
    for p, _ in of(ProposalType.remove):
        r = p.remove.removed if p.remove is not None else -1
        if r not in done and 0 <= r < tree.n_leaves and tree.leaf(r) is not None:
            tree.remove_leaf(r)
            done.add(r)
    added = [tree.add_leaf(p.add.key_package.leaf_node) for p, _ in of(ProposalType.add) if p.add]
    return tree, extensions, added


def forge_path(
    group: Group,
    proposals: Sequence[Proposal | ProposalOrRef] = (),
    *,
    joiner: Client | None = None,
    rng: Rng | None = None,
    leaf: Callable[[UpdatePath], LeafNode] | None = None,
) -> UpdatePath:
    """The UpdatePath of a Commit of ``proposals`` by ``group``'s member (or by
    ``joiner``, an external Commit into ``group``), made as its committer makes it
    (``treekem.create_update_path``): over the tree after the proposals (see
    ``_applied``), encrypted to the provisional GroupContext of the next epoch, with the
    committer's real keys. ``rng`` feeds create_update_path (its first draw is the
    first path secret). ``leaf`` returns a changed LeafNode for the path: it is signed
    again and the path secrets encrypted again to the provisional GroupContext it makes
    (the tree hash covers the leaf), so that only what the change breaks is broken."""
    st = group._state
    cs = st.suite
    if joiner is None:
        me: int | None = group.own_leaf_index
        sender = framing.member_sender(group.own_leaf_index)
        key = group.client.signature_private_key
    else:
        me, sender, key = None, Sender(sender_type=SenderType.new_member_commit), None
    tree, extensions, added = _applied(group, _items(group, proposals, sender), me)
    base: LeafNode | None
    if joiner is not None:
        base = joiner._leaf_node(b"", LeafNodeSource.commit)
        me, key = tree.add_leaf(base), joiner.signature_private_key
    else:
        base = tree.leaf(group.own_leaf_index)
    assert me is not None and key is not None and base is not None
    template = msgspec.structs.replace(
        st.context, epoch=st.context.epoch + 1, extensions=extensions
    )
    created = treekem.create_update_path(
        tree, me, key, template, exclude=added, leaf_node=base, rng=rng
    )
    if leaf is None:
        return created.update_path
    new_leaf = sign_leaf(key, leaf(created.update_path), st.context.group_id, me)
    merged = created.tree.copy()
    merged.set_leaf(me, new_leaf)
    context = msgspec.structs.replace(template, tree_hash=merged.tree_hash())
    info = tls.encode(context, GroupContext)
    nodes = []
    for (p, s), node in zip(merged.filtered_path(me), created.update_path.nodes, strict=True):
        cts = []
        for r in merged.resolution(s, added):
            target = merged.node(r)
            assert target is not None
            kem_output, ct = labeled.encrypt_with_label(
                cs, target.encryption_key, "UpdatePathNode", info, created.path_secrets[p]
            )
            cts.append(HPKECiphertext(kem_output=kem_output, ciphertext=ct))
        nodes.append(msgspec.structs.replace(node, encrypted_path_secret=tuple(cts)))
    return UpdatePath(leaf_node=new_leaf, nodes=tuple(nodes))


def forge_commit(
    sender: Group,
    proposals: Sequence[Proposal | ProposalOrRef],
    *,
    path: UpdatePath | None = None,
    with_path: bool | None = None,
    rng: Rng | None = None,
    leaf: Callable[[UpdatePath], LeafNode] | None = None,
) -> bytes:
    """A Commit by ``sender`` with exactly ``proposals``, signed and tagged. It carries
    ``path``, else one made by ``forge_path`` (``rng``, ``leaf``) when the list needs one
    (§12.4: empty, Update, Remove, ExternalInit, GroupContextExtensions, unknown types)
    or ``with_path`` says so; ``with_path=False``: none.

    Its confirmation tag is a placeholder of the right length: every rule the negative
    tests break is checked before the confirmation tag (which needs the next epoch,
    something a forger of an invalid commit cannot derive), and the error each test
    expects proves that the rule under test is the one that fired. ``accepted`` shows
    that the same commit without the break fails at that tag and nowhere before."""
    me = framing.member_sender(sender.own_leaf_index)
    if with_path is None:
        with_path = path is not None or _path_required(_items(sender, proposals, me))
    if path is None and with_path:
        path = forge_path(sender, proposals, rng=rng, leaf=leaf)
    commit = Commit(
        proposals=tuple(p if isinstance(p, ProposalOrRef) else by_value(p) for p in proposals),
        path=path if with_path else None,
    )
    return sign_public(
        sender,
        content_of(sender, commit=commit),
        confirmation_tag=bytes(sender._state.suite.hash_len),
    )


def external_init(group: Group) -> Proposal:
    """An ExternalInit whose kem_output is encapsulated to ``group``'s external_pub."""
    _, external_pub = group._state.secrets.external_key_pair()
    kem_output, _ = ks.external_init_sender(group._state.suite, external_pub)
    return Proposal(
        proposal_type=ProposalType.external_init,
        external_init=ExternalInit(kem_output=kem_output),
    )


def forge_external_commit(
    group: Group, joiner: Client, proposals: Sequence[Proposal | ProposalOrRef] = ()
) -> bytes:
    """An external Commit by ``joiner`` into ``group``: an ExternalInit to the group's
    external_pub, then ``proposals``, a path by ``forge_path``, signed with the joiner's
    key over ``group``'s GroupContext; placeholder confirmation tag."""
    listed = [by_value(external_init(group)), *proposals]
    commit = Commit(
        proposals=tuple(p if isinstance(p, ProposalOrRef) else by_value(p) for p in listed),
        path=forge_path(group, listed, joiner=joiner),
    )
    sender = Sender(sender_type=SenderType.new_member_commit)
    return sign_public(
        group,
        content_of(group, sender=sender, commit=commit),
        signature_key=joiner.signature_private_key,
        confirmation_tag=bytes(group._state.suite.hash_len),
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


# --- purity: the break is the only thing wrong -------------------------------------------


def accepted(receiver: Group, message: bytes) -> None:
    """``receiver`` accepts ``message`` (a commit is staged, not merged), or refuses it
    only at a forger's placeholder confirmation tag: the last check of a Commit, made
    after everything else about it passed."""
    try:
        receiver.process(message)
    except ValidationError as e:
        pm = decode(message).public_message
        placeholder = bytes(receiver._state.suite.hash_len)
        if pm is None or pm.auth.confirmation_tag != placeholder:
            raise
        if not re.search(CONFIRMATION_TAG, str(e)):
            raise AssertionError(f"refused before its confirmation tag: {e}") from e


def breaks_only(
    receiver: Group, build: Callable[[bool], bytes], error: type[MLSError], rule: str
) -> MLSError:
    """The negative test and its proof of purity: ``build(True)``, the message with the
    break, is refused naming ``rule`` with the state unchanged (``rejects``), and
    ``build(False)``, the same message built and signed the same way without the break,
    is ``accepted``. So the break is all that is wrong with the message."""
    err = rejects(receiver, build(True), error, rule)
    accepted(receiver, build(False))
    return err


def joins_only(
    joiner: Client,
    build: Callable[[bool], bytes],
    error: type[MLSError],
    rule: str,
    *,
    psks: Callable[[PreSharedKeyID], bytes | None] | None = None,
    resumed_from: Group | Callable[[bool], Group] | None = None,
) -> None:
    """``breaks_only`` for a Welcome: ``build(True)`` is refused naming ``rule`` (the
    joiner keeps its KeyPackage keys), ``build(False)`` joins. ``psks`` and
    ``resumed_from`` are passed to both joins (``resumed_from(broken)`` when it is a
    callable: the old group a resumption Welcome is checked against)."""

    def old(broken: bool) -> Group | None:
        return resumed_from(broken) if callable(resumed_from) else resumed_from

    rejects_join(joiner, build(True), error, rule, psks=psks, resumed_from=old(True))
    joiner.join_group(build(False), config=PUBLIC, psks=psks, resumed_from=old(False))


def rechain(
    nodes: list[Node | None],
    leaf: int,
    signature_private_key: bytes,
    group_id: bytes,
    *,
    below: int | None = None,
) -> None:
    """The parent hashes along ``leaf``'s filtered direct path computed again, top down,
    as its committer computes them (``RatchetTree.set_path_parent_hashes``), and the
    leaf's parent_hash set to match and signed again: after an edit of the tree, its
    parent hashes cover the edited tree. ``below``: only the nodes under that node of
    the path (whose upper part a later commit replaced)."""
    tree = RatchetTree.from_nodes(1, nodes)
    if below is None:
        parent_hash = tree.set_path_parent_hashes(leaf)
    else:
        path = tree.filtered_path(leaf)  # bottom up
        k = [p for p, _ in path].index(below)
        parent_hash = tree.parent_hash_of(*path[k])
        for p, s in reversed(path[:k]):
            node = tree.parent_node(p)
            assert node is not None
            tree.set_parent(p, msgspec.structs.replace(node, parent_hash=parent_hash))
            parent_hash = tree.parent_hash_of(p, s)
    own = tree.leaf(leaf)
    assert own is not None and own.leaf_node_source == LeafNodeSource.commit
    own = msgspec.structs.replace(own, parent_hash=parent_hash)
    tree.set_leaf(leaf, sign_leaf(signature_private_key, own, group_id, leaf))
    nodes[:] = tree.to_nodes()


def failing_tree_checks(nodes: Sequence[Node | None], group_id: bytes) -> list[str]:
    """The errors of each check ``tree_validation.validate_tree`` makes of a joined tree
    (unmerged leaves, unique keys, leaf signatures, parent hashes; the tree hash is the
    GroupInfo's, which ``set_tree`` keeps in step), each run on its own: a tree that
    breaks one rule fails one of them."""
    tree = RatchetTree.from_nodes(1, nodes)
    checks: list[Callable[[], None]] = [
        lambda: tv.verify_unmerged_leaves(tree),
        lambda: tv.verify_unique_keys(tree),
        lambda: tv.verify_leaf_signatures(tree, group_id),
        lambda: tv.verify_parent_hashes(tree),
    ]
    failed = []
    for check in checks:
        try:
            check()
        except ValidationError as e:
            failed.append(str(e))
    return failed


def resigned_group_info(a: Group, change: Callable[[GroupInfo], GroupInfo]) -> bytes:
    """a's GroupInfo MLSMessage with ``change`` applied and signed again by a, so that
    only the rule the change breaks fails."""
    msg = decode(a.group_info())
    assert msg.group_info is not None
    gi = change(msg.group_info)
    signed = sign_group_info(
        a._state.suite,
        a.client.signature_private_key,
        group_context=gi.group_context,
        confirmation_tag=gi.confirmation_tag,
        signer=gi.signer,
        extensions=gi.extensions,
    )
    return encode(msgspec.structs.replace(msg, group_info=signed))
