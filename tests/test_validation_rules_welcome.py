"""Negative tests for docs/VALIDATION.md: joining from a Welcome (§12.4.3, §12.4.3.1),
the tree a joiner validates (§12.4.3.1), and the GroupInfo of an external join
(§12.4.3.2), as seen by the joining client.

A Welcome is rebuilt the way a committer builds one (``_forge.forge_welcome``):
GroupInfo signed by the real signer, confirmation tag derived from the (possibly
changed) GroupContext, everything encrypted again for the joiner's KeyPackage. A
rejected Welcome must leave the joiner's KeyPackage private keys in place.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import msgspec

from mlswire.engine.group import Client, Group, GroupConfig
from mlswire.errors import CryptoError, MLSError, StateError, ValidationError
from mlswire.schema import (
    Certificate,
    Credential,
    CredentialType,
    Extension,
    ExtensionType,
    GroupInfo,
    GroupSecrets,
    LeafNode,
    Node,
    ParentNode,
    PathSecret,
    PreSharedKeyID,
    ProtocolVersion,
    PSKType,
    ResumptionPSKUsage,
    Welcome,
)
from mlswire.schema import CipherSuite as SuiteId

from ._forge import (
    PUBLIC,
    add,
    caps,
    decode,
    encode,
    failing_tree_checks,
    forge_welcome,
    joins_only,
    key_package,
    make_group,
    rechain,
    rejects,
    rejects_join,
    required_capabilities_ext,
    resigned_group_info,
    set_tree,
    sign_leaf,
    staged,
    tree_nodes,
)

CUSTOM_EXT = 0xFF0A


def _base(
    *,
    path: bool = False,
    flat: bool = False,
    config: GroupConfig = PUBLIC,
    extensions: tuple[int, ...] = (),
) -> tuple[list[Client], Group, Client, bytes]:
    """The Welcome that a (leaf 0) sends to d, added at leaf 3 (without a path unless
    ``path``).

    Default: members at leaves 0-4; a removes leaf 3 with a path, which sets parent
    nodes 1, 3 and the root 7 (node 5 stays blank: its leaf 3 side is empty); d then
    sits unmerged at nodes 3 and 7. ``flat``: members at leaves 0-2 only, no commit with
    a path, so every parent node is blank; a leaf can then be changed (and signed
    again) without breaking a parent hash above it. ``extensions``: the members (not d)
    list these extension types in their capabilities."""
    n = 3 if flat else 5
    members = [
        Client.generate(f"member{i}".encode(), capabilities=caps(extensions=extensions))
        for i in range(n)
    ]
    clients, groups = make_group(n, config, clients=members)
    a = groups[0]
    if not flat:
        out = a.remove_members([3])
        for g in (groups[1], groups[2], groups[4]):
            staged(g.process(out.commit)).merge()
        a.merge_pending_commit()
    d = Client.generate(b"d")
    out = a.commit([add(key_package(d))], update_path=path)
    a.merge_pending_commit()
    assert out.welcome is not None
    return clients, a, d, out.welcome


def _two_chains() -> tuple[list[Client], Group, Client, bytes]:
    """The Welcome that a (leaf 0) sends to d, added at leaf 3, in a tree whose root
    chains elsewhere. Members at leaves 0-4; a removes leaf 3 with a path (parents 1, 3,
    7); e (leaf 4) then commits a path, which sets only the root 7 (the copath children
    of nodes 9 and 11 are blank); a adds d at leaf 3 without a path (unmerged at 3 and
    7). The root's parent hash now chains to e's leaf, on its right, and node 3's to
    node 1 and a's leaf, while node 3 chains to nothing above it: unlike in ``_base``,
    no resolution a chain depends on holds node 3's unmerged leaves."""
    clients, groups = make_group(5)
    a, e = groups[0], groups[4]
    members = [g for i, g in enumerate(groups) if i != 3]
    for committer in (a, e):
        out = a.remove_members([3]) if committer is a else e.update()
        committer.merge_pending_commit()
        for g in members:
            if g is not committer:
                staged(g.process(out.commit)).merge()
    d = Client.generate(b"d")
    out = a.commit([add(key_package(d))], update_path=False)
    a.merge_pending_commit()
    assert out.welcome is not None
    tree = a._state.tree
    assert [x for x in range(1, tree.width, 2) if tree.node(x) is not None] == [1, 3, 7]
    assert tree.filtered_direct_path(4) == [7]
    return clients, a, d, out.welcome


