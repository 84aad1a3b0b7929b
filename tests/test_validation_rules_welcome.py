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
from mlswire.errors import CryptoError, StateError, ValidationError
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
    *, path: bool = False, flat: bool = False, config: GroupConfig = PUBLIC
) -> tuple[list[Client], Group, Client, bytes]:
    """The Welcome that a (leaf 0) sends to d, added at leaf 3 (without a path unless
    ``path``).

    Default: members at leaves 0-4; a removes leaf 3 with a path, which sets parent
    nodes 1, 3 and the root 7 (node 5 stays blank: its leaf 3 side is empty); d then
    sits unmerged at nodes 3 and 7. ``flat``: members at leaves 0-2 only, no commit with
    a path, so every parent node is blank; a leaf can then be changed (and signed
    again) without breaking a parent hash above it."""
    clients, groups = make_group(3 if flat else 5, config)
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


# --- §12.4.3.1 the Welcome and its GroupInfo -----------------------------------------------


def test_welcome_wire_format() -> None:
    _, a, d, _welcome = _base()
    rejects_join(d, a.group_info(), ValidationError, r"§6: expected a Welcome")


def test_welcome_entry_for_own_key_package() -> None:
    _, _a, _d, welcome = _base()
    stranger = Client.generate(b"stranger")
    key_package(stranger)
    rejects_join(
        stranger,
        welcome,
        ValidationError,
        r"§12\.4\.3\.1: the Welcome has an entry for one of this client's KeyPackages",
    )


def test_welcome_cipher_suite_matches_key_package() -> None:
    _, a, d, welcome = _base()
    forged = forge_welcome(
        welcome, d, a, welcome=lambda w: msgspec.structs.replace(w, cipher_suite=SuiteId(3))
    )
    rejects_join(
        d,
        forged,
        ValidationError,
        r"§12\.4\.3\.1: the KeyPackage's cipher_suite matches the Welcome's",
    )


def test_welcome_group_secrets_decrypt() -> None:
    _, a, d, welcome = _base()

    def corrupt(w: Welcome) -> Welcome:
        entry = w.secrets[0]
        ct = entry.encrypted_group_secrets
        ct = msgspec.structs.replace(
            ct, ciphertext=bytes([ct.ciphertext[0] ^ 1]) + ct.ciphertext[1:]
        )
        return msgspec.structs.replace(
            w, secrets=(msgspec.structs.replace(entry, encrypted_group_secrets=ct),)
        )

    rejects_join(
        d,
        forge_welcome(welcome, d, a, welcome=corrupt),
        CryptoError,
        r"§12\.4\.3\.1: encrypted_group_secrets does not decrypt",
    )


def test_welcome_psk_held() -> None:
    _, a, d, welcome = _base()
    from mlswire.engine import psk as psk_mod

    forged = forge_welcome(
        welcome, d, a, secrets=_with_psks(psk_mod.external_psk_id(b"not-held", bytes(32)))
    )
    rejects_join(d, forged, StateError, r"external PSK [0-9a-f]+ is not available")


def test_welcome_one_reinit_or_branch_psk() -> None:
    _, a, d, welcome = _base()
    forged = forge_welcome(
        welcome,
        d,
        a,
        secrets=_with_psks(
            _resumption(ResumptionPSKUsage.reinit), _resumption(ResumptionPSKUsage.branch)
        ),
        psk_values=_any_psk,
    )
    rejects_join(
        d,
        forged,
        ValidationError,
        r"§12\.4\.3\.1: at most one resumption PSK with usage reinit or branch",
        psks=_any_psk,
    )


def test_welcome_group_info_decrypts() -> None:
    _, a, d, welcome = _base()
    forged = forge_welcome(
        welcome, d, a, encrypted_info=lambda blob: blob[:-1] + bytes([blob[-1] ^ 1])
    )
    rejects_join(d, forged, CryptoError, r"§12\.4\.3\.1: encrypted_group_info does not decrypt")


def test_welcome_group_info_signature() -> None:
    _, a, d, welcome = _base()

    def flip(i: GroupInfo) -> GroupInfo:
        return msgspec.structs.replace(i, signature=bytes([i.signature[0] ^ 1]) + i.signature[1:])

    rejects_join(
        d,
        forge_welcome(welcome, d, a, info=flip, resign_info=False),
        CryptoError,
        r"§12\.4\.3\.1: GroupInfo signature does not verify",
    )


