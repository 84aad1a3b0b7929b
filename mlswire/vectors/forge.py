"""Forging invalid input: build a valid message with the engine, change one thing, and
sign / MAC / encrypt it again with the real keys so that the only rule the message
breaks is the one under test. One source for the negative tests of docs/VALIDATION.md
(``tests/_forge.py`` re-exports this module and adds the pytest assertions) and for
the must-reject vector family (:mod:`mlswire.vectors.invalid_input`).

Everything signs through the engine's own functions (``framing.sign_framed_content``,
``framing.membership_tag``, ``labeled.sign_with_label``, ``welcome.sign_group_info``,
...), so a helper cannot disagree with the engine about what is signed.

Inside ``with forging(rng, suite, real_tags=True)`` every helper draws its randomness
from ``rng`` (so a vector is reproducible from its seed), signs for ``suite``, and
forged Commits carry the confirmation tag a receiver that skipped the broken rule would
compute (see :func:`forge_commit`). Outside, the defaults the tests use: fresh
randomness, suite 1, a placeholder tag.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import msgspec

from ..codecs import tls
from ..crypto import labeled
from ..crypto.primitives import Rng
from ..crypto.suites import cipher_suite
from ..engine import framing, treekem
from ..engine import key_schedule as ks
from ..engine import psk as psk_mod
from ..engine import tree_validation as tv
from ..engine.group import Client, Group, GroupConfig, StagedCommit, default_capabilities
from ..engine.proposals import DEFAULT_PROPOSAL_TYPES, PATH_REQUIRED_TYPES
from ..engine.ratchet_tree import RatchetTree
from ..engine.transcript import confirmation_tag, confirmed_transcript_hash
from ..engine.tree_validation import leaf_node_tbs
from ..engine.welcome import (
    decrypt_group_info,
    decrypt_group_secrets,
    encrypt_group_info,
    encrypt_group_secrets,
    key_package_ref,
    sign_group_info,
)
from ..errors import MLSError, ValidationError
from ..schema import (
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
from ..schema import CipherSuite as SuiteId
from ._build import FOREVER

PUBLIC = GroupConfig(handshake_wire_format="public")


# --- the forging context -----------------------------------------------------------------


@dataclass(frozen=True)
class Forging:
    rng: Rng | None = None
    suite: int = 1
    real_tags: bool = False


_DEFAULT = Forging()
_FORGING: contextvars.ContextVar[Forging | None] = contextvars.ContextVar("forging", default=None)


def _current() -> Forging:
    return _FORGING.get() or _DEFAULT


@contextmanager
def forging(rng: Rng | None, suite: int, *, real_tags: bool = True) -> Iterator[Forging]:
    """Within the block, helpers draw from ``rng``, sign for ``suite`` and (with
    ``real_tags``) give forged Commits the tag of the epoch they lead to."""
    value = Forging(rng, suite, real_tags)
    token = _FORGING.set(value)
    try:
        yield value
    finally:
        _FORGING.reset(token)


def _rng() -> Rng | None:
    return _current().rng


def _suite() -> int:
    return _current().suite


def new_client(identity: bytes, capabilities: Capabilities | None = None) -> Client:
    """A client of the forging suite, its key drawn from the forging rng."""
    return Client.generate(identity, _suite(), rng=_rng(), capabilities=capabilities)


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
        else [Client.generate(f"member{i}".encode(), suite, rng=_rng()) for i in range(n)]
    )
    creator = clients[0].create_group(b"group-id", config=config, extensions=extensions, rng=_rng())
    groups = [creator]
    if n > 1:
        out = creator.add_members([raw_key_package(c) for c in clients[1:n]])
        creator.merge_pending_commit()
        assert out.welcome is not None
        groups += [c.join_group(out.welcome, config=config, rng=_rng()) for c in clients[1:n]]
    return clients, groups


def caps(
    *,
    extensions: Sequence[int] = (),
    proposals: Sequence[int] = (),
    credentials: Sequence[int] | None = None,
    suites: Sequence[int] | None = None,
    versions: Sequence[int] | None = None,
) -> Capabilities:
    base = default_capabilities(_suite())
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
    confirmation_tag: bytes | Callable[[bytes], bytes] | None = None,
) -> bytes:
    """``content`` as a PublicMessage MLSMessage, signed with ``signature_key`` (default:
    the group member's own key) over the group's current GroupContext and, for a member
    sender, with a correct membership tag from the group's membership key. A callable
    ``confirmation_tag`` is given the signature (the confirmed transcript hash covers
    it) and returns the tag."""
    st = group._state
    cs = st.suite
    key = signature_key if signature_key is not None else group.client.signature_private_key
    wf = WireFormat.mls_public_message
    sig = framing.sign_framed_content(cs, key, content, wf, st.context, _rng())
    tag = confirmation_tag(sig) if callable(confirmation_tag) else confirmation_tag
    ac = framing.authenticated_content(content, wf, sig, tag)
    tag = None
    if content.sender.sender_type == SenderType.member:
        tag = framing.membership_tag(cs, st.secrets.membership_key, ac, st.context)
    return encode_public(PublicMessage(content=content, auth=ac.auth, membership_tag=tag))


def resign(
    group: Group,
    pm: PublicMessage,
    *,
    signature_key: bytes | None = None,
    confirmation_tag: bytes | Callable[[bytes], bytes] | None = None,
) -> bytes:
    """A (changed) PublicMessage signed and tagged again, keeping its confirmation tag
    unless one is given."""
    tag = pm.auth.confirmation_tag if confirmation_tag is None else confirmation_tag
    return sign_public(group, pm.content, signature_key=signature_key, confirmation_tag=tag)


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


@dataclass(frozen=True)
class ForgedPath:
    """An UpdatePath as forged, with what its committer knows of it: the tree after the
    Commit (proposals applied, path merged) and the commit_secret."""

    update_path: UpdatePath
    tree: RatchetTree
    commit_secret: bytes


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
    return forged_path(group, proposals, joiner=joiner, rng=rng, leaf=leaf).update_path


def forged_path(
    group: Group,
    proposals: Sequence[Proposal | ProposalOrRef] = (),
    *,
    joiner: Client | None = None,
    rng: Rng | None = None,
    leaf: Callable[[UpdatePath], LeafNode] | None = None,
) -> ForgedPath:
    """:func:`forge_path` with the tree it leads to and its commit_secret."""
    st = group._state
    cs = st.suite
    rng = rng if rng is not None else _rng()
    if joiner is None:
        me: int | None = group.own_leaf_index
        sender = framing.member_sender(group.own_leaf_index)
        key = group.client.signature_private_key
    else:
        me, sender, key = None, Sender(sender_type=SenderType.new_member_commit), None
    tree, extensions, added = _applied(group, _items(group, proposals, sender), me)
    base: LeafNode | None
    if joiner is not None:
        base = joiner._leaf_node(b"", LeafNodeSource.commit, rng=rng)
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
        return ForgedPath(created.update_path, created.tree, created.commit_secret)
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
                cs, target.encryption_key, "UpdatePathNode", info, created.path_secrets[p], rng
            )
            cts.append(HPKECiphertext(kem_output=kem_output, ciphertext=ct))
        nodes.append(msgspec.structs.replace(node, encrypted_path_secret=tuple(cts)))
    path = UpdatePath(leaf_node=new_leaf, nodes=tuple(nodes))
    return ForgedPath(path, merged, created.commit_secret)


def next_epoch_tag(
    group: Group,
    content: FramedContent,
    *,
    tree: RatchetTree,
    extensions: Sequence[Extension],
    commit_secret: bytes | None,
    init_secret: bytes | None = None,
) -> Callable[[bytes], bytes]:
    """The confirmation tag (as a function of the Commit's signature) of the epoch a
    receiver would enter if it took the Commit in ``content`` as it stands: the
    GroupContext with ``tree``'s hash and ``extensions``, the key schedule from
    ``group``'s init_secret (or an external Commit's), ``commit_secret`` and the PSKs of
    the Commit (the ones the forger holds). So a receiver that does not check the rule
    the Commit breaks gets as far as accepting it: what a must-reject vector needs."""
    st = group._state
    cs = st.suite
    commit = content.commit
    assert commit is not None
    ids = [
        p.proposal.psk.psk
        for p in commit.proposals
        if p.proposal is not None and p.proposal.psk is not None
    ]
    psk_secret: bytes | None = None
    if ids:
        try:
            psk_secret = psk_mod.psk_secret(cs, psk_mod.resolve_psks(ids, group.psk_lookup))
        except MLSError:
            psk_secret = None  # the forger does not hold it either: the receiver stops there

    def tag(signature: bytes) -> bytes:
        wf = WireFormat.mls_public_message
        confirmed = confirmed_transcript_hash(cs, st.interim, wf, content, signature)
        context = msgspec.structs.replace(
            st.context,
            epoch=st.context.epoch + 1,
            tree_hash=tree.tree_hash(),
            confirmed_transcript_hash=confirmed,
            extensions=tuple(extensions),
        )
        init = st.secrets.init_secret if init_secret is None else init_secret
        epoch = ks.derive_epoch(cs, init, context, commit_secret, psk_secret)
        return confirmation_tag(cs, epoch.confirmation_key, confirmed)

    return tag


def forge_commit(
    sender: Group,
    proposals: Sequence[Proposal | ProposalOrRef],
    *,
    path: UpdatePath | ForgedPath | None = None,
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
    that the same commit without the break fails at that tag and nowhere before.
    Under ``forging(..., real_tags=True)`` the tag is :func:`next_epoch_tag`'s instead
    (the tree: the proposals applied as far as each can be, then the path merged), so
    that a receiver that skips the rule under test accepts the Commit."""
    me = framing.member_sender(sender.own_leaf_index)
    items = _items(sender, proposals, me)
    if with_path is None:
        with_path = path is not None or _path_required(items)
    forged: ForgedPath | None = None
    if isinstance(path, ForgedPath):
        forged, path = path, path.update_path
    elif path is None and with_path:
        forged = forged_path(sender, proposals, rng=rng, leaf=leaf)
        path = forged.update_path
    commit = Commit(
        proposals=tuple(p if isinstance(p, ProposalOrRef) else by_value(p) for p in proposals),
        path=path if with_path else None,
    )
    content = content_of(sender, commit=commit)
    tag: bytes | Callable[[bytes], bytes] = bytes(sender._state.suite.hash_len)
    if _current().real_tags:
        tree, extensions, _ = _applied(sender, items, sender.own_leaf_index)
        secret = None
        if forged is not None:
            tree, secret = forged.tree, forged.commit_secret
        tag = next_epoch_tag(
            sender, content, tree=tree, extensions=extensions, commit_secret=secret
        )
    return sign_public(sender, content, confirmation_tag=tag)


def external_init_and_secret(group: Group) -> tuple[Proposal, bytes]:
    """An ExternalInit whose kem_output is encapsulated to ``group``'s external_pub, and
    the init_secret it gives the joiner."""
    _, external_pub = group._state.secrets.external_key_pair()
    kem_output, secret = ks.external_init_sender(group._state.suite, external_pub, _rng())
    proposal = Proposal(
        proposal_type=ProposalType.external_init,
        external_init=ExternalInit(kem_output=kem_output),
    )
    return proposal, secret


def external_init(group: Group) -> Proposal:
    """An ExternalInit whose kem_output is encapsulated to ``group``'s external_pub."""
    return external_init_and_secret(group)[0]


def forge_external_commit(
    group: Group,
    joiner: Client,
    proposals: Sequence[Proposal | ProposalOrRef] = (),
    *,
    signature_key: bytes | None = None,
) -> bytes:
    """An external Commit by ``joiner`` into ``group``: an ExternalInit to the group's
    external_pub, then ``proposals``, a path by ``forge_path``, signed with the joiner's
    key (or ``signature_key``) over ``group``'s GroupContext; placeholder confirmation
    tag (or, under ``forging(..., real_tags=True)``, :func:`next_epoch_tag`'s from the
    ExternalInit's init_secret)."""
    ei, init_secret = external_init_and_secret(group)
    listed = [by_value(ei), *proposals]
    forged = forged_path(group, listed, joiner=joiner)
    commit = Commit(
        proposals=tuple(p if isinstance(p, ProposalOrRef) else by_value(p) for p in listed),
        path=forged.update_path,
    )
    sender = Sender(sender_type=SenderType.new_member_commit)
    content = content_of(group, sender=sender, commit=commit)
    tag: bytes | Callable[[bytes], bytes] = bytes(group._state.suite.hash_len)
    if _current().real_tags:
        _, extensions, _ = _applied(group, _items(group, listed, sender), None)
        tag = next_epoch_tag(
            group,
            content,
            tree=forged.tree,
            extensions=extensions,
            commit_secret=forged.commit_secret,
            init_secret=init_secret,
        )
    key = joiner.signature_private_key if signature_key is None else signature_key
    return sign_public(group, content, signature_key=key, confirmation_tag=tag)


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
    for update and commit leaves, as in the engine), in the forging suite."""
    cs = cipher_suite(_suite())
    tbs = leaf_node_tbs(leaf, group_id, leaf_index)
    sig = labeled.sign_with_label(cs, signature_private_key, "LeafNodeTBS", tbs, _rng())
    return msgspec.structs.replace(leaf, signature=sig)


def sign_key_package(
    signature_private_key: bytes, kp: KeyPackage, suite: int | None = None
) -> KeyPackage:
    tbs = KeyPackageTBS(
        version=kp.version,
        cipher_suite=kp.cipher_suite,
        init_key=kp.init_key,
        leaf_node=kp.leaf_node,
        extensions=kp.extensions,
    )
    sig = labeled.sign_with_label(
        cipher_suite(_suite() if suite is None else suite),
        signature_private_key,
        "KeyPackageTBS",
        tls.encode(tbs, KeyPackageTBS),
        _rng(),
    )
    return msgspec.structs.replace(kp, signature=sig)


def raw_key_package(
    client: Client,
    *,
    lifetime: int | tuple[int, int] | None = None,
    leaf_extensions: Sequence[Extension] = (),
) -> bytes:
    """A new KeyPackage MLSMessage of ``client``'s (the client keeps its private keys).
    Default lifetime: 90 days from now, or, when forging from a seed, FOREVER (a vector
    must not expire, nor depend on the clock)."""
    if lifetime is None:
        lifetime = 90 * 24 * 3600 if _rng() is None else FOREVER
    return client.key_package(lifetime=lifetime, leaf_extensions=leaf_extensions, rng=_rng())


def key_package(
    client: Client,
    *,
    lifetime: int | tuple[int, int] | None = None,
    leaf_extensions: Sequence[Extension] = (),
) -> KeyPackage:
    data = raw_key_package(client, lifetime=lifetime, leaf_extensions=leaf_extensions)
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
    return list(RatchetTree.decode(_suite(), ext.extension_data).to_nodes())


def set_tree(info: GroupInfo, nodes: Sequence[Node | None]) -> GroupInfo:
    """``info`` with its ratchet_tree extension replaced and the GroupContext's
    tree_hash set to the new tree's, so that the tree hash still matches."""
    tree = RatchetTree.from_nodes(_suite(), nodes)
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
            rng=_rng(),
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
    new_entry = encrypt_group_secrets(cs, kp, encrypted, gs, _rng())
    new_welcome = Welcome(
        cipher_suite=w.cipher_suite, secrets=(new_entry,), encrypted_group_info=encrypted
    )
    if welcome is not None:
        new_welcome = welcome(new_welcome)
    return encode(MLSMessage(wire_format=WireFormat.mls_welcome, welcome=new_welcome))