def _tree(change: Callable[[list[Node | None]], None]) -> Callable[[GroupInfo], GroupInfo]:
    """A GroupInfo change that edits the node list of its ratchet_tree extension (and
    keeps the GroupContext's tree_hash in step with the edited tree)."""

    def edit(info: GroupInfo) -> GroupInfo:
        nodes = tree_nodes(info)
        change(nodes)
        return set_tree(info, nodes)

    return edit


def _leaf(nodes: list[Node | None], i: int) -> LeafNode:
    node = nodes[2 * i]
    assert node is not None and node.leaf_node is not None
    return node.leaf_node


def _set_leaf(nodes: list[Node | None], i: int, leaf: LeafNode) -> None:
    node = nodes[2 * i]
    assert node is not None
    nodes[2 * i] = msgspec.structs.replace(node, leaf_node=leaf)


def _parent(nodes: list[Node | None], x: int) -> ParentNode:
    node = nodes[x]
    assert node is not None and node.parent_node is not None
    return node.parent_node


def _set_parent(nodes: list[Node | None], x: int, **changes: object) -> None:
    node = nodes[x]
    assert node is not None
    nodes[x] = msgspec.structs.replace(
        node, parent_node=msgspec.structs.replace(_parent(nodes, x), **changes)
    )


def _tree_breaks_only(
    a: Group,
    d: Client,
    welcome: bytes,
    change: Callable[[list[Node | None], bool], None],
    rule: str,
) -> None:
    """``change(nodes, broken)`` edits the tree of a's Welcome to d: the break when
    ``broken``, then in both cases what the break invalidates computed again (the parent
    hashes above it, ``_forge.rechain``). The tree with the break fails exactly one of
    the joiner's tree checks, naming ``rule``; d refuses the Welcome carrying it naming
    ``rule``; the Welcome made the same way without the break joins."""
    nodes = list(a._state.tree.to_nodes())
    change(nodes, True)
    failed = failing_tree_checks(nodes, a.group_id)
    assert len(failed) == 1 and re.search(rule, failed[0]), failed
    joins_only(
        d,
        lambda broken: forge_welcome(welcome, d, a, info=_tree(lambda n: change(n, broken))),
        ValidationError,
        rule,
    )


_NO_PARENT = ParentNode(encryption_key=b"", parent_hash=b"", unmerged_leaves=())


def _context(**changes: object) -> Callable[[GroupInfo], GroupInfo]:
    def edit(info: GroupInfo) -> GroupInfo:
        return msgspec.structs.replace(
            info, group_context=msgspec.structs.replace(info.group_context, **changes)
        )

    return edit


def _resumption(
    usage: ResumptionPSKUsage, group_id: bytes = b"old", epoch: int = 3
) -> PreSharedKeyID:
    return PreSharedKeyID(
        psktype=PSKType.resumption,
        usage=usage,
        psk_group_id=group_id,
        psk_epoch=epoch,
        psk_nonce=bytes(32),
    )


def _with_psks(*psks: PreSharedKeyID) -> Callable[[GroupSecrets], GroupSecrets]:
    return lambda gs: msgspec.structs.replace(gs, psks=psks)


def _any_psk(_: PreSharedKeyID) -> bytes:
    return bytes(32)


def _forged_only(
    error: type[MLSError],
    rule: str,
    *,
    base: tuple[list[Client], Group, Client, bytes] | None = None,
    both: dict[str, object] | None = None,
    **broken: object,
) -> None:
    """a's Welcome to d (``_base``) rebuilt by ``forge_welcome`` with the ``broken``
    changes (and ``both``'s arguments) is refused naming ``rule``; rebuilt the same way
    with ``both``'s arguments only, it joins (``joins_only``)."""
    _, a, d, welcome = base or _base()
    joins_only(
        d,
        lambda is_broken: forge_welcome(
            welcome, d, a, **(both or {}), **(broken if is_broken else {})
        ),  # type: ignore[arg-type]
        error,
        rule,
    )


# --- §12.4.3.1 the Welcome and its GroupInfo -----------------------------------------------


def test_welcome_wire_format() -> None:
    # a GroupInfo MLSMessage where the Welcome should be; control: the Welcome
    _, a, d, welcome = _base()
    joins_only(
        d,
        lambda broken: a.group_info() if broken else welcome,
        ValidationError,
        r"§6: expected a Welcome",
    )


