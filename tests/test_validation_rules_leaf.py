"""Negative tests for docs/VALIDATION.md: LeafNode validation (§7.3), KeyPackage
validation (§10.1) and required capabilities (§11.1).

Each test builds a valid group, lets a member commit (or propose) something that
breaks exactly one rule, re-signs what the change invalidated, and checks that the
receiving member rejects it naming the rule and with its state unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import msgspec

from mlswire.engine.group import Client, Group, ProposalMessage
from mlswire.engine.proposals import ValidationPolicy
from mlswire.errors import ValidationError
from mlswire.schema import (
    Capabilities,
    Certificate,
    Credential,
    CredentialType,
    Extension,
    ExtensionType,
    GroupContextExtensions,
    KeyPackage,
    LeafNode,
    LeafNodeSource,
    MLSMessage,
    Proposal,
    ProposalType,
    ProtocolVersion,
    UpdatePath,
    WireFormat,
)
from mlswire.schema import CipherSuite as SuiteId

from ._forge import (
    add,
    altered_key_package,
    breaks_only,
    by_ref,
    caps,
    encode,
    forge_commit,
    forge_proposal,
    key_package,
    leaf_at,
    make_group,
    rejects,
    required_capabilities_ext,
    sign_leaf,
    update,
    update_leaf,
)

X509 = Credential(
    credential_type=CredentialType.x509, certificates=(Certificate(cert_data=b"DER"),)
)
CUSTOM_EXT = 0xFF0A
CUSTOM_PROPOSAL = 0xF0F0


def x509_client(capabilities: Capabilities | None = None) -> Client:
    keys = Client.generate(b"unused")
    return Client(
        X509,
        1,
        keys.signature_private_key,
        keys.signature_public_key,
        capabilities=capabilities,
    )


def commit_update(make_leaf: Callable[[Group, Group], LeafNode], rule: str) -> None:
    """b (leaf 1) proposes an Update with the leaf ``make_leaf(a, b)`` returns; a and c
    receive it, and c commits it by reference (with the path an Update needs, made for
    the tree the Update gives): a must reject the commit naming ``rule``. Control: the
    same with a valid Update of b (``update_leaf(b)``)."""
    _, (a, b, c) = make_group(3)

    def build(broken: bool) -> bytes:
        message = forge_proposal(b, update(make_leaf(a, b) if broken else update_leaf(b)))
        got = a.process(message)
        assert isinstance(got, ProposalMessage)
        c.process(message)
        return forge_commit(c, [by_ref(got.ref)])

    breaks_only(a, build, ValidationError, rule)


# --- §7.3 LeafNode validation -------------------------------------------------------------


def test_leaf_credential_acceptable() -> None:
    _, (a, b) = make_group(2)
    b.client.policy = ValidationPolicy(
        credential_ok=lambda credential, _key: credential.identity != b"eve"
    )
    rejects(
        b,
        forge_commit(a, [add(key_package(Client.generate(b"eve")))]),
        ValidationError,
        r"§5\.3\.1: the credential is acceptable",
    )


def test_leaf_signature_verifies() -> None:
    _, (a, b) = make_group(2)
    d = Client.generate(b"d")
    # the leaf's signature is broken, the KeyPackage around it signed again
    kp = altered_key_package(
        d, leaf=lambda leaf: leaf, sign_leaf_with=Client.generate(b"x").signature_private_key
    )
    rejects(
        b, forge_commit(a, [add(kp)]), ValidationError, r"§7\.3: the LeafNode signature verifies"
    )


def test_leaf_credential_type_supported_by_all_members() -> None:
    basic_only = caps(credentials=(CredentialType.basic,))
    clients = [Client.generate(n, capabilities=basic_only) for n in (b"a", b"b")]
    _, (a, b) = make_group(2, clients=clients)
    rejects(
        b,
        forge_commit(a, [add(key_package(x509_client()))]),
        ValidationError,
        r"§7\.3: every member supports the new LeafNode's credential type",
    )


def test_leaf_supports_credential_types_in_use() -> None:
    _, (a, b) = make_group(2, clients=[Client.generate(b"a"), x509_client()])
    d = Client.generate(b"d", capabilities=caps(credentials=(CredentialType.basic,)))
    rejects(
        a,
        forge_commit(b, [add(key_package(d))]),
        ValidationError,
        r"§7\.3: the LeafNode supports every credential type in use",
    )


def test_leaf_credential_type_in_own_capabilities() -> None:
    _, (a, b) = make_group(2)
    d = Client.generate(b"d", capabilities=caps(credentials=(CredentialType.x509,)))
    rejects(
        b,
        forge_commit(a, [add(key_package(d))]),
        ValidationError,
        r"§7\.2: the LeafNode's credential type is in its capabilities",
    )


def test_leaf_lifetime_current() -> None:
    _, (a, b) = make_group(2)
    expired = key_package(Client.generate(b"d"), lifetime=(0, 1000))
    rejects(
        b,
        forge_commit(a, [add(expired)]),
        ValidationError,
        r"§7\.3: the current time is within lifetime",
    )


def test_leaf_total_lifetime_at_most_maximum() -> None:
    _, (a, b) = make_group(2)
    b.client.policy = ValidationPolicy(max_lifetime=30 * 24 * 3600)
    rejects(
        b,
        forge_commit(a, [add(key_package(Client.generate(b"d")))]),  # 90 days
        ValidationError,
        r"§7\.2: the total lifetime is at most the application's maximum",
    )


def test_leaf_update_credential_is_successor() -> None:
    commit_update(
        lambda a, b: update_leaf(b, credential=Client.generate(b"mallory").credential),
        r"§5\.3\.1: the new credential is a valid successor of the old one",
    )


def test_leaf_commit_path_credential_is_successor() -> None:
    # c's path leaf carries another credential (signed again, the path secrets
    # encrypted again to the provisional GroupContext it makes); control: c's own
    _, (a, _b, c) = make_group(3)
    mallory = Client.generate(b"mallory").credential

    def build(broken: bool) -> bytes:
        def leaf(path: UpdatePath) -> LeafNode:
            return msgspec.structs.replace(path.leaf_node, credential=mallory)

        return forge_commit(c, [], leaf=leaf if broken else None)

    breaks_only(
        a,
        build,
        ValidationError,
        r"§5\.3\.1: the new credential is a valid successor of the old one",
    )


def test_add_proposal_leaf_signature_on_receipt() -> None:
    # an Add proposal message: its leaf's own signature is checked on receipt. The leaf
    # is signed with another key, the KeyPackage (over that leaf) with d's: only the
    # leaf signature fails. Control: the leaf signed with d's key
    _, (a, b) = make_group(2)
    d, x = Client.generate(b"d"), Client.generate(b"x")
    breaks_only(
        b,
        lambda broken: forge_proposal(
            a,
            add(
                altered_key_package(
                    d,
                    leaf=lambda leaf: leaf,
                    sign_leaf_with=x.signature_private_key if broken else None,
                )
            ),
        ),
        ValidationError,
        r"§7\.3: the LeafNode signature verifies.*Add\.key_package\.leaf_node",
    )


def test_add_proposal_credential_on_receipt() -> None:
    # b's policy refuses the credential "eve"; control: the same Add of "dave"
    _, (a, b) = make_group(2)
    b.client.policy = ValidationPolicy(
        credential_ok=lambda credential, _key: credential.identity != b"eve"
    )
    breaks_only(
        b,
        lambda broken: forge_proposal(
            a, add(key_package(Client.generate(b"eve" if broken else b"dave")))
        ),
        ValidationError,
        r"§5\.3\.1: the credential is acceptable.*Add\.key_package",
    )


def test_leaf_extensions_in_capabilities() -> None:
    _, (a, b) = make_group(2)
    kp = key_package(
        Client.generate(b"d"),
        leaf_extensions=[Extension(extension_type=ExtensionType(CUSTOM_EXT), extension_data=b"")],
    )
    rejects(
        b,
        forge_commit(a, [add(kp)]),
        ValidationError,
        r"§7\.3: LeafNode extensions are listed in its capabilities",
    )


def test_leaf_source_key_package() -> None:
    # the KeyPackage's leaf says source update (which has no lifetime), signed as an
    # update leaf is (group_id, and the leaf index 2 it is added at) so that its
    # signature verifies; control: the unchanged leaf
    _, (a, b) = make_group(2)
    d = Client.generate(b"d")

    def build(broken: bool) -> bytes:
        def leaf(leaf: LeafNode) -> LeafNode:
            changed = msgspec.structs.replace(
                leaf, leaf_node_source=LeafNodeSource.update, lifetime=None
            )
            return sign_leaf(d.signature_private_key, changed, a.group_id, 2)

        return forge_commit(a, [add(altered_key_package(d, kp=_with_leaf(leaf, broken)))])

    breaks_only(b, build, ValidationError, r"§7\.3: leaf_node_source matches")


def test_leaf_source_update() -> None:
    commit_update(
        lambda a, b: update_leaf(b, leaf_node_source=LeafNodeSource.commit, parent_hash=b""),
        r"§7\.3: leaf_node_source matches",
    )


def test_leaf_update_encryption_key_differs() -> None:
    commit_update(
        lambda a, b: update_leaf(b, encryption_key=leaf_at(b, 1).encryption_key),
        r"§7\.3: an Update's encryption_key differs from the leaf's",
    )


def test_leaf_source_commit() -> None:
    # c's path leaf says source update (no parent_hash); control: source commit
    _, (a, _b, c) = make_group(3)

    def build(broken: bool) -> bytes:
        def leaf(path: UpdatePath) -> LeafNode:
            return msgspec.structs.replace(
                path.leaf_node, leaf_node_source=LeafNodeSource.update, parent_hash=None
            )

        return forge_commit(c, [], leaf=leaf if broken else None)

    breaks_only(a, build, ValidationError, r"§7\.3: leaf_node_source matches")


def test_leaf_signature_key_unique() -> None:
    # b's Update carries a's signature key, signed with a's private key so that the leaf
    # signature itself verifies
    commit_update(
        lambda a, b: update_leaf(
            b, a.client.signature_private_key, signature_key=a.client.signature_public_key
        ),
        r"§7\.3: signature_key is unique among the members",
    )


def test_leaf_encryption_key_unique() -> None:
    _, (a, b) = make_group(2)
    taken = leaf_at(a, 0).encryption_key
    kp = altered_key_package(
        Client.generate(b"d"), leaf=lambda leaf: msgspec.structs.replace(leaf, encryption_key=taken)
    )
    rejects(
        b,
        forge_commit(a, [add(kp)]),
        ValidationError,
        r"§7\.3: encryption_key is unique in the tree",
    )


# --- §10.1 KeyPackage validation ----------------------------------------------------------


def _with_leaf(
    change: Callable[[LeafNode], LeafNode], broken: bool
) -> Callable[[KeyPackage], KeyPackage]:
    return lambda kp: msgspec.structs.replace(
        kp, leaf_node=change(kp.leaf_node) if broken else kp.leaf_node
    )


def _kp_commit(
    a: Group, d: Client, change: Callable[[KeyPackage], KeyPackage]
) -> Callable[[bool], bytes]:
    """a's Commit adding one of d's KeyPackages, ``change``d and signed again with d's
    key when ``broken`` (control: only signed again)."""
    return lambda broken: forge_commit(
        a, [add(altered_key_package(d, kp=change if broken else None))]
    )


def test_key_package_version() -> None:
    _, (a, b) = make_group(2)
    change = _kp_commit(
        a,
        Client.generate(b"d"),
        lambda kp: msgspec.structs.replace(kp, version=ProtocolVersion.reserved),
    )
    breaks_only(b, change, ValidationError, r"§10\.1: KeyPackage version is mls10")


def test_key_package_cipher_suite() -> None:
    # d's suite-1 KeyPackage says suite 3 (the same signature scheme and KEM, so the
    # signature and keys still fit): only the field is wrong
    _, (a, b) = make_group(2)
    change = _kp_commit(
        a, Client.generate(b"d"), lambda kp: msgspec.structs.replace(kp, cipher_suite=SuiteId(3))
    )
    breaks_only(b, change, ValidationError, r"§10\.1: KeyPackage cipher_suite is the group's")


def _zero_signature(kp: KeyPackage) -> KeyPackage:
    return msgspec.structs.replace(kp, signature=bytes(len(kp.signature)))


def _key_package(d: Client, broken: bool) -> KeyPackage:
    """One of d's KeyPackages, with a zeroed signature when ``broken``."""
    kp = key_package(d)
    return _zero_signature(kp) if broken else kp


