"""Joining from a Welcome (§12.4.3.1) and the tree a joiner validates: the W, T, R8
and S6 rows of docs/VALIDATION.md. The passive client is the joiner; the invalid input
is a Welcome (and tree) to its KeyPackage, the control the case's own Welcome."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from ...codecs import tls
from ...engine import psk as psk_mod
from ...engine.group import Client, Group
from ...errors import CryptoError, StateError, ValidationError
from ...schema import CipherSuite as SuiteId
from ...schema import (
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
    Welcome,
)
from .. import forge
from ..forge import (
    add,
    caps,
    forge_welcome,
    key_package,
    rechain,
    required_capabilities_ext,
    set_tree,
    sign_leaf,
    tree_nodes,
)
from . import Build, World, case
from ._common import CUSTOM_EXT, X509, sibling_suite


class Base:
    """The Welcome that a (leaf 0) sends to the passive client d, added at leaf 3
    (without a path unless ``path``), as in the negative tests.

    Default: members at leaves 0-4; a removes leaf 3 with a path, which sets parent
    nodes 1, 3 and the root 7 (node 5 stays blank); d then sits unmerged at nodes 3
    and 7. ``flat``: members at leaves 0-2 only, no commit with a path, so every parent
    node is blank (a leaf can be changed without breaking a parent hash above it).
    ``extensions``: the members (not d) list these extension types."""

    def __init__(
        self,
        w: World,
        *,
        path: bool = False,
        flat: bool = False,
        extensions: tuple[int, ...] = (),
        two_chains: bool = False,
    ) -> None:
        n = 3 if flat else 5
        people = [w.client(b"member%d" % i, caps(extensions=extensions)) for i in range(n)]
        clients, groups = w.members(n, clients=people)
        a = groups[0]
        if not flat:
            live = [g for i, g in enumerate(groups) if i != 3]
            out = a.remove_members([3])
            a.merge_pending_commit()
            for g in live[1:]:
                forge.staged(g.process(out.commit)).merge()
            if two_chains:
                # e (leaf 4) commits a path, which sets only the root 7: the root's
                # parent hash then chains to e's leaf, node 3's to node 1 and a's leaf
                e = groups[4]
                out = e.update()
                e.merge_pending_commit()
                for g in live[:-1]:
                    forge.staged(g.process(out.commit)).merge()
        d = w.client(b"d")
        data = forge.raw_key_package(d)
        w.joining(d, data)
        kp = forge.decode(data).key_package
        assert kp is not None
        out = a.commit([add(kp)], update_path=path)
        a.merge_pending_commit()
        assert out.welcome is not None
        self.w, self.clients, self.a, self.d, self.welcome = w, clients, a, d, out.welcome

    def forged(self, **changes: object) -> bytes:
        return forge_welcome(self.welcome, self.d, self.a, **changes)  # type: ignore[arg-type]

    def only(self, both: dict[str, object] | None = None, **broken: object) -> Build:
        """The Welcome rebuilt with ``broken``'s changes (and ``both``'s) when broken,
        with ``both``'s only for the control."""
        return lambda is_broken: self.w.wel(
            self.forged(**(both or {}), **(broken if is_broken else {}))
        )

    def tree(self, change: Callable[[list[Node | None], bool], None]) -> Build:
        """The Welcome whose tree is edited by ``change(nodes, broken)`` (which also
        computes again what the edit invalidates, e.g. the parent hashes above it)."""
        return lambda broken: self.w.wel(self.forged(info=_tree(lambda n: change(n, broken))))


def _tree(change: Callable[[list[Node | None]], None]) -> Callable[[GroupInfo], GroupInfo]:
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


def _context(**changes: object) -> Callable[[GroupInfo], GroupInfo]:
    def edit(info: GroupInfo) -> GroupInfo:
        return msgspec.structs.replace(
            info, group_context=msgspec.structs.replace(info.group_context, **changes)
        )

    return edit


def _ext(t: int = CUSTOM_EXT) -> Extension:
    return Extension(extension_type=ExtensionType(t), extension_data=b"")


# --- the Welcome and its GroupInfo -------------------------------------------------------


@case("W1", "welcome", "§6", "joining takes a Welcome", ValidationError, r"§6: expected a Welcome")
def _w1(w: World) -> Build:
    b = Base(w)
    control = b.forged()
    return lambda broken: w.wel(b.a.group_info() if broken else control)