def test_welcome_entry_for_own_key_package() -> None:
    # the entry encrypted for d's KeyPackage names another KeyPackageRef
    def rename(w: Welcome) -> Welcome:
        entry = msgspec.structs.replace(w.secrets[0], new_member=bytes(32))
        return msgspec.structs.replace(w, secrets=(entry,))

    _forged_only(
        ValidationError,
        r"§12\.4\.3\.1: the Welcome has an entry for one of this client's KeyPackages",
        welcome=rename,
    )


def test_welcome_cipher_suite_matches_key_package() -> None:
    _forged_only(
        ValidationError,
        r"§12\.4\.3\.1: the KeyPackage's cipher_suite matches the Welcome's",
        welcome=lambda w: msgspec.structs.replace(w, cipher_suite=SuiteId(3)),
    )


def test_welcome_group_secrets_decrypt() -> None:
    def corrupt(w: Welcome) -> Welcome:
        entry = w.secrets[0]
        ct = entry.encrypted_group_secrets
        ct = msgspec.structs.replace(
            ct, ciphertext=bytes([ct.ciphertext[0] ^ 1]) + ct.ciphertext[1:]
        )
        return msgspec.structs.replace(
            w, secrets=(msgspec.structs.replace(entry, encrypted_group_secrets=ct),)
        )

    _forged_only(
        CryptoError, r"§12\.4\.3\.1: encrypted_group_secrets does not decrypt", welcome=corrupt
    )


def test_welcome_psk_held() -> None:
    # the committer holds both external PSKs (the Welcome is encrypted with the one it
    # names), d holds "held" only; control: the Welcome naming "held"
    _, a, d, welcome = _base()
    d.add_external_psk(b"held", bytes(32))
    from mlswire.engine import psk as psk_mod

    joins_only(
        d,
        lambda broken: forge_welcome(
            welcome,
            d,
            a,
            secrets=_with_psks(
                psk_mod.external_psk_id(b"not-held" if broken else b"held", bytes(32))
            ),
            psk_values=_any_psk,
        ),
        StateError,
        r"external PSK [0-9a-f]+ is not available",
    )


def test_welcome_one_reinit_or_branch_psk() -> None:
    # a branch Welcome (epoch 1, members a subset of old's) naming two branch PSKs of
    # old's epoch (nonces differ); control: the first one alone, the Welcome of a branch
    _, (_a, old) = make_group(2)
    d = Client.generate(b"member1")
    second = msgspec.structs.replace(
        _resumption(ResumptionPSKUsage.branch, old.group_id, old.epoch), psk_nonce=bytes([1]) * 32
    )
    joins_only(
        d,
        lambda broken: _resumed_welcome(
            d, ResumptionPSKUsage.branch, old, extra_psks=(second,) if broken else ()
        ),
        ValidationError,
        r"§12\.4\.3\.1: at most one resumption PSK with usage reinit or branch",
        resumed_from=old,
    )


def test_welcome_group_info_decrypts() -> None:
    _forged_only(
        CryptoError,
        r"§12\.4\.3\.1: encrypted_group_info does not decrypt",
        encrypted_info=lambda blob: blob[:-1] + bytes([blob[-1] ^ 1]),
    )


def test_welcome_group_info_signature() -> None:
    # the GroupInfo is not signed again (both): a's signature, flipped or not
    def flip(i: GroupInfo) -> GroupInfo:
        return msgspec.structs.replace(i, signature=bytes([i.signature[0] ^ 1]) + i.signature[1:])

    _forged_only(
        CryptoError,
        r"§12\.4\.3\.1: GroupInfo signature does not verify",
        both={"resign_info": False},
        info=flip,
    )


def test_welcome_signer_is_member() -> None:
    # signer names leaf 9, outside the tree; signed with a's key (the joiner has no key
    # to verify it with: the rule decides the key)
    _forged_only(
        ValidationError,
        r"§12\.4\.3\.1: the GroupInfo signer is a member",
        info=lambda i: msgspec.structs.replace(i, signer=9),
    )


def test_welcome_group_info_cipher_suite() -> None:
    _forged_only(
        ValidationError,
        r"§12\.4\.3\.1: the GroupInfo's cipher_suite matches the KeyPackage's",
        info=_context(cipher_suite=SuiteId(3)),
    )


def test_welcome_version_mls10() -> None:
    _forged_only(
        ValidationError,
        r"§12\.4\.3\.1: the group's version is mls10",
        info=_context(version=ProtocolVersion.reserved),
    )