def test_welcome_signer_is_member() -> None:
    _, a, d, welcome = _base()
    forged = forge_welcome(welcome, d, a, info=lambda i: msgspec.structs.replace(i, signer=9))
    rejects_join(d, forged, ValidationError, r"§12\.4\.3\.1: the GroupInfo signer is a member")


def test_welcome_group_info_cipher_suite() -> None:
    _, a, d, welcome = _base()
    forged = forge_welcome(welcome, d, a, info=_context(cipher_suite=SuiteId(3)))
    rejects_join(
        d,
        forged,
        ValidationError,
        r"§12\.4\.3\.1: the GroupInfo's cipher_suite matches the KeyPackage's",
    )


def test_welcome_version_mls10() -> None:
    _, a, d, welcome = _base()
    forged = forge_welcome(welcome, d, a, info=_context(version=ProtocolVersion.reserved))
    rejects_join(d, forged, ValidationError, r"§12\.4\.3\.1: the group's version is mls10")


def test_welcome_confirmation_tag() -> None:
    _, a, d, welcome = _base()
    forged = forge_welcome(
        welcome,
        d,
        a,
        info=lambda i: msgspec.structs.replace(i, confirmation_tag=bytes(32)),
        retag=False,
    )
    rejects_join(
        d, forged, ValidationError, r"§6\.1: confirmation_tag must equal MAC\(confirmation_key"
    )


def test_welcome_ratchet_tree_available() -> None:
    config = GroupConfig(handshake_wire_format="public", ratchet_tree_extension=False)
    a = Client.generate(b"a").create_group(b"group-id", config=config)
    d = Client.generate(b"d")
    out = a.add_members([d.key_package()])
    assert out.welcome is not None
    rejects_join(
        d,
        out.welcome,
        StateError,
        r"§12\.4\.3\.1: the Welcome's GroupInfo has no ratchet_tree extension",
    )


def test_welcome_path_secret_matches_tree() -> None:
    _, a, d, welcome = _base(path=True)
    forged = forge_welcome(
        welcome,
        d,
        a,
        secrets=lambda gs: msgspec.structs.replace(
            gs, path_secret=PathSecret(path_secret=bytes(32))
        ),
    )
    rejects_join(d, forged, ValidationError, r"§7\.4: private keys match the tree's public keys")


def test_welcome_joiner_supports_group_extensions() -> None:
    _, a, d, welcome = _base()

    def edit(info: GroupInfo) -> GroupInfo:
        ext = Extension(extension_type=ExtensionType(CUSTOM_EXT), extension_data=b"")
        return _context(extensions=(*info.group_context.extensions, ext))(info)

    rejects_join(
        d,
        forge_welcome(welcome, d, a, info=edit),
        ValidationError,
        r"§12\.4\.3: the new member supports the group's extensions",
    )


def test_welcome_reinit_or_branch_psk_starts_epoch_1() -> None:
    _, a, d, welcome = _base()
    forged = forge_welcome(
        welcome,
        d,
        a,
        secrets=_with_psks(_resumption(ResumptionPSKUsage.branch)),
        psk_values=_any_psk,
    )
    rejects_join(
        d,
        forged,
        ValidationError,
        r"§12\.4\.3\.1: a Welcome with a reinit/branch PSK starts epoch 1",
        psks=_any_psk,
    )


def test_welcome_group_id_unique() -> None:
    _, a, d, welcome = _base()
    joined = d.join_group(welcome, config=PUBLIC)  # held: the client takes part in it
    # the same client is welcomed into a second group with the same group_id
    again = Client.generate(b"a2").create_group(a.group_id, config=PUBLIC)
    out = again.add_members([d.key_package()])
    assert out.welcome is not None
    rejects_join(d, out.welcome, ValidationError, r"§12\.4\.3\.1: the group_id is unique")
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
    usage: ResumptionPSKUsage,
    old: Group,
    *,
    suite: int = 1,
    group_id: bytes = b"new",
    creator: bytes = b"member0",
    psk_group_id: bytes | None = None,
) -> tuple[Client, bytes, Callable[[PreSharedKeyID], bytes | None]]:
    """A Welcome for member1's new client into a new group at epoch 1, made by
    ``creator``, that names a reinit/branch resumption PSK of ``old``'s current epoch
    (of ``psk_group_id``, with ``old``'s value, if given). Returns the joiner, the Welcome
    and a lookup that answers for the PSK."""
    d = Client.generate(b"member1", suite)
    new = Client.generate(creator, suite).create_group(group_id, config=PUBLIC)
    out = new.add_members([d.key_package()])
    new.merge_pending_commit()
    assert out.welcome is not None
    psk = _resumption(usage, psk_group_id or old.group_id, old.epoch)

    def lookup(p: PreSharedKeyID) -> bytes | None:
        return old.psk_lookup(msgspec.structs.replace(p, psk_group_id=old.group_id))

    forged = forge_welcome(out.welcome, d, new, secrets=_with_psks(psk), psk_values=lookup)
    return d, forged, lookup