@case(
    "W2",
    "welcome",
    "§12.4.3.1",
    "the Welcome has an entry for one of this client's KeyPackages",
    ValidationError,
    r"§12\.4\.3\.1: the Welcome has an entry for one of this client's KeyPackages",
)
def _w2(w: World) -> Build:
    def rename(x: Welcome) -> Welcome:
        entry = msgspec.structs.replace(
            x.secrets[0], new_member=bytes(len(x.secrets[0].new_member))
        )
        return msgspec.structs.replace(x, secrets=(entry,))

    return Base(w).only(welcome=rename)


@case(
    "W3",
    "welcome",
    "§12.4.3.1",
    "the KeyPackage's cipher_suite matches the Welcome's",
    ValidationError,
    r"§12\.4\.3\.1: the KeyPackage's cipher_suite matches the Welcome's",
)
def _w3(w: World) -> Build:
    other = SuiteId(sibling_suite(w.suite))
    return Base(w).only(welcome=lambda x: msgspec.structs.replace(x, cipher_suite=other))


@case(
    "W4",
    "welcome",
    "§12.4.3.1",
    "encrypted_group_secrets decrypts",
    CryptoError,
    r"§12\.4\.3\.1: encrypted_group_secrets does not decrypt",
)
def _w4(w: World) -> Build:
    def corrupt(x: Welcome) -> Welcome:
        entry = x.secrets[0]
        ct = entry.encrypted_group_secrets
        ct = msgspec.structs.replace(
            ct, ciphertext=bytes([ct.ciphertext[0] ^ 1]) + ct.ciphertext[1:]
        )
        return msgspec.structs.replace(
            x, secrets=(msgspec.structs.replace(entry, encrypted_group_secrets=ct),)
        )

    return Base(w).only(welcome=corrupt)


@case(
    "W5",
    "welcome",
    "§12.4.3.1",
    "encrypted_group_info decrypts",
    CryptoError,
    r"§12\.4\.3\.1: encrypted_group_info does not decrypt",
)
def _w5(w: World) -> Build:
    return Base(w).only(encrypted_info=lambda blob: blob[:-1] + bytes([blob[-1] ^ 1]))


@case(
    "W6",
    "welcome",
    "§12.4.3.1",
    "the GroupInfo signer is a member (a non-blank leaf)",
    ValidationError,
    r"§12\.4\.3\.1: the GroupInfo signer is a member",
)
def _w6(w: World) -> Build:
    return Base(w).only(info=lambda i: msgspec.structs.replace(i, signer=9))


@case(
    "W7",
    "welcome",
    "§12.4.3, §12.4.3.1",
    "the GroupInfo signature verifies",
    CryptoError,
    r"§12\.4\.3\.1: GroupInfo signature does not verify",
)
def _w7(w: World) -> Build:
    def flip(i: GroupInfo) -> GroupInfo:
        return msgspec.structs.replace(i, signature=bytes([i.signature[0] ^ 1]) + i.signature[1:])

    return Base(w).only(both={"resign_info": False}, info=flip)


@case(
    "W9",
    "welcome",
    "§12.4.3.1",
    "the GroupInfo's cipher_suite matches the KeyPackage's",
    ValidationError,
    r"§12\.4\.3\.1: the GroupInfo's cipher_suite matches the KeyPackage's",
)
def _w9(w: World) -> Build:
    return Base(w).only(info=_context(cipher_suite=SuiteId(sibling_suite(w.suite))))


@case(
    "W10",
    "welcome",
    "§12.4.3.1",
    "the group's version is mls10",
    ValidationError,
    r"§12\.4\.3\.1: the group's version is mls10",
)
def _w10(w: World) -> Build:
    return Base(w).only(info=_context(version=ProtocolVersion.reserved))


@case(
    "W11",
    "welcome",
    "§12.4.3.1",
    "the client has the ratchet tree (extension or out of band) before processing",
    StateError,
    r"§12\.4\.3\.1: the Welcome's GroupInfo has no ratchet_tree extension",
)
def _w11(w: World) -> Build:
    def drop(i: GroupInfo) -> GroupInfo:
        exts = tuple(e for e in i.extensions if e.extension_type != ExtensionType.ratchet_tree)
        return msgspec.structs.replace(i, extensions=exts)

    return Base(w).only(info=drop)