def test_welcome_confirmation_tag() -> None:
    # the tag is not computed again (both): a's tag, zeroed or not
    _forged_only(
        ValidationError,
        r"§6\.1: confirmation_tag must equal MAC\(confirmation_key",
        both={"retag": False},
        info=lambda i: msgspec.structs.replace(i, confirmation_tag=bytes(32)),
    )


def test_welcome_ratchet_tree_available() -> None:
    # control: the same group made with the ratchet_tree extension
    d = Client.generate(b"d")

    def build(broken: bool) -> bytes:
        config = GroupConfig(handshake_wire_format="public", ratchet_tree_extension=not broken)
        a = Client.generate(b"a").create_group(b"group-id", config=config)
        out = a.add_members([d.key_package()])
        assert out.welcome is not None
        return out.welcome

    joins_only(
        d,
        build,
        StateError,
        r"§12\.4\.3\.1: the Welcome's GroupInfo has no ratchet_tree extension",
    )


def test_welcome_path_secret_matches_tree() -> None:
    _forged_only(
        ValidationError,
        r"§7\.4: private keys match the tree's public keys",
        base=_base(path=True),
        secrets=lambda gs: msgspec.structs.replace(
            gs, path_secret=PathSecret(path_secret=bytes(32))
        ),
    )


def test_welcome_joiner_supports_group_extensions() -> None:
    # every member but d lists the extension in its capabilities: only the new member
    # does not support it
    def edit(info: GroupInfo) -> GroupInfo:
        ext = Extension(extension_type=ExtensionType(CUSTOM_EXT), extension_data=b"")
        return _context(extensions=(*info.group_context.extensions, ext))(info)

    _forged_only(
        ValidationError,
        r"§12\.4\.3: the new member supports the group's extensions",
        base=_base(extensions=(CUSTOM_EXT,)),
        info=edit,
    )


def test_welcome_reinit_or_branch_psk_starts_epoch_1() -> None:
    # a branch Welcome into a new group whose creator committed once before adding d
    # (epoch 2); control: the same without that commit (epoch 1)
    _, (_a, old) = make_group(2)
    d = Client.generate(b"member1")
    joins_only(
        d,
        lambda broken: _resumed_welcome(d, ResumptionPSKUsage.branch, old, later=broken),
        ValidationError,
        r"§12\.4\.3\.1: a Welcome with a reinit/branch PSK starts epoch 1",
        resumed_from=old,
    )


def test_welcome_group_id_unique() -> None:
    _, a, d, welcome = _base()
    joined = d.join_group(welcome, config=PUBLIC)  # held: the client takes part in it

    def build(broken: bool) -> bytes:
        # the same client is welcomed into a second group with the same group_id;
        # control: with another group_id
        again = Client.generate(b"a2").create_group(
            a.group_id if broken else b"other-id", config=PUBLIC
        )
        out = again.add_members([d.key_package()])
        assert out.welcome is not None
        return out.welcome

    joins_only(d, build, ValidationError, r"§12\.4\.3\.1: the group_id is unique")
    assert joined.active


def test_external_join_group_id_unique() -> None:
    _, (a, _b) = make_group(2)
    j = Client.generate(b"j")
    held, commit = j.join_by_external_commit(a.group_info())  # j takes part in it now
    a.process(commit).merge()  # type: ignore[union-attr]
    rejects(
        lambda: j.join_by_external_commit(a.group_info()),
        None,
        ValidationError,
        r"§12\.4\.3\.1: the group_id is unique among the client's groups",
    )
    assert held.active


def _resumed_welcome(
    d: Client,
    usage: ResumptionPSKUsage,
    old: Group,
    *,
    group_id: bytes = b"new",
    creator: bytes = b"member0",
    psk_group_id: bytes | None = None,
    members: tuple[bytes, ...] = (),
    extra_psks: tuple[PreSharedKeyID, ...] = (),
    later: bool = False,
) -> bytes:
    """A Welcome for ``d`` (member1's new client; with clients named ``members``) into
    a new group at epoch 1 (2 if ``later``: its creator commits once first), made by
    ``creator``, that names a reinit/branch resumption PSK of ``old``'s current epoch (of
    ``psk_group_id``, with ``old``'s value, if given), then ``extra_psks``."""
    new = Client.generate(creator, d.suite_id).create_group(group_id, config=PUBLIC)
    if later:
        new.update()
        new.merge_pending_commit()
    others = [Client.generate(m, d.suite_id).key_package() for m in members]
    out = new.add_members([d.key_package(), *others])
    new.merge_pending_commit()
    assert out.welcome is not None
    psk = _resumption(usage, psk_group_id or old.group_id, old.epoch)

    def lookup(p: PreSharedKeyID) -> bytes | None:
        return old.psk_lookup(msgspec.structs.replace(p, psk_group_id=old.group_id))

    return forge_welcome(
        out.welcome, d, new, secrets=_with_psks(psk, *extra_psks), psk_values=lookup
    )