def update_leaf(
    group: Group, signature_private_key: bytes | None = None, **changes: object
) -> LeafNode:
    """A LeafNode for an Update by ``group``'s member: a fresh encryption key, source
    update, then ``changes``, signed for the member's leaf."""
    leaf = group._state.tree.leaf(group.own_leaf_index)
    assert leaf is not None
    _, pk = group._state.suite.generate_key_pair(_rng())
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
    from ..schema import Update

    return Proposal(proposal_type=ProposalType.update, update=Update(leaf_node=leaf))


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
    tree = RatchetTree.from_nodes(_suite(), nodes)
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
    tree = RatchetTree.from_nodes(_suite(), nodes)
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
        rng=_rng(),
    )
    return encode(msgspec.structs.replace(msg, group_info=signed))


def hand_made_private(a: Group, *, leaf: int, padding: bytes = b"") -> bytes:
    """An application PrivateMessage from ``a`` built step by step as
    framing.protect_private builds one, with two things protect_private would never do:
    any ``leaf`` index in the sender data, and arbitrary ``padding`` bytes. Keys and
    signature are real."""
    from ..engine.secret_tree import ratchet_type, sender_data_key_nonce
    from ..schema import (
        ContentType,
        PrivateContentAAD,
        PrivateMessage,
        PrivateMessageContent,
        SenderData,
        SenderDataAAD,
    )

    st = a._state
    cs = st.suite
    ct = ContentType.application
    ac = framing.authenticate(
        cs,
        a.client.signature_private_key,
        content_of(a, application_data=b"hi", sender=framing.member_sender(leaf)),
        WireFormat.mls_private_message,
        st.context,
        rng=_rng(),
    )
    ctx = {"FramedContent.content_type": ct, "PrivateMessage.content_type": ct}
    body = PrivateMessageContent(application_data=b"hi", auth=ac.auth)
    plaintext = tls.encode(body, PrivateMessageContent, context=ctx) + padding
    aad = tls.encode(
        PrivateContentAAD(
            group_id=a.group_id, epoch=a.epoch, content_type=ct, authenticated_data=b""
        ),
        PrivateContentAAD,
    )
    key_nonce = st.secret_tree.next_send_key(leaf, ratchet_type(ct))
    guard = bytes(4)
    ciphertext = cs.aead_seal(key_nonce.key, key_nonce.guarded_nonce(guard), aad, plaintext)
    sender_data = tls.encode(
        SenderData(leaf_index=leaf, generation=key_nonce.generation, reuse_guard=guard),
        SenderData,
    )
    sd_key, sd_nonce = sender_data_key_nonce(cs, st.secrets.sender_data_secret, ciphertext)
    sd_aad = tls.encode(
        SenderDataAAD(group_id=a.group_id, epoch=a.epoch, content_type=ct), SenderDataAAD
    )
    pm = PrivateMessage(
        group_id=a.group_id,
        epoch=a.epoch,
        content_type=ct,
        authenticated_data=b"",
        encrypted_sender_data=cs.aead_seal(sd_key, sd_nonce, sd_aad, sender_data),
        ciphertext=ciphertext,
    )
    return encode(framing.to_mls_message(pm))


def flip_private(data: bytes, field: str, index: int) -> bytes:
    """A PrivateMessage MLSMessage with one bit of ``field`` (``ciphertext`` or
    ``encrypted_sender_data``) flipped at ``index``."""
    msg = decode(data)
    pm = msg.private_message
    assert pm is not None
    value = bytearray(getattr(pm, field))
    value[index] ^= 1
    return encode(
        msgspec.structs.replace(
            msg, private_message=msgspec.structs.replace(pm, **{field: bytes(value)})
        )
    )


def private_signed_by(a: Group, signature_key: bytes, data: bytes = b"hi") -> bytes:
    """An application PrivateMessage from ``a`` whose signature is made with
    ``signature_key`` (keys, nonce and encryption as ``a`` makes them)."""
    st = a._state
    content = content_of(a, application_data=data)
    wf = WireFormat.mls_private_message
    sig = framing.sign_framed_content(st.suite, signature_key, content, wf, st.context, _rng())
    ac = framing.authenticated_content(content, wf, sig)
    pm = framing.protect_private(
        st.suite,
        ac,
        secret_tree=st.secret_tree,
        sender_data_secret=st.secrets.sender_data_secret,
        rng=_rng(),
    )
    return encode(framing.to_mls_message(pm))