@case(
    "W12",
    "welcome",
    "§12.4.3.1",
    "the tree holds this client's KeyPackage leaf",
    ValidationError,
    r"§12\.4\.3\.1: the tree holds this client's KeyPackage leaf",
)
def _w12(w: World) -> Build:
    # leaf 3 (unmerged at nodes 3 and 7, so outside every parent hash) is another,
    # valid leaf of d's: the tree passes all its own checks
    b = Base(w)
    other = key_package(b.d).leaf_node
    return b.only(info=_tree(lambda n: _set_leaf(n, 3, other)))


@case(
    "W13",
    "welcome",
    "§12.4.3.1",
    "the keys derived from the path_secret are the tree's",
    ValidationError,
    r"§7\.4: private keys match the tree's public keys",
)
def _w13(w: World) -> Build:
    def wrong(gs: GroupSecrets) -> GroupSecrets:
        return msgspec.structs.replace(gs, path_secret=PathSecret(path_secret=bytes(w.nh)))

    return Base(w, path=True).only(secrets=wrong)


@case(
    "W14",
    "welcome",
    "§12.4.3.1",
    "the GroupInfo confirmation_tag verifies",
    ValidationError,
    r"§6\.1: confirmation_tag must equal MAC\(confirmation_key",
)
def _w14(w: World) -> Build:
    return Base(w).only(
        both={"retag": False},
        info=lambda i: msgspec.structs.replace(i, confirmation_tag=bytes(w.nh)),
    )


@case(
    "W15",
    "welcome",
    "§12.4.3",
    "the new member supports the group's extensions",
    ValidationError,
    r"§12\.4\.3: the new member supports the group's extensions",
)
def _w15(w: World) -> Build:
    # every member but d lists the extension in its capabilities
    def edit(info: GroupInfo) -> GroupInfo:
        return _context(extensions=(*info.group_context.extensions, _ext()))(info)

    return Base(w, extensions=(CUSTOM_EXT,)).only(info=edit)


@case(
    "W22",
    "extensions",
    "§13.4, §12.4.3.1",
    "an extension type appears at most once: GroupInfo.extensions",
    ValidationError,
    r"§13\.4: an extension type appears at most once.*GroupInfo\.extensions",
)
def _w22(w: World) -> Build:
    b = Base(w)
    return lambda broken: w.wel(
        b.forged(
            info=lambda i: msgspec.structs.replace(
                i, extensions=(*i.extensions, _ext(), *((_ext(),) if broken else ()))
            )
        )
    )


@case(
    "W23",
    "extensions",
    "§13.4, §12.4.3.1",
    "an extension type appears at most once: GroupInfo.group_context.extensions",
    ValidationError,
    r"§13\.4: an extension type appears at most once.*group_context\.extensions",
)
def _w23(w: World) -> Build:
    rc = required_capabilities_ext()
    b = Base(w)
    return lambda broken: w.wel(b.forged(info=_context(extensions=(rc, rc) if broken else (rc,))))


@case(
    "S6",
    "psk",
    "§8.4, §12.4.3.1",
    "a Welcome's PSKs are held by the joiner",
    StateError,
    r"external PSK [0-9a-f]+ is not available",
)
def _s6(w: World) -> Build:
    b = Base(w)
    w.hold_psk([b.d], b"held", bytes(w.nh))

    def psks(broken: bool) -> Callable[[GroupSecrets], GroupSecrets]:
        pid = psk_mod.external_psk_id(b"not-held" if broken else b"held", bytes(w.nh))
        return lambda gs: msgspec.structs.replace(gs, psks=(pid,))

    def value(_: PreSharedKeyID) -> bytes:
        return bytes(w.nh)

    return lambda broken: w.wel(b.forged(secrets=psks(broken), psk_values=value))


# --- the ratchet tree --------------------------------------------------------------------


@case(
    "T1",
    "tree",
    "§12.4.3.1",
    "the tree hash matches the GroupInfo's tree_hash",
    ValidationError,
    r"§12\.4\.3\.1: the tree hash matches",
)
def _t1(w: World) -> Build:
    return Base(w).only(info=_context(tree_hash=bytes(w.nh)))


@case(
    "T2",
    "tree",
    "§12.4.3.1, §7.9.2",
    "every non-blank parent node is parent-hash valid",
    ValidationError,
    r"§7\.9\.2: every non-blank parent node is parent-hash valid",
)
def _t2(w: World) -> Build:
    b = Base(w)
    return b.tree(lambda n, broken: _set_parent(n, 1, parent_hash=bytes(w.nh)) if broken else None)