def _reinit_committed(members: int = 2, group_id: bytes = b"new") -> Group:
    """member1's view of a group of ``members`` in which member0 committed a ReInit."""
    _, groups = make_group(members)
    out = groups[0].reinit(group_id)
    for g in groups[1:]:
        g.process(out.commit).merge()  # type: ignore[union-attr]
    return groups[1]


def test_welcome_reinit_psk_names_old_group() -> None:
    # the PSK names group "other", whose value (old's) d holds too; control: the PSK
    # names the old group
    old = _reinit_committed()
    d = Client.generate(b"member1")

    def lookup(p: PreSharedKeyID) -> bytes | None:
        return old.psk_lookup(msgspec.structs.replace(p, psk_group_id=old.group_id))

    joins_only(
        d,
        lambda broken: _resumed_welcome(
            d, ResumptionPSKUsage.reinit, old, psk_group_id=b"other" if broken else None
        ),
        ValidationError,
        r"§12\.4\.3\.1: the reinit PSK names the old group",
        psks=lookup,
        resumed_from=old,
    )


def test_welcome_reinit_last_commit_has_reinit() -> None:
    # the old group committed no ReInit; control: one that did
    olds = {True: make_group(2)[1][1], False: _reinit_committed()}
    d = Client.generate(b"member1")
    joins_only(
        d,
        lambda broken: _resumed_welcome(d, ResumptionPSKUsage.reinit, olds[broken]),
        ValidationError,
        r"§12\.4\.3\.1: the last Commit to the old group contains a ReInit",
        resumed_from=olds.__getitem__,
    )


def test_welcome_reinit_matches_reinit_proposal() -> None:
    # the ReInit named group "reborn", the new group is "new"; control: "reborn"
    old = _reinit_committed(group_id=b"reborn")
    d = Client.generate(b"member1")
    joins_only(
        d,
        lambda broken: _resumed_welcome(
            d, ResumptionPSKUsage.reinit, old, group_id=b"new" if broken else b"reborn"
        ),
        ValidationError,
        r"§12\.4\.3\.1: the new group matches the old group's ReInit.*group_id",
        resumed_from=old,
    )


def test_welcome_reinit_keeps_all_members() -> None:
    # member2 is not in the new group; control: it is
    old = _reinit_committed(members=3)
    d = Client.generate(b"member1")
    joins_only(
        d,
        lambda broken: _resumed_welcome(
            d, ResumptionPSKUsage.reinit, old, members=() if broken else (b"member2",)
        ),
        ValidationError,
        r"§12\.4\.3\.1: every member of the old group is a member of the reinitialized",
        resumed_from=old,
    )


def test_welcome_branch_same_version_and_suite() -> None:
    # the branch is in suite 3. Not shown with joins_only: a client (its signature key,
    # its KeyPackages) has one suite, so the control, the same branch in suite 1, is
    # joined by a suite-1 client of the same name
    _, (_a, old) = make_group(2)
    d3 = Client.generate(b"member1", 3)
    rejects_join(
        d3,
        _resumed_welcome(d3, ResumptionPSKUsage.branch, old),
        ValidationError,
        r"§12\.4\.3\.1: a branch keeps the old group's version and cipher_suite",
        resumed_from=old,
    )
    d1 = Client.generate(b"member1")
    d1.join_group(
        _resumed_welcome(d1, ResumptionPSKUsage.branch, old), config=PUBLIC, resumed_from=old
    )


def test_welcome_branch_members_subset() -> None:
    # the new group's creator was not in the old group; control: member0 creates it
    _, (_a, old) = make_group(2)
    d = Client.generate(b"member1")
    joins_only(
        d,
        lambda broken: _resumed_welcome(
            d, ResumptionPSKUsage.branch, old, creator=b"stranger" if broken else b"member0"
        ),
        ValidationError,
        r"§12\.4\.3\.1: the members of a branch are members of the old group",
        resumed_from=old,
    )