def test_key_package_signature() -> None:
    _, (a, b) = make_group(2)
    d = Client.generate(b"d")
    breaks_only(
        b,
        lambda broken: forge_commit(a, [add(_key_package(d, broken))]),
        ValidationError,
        r"§10\.1: KeyPackage signature verifies",
    )


def test_key_package_init_key_differs() -> None:
    _, (a, b) = make_group(2)
    change = _kp_commit(
        a,
        Client.generate(b"d"),
        lambda kp: msgspec.structs.replace(kp, init_key=kp.leaf_node.encryption_key),
    )
    breaks_only(
        b, change, ValidationError, r"§10\.1: init_key differs from the leaf's encryption_key"
    )


def test_key_package_in_add_proposal_message() -> None:
    # an Add proposal message is checked on receipt, before any commit
    _, (a, b) = make_group(2)
    d = Client.generate(b"d")
    breaks_only(
        b,
        lambda broken: forge_proposal(a, add(_key_package(d, broken))),
        ValidationError,
        r"§10\.1: KeyPackage signature verifies",
    )


# --- §11.1 required capabilities (and the suite / version every member supports) ----------


def _required_group(**required: Sequence[int]) -> tuple[list[Client], list[Group]]:
    full = caps(extensions=(CUSTOM_EXT,), proposals=(CUSTOM_PROPOSAL,))
    clients = [Client.generate(n, capabilities=full) for n in (b"a", b"b", b"c")]
    return make_group(3, clients=clients, extensions=[required_capabilities_ext(**required)])