def _reinit_committed(members: int = 2, group_id: bytes = b"new") -> Group:
    """member1's view of a group of ``members`` in which member0 committed a ReInit."""
    _, groups = make_group(members)
    out = groups[0].reinit(group_id)
    for g in groups[1:]:
        g.process(out.commit).merge()  # type: ignore[union-attr]
    return groups[1]


def test_welcome_reinit_psk_names_old_group() -> None:
    old = _reinit_committed()
    d, welcome, lookup = _resumed_welcome(ResumptionPSKUsage.reinit, old, psk_group_id=b"other")
    rejects_join(
        d,
        welcome,
        ValidationError,
        r"§12\.4\.3\.1: the reinit PSK names the old group",
        psks=lookup,
        resumed_from=old,
    )


def test_welcome_reinit_last_commit_has_reinit() -> None:
    _, (_a, old) = make_group(2)  # no ReInit was committed
    d, welcome, _ = _resumed_welcome(ResumptionPSKUsage.reinit, old)
    rejects_join(
        d,
        welcome,
        ValidationError,
        r"§12\.4\.3\.1: the last Commit to the old group contains a ReInit",
        resumed_from=old,
    )


def test_welcome_reinit_matches_reinit_proposal() -> None:
    old = _reinit_committed(group_id=b"reborn")
    d, welcome, _ = _resumed_welcome(ResumptionPSKUsage.reinit, old, group_id=b"new")
    rejects_join(
        d,
        welcome,
        ValidationError,
        r"§12\.4\.3\.1: the new group matches the old group's ReInit.*group_id",
        resumed_from=old,
    )


def test_welcome_reinit_keeps_all_members() -> None:
    old = _reinit_committed(members=3)  # member2 is not in the new group
    d, welcome, _ = _resumed_welcome(ResumptionPSKUsage.reinit, old)
    rejects_join(
        d,
        welcome,
        ValidationError,
        r"§12\.4\.3\.1: every member of the old group is a member of the reinitialized",
        resumed_from=old,
    )


def test_welcome_branch_same_version_and_suite() -> None:
    _, (_a, old) = make_group(2)
    d, welcome, _ = _resumed_welcome(ResumptionPSKUsage.branch, old, suite=3)
    rejects_join(
        d,
        welcome,
        ValidationError,
        r"§12\.4\.3\.1: a branch keeps the old group's version and cipher_suite",
        resumed_from=old,
    )


def test_welcome_branch_members_subset() -> None:
    _, (_a, old) = make_group(2)
    d, welcome, _ = _resumed_welcome(ResumptionPSKUsage.branch, old, creator=b"stranger")
    rejects_join(
        d,
        welcome,
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
    _, a, d, welcome = _base()
    ext = Extension(extension_type=ExtensionType(CUSTOM_EXT), extension_data=b"")

    def edit(info: GroupInfo) -> GroupInfo:
        return msgspec.structs.replace(info, extensions=(*info.extensions, ext, ext))

    rejects_join(
        d,
        forge_welcome(welcome, d, a, info=edit),
        ValidationError,
        r"§13\.4: an extension type appears at most once.*GroupInfo\.extensions",
    )


def test_welcome_group_context_extension_types_unique() -> None:
    _, a, d, welcome = _base()
    rc = required_capabilities_ext()
    rejects_join(
        d,
        forge_welcome(welcome, d, a, info=_context(extensions=(rc, rc))),
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
    _, a, d, welcome = _base()
    other = key_package(d).leaf_node  # another, valid leaf of d

    forged = forge_welcome(welcome, d, a, info=_tree(lambda n: _set_leaf(n, 3, other)))
    rejects_join(
        d, forged, ValidationError, r"§12\.4\.3\.1: the tree holds this client's KeyPackage leaf"
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