# --- §12.4.3.1 validating the ratchet tree ---------------------------------------------------


def test_tree_hash_matches() -> None:
    _, a, d, welcome = _base()
    forged = forge_welcome(welcome, d, a, info=_context(tree_hash=bytes(32)))
    rejects_join(d, forged, ValidationError, r"§12\.4\.3\.1: the tree hash matches")


def test_tree_last_node_not_blank() -> None:
    _, a, d, welcome = _base()
    from mlswire.codecs import tls

    def edit(info: GroupInfo) -> GroupInfo:
        nodes = (*tree_nodes(info), None, None)
        exts = tuple(
            msgspec.structs.replace(e, extension_data=tls.encode(nodes, "RatchetTree"))
            if e.extension_type == ExtensionType.ratchet_tree
            else e
            for e in info.extensions
        )
        return msgspec.structs.replace(info, extensions=exts)

    rejects_join(d, forge_welcome(welcome, d, a, info=edit), ValidationError, r"§12\.4\.3\.3")


def test_tree_parent_hash_valid() -> None:
    _, a, d, welcome = _base()
    forged = forge_welcome(
        welcome, d, a, info=_tree(lambda n: _set_parent(n, 1, parent_hash=bytes(32)))
    )
    rejects_join(
        d, forged, ValidationError, r"§7\.9\.2: every non-blank parent node is parent-hash valid"
    )


def test_tree_leaf_signature() -> None:
    # leaf 2 is under a's path (nodes 1, 3, 7): a's parent hashes are computed again
    # over the changed leaf, and a's leaf signed again
    clients, a, d, welcome = _base()

    def change(nodes: list[Node | None], broken: bool) -> None:
        if broken:
            leaf = _leaf(nodes, 2)
            flipped = bytes([leaf.signature[0] ^ 1]) + leaf.signature[1:]
            _set_leaf(nodes, 2, msgspec.structs.replace(leaf, signature=flipped))
        rechain(nodes, 0, clients[0].signature_private_key, a.group_id)

    _tree_breaks_only(a, d, welcome, change, r"§7\.3: the LeafNode signature verifies")


def test_tree_unmerged_leaf_is_descendant() -> None:
    # node 3 covers leaves 0-3 and lists leaf 4 (e, a member) as unmerged. In _base
    # node 3 is in the root's parent-hash chain, whose rule (resolution minus the chain
    # child = the unmerged leaves below) the extra leaf would break too; here the root
    # chains to e, whose parent hash is computed again over the changed node 3.
    clients, a, d, welcome = _two_chains()

    def change(nodes: list[Node | None], broken: bool) -> None:
        if broken:
            _set_parent(nodes, 3, unmerged_leaves=(3, 4))
        rechain(nodes, 4, clients[4].signature_private_key, a.group_id)

    _tree_breaks_only(
        a, d, welcome, change, r"§12\.4\.3\.1: an unmerged leaf is a non-blank descendant leaf"
    )


def test_tree_unmerged_leaf_chain() -> None:
    # leaf 3 (d) stays unmerged at the root (node 7) but not at node 3 between them. In
    # _base the root's chain runs through node 3 and breaks with it; here the root chains
    # to e. Computed again: the part of a's chain below node 3 (node 1 covers node 5 less
    # node 3's unmerged leaves), then e's (the root's covers node 3's subtree).
    clients, a, d, welcome = _two_chains()
    tree = a._state.tree
    assert all(3 in (tree.parent_node(x) or _NO_PARENT).unmerged_leaves for x in (3, 7))

    def change(nodes: list[Node | None], broken: bool) -> None:
        if broken:
            _set_parent(nodes, 3, unmerged_leaves=())
        rechain(nodes, 0, clients[0].signature_private_key, a.group_id, below=3)
        rechain(nodes, 4, clients[4].signature_private_key, a.group_id)

    _tree_breaks_only(
        a,
        d,
        welcome,
        change,
        r"§12\.4\.3\.1: non-blank nodes between an unmerged leaf and its parent list it too",
    )


def test_tree_encryption_key_unique() -> None:
    # node 3 takes node 1's key; a's parent hashes (node 1's covers node 3's key) are
    # computed again and a's leaf signed again
    clients, a, d, welcome = _base()

    def change(nodes: list[Node | None], broken: bool) -> None:
        if broken:
            _set_parent(nodes, 3, encryption_key=_parent(nodes, 1).encryption_key)
        rechain(nodes, 0, clients[0].signature_private_key, a.group_id)

    _tree_breaks_only(
        a, d, welcome, change, r"§7\.3/§12\.4\.3\.1: encryption_key appears in one node only"
    )