def test_required_extension_missing() -> None:
    _, (a, b, _c) = _required_group(extensions=(CUSTOM_EXT,))
    d = Client.generate(b"d", capabilities=caps(proposals=(CUSTOM_PROPOSAL,)))
    rejects(
        b,
        forge_commit(a, [add(key_package(d))]),
        ValidationError,
        r"§11\.1: the LeafNode supports the group's required_capabilities.*extension type",
    )


def test_required_proposal_missing() -> None:
    _, (a, b, _c) = _required_group(proposals=(CUSTOM_PROPOSAL,))
    d = Client.generate(b"d", capabilities=caps(extensions=(CUSTOM_EXT,)))
    rejects(
        b,
        forge_commit(a, [add(key_package(d))]),
        ValidationError,
        r"§11\.1: the LeafNode supports the group's required_capabilities.*proposal type",
    )


def test_required_credential_missing() -> None:
    _, (a, b, _c) = _required_group(credentials=(CredentialType.x509,))
    d = Client.generate(b"d", capabilities=caps(credentials=(CredentialType.basic,)))
    rejects(
        b,
        forge_commit(a, [add(key_package(d))]),
        ValidationError,
        r"§11\.1: the LeafNode supports the group's required_capabilities.*credential type",
    )


def test_required_capabilities_update_leaf() -> None:
    _, (a, b, c) = _required_group(extensions=(CUSTOM_EXT,))
    # control: b's Update keeps its capabilities
    full = caps(extensions=(CUSTOM_EXT,), proposals=(CUSTOM_PROPOSAL,))

    def build(broken: bool) -> bytes:
        capabilities = caps(proposals=(CUSTOM_PROPOSAL,)) if broken else full
        message = forge_proposal(b, update(update_leaf(b, capabilities=capabilities)))
        got = a.process(message)
        assert isinstance(got, ProposalMessage)
        c.process(message)
        return forge_commit(c, [by_ref(got.ref)])

    breaks_only(
        a,
        build,
        ValidationError,
        r"§11\.1: the LeafNode supports the group's required_capabilities",
    )