@case(
    "T3",
    "tree",
    "§12.4.3.1, §7.3",
    "each leaf is valid: the LeafNode signature verifies",
    ValidationError,
    r"§7\.3: the LeafNode signature verifies",
)
def _t3(w: World) -> Build:
    # leaf 2 is under a's path (nodes 1, 3, 7): a's parent hashes are computed again
    # over the changed leaf, and a's leaf signed again
    b = Base(w)

    def change(nodes: list[Node | None], broken: bool) -> None:
        if broken:
            leaf = _leaf(nodes, 2)
            flipped = bytes([leaf.signature[0] ^ 1]) + leaf.signature[1:]
            _set_leaf(nodes, 2, msgspec.structs.replace(leaf, signature=flipped))
        rechain(nodes, 0, b.clients[0].signature_private_key, b.a.group_id)

    return b.tree(change)


def _flat_leaf(w: World, edit: Callable[[Base, LeafNode], LeafNode], i: int = 2) -> Build:
    """A flat tree (no parent nodes) whose leaf ``i`` is edited and signed again by its
    owner (control: signed again unedited)."""
    b = Base(w, flat=True)

    def change(nodes: list[Node | None], broken: bool) -> None:
        leaf = edit(b, _leaf(nodes, i)) if broken else _leaf(nodes, i)
        _set_leaf(nodes, i, sign_leaf(b.clients[i].signature_private_key, leaf))

    return b.tree(change)


@case(
    "T4",
    "tree",
    "§12.4.3.1, §7.3",
    "each leaf is valid: LeafNode extensions are listed in its capabilities",
    ValidationError,
    r"§7\.3: LeafNode extensions are listed in its capabilities",
)
def _t4(w: World) -> Build:
    return _flat_leaf(w, lambda _b, leaf: msgspec.structs.replace(leaf, extensions=(_ext(),)))


@case(
    "T5",
    "tree",
    "§12.4.3.1, §7.3",
    "each leaf is valid: every member supports each member's credential type",
    ValidationError,
    r"§7\.3: every member supports each member's credential type",
)
def _t5(w: World) -> Build:
    # b (leaf 1) supports basic only; c (leaf 2) presents an X.509 credential
    b = Base(w, flat=True)

    def change(nodes: list[Node | None], broken: bool) -> None:
        b_leaf = msgspec.structs.replace(
            _leaf(nodes, 1), capabilities=caps(credentials=(CredentialType.basic,))
        )
        _set_leaf(nodes, 1, sign_leaf(b.clients[1].signature_private_key, b_leaf))
        c_leaf = _leaf(nodes, 2)
        if broken:
            c_leaf = msgspec.structs.replace(c_leaf, credential=X509)
        _set_leaf(nodes, 2, sign_leaf(b.clients[2].signature_private_key, c_leaf))

    return b.tree(change)


@case(
    "T6",
    "tree",
    "§12.4.3.1, §7.3",
    "each leaf is valid: signature_key is unique among the members",
    ValidationError,
    r"§7\.3: signature_key is unique among the members",
)
def _t6(w: World) -> Build:
    b = Base(w)

    def change(nodes: list[Node | None], broken: bool) -> None:
        if broken:
            leaf = msgspec.structs.replace(
                _leaf(nodes, 2), signature_key=b.clients[1].signature_public_key
            )
            _set_leaf(nodes, 2, sign_leaf(b.clients[1].signature_private_key, leaf))
        rechain(nodes, 0, b.clients[0].signature_private_key, b.a.group_id)

    return b.tree(change)


@case(
    "T7",
    "tree",
    "§12.4.3.1",
    "an unmerged leaf is a non-blank descendant leaf",
    ValidationError,
    r"§12\.4\.3\.1: an unmerged leaf is a non-blank descendant leaf",
)
def _t7(w: World) -> Build:
    # node 3 covers leaves 0-3 and lists leaf 4 (e, a member) as unmerged; the root
    # chains to e, whose parent hash is computed again over the changed node 3
    b = Base(w, two_chains=True)

    def change(nodes: list[Node | None], broken: bool) -> None:
        if broken:
            _set_parent(nodes, 3, unmerged_leaves=(3, 4))
        rechain(nodes, 4, b.clients[4].signature_private_key, b.a.group_id)

    return b.tree(change)