def test_tree_signature_key_unique() -> None:
    # c's leaf carries b's signature key, signed with b's key so that it verifies; a's
    # parent hashes are computed again over it and a's leaf signed again
    clients, a, d, welcome = _base()

    def change(nodes: list[Node | None], broken: bool) -> None:
        if broken:
            leaf = msgspec.structs.replace(
                _leaf(nodes, 2), signature_key=clients[1].signature_public_key
            )
            _set_leaf(nodes, 2, sign_leaf(clients[1].signature_private_key, leaf))
        rechain(nodes, 0, clients[0].signature_private_key, a.group_id)

    _tree_breaks_only(a, d, welcome, change, r"§7\.3: signature_key is unique among the members")


def test_tree_leaf_extensions_in_capabilities() -> None:
    clients, a, d, welcome = _base(flat=True)

    def change(nodes: list[Node | None]) -> None:
        ext = Extension(extension_type=ExtensionType(CUSTOM_EXT), extension_data=b"")
        leaf = msgspec.structs.replace(_leaf(nodes, 2), extensions=(ext,))
        _set_leaf(nodes, 2, sign_leaf(clients[2].signature_private_key, leaf))

    rejects_join(
        d,
        forge_welcome(welcome, d, a, info=_tree(change)),
        ValidationError,
        r"§7\.3: LeafNode extensions are listed in its capabilities",
    )


def test_tree_leaf_lists_mls10() -> None:
    clients, a, d, welcome = _base(flat=True)

    def change(nodes: list[Node | None]) -> None:
        leaf = msgspec.structs.replace(_leaf(nodes, 2), capabilities=caps(versions=()))
        _set_leaf(nodes, 2, sign_leaf(clients[2].signature_private_key, leaf))

    rejects_join(
        d,
        forge_welcome(welcome, d, a, info=_tree(change)),
        ValidationError,
        r"§7\.2: capabilities list mls10.*leaf 2",
    )


def test_tree_leaf_extension_types_unique() -> None:
    clients, a, d, welcome = _base(flat=True)

    def change(nodes: list[Node | None]) -> None:
        app_id = Extension(extension_type=ExtensionType.application_id, extension_data=b"\x01x")
        leaf = msgspec.structs.replace(_leaf(nodes, 2), extensions=(app_id, app_id))
        _set_leaf(nodes, 2, sign_leaf(clients[2].signature_private_key, leaf))

    rejects_join(
        d,
        forge_welcome(welcome, d, a, info=_tree(change)),
        ValidationError,
        r"§13\.4: an extension type appears at most once.*leaf 2",
    )


def test_welcome_group_info_extension_types_unique() -> None:
    # control: the extension once
    ext = Extension(extension_type=ExtensionType(CUSTOM_EXT), extension_data=b"")
    _forged_only(
        ValidationError,
        r"§13\.4: an extension type appears at most once.*GroupInfo\.extensions",
        info=lambda info: msgspec.structs.replace(info, extensions=(*info.extensions, ext, ext)),
    )


def test_welcome_group_context_extension_types_unique() -> None:
    # required_capabilities (requiring nothing) twice; control: once
    rc = required_capabilities_ext()
    _, a, d, welcome = _base()
    joins_only(
        d,
        lambda broken: forge_welcome(
            welcome, d, a, info=_context(extensions=(rc, rc) if broken else (rc,))
        ),
        ValidationError,
        r"§13\.4: an extension type appears at most once.*group_context\.extensions",
    )


def test_tree_credential_types_supported() -> None:
    clients, a, d, welcome = _base(flat=True)
    x509 = Credential(
        credential_type=CredentialType.x509, certificates=(Certificate(cert_data=b"DER"),)
    )

    def change(nodes: list[Node | None]) -> None:
        # b supports basic only; c presents an X.509 credential
        b_leaf = msgspec.structs.replace(
            _leaf(nodes, 1), capabilities=caps(credentials=(CredentialType.basic,))
        )
        _set_leaf(nodes, 1, sign_leaf(clients[1].signature_private_key, b_leaf))
        c_leaf = msgspec.structs.replace(_leaf(nodes, 2), credential=x509)
        _set_leaf(nodes, 2, sign_leaf(clients[2].signature_private_key, c_leaf))

    rejects_join(
        d,
        forge_welcome(welcome, d, a, info=_tree(change)),
        ValidationError,
        r"§7\.3: every member supports each member's credential type",
    )