def test_required_capabilities_gce_unsupported_by_member() -> None:
    # the committer a supports the required extension (so its path leaf meets the
    # requirement), b does not; control: a requirement both meet
    clients = [
        Client.generate(b"a", capabilities=caps(extensions=(CUSTOM_EXT,))),
        Client.generate(b"b"),
    ]
    _, (a, b) = make_group(2, clients=clients)

    def build(broken: bool) -> bytes:
        required = required_capabilities_ext(extensions=(CUSTOM_EXT,) if broken else ())
        gce = Proposal(
            proposal_type=ProposalType.group_context_extensions,
            group_context_extensions=GroupContextExtensions(extensions=(required,)),
        )
        return forge_commit(a, [gce])

    breaks_only(
        b,
        build,
        ValidationError,
        r"§11\.1: the LeafNode supports the group's required_capabilities.*leaf 1",
    )


def test_capabilities_list_group_cipher_suite() -> None:
    # Beyond a MUST (§7.2 asks only for the required_capabilities check): refused by a
    # receiver in strict mode; the default accepts it (test_group_api's leniency test).
    strict = Client.generate(b"member1", policy=ValidationPolicy(strict=True))
    _, (a, b) = make_group(2, clients=[Client.generate(b"member0"), strict])
    d = Client.generate(b"d", capabilities=caps(suites=(2,)))
    rejects(
        b,
        forge_commit(a, [add(key_package(d))]),
        ValidationError,
        r"§7\.2 \(strict\): capabilities list the group's cipher suite",
    )