@case(
    "T8",
    "tree",
    "§12.4.3.1",
    "non-blank nodes between an unmerged leaf and its parent list it too",
    ValidationError,
    r"§12\.4\.3\.1: non-blank nodes between an unmerged leaf and its parent list it too",
)
def _t8(w: World) -> Build:
    # leaf 3 (d) stays unmerged at the root but not at node 3 between them
    b = Base(w, two_chains=True)

    def change(nodes: list[Node | None], broken: bool) -> None:
        if broken:
            _set_parent(nodes, 3, unmerged_leaves=())
        rechain(nodes, 0, b.clients[0].signature_private_key, b.a.group_id, below=3)
        rechain(nodes, 4, b.clients[4].signature_private_key, b.a.group_id)

    return b.tree(change)


@case(
    "T9",
    "tree",
    "§12.4.3.1",
    "a parent's encryption_key appears in one node only",
    ValidationError,
    r"§7\.3/§12\.4\.3\.1: encryption_key appears in one node only",
)
def _t9(w: World) -> Build:
    b = Base(w)

    def change(nodes: list[Node | None], broken: bool) -> None:
        if broken:
            _set_parent(nodes, 3, encryption_key=_parent(nodes, 1).encryption_key)
        rechain(nodes, 0, b.clients[0].signature_private_key, b.a.group_id)

    return b.tree(change)


@case(
    "T10",
    "tree",
    "§12.4.3.3",
    "the last node of ratchet_tree is non-blank",
    ValidationError,
    r"§12\.4\.3\.3",
)
def _t10(w: World) -> Build:
    def edit(broken: bool) -> Callable[[GroupInfo], GroupInfo]:
        def change(info: GroupInfo) -> GroupInfo:
            nodes = (*tree_nodes(info), *((None, None) if broken else ()))
            exts = tuple(
                msgspec.structs.replace(e, extension_data=tls.encode(nodes, "RatchetTree"))
                if e.extension_type == ExtensionType.ratchet_tree
                else e
                for e in info.extensions
            )
            return msgspec.structs.replace(info, extensions=exts)

        return change

    b = Base(w)
    return lambda broken: w.wel(b.forged(info=edit(broken)))


@case(
    "T11",
    "tree",
    "§12.4.3.1, §7.3",
    "each leaf is valid: capabilities list mls10",
    ValidationError,
    r"§7\.2: capabilities list mls10.*leaf 2",
)
def _t11(w: World) -> Build:
    return _flat_leaf(
        w, lambda _b, leaf: msgspec.structs.replace(leaf, capabilities=caps(versions=()))
    )


@case(
    "T12",
    "tree",
    "§12.4.3.1, §13.4",
    "each leaf is valid: its extension types appear at most once",
    ValidationError,
    r"§13\.4: an extension type appears at most once.*leaf 2",
)
def _t12(w: World) -> Build:
    app_id = Extension(extension_type=ExtensionType.application_id, extension_data=b"\x01x")
    b = Base(w, flat=True)

    def change(nodes: list[Node | None], broken: bool) -> None:
        ids = (app_id, app_id) if broken else (app_id,)
        leaf = msgspec.structs.replace(_leaf(nodes, 2), extensions=ids)
        _set_leaf(nodes, 2, sign_leaf(b.clients[2].signature_private_key, leaf))

    return b.tree(change)


@case(
    "R8",
    "capabilities",
    "§11.1, §12.4.3.1",
    "joining: every leaf of the tree meets the required capabilities",
    ValidationError,
    r"§11\.1: the LeafNode supports the group's required_capabilities",
)
def _r8(w: World) -> Build:
    def edit(broken: bool) -> Callable[[GroupInfo], GroupInfo]:
        required = required_capabilities_ext(extensions=(CUSTOM_EXT,) if broken else ())
        return lambda info: _context(extensions=(*info.group_context.extensions, required))(info)

    b = Base(w)
    return lambda broken: w.wel(b.forged(info=edit(broken)))


__all__ = ["Base"]


# --- the joiner's side of an external join (§12.4.3.2) ------------------------------------


def _external_joiner(w: World, members: int = 2, **group: Any) -> tuple[list[Client], Group]:
    """A group of ``members`` (``group``: arguments of ``World.members``) and the
    passive client, who will join it by external Commit: its KeyPackage gives the
    credential, signature key and capabilities it joins with."""
    clients, groups = w.members(members, **group)
    j = w.client(b"joiner")
    w.joining(j, forge.raw_key_package(j))
    return clients, groups[0]