def test_tree_required_capabilities() -> None:
    _, a, d, welcome = _base()

    def edit(info: GroupInfo) -> GroupInfo:
        required = required_capabilities_ext(extensions=(CUSTOM_EXT,))
        return _context(extensions=(*info.group_context.extensions, required))(info)

    rejects_join(
        d,
        forge_welcome(welcome, d, a, info=edit),
        ValidationError,
        r"§11\.1: the LeafNode supports the group's required_capabilities",
    )


def test_tree_holds_own_leaf() -> None:
    # leaf 3 (unmerged at nodes 3 and 7, so outside every parent hash) is another,
    # valid leaf of d's: the tree passes all its own checks
    _, a, d, welcome = _base()
    other = key_package(d).leaf_node
    nodes = list(a._state.tree.to_nodes())
    _set_leaf(nodes, 3, other)
    assert failing_tree_checks(nodes, a.group_id) == []
    _forged_only(
        ValidationError,
        r"§12\.4\.3\.1: the tree holds this client's KeyPackage leaf",
        base=(_, a, d, welcome),
        info=_tree(lambda n: _set_leaf(n, 3, other)),
    )


# --- §12.4.3.2 the GroupInfo of an external join -----------------------------------------


def _info_bytes(a: Group, change: Callable[[GroupInfo], GroupInfo]) -> bytes:
    msg = decode(a.group_info())
    assert msg.group_info is not None
    return encode(msgspec.structs.replace(msg, group_info=change(msg.group_info)))


def test_external_join_group_info_signature() -> None:
    _, (a, _b) = make_group(2)
    info = _info_bytes(
        a,
        lambda i: msgspec.structs.replace(
            i, signature=bytes([i.signature[0] ^ 1]) + i.signature[1:]
        ),
    )
    rejects(
        lambda: Client.generate(b"j").join_by_external_commit(info),
        None,
        CryptoError,
        r"§12\.4\.3: GroupInfo signature does not verify",
    )


def test_external_join_signer_is_member() -> None:
    _, (a, _b) = make_group(2)
    info = _info_bytes(a, lambda i: msgspec.structs.replace(i, signer=7))
    rejects(
        lambda: Client.generate(b"j").join_by_external_commit(info),
        None,
        ValidationError,
        r"§12\.4\.3\.2: the GroupInfo signer is a member",
    )


def test_external_join_needs_external_pub() -> None:
    _, (a, _b) = make_group(2, GroupConfig(external_pub=False))
    rejects(
        lambda: Client.generate(b"j").join_by_external_commit(a.group_info()),
        None,
        ValidationError,
        r"§12\.4\.3\.2: an external join needs the GroupInfo's external_pub",
    )


def test_external_join_validates_tree() -> None:
    _, (a, _b) = make_group(2)
    # signed over the changed context, so only the tree check fails
    data = resigned_group_info(a, _context(tree_hash=bytes(32)))
    rejects(
        lambda: Client.generate(b"j").join_by_external_commit(data),
        None,
        ValidationError,
        r"§12\.4\.3\.1: the tree hash matches",
    )


def test_external_join_validates_leaves() -> None:
    clients, (a, _b, _c) = make_group(3)

    def change(nodes: list[Node | None]) -> None:
        ext = Extension(extension_type=ExtensionType(CUSTOM_EXT), extension_data=b"")
        leaf = msgspec.structs.replace(_leaf(nodes, 2), extensions=(ext,))
        _set_leaf(nodes, 2, sign_leaf(clients[2].signature_private_key, leaf))

    data = resigned_group_info(a, _tree(change))
    rejects(
        lambda: Client.generate(b"j").join_by_external_commit(data),
        None,
        ValidationError,
        r"§7\.3: LeafNode extensions are listed in its capabilities",
    )


def test_external_joiner_supports_group_extensions() -> None:
    ext = Extension(extension_type=ExtensionType(CUSTOM_EXT), extension_data=b"")
    members = [
        Client.generate(n, capabilities=caps(extensions=(CUSTOM_EXT,))) for n in (b"a", b"b")
    ]
    _, (a, _b) = make_group(2, clients=members, extensions=(ext,))
    rejects(
        lambda: Client.generate(b"j").join_by_external_commit(a.group_info()),
        None,
        ValidationError,
        r"§12\.4\.3: the new member supports the group's extensions",
    )
