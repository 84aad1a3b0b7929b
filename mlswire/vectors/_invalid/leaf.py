"""LeafNodes (§7.3), KeyPackages (§10.1), required capabilities (§11.1) and extension
lists (§13.4) as a member receives them: the L, K, R1-R7 and X1-X4 rows of
docs/VALIDATION.md."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import msgspec

from ...engine.group import Client, Group, ProposalMessage
from ...errors import ValidationError
from ...schema import (
    Capabilities,
    CredentialType,
    Extension,
    ExtensionType,
    KeyPackage,
    LeafNode,
    LeafNodeSource,
    ProtocolVersion,
    UpdatePath,
)
from ...schema import CipherSuite as SuiteId
from ..forge import (
    add,
    altered_key_package,
    by_ref,
    caps,
    forge_commit,
    forge_proposal,
    key_package,
    leaf_at,
    required_capabilities_ext,
    sign_leaf,
    update,
    update_leaf,
)
from . import Build, Input, World, case
from ._common import CUSTOM_EXT, CUSTOM_PROPOSAL, X509, gce, sibling_suite


def _ext(t: int = CUSTOM_EXT) -> Extension:
    return Extension(extension_type=ExtensionType(t), extension_data=b"")


def _x509(w: World, capabilities: Capabilities | None = None) -> Client:
    keys = w.client(b"x509 keys")
    return Client(
        X509,
        w.suite,
        keys.signature_private_key,
        keys.signature_public_key,
        capabilities=capabilities,
    )


def _adds(w: World, a: Group, broken: Client, control: Client) -> Build:
    """a's Commit adding one of ``broken``'s KeyPackages (control: ``control``'s)."""
    return lambda b: w.msg(forge_commit(a, [add(key_package(broken if b else control))]))


def _kp_commit(w: World, a: Group, change: Callable[[KeyPackage], KeyPackage]) -> Build:
    """a's Commit adding one of a new client's KeyPackages, ``change``d and signed again
    (control: only signed again)."""
    d = w.client(b"d")
    return lambda broken: w.msg(
        forge_commit(a, [add(altered_key_package(d, kp=change if broken else None))])
    )


def _update(w: World, make_leaf: Callable[[Group, Group], LeafNode]) -> Build:
    """Member a (leaf 0) proposes an Update with the leaf ``make_leaf(a, c)`` returns;
    c (leaf 2) commits it by reference; the receiver (leaf 1) gets both. Control: a
    valid Update of a (``update_leaf(a)``)."""
    a, _r, c = w.group(3)
    return _update_in(w, a, c, make_leaf, lambda: update_leaf(a))


def _update_in(
    w: World,
    a: Group,
    c: Group,
    make_leaf: Callable[[Group, Group], LeafNode],
    control: Callable[[], LeafNode],
) -> Build:
    def make(broken: bool) -> Input:
        message = forge_proposal(a, update(make_leaf(a, c) if broken else control()))
        got = c.process(message)
        assert isinstance(got, ProposalMessage)
        commit = forge_commit(c, [by_ref(got.ref)])
        c.clear_pending_proposals()
        # the Update carries the break: a receiver may refuse it on receipt (§12.1.2)
        return w.msg(commit, message, break_in_proposals=broken)

    return make


# --- §7.3 LeafNode validation ------------------------------------------------------------


@case(
    "L2",
    "leaf-node",
    "§7.3",
    "the LeafNode signature verifies",
    ValidationError,
    r"§7\.3: the LeafNode signature verifies",
)
def _l2(w: World) -> Build:
    a, _b = w.group(2)
    d, x = w.client(b"d"), w.client(b"x")
    # the leaf signed with another key, the KeyPackage around it with d's
    return lambda broken: w.msg(
        forge_commit(
            a,
            [
                add(
                    altered_key_package(
                        d,
                        leaf=lambda leaf: leaf,
                        sign_leaf_with=x.signature_private_key if broken else None,
                    )
                )
            ],
        )
    )


@case(
    "L3",
    "leaf-node",
    "§7.3",
    "every member supports the new LeafNode's credential type",
    ValidationError,
    r"§7\.3: every member supports the new LeafNode's credential type",
)
def _l3(w: World) -> Build:
    basic_only = caps(credentials=(CredentialType.basic,))
    a, _b = w.group(2, clients=[w.client(n, basic_only) for n in (b"a", b"b")])
    return _adds(w, a, _x509(w), w.client(b"d"))


@case(
    "L4",
    "leaf-node",
    "§7.3",
    "the LeafNode supports every credential type in use",
    ValidationError,
    r"§7\.3: the LeafNode supports every credential type in use",
)
def _l4(w: World) -> Build:
    a, _r, _x = w.group(3, clients=[w.client(b"a"), w.client(b"r"), _x509(w)])
    basic_only = caps(credentials=(CredentialType.basic,))
    return _adds(w, a, w.client(b"d", basic_only), w.client(b"e"))


@case(
    "L5",
    "leaf-node",
    "§7.2",
    "the LeafNode's credential type is in its capabilities",
    ValidationError,
    r"§7\.2: the LeafNode's credential type is in its capabilities",
)
def _l5(w: World) -> Build:
    a, _b = w.group(2)
    return _adds(w, a, w.client(b"d", caps(credentials=(CredentialType.x509,))), w.client(b"e"))


@case(
    "L6",
    "leaf-node",
    "§7.3",
    "the current time is within lifetime (RECOMMENDED for received leaves)",
    ValidationError,
    r"§7\.3: the current time is within lifetime",
)
def _l6(w: World) -> Build:
    a, _b = w.group(2)
    d = w.client(b"d")
    return lambda broken: w.msg(
        forge_commit(a, [add(key_package(d, lifetime=(0, 1000) if broken else None))])
    )


@case(
    "L7",
    "leaf-node",
    "§7.3",
    "LeafNode extensions are listed in its capabilities",
    ValidationError,
    r"§7\.3: LeafNode extensions are listed in its capabilities",
)
def _l7(w: World) -> Build:
    a, _b = w.group(2)
    bare, listing = w.client(b"d"), w.client(b"e", caps(extensions=(CUSTOM_EXT,)))
    return lambda broken: w.msg(
        forge_commit(a, [add(key_package(bare if broken else listing, leaf_extensions=[_ext()]))])
    )


def _source_update(w: World, a: Group, d: Client) -> Callable[[KeyPackage], KeyPackage]:
    # the leaf says source update (which has no lifetime), signed as an update leaf is
    # (group_id, and the leaf index 2 it is added at) so that its signature verifies
    def change(kp: KeyPackage) -> KeyPackage:
        leaf = msgspec.structs.replace(
            kp.leaf_node, leaf_node_source=LeafNodeSource.update, lifetime=None
        )
        new = sign_leaf(d.signature_private_key, leaf, a.group_id, 2)
        return msgspec.structs.replace(kp, leaf_node=new)

    return change


@case(
    "L8",
    "leaf-node",
    "§7.3",
    "leaf_node_source is key_package in a KeyPackage",
    ValidationError,
    r"§7\.3: leaf_node_source matches",
)
def _l8(w: World) -> Build:
    a, _b = w.group(2)
    d = w.client(b"d")
    return lambda broken: w.msg(
        forge_commit(
            a, [add(altered_key_package(d, kp=_source_update(w, a, d) if broken else None))]
        )
    )


@case(
    "K3",
    "key-package",
    "§10.1",
    "the leaf_node is valid for a KeyPackage (§7.3; here: its source is not key_package)",
    ValidationError,
    r"§7\.3: leaf_node_source matches",
)
def _k3(w: World) -> Build:
    return _l8(w)


@case(
    "L9",
    "leaf-node",
    "§7.3",
    "leaf_node_source is update in an Update",
    ValidationError,
    r"§7\.3: leaf_node_source matches",
)
def _l9(w: World) -> Build:
    return _update(
        w, lambda a, _c: update_leaf(a, leaf_node_source=LeafNodeSource.commit, parent_hash=b"")
    )


@case(
    "L10",
    "leaf-node",
    "§7.3",
    "an Update's encryption_key differs from the leaf's",
    ValidationError,
    r"§7\.3: an Update's encryption_key differs from the leaf's",
)
def _l10(w: World) -> Build:
    return _update(w, lambda a, _c: update_leaf(a, encryption_key=leaf_at(a, 0).encryption_key))


@case(
    "L11",
    "leaf-node",
    "§7.3, §12.4.2",
    "leaf_node_source is commit in an UpdatePath",
    ValidationError,
    r"§7\.3: leaf_node_source matches",
)
def _l11(w: World) -> Build:
    _a, _b, c = w.group(3)

    def leaf(path: UpdatePath) -> LeafNode:
        return msgspec.structs.replace(
            path.leaf_node, leaf_node_source=LeafNodeSource.update, parent_hash=None
        )

    return lambda broken: w.msg(forge_commit(c, [], leaf=leaf if broken else None))


@case(
    "L12",
    "leaf-node",
    "§7.3",
    "signature_key is unique among the members",
    ValidationError,
    r"§7\.3: signature_key is unique among the members",
)
def _l12(w: World) -> Build:
    # a's Update carries c's signature key, signed with c's private key so that the
    # leaf signature itself verifies
    return _update(
        w,
        lambda a, c: update_leaf(
            a, c.client.signature_private_key, signature_key=c.client.signature_public_key
        ),
    )


@case(
    "L13",
    "leaf-node",
    "§7.3",
    "encryption_key is unique in the tree",
    ValidationError,
    r"§7\.3: encryption_key is unique in the tree",
)
def _l13(w: World) -> Build:
    a, _b = w.group(2)
    taken = leaf_at(a, 0).encryption_key
    d = w.client(b"d")
    return lambda broken: w.msg(
        forge_commit(
            a,
            [
                add(
                    altered_key_package(
                        d,
                        leaf=lambda leaf: msgspec.structs.replace(
                            leaf, encryption_key=taken if broken else leaf.encryption_key
                        ),
                    )
                )
            ],
        )
    )


# --- §10.1 KeyPackages -------------------------------------------------------------------


@case(
    "K1",
    "key-package",
    "§10.1",
    "KeyPackage version is mls10",
    ValidationError,
    r"§10\.1: KeyPackage version is mls10",
)
def _k1(w: World) -> Build:
    a, _b = w.group(2)
    return _kp_commit(
        w, a, lambda kp: msgspec.structs.replace(kp, version=ProtocolVersion.reserved)
    )


@case(
    "K2",
    "key-package",
    "§10.1",
    "KeyPackage cipher_suite is the group's",
    ValidationError,
    r"§10\.1: KeyPackage cipher_suite is the group's",
)
def _k2(w: World) -> Build:
    a, _b = w.group(2)
    other = sibling_suite(w.suite)
    return _kp_commit(w, a, lambda kp: msgspec.structs.replace(kp, cipher_suite=SuiteId(other)))


def _zero_signature(kp: KeyPackage) -> KeyPackage:
    return msgspec.structs.replace(kp, signature=bytes(len(kp.signature)))


@case(
    "K4",
    "key-package",
    "§10.1",
    "KeyPackage signature verifies",
    ValidationError,
    r"§10\.1: KeyPackage signature verifies",
)
def _k4(w: World) -> Build:
    a, _b = w.group(2)
    d = w.client(b"d")
    return lambda broken: w.msg(
        forge_commit(a, [add(_zero_signature(key_package(d)) if broken else key_package(d))])
    )


@case(
    "K5",
    "key-package",
    "§10.1",
    "init_key differs from the leaf's encryption_key",
    ValidationError,
    r"§10\.1: init_key differs from the leaf's encryption_key",
)
def _k5(w: World) -> Build:
    a, _b = w.group(2)
    return _kp_commit(
        w, a, lambda kp: msgspec.structs.replace(kp, init_key=kp.leaf_node.encryption_key)
    )


@case(
    "K6",
    "key-package",
    "§10.1",
    "a KeyPackage is checked when the Add proposal is received, not only when committed",
    ValidationError,
    r"§10\.1: KeyPackage signature verifies",
)
def _k6(w: World) -> Build:
    a, _b = w.group(2)
    d = w.client(b"d")
    return lambda broken: w.msg(
        forge_proposal(a, add(_zero_signature(key_package(d)) if broken else key_package(d)))
    )


@case(
    "K9",
    "key-package",
    "§10.1, §7.3",
    "on receipt of an Add proposal, also the leaf's own signature",
    ValidationError,
    r"§7\.3: the LeafNode signature verifies.*Add\.key_package\.leaf_node",
)
def _k9(w: World) -> Build:
    a, _b = w.group(2)
    d, x = w.client(b"d"), w.client(b"x")
    return lambda broken: w.msg(
        forge_proposal(
            a,
            add(
                altered_key_package(
                    d,
                    leaf=lambda leaf: leaf,
                    sign_leaf_with=x.signature_private_key if broken else None,
                )
            ),
        )
    )


# --- §11.1 required capabilities ---------------------------------------------------------

_FULL_EXT = (CUSTOM_EXT,)
_FULL_PROP = (CUSTOM_PROPOSAL,)


def _required_group(w: World, **required: Sequence[int]) -> list[Group]:
    full = caps(extensions=_FULL_EXT, proposals=_FULL_PROP)
    people = [w.client(n, full) for n in (b"a", b"b", b"c")]
    return w.group(3, clients=people, extensions=[required_capabilities_ext(**required)])


def _full(w: World) -> Client:
    return w.client(b"e", caps(extensions=_FULL_EXT, proposals=_FULL_PROP))


@case(
    "R1",
    "capabilities",
    "§11.1, §7.3",
    "a new LeafNode supports the group's required_capabilities: every required extension type",
    ValidationError,
    r"§11\.1: the LeafNode supports the group's required_capabilities.*extension type",
)
def _r1(w: World) -> Build:
    a, _b, _c = _required_group(w, extensions=_FULL_EXT)
    return _adds(w, a, w.client(b"d", caps(proposals=_FULL_PROP)), _full(w))


@case(
    "R2",
    "capabilities",
    "§11.1, §7.3",
    "... every required proposal type",
    ValidationError,
    r"§11\.1: the LeafNode supports the group's required_capabilities.*proposal type",
)
def _r2(w: World) -> Build:
    a, _b, _c = _required_group(w, proposals=_FULL_PROP)
    return _adds(w, a, w.client(b"d", caps(extensions=_FULL_EXT)), _full(w))


@case(
    "R3",
    "capabilities",
    "§11.1, §7.3",
    "... every required credential type",
    ValidationError,
    r"§11\.1: the LeafNode supports the group's required_capabilities.*credential type",
)
def _r3(w: World) -> Build:
    a, _b, _c = _required_group(w, credentials=(CredentialType.x509,))
    basic = caps(credentials=(CredentialType.basic,))
    return _adds(w, a, w.client(b"d", basic), w.client(b"e"))


@case(
    "R4",
    "capabilities",
    "§11.1, §7.3",
    "an Update's LeafNode meets the required capabilities",
    ValidationError,
    r"§11\.1: the LeafNode supports the group's required_capabilities",
)
def _r4(w: World) -> Build:
    a, _r, c = _required_group(w, extensions=_FULL_EXT)
    full = caps(extensions=_FULL_EXT, proposals=_FULL_PROP)
    return _update_in(
        w,
        a,
        c,
        lambda a, _c: update_leaf(a, capabilities=caps(proposals=_FULL_PROP)),
        lambda: update_leaf(a, capabilities=full),
    )


@case(
    "R5",
    "capabilities",
    "§11.1, §12.1.7",
    "a GroupContextExtensions proposal whose required_capabilities some member does not "
    "support is invalid",
    ValidationError,
    r"§11\.1: the LeafNode supports the group's required_capabilities.*leaf 1",
)
def _r5(w: World) -> Build:
    # the committer a supports the required extension, the receiver b does not
    a, _b = w.group(2, clients=[w.client(b"a", caps(extensions=_FULL_EXT)), w.client(b"b")])
    return lambda broken: w.msg(
        forge_commit(a, [gce(required_capabilities_ext(extensions=_FULL_EXT if broken else ()))])
    )


@case(
    "R7",
    "capabilities",
    "§11.1, §7.2",
    "capabilities list mls10",
    ValidationError,
    r"§7\.2: capabilities list mls10",
)
def _r7(w: World) -> Build:
    a, _b = w.group(2)
    return _adds(w, a, w.client(b"d", caps(versions=())), w.client(b"e"))


# --- §13.4 extension lists ---------------------------------------------------------------


@case(
    "X1",
    "extensions",
    "§13.4",
    "an extension type appears at most once: LeafNode",
    ValidationError,
    r"§13\.4: an extension type appears at most once",
)
def _x1(w: World) -> Build:
    a, _b = w.group(2)
    d = w.client(b"d", caps(extensions=(CUSTOM_EXT,)))
    return lambda broken: w.msg(
        forge_commit(
            a, [add(key_package(d, leaf_extensions=[_ext(), _ext()] if broken else [_ext()]))]
        )
    )


@case(
    "X2",
    "extensions",
    "§13.4",
    "an extension type appears at most once: KeyPackage",
    ValidationError,
    r"§13\.4: an extension type appears at most once",
)
def _x2(w: World) -> Build:
    a, _b = w.group(2)
    d = w.client(b"d")
    return lambda broken: w.msg(
        forge_commit(
            a,
            [
                add(
                    altered_key_package(
                        d,
                        kp=lambda kp: msgspec.structs.replace(
                            kp, extensions=(_ext(), _ext()) if broken else (_ext(),)
                        ),
                    )
                )
            ],
        )
    )


@case(
    "X3",
    "extensions",
    "§13.4",
    "an extension type appears at most once: GroupContextExtensions proposal",
    ValidationError,
    r"§13\.4: an extension type appears at most once",
)
def _x3(w: World) -> Build:
    a, _b = w.group(2)
    req = required_capabilities_ext()
    return lambda broken: w.msg(forge_commit(a, [gce(*((req, req) if broken else (req,)))]))


@case(
    "X4",
    "extensions",
    "§13.4",
    "the LeafNode supports every GroupContext extension",
    ValidationError,
    r"§13\.4: the LeafNode supports every GroupContext extension",
)
def _x4(w: World) -> Build:
    full = caps(extensions=(CUSTOM_EXT,))
    a, _b = w.group(2, clients=[w.client(n, full) for n in (b"a", b"b")], extensions=[_ext()])
    return _adds(w, a, w.client(b"d"), w.client(b"e", full))