def _info_change(a: Group, change: Callable[[GroupInfo], GroupInfo], *, resign: bool) -> bytes:
    """a's GroupInfo with ``change`` applied, signed again by a when ``resign``."""
    if resign:
        return forge.resigned_group_info(a, change)
    msg = forge.decode(a.group_info())
    assert msg.group_info is not None
    return forge.encode(msgspec.structs.replace(msg, group_info=change(msg.group_info)))


def _same(info: GroupInfo) -> GroupInfo:
    return info


@case(
    "E8",
    "external-commit",
    "§12.4.3",
    "joiner: the GroupInfo signature verifies",
    CryptoError,
    r"§12\.4\.3: GroupInfo signature does not verify",
)
def _e8(w: World) -> Build:
    _, a = _external_joiner(w)

    def flip(i: GroupInfo) -> GroupInfo:
        return msgspec.structs.replace(i, signature=bytes([i.signature[0] ^ 1]) + i.signature[1:])

    return lambda broken: w.info(_info_change(a, flip if broken else _same, resign=False))


@case(
    "E9",
    "external-commit",
    "§12.4.3.2",
    "joiner: the GroupInfo signer is a member",
    ValidationError,
    r"§12\.4\.3\.2: the GroupInfo signer is a member",
)
def _e9(w: World) -> Build:
    # signed by a over signer 7 (outside the tree): the joiner has no key for it
    _, a = _external_joiner(w)
    return lambda broken: w.info(
        forge.resigned_group_info(
            a, lambda i: msgspec.structs.replace(i, signer=7 if broken else 0)
        )
    )


@case(
    "E10",
    "external-commit",
    "§12.4.3.2",
    "joiner: an external join needs the GroupInfo's external_pub",
    ValidationError,
    r"§12\.4\.3\.2: an external join needs the GroupInfo's external_pub",
)
def _e10(w: World) -> Build:
    _, a = _external_joiner(w)

    def drop(i: GroupInfo) -> GroupInfo:
        exts = tuple(e for e in i.extensions if e.extension_type != ExtensionType.external_pub)
        return msgspec.structs.replace(i, extensions=exts)

    return lambda broken: w.info(forge.resigned_group_info(a, drop if broken else _same))


@case(
    "E11",
    "external-commit",
    "§12.4.3.2, §12.4.3.1",
    "joiner: the tree is validated as on a Welcome join (here: the tree hash matches)",
    ValidationError,
    r"§12\.4\.3\.1: the tree hash matches",
)
def _e11(w: World) -> Build:
    _, a = _external_joiner(w)
    return lambda broken: w.info(
        forge.resigned_group_info(a, _context(tree_hash=bytes(w.nh)) if broken else _same)
    )


@case(
    "E12",
    "external-commit",
    "§12.4.3.2, §12.4.3.1",
    "joiner: every leaf is validated against the group as on a Welcome join (here: LeafNode "
    "extensions are listed in its capabilities)",
    ValidationError,
    r"§7\.3: LeafNode extensions are listed in its capabilities",
)
def _e12(w: World) -> Build:
    clients, a = _external_joiner(w, 3)

    def change(broken: bool) -> Callable[[GroupInfo], GroupInfo]:
        def edit(nodes: list[Node | None]) -> None:
            leaf = _leaf(nodes, 2)
            if broken:
                leaf = msgspec.structs.replace(leaf, extensions=(_ext(),))
            _set_leaf(nodes, 2, sign_leaf(clients[2].signature_private_key, leaf))

        return _tree(edit)

    return lambda broken: w.info(forge.resigned_group_info(a, change(broken)))


@case(
    "E13",
    "external-commit",
    "§12.4.3, §13.4",
    "joiner: the new member supports the group's extensions (GroupContext)",
    ValidationError,
    r"§12\.4\.3: the new member supports the group's extensions",
)
def _e13(w: World) -> Build:
    # the members list the GroupContext's extension; the joiner's KeyPackage does not.
    # Control: the GroupInfo without that extension
    full = [w.client(n, caps(extensions=(CUSTOM_EXT,))) for n in (b"a", b"b")]
    _, a = _external_joiner(w, clients=full, extensions=[_ext()])

    def drop(info: GroupInfo) -> GroupInfo:
        kept = tuple(e for e in info.group_context.extensions if e.extension_type != CUSTOM_EXT)
        return _context(extensions=kept)(info)

    return lambda broken: w.info(forge.resigned_group_info(a, _same if broken else drop))