def test_capabilities_list_mls10() -> None:
    _, (a, b) = make_group(2)
    d = Client.generate(b"d", capabilities=caps(versions=()))
    rejects(
        b,
        forge_commit(a, [add(key_package(d))]),
        ValidationError,
        r"§7\.2: capabilities list mls10",
    )


def test_key_package_version_matches_message() -> None:
    # §10: a KeyPackage received in an MLSMessage has the MLSMessage's version. Not
    # breakable alone: the MLSMessage's version must be mls10 (F1) and so must the
    # KeyPackage's (K1), so a mismatch breaks one of those too (here K1: the KeyPackage
    # says reserved). The test shows the mismatch is what is reported, before K1, and
    # that the same MLSMessage without the change is used to add d.
    _, (a, _b) = make_group(2)
    d = Client.generate(b"d")

    def data(broken: bool) -> bytes:
        change = (
            (lambda kp: msgspec.structs.replace(kp, version=ProtocolVersion.reserved))
            if broken
            else None
        )
        kp = altered_key_package(d, kp=change)
        return encode(MLSMessage(wire_format=WireFormat.mls_key_package, key_package=kp))

    before = a.to_bytes()
    rejects(
        lambda: a.add_members([data(True)]),
        None,
        ValidationError,
        r"§10: the KeyPackage's version is its MLSMessage's",
    )
    assert a.to_bytes() == before
    assert a.add_members([data(False)]).welcome is not None


def test_key_package_checked_before_adding() -> None:
    # §10.1: a downloaded KeyPackage is validated before it is used to add its client;
    # control: the same KeyPackage with its signature is used
    _, (a, _b) = make_group(2)
    kp = key_package(Client.generate(b"d"))

    def data(broken: bool) -> bytes:
        value = _zero_signature(kp) if broken else kp
        return encode(MLSMessage(wire_format=WireFormat.mls_key_package, key_package=value))

    before = a.to_bytes()
    rejects(
        lambda: a.add_members([data(True)]),
        None,
        ValidationError,
        r"§10\.1: KeyPackage signature verifies",
    )
    assert a.to_bytes() == before and a.pending_commit is None
    assert a.add_members([data(False)]).welcome is not None


# --- §13.4 extensions -----------------------------------------------------------------------


def _ext(t: int = CUSTOM_EXT) -> Extension:
    return Extension(extension_type=ExtensionType(t), extension_data=b"")


def test_extensions_unique_in_leaf_node() -> None:
    _, (a, b) = make_group(2)
    d = Client.generate(b"d", capabilities=caps(extensions=(CUSTOM_EXT,)))
    kp = key_package(d, leaf_extensions=[_ext(), _ext()])
    rejects(
        b,
        forge_commit(a, [add(kp)]),
        ValidationError,
        r"§13\.4: an extension type appears at most once",
    )


def test_extensions_unique_in_key_package() -> None:
    _, (a, b) = make_group(2)
    kp = altered_key_package(
        Client.generate(b"d"),
        kp=lambda kp: msgspec.structs.replace(kp, extensions=(_ext(), _ext())),
    )
    rejects(
        b,
        forge_commit(a, [add(kp)]),
        ValidationError,
        r"§13\.4: an extension type appears at most once",
    )


def test_extensions_unique_in_group_context_extensions() -> None:
    # control: the extension once
    _, (a, b) = make_group(2)
    required = required_capabilities_ext()

    def build(broken: bool) -> bytes:
        gce = Proposal(
            proposal_type=ProposalType.group_context_extensions,
            group_context_extensions=GroupContextExtensions(
                extensions=(required, required) if broken else (required,)
            ),
        )
        return forge_commit(a, [gce])

    breaks_only(b, build, ValidationError, r"§13\.4: an extension type appears at most once")


def test_new_member_supports_group_context_extensions() -> None:
    full = caps(extensions=(CUSTOM_EXT,))
    clients = [Client.generate(n, capabilities=full) for n in (b"a", b"b")]
    _, (a, b) = make_group(2, clients=clients, extensions=[_ext()])
    rejects(
        b,
        forge_commit(a, [add(key_package(Client.generate(b"d")))]),
        ValidationError,
        r"§13\.4: the LeafNode supports every GroupContext extension",
    )
