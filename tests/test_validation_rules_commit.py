"""Negative tests for docs/VALIDATION.md: proposals (§12.1), proposal list validation
(§12.2), commit processing (§12.4.2), PSK rules (§8.4) and external commits
(§12.4.3.2), as seen by a member receiving the message."""

from __future__ import annotations

import os
from collections.abc import Callable

import msgspec

from mlswire.crypto import labeled
from mlswire.engine import psk as psk_mod
from mlswire.engine import treekem
from mlswire.engine.group import (
    Client,
    Group,
    GroupConfig,
    ProposalMessage,
    external_proposal,
    external_senders_extension,
)
from mlswire.engine.proposals import ValidationPolicy
from mlswire.errors import CryptoError, StateError, ValidationError
from mlswire.schema import CipherSuite as SuiteId
from mlswire.schema import (
    Credential,
    CredentialType,
    Extension,
    ExtensionType,
    GroupContextExtensions,
    HPKECiphertext,
    LeafNode,
    PreSharedKey,
    PreSharedKeyID,
    Proposal,
    ProposalType,
    ProtocolVersion,
    PSKType,
    PublicMessage,
    ReInit,
    Remove,
    ResumptionPSKUsage,
    UpdatePath,
)

from ._forge import (
    CONFIRMATION_TAG,
    PUBLIC,
    add,
    breaks_only,
    by_ref,
    by_value,
    caps,
    encode_public,
    external_init,
    forge_commit,
    forge_external_commit,
    forge_proposal,
    key_package,
    leaf_at,
    make_group,
    path_of,
    public,
    real_commit,
    rejects,
    required_capabilities_ext,
    resign,
    staged,
    update,
    update_leaf,
    with_path,
)

CUSTOM_PROPOSAL = 0xF0F0
CUSTOM_EXT = 0xFF0A
CUSTOM = caps(extensions=(CUSTOM_EXT,))


def remove(leaf: int) -> Proposal:
    return Proposal(proposal_type=ProposalType.remove, remove=Remove(removed=leaf))


def psk(psk_id: PreSharedKeyID) -> Proposal:
    return Proposal(proposal_type=ProposalType.psk, psk=PreSharedKey(psk=psk_id))


def external_psk(name: bytes = b"psk", nonce_len: int = 32) -> PreSharedKeyID:
    return psk_mod.external_psk_id(name, bytes(nonce_len))


def resumption_psk(usage: ResumptionPSKUsage, group: Group) -> PreSharedKeyID:
    return PreSharedKeyID(
        psktype=PSKType.resumption,
        usage=usage,
        psk_group_id=group.group_id,
        psk_epoch=group.epoch,
        psk_nonce=bytes(32),
    )


def gce(*extensions: Extension) -> Proposal:
    return Proposal(
        proposal_type=ProposalType.group_context_extensions,
        group_context_extensions=GroupContextExtensions(extensions=extensions),
    )


def reinit(
    version: ProtocolVersion = ProtocolVersion.mls10, extensions: tuple[Extension, ...] = ()
) -> Proposal:
    return Proposal(
        proposal_type=ProposalType.reinit,
        reinit=ReInit(
            group_id=b"next", version=version, cipher_suite=SuiteId(1), extensions=extensions
        ),
    )


# --- §12.1 individual proposals ------------------------------------------------------------


def test_proposal_remove_names_member() -> None:
    # control: the Remove of member c
    _, (a, b, _c) = make_group(3)
    breaks_only(
        b,
        lambda broken: forge_commit(a, [remove(5 if broken else 2)]),
        ValidationError,
        r"§12\.1\.3: Remove names a member",
    )


def test_proposal_reinit_no_downgrade() -> None:
    _, (a, b) = make_group(2)
    rejects(
        b,
        forge_commit(a, [reinit(ProtocolVersion.reserved)]),
        ValidationError,
        r"§12\.1\.5: ReInit does not downgrade the version",
    )


def test_proposal_reinit_extension_types_unique() -> None:
    _, (a, b) = make_group(2)
    required = required_capabilities_ext()
    rejects(
        b,
        forge_commit(a, [reinit(extensions=(required, required))]),
        ValidationError,
        r"§13\.4: an extension type appears at most once.*proposals\[0\]",
    )


def test_proposal_gce_extensions_supported() -> None:
    # the committer a supports the extension (so its path leaf does, X4), b does not;
    # control: an extension type every member supports
    clients = [Client.generate(b"a", capabilities=CUSTOM), Client.generate(b"b")]
    _, (a, b) = make_group(2, clients=clients)
    custom = Extension(extension_type=ExtensionType(CUSTOM_EXT), extension_data=b"")
    breaks_only(
        b,
        lambda broken: forge_commit(a, [gce(custom if broken else required_capabilities_ext())]),
        ValidationError,
        r"§12\.1\.7: every member supports the new group extensions",
    )


def test_proposal_external_init_not_proposed() -> None:
    _, (a, b) = make_group(2)
    rejects(
        b,
        forge_proposal(a, external_init(a)),
        ValidationError,
        r"§12\.1\.6: ExternalInit only in an external Commit",
    )


def _with_external_sender() -> tuple[Client, Group, Group]:
    server = Client.generate(b"server")
    ext = external_senders_extension(
        [
            (
                server.signature_public_key,
                Credential(credential_type=CredentialType.basic, identity=b"server"),
            )
        ]
    )
    _, (a, b) = make_group(2, extensions=[ext])
    return server, a, b


def test_proposal_update_from_member() -> None:
    # Not breakable alone: every sender that is not a member is barred from sending an
    # Update by a rule of its own (external: P6; new_member_proposal: F9;
    # new_member_commit: F8, or E6 by value in its external Commit). This external
    # sender's Update also breaks P6; the engine checks this rule first.
    server, a, b = _with_external_sender()
    leaf = update_leaf(b)
    message = external_proposal(
        1, server.signature_private_key, 0, a.group_id, a.epoch, update(leaf)
    )
    rejects(a, message, ValidationError, r"§12\.1\.2: an Update comes from a member")


def test_proposal_external_sender_types() -> None:
    server, a, _b = _with_external_sender()
    custom = Proposal(proposal_type=ProposalType(CUSTOM_PROPOSAL), custom=b"x")
    message = external_proposal(1, server.signature_private_key, 0, a.group_id, a.epoch, custom)
    rejects(
        a,
        message,
        ValidationError,
        r"§12\.1\.8: external senders propose Add, Remove, PSK, ReInit or GroupContextExtensions",
    )


def test_proposal_external_authorized() -> None:
    server, a, _b = _with_external_sender()
    a.client.policy = ValidationPolicy(
        external_proposal_ok=lambda p, _s: p.proposal_type != ProposalType.remove
    )
    message = external_proposal(1, server.signature_private_key, 0, a.group_id, a.epoch, remove(1))
    rejects(a, message, ValidationError, r"§12\.1\.8: the external proposal is authorized")


def test_proposal_gce_external_sender_credential() -> None:
    # control: the same extension naming an external sender the policy accepts
    _, (a, b) = make_group(2)
    b.client.policy = ValidationPolicy(
        credential_ok=lambda credential, _key: credential.identity != b"eve"
    )

    def build(broken: bool) -> bytes:
        sender = Client.generate(b"eve" if broken else b"server")
        ext = external_senders_extension([(sender.signature_public_key, sender.credential)])
        return forge_commit(a, [gce(ext)])

    breaks_only(
        b,
        build,
        ValidationError,
        r"§5\.3\.1: the credential is acceptable at proposals\[0\]\.external_senders\[0\]",
    )


def test_proposal_gce_external_senders_decode() -> None:
    # control: an external_senders extension that decodes
    _, (a, b) = make_group(2)
    server = Client.generate(b"server")
    good = external_senders_extension([(server.signature_public_key, server.credential)])
    junk = Extension(extension_type=ExtensionType.external_senders, extension_data=b"\x05junk")
    breaks_only(
        b,
        lambda broken: forge_commit(a, [gce(junk if broken else good)]),
        ValidationError,
        r"§12\.1\.8\.1: external_senders decodes",
    )


# --- §12.2 proposal list validation ---------------------------------------------------------


def test_list_no_update_from_committer() -> None:
    # b commits its own Update (proposed through the engine, so that b knows it);
    # control: b commits c's Update instead
    _, (a, b, c) = make_group(3)

    def build(broken: bool) -> bytes:
        proposer = b if broken else c
        message = proposer.propose_update()
        for g in (a, b, c):
            if g is not proposer:
                g.process(message)
        ref = next(
            p.ref for p in b.pending_proposals if p.sender.leaf_index == proposer.own_leaf_index
        )
        return forge_commit(b, [by_ref(ref)])

    breaks_only(a, build, ValidationError, r"§12\.2: no Update from the committer")


def test_list_update_by_value() -> None:
    # control: the same Commit without the Update (its path updates b's leaf)
    _, (a, b) = make_group(2)
    breaks_only(
        a,
        lambda broken: forge_commit(b, [update(update_leaf(b))] if broken else []),
        ValidationError,
        r"§12\.2: no Update from the committer",
    )


def test_list_no_remove_of_committer() -> None:
    # control: a removes c instead
    _, (a, b, _c) = make_group(3)
    breaks_only(
        b,
        lambda broken: forge_commit(a, [remove(0 if broken else 2)]),
        ValidationError,
        r"§12\.2: no Remove of the committer",
    )


def test_list_one_update_or_remove_per_leaf() -> None:
    # control: one Remove of leaf 2
    _, (a, b, _c) = make_group(3)
    breaks_only(
        b,
        lambda broken: forge_commit(a, [remove(2), remove(2)] if broken else [remove(2)]),
        ValidationError,
        r"§12\.2: one Update or Remove per leaf",
    )


def test_list_no_two_adds_for_one_client() -> None:
    _, (a, b) = make_group(2)
    d = Client.generate(b"d")
    rejects(
        b,
        forge_commit(a, [add(key_package(d)), add(key_package(d))]),
        ValidationError,
        r"§12\.2: no two Adds for the same client",
    )


def test_list_no_add_of_existing_member() -> None:
    clients, (a, _b, c) = make_group(3)
    rejects(
        c,
        forge_commit(a, [add(key_package(clients[1]))]),
        ValidationError,
        r"§12\.2: no Add for a client already in the group",
    )


def test_list_add_of_removed_member_is_allowed() -> None:
    # the exception the rule makes: a Remove of the same client in the list (positive
    # control for the row above, so that the check is not simply "signature key known")
    clients, (a, _b, c) = make_group(3)
    out = a.commit([remove(1), add(key_package(clients[1]))])
    assert [m.leaf_index for m in staged(c.process(out.commit)).added] == [1]


def test_list_no_duplicate_psk() -> None:
    _, (a, b) = make_group(2)
    rejects(
        b,
        forge_commit(a, [psk(external_psk()), psk(external_psk())]),
        ValidationError,
        r"§12\.2: the same PreSharedKeyID must not be proposed twice",
    )


def test_list_one_gce() -> None:
    # control: one GroupContextExtensions
    _, (a, b) = make_group(2)
    breaks_only(
        b,
        lambda broken: forge_commit(a, [gce(), gce()] if broken else [gce()]),
        ValidationError,
        r"§12\.2: at most one GroupContextExtensions",
    )


def test_list_reinit_alone() -> None:
    # control: the ReInit alone
    _, (a, b, _c) = make_group(3)
    breaks_only(
        b,
        lambda broken: forge_commit(a, [reinit(), remove(2)] if broken else [reinit()]),
        ValidationError,
        r"§12\.2: a ReInit is the only proposal of its Commit",
    )


def test_list_no_external_init() -> None:
    # a well-formed ExternalInit (to the group's external_pub) in a member's Commit;
    # control: the Commit without it
    _, (a, b) = make_group(2)
    breaks_only(
        b,
        lambda broken: forge_commit(a, [external_init(a)] if broken else []),
        ValidationError,
        r"§12\.2: only an external Commit holds ExternalInit",
    )


def test_list_proposal_type_supported() -> None:
    # c does not support the custom type; control: the Commit without the proposal
    full = caps(proposals=(CUSTOM_PROPOSAL,))
    clients = [
        Client.generate(b"a", capabilities=full),
        Client.generate(b"b", capabilities=full),
        Client.generate(b"c"),
    ]
    _, (a, b, _c) = make_group(3, clients=clients)
    custom = Proposal(proposal_type=ProposalType(CUSTOM_PROPOSAL), custom=b"x")
    breaks_only(
        b,
        lambda broken: forge_commit(a, [custom] if broken else []),
        ValidationError,
        r"§12\.2: every member supports the proposal type",
    )


def test_list_reference_received_this_epoch() -> None:
    _, (a, b) = make_group(2)
    rejects(
        b,
        forge_commit(a, [by_ref(bytes(32))]),
        ValidationError,
        r"§12\.4: a proposal committed by reference was received in this epoch",
    )


# --- §12.4.2 processing a commit -----------------------------------------------------------


def test_commit_path_required_when_empty() -> None:
    _, (a, b) = make_group(2)
    rejects(
        b, forge_commit(a, [], with_path=False), ValidationError, r"§12\.4: the Commit needs a path"
    )


def test_commit_path_required_with_remove() -> None:
    _, (a, b, _c) = make_group(3)
    rejects(
        b,
        forge_commit(a, [remove(2)], with_path=False),
        ValidationError,
        r"§12\.4: the Commit needs a path",
    )


def test_commit_path_leaf_encryption_key_differs() -> None:
    # the path leaf keeps c's current key (signed again, the path secrets encrypted
    # again to the provisional GroupContext it makes); control: a fresh key
    _, (a, _b, c) = make_group(3)
    current = leaf_at(c, 2).encryption_key

    def build(broken: bool) -> bytes:
        def leaf(path: UpdatePath) -> LeafNode:
            return msgspec.structs.replace(path.leaf_node, encryption_key=current)

        return forge_commit(c, [], leaf=leaf if broken else None)

    breaks_only(
        a,
        build,
        ValidationError,
        r"§12\.4\.2: the UpdatePath leaf's encryption_key differs from the committer's current leaf",
    )


def test_commit_path_keys_new_to_tree() -> None:
    # c's new path starts from the path secret of its previous commit: the key it
    # derives for the root is the one the tree holds (parent hashes, ciphertexts and
    # derived keys all as they should be). Control: a fresh path secret.
    _, (a, b, c) = make_group(3)
    draws: list[bytes] = []

    def recording(n: int) -> bytes:
        draws.append(os.urandom(n))
        return draws[-1]

    c._rng = recording
    out = c.update()
    c.merge_pending_commit()
    for g in (a, b):
        staged(g.process(out.commit)).merge()
    secret = draws[0]  # create_update_path draws the first path secret first
    tree = c._state.tree
    root = tree.parent_node(tree.root)
    assert tree.filtered_direct_path(2) == [tree.root] and root is not None
    assert treekem.node_key_pair(c._state.suite, secret)[1] == root.encryption_key

    def build(broken: bool) -> bytes:
        again = [secret] if broken else []
        return forge_commit(c, [], rng=lambda n: again.pop() if again else os.urandom(n))

    breaks_only(a, build, ValidationError, r"§12\.4\.2: UpdatePath public keys are new to the tree")


def test_commit_path_keys_distinct() -> None:
    # the path leaf takes the key of nodes[0] (derived from its path secret as it
    # should be); control: a fresh leaf key
    _, (a, _b, c) = make_group(3)

    def build(broken: bool) -> bytes:
        def leaf(path: UpdatePath) -> LeafNode:
            return msgspec.structs.replace(
                path.leaf_node, encryption_key=path.nodes[0].encryption_key
            )

        return forge_commit(c, [], leaf=leaf if broken else None)

    breaks_only(
        a,
        build,
        ValidationError,
        r"§12\.4\.2: UpdatePath public keys are new to the tree.*nodes\[0\]",
    )


def test_commit_path_length() -> None:
    _, (a, _b, c) = make_group(3)
    pm = real_commit(c)
    path = path_of(pm)
    _, fresh = c._state.suite.generate_key_pair()
    extra = msgspec.structs.replace(path.nodes[0], encryption_key=fresh)
    longer = msgspec.structs.replace(path, nodes=(*path.nodes, extra))
    rejects(
        a,
        resign(c, with_path(pm, longer)),
        ValidationError,
        r"§7\.6: one UpdatePathNode per node of the filtered direct path",
    )


def test_commit_path_checked_by_removed_member() -> None:
    # b is removed by c's commit: it derives nothing of the new epoch, but checks the
    # path as a and c do, so that it does not take a commit they refuse for its removal.
    # Control: the same commit with the right parent hash, which b takes.
    _, (_a, b, c) = make_group(3)

    def build(broken: bool) -> bytes:
        def leaf(path: UpdatePath) -> LeafNode:
            return msgspec.structs.replace(path.leaf_node, parent_hash=bytes(32))

        return forge_commit(c, [remove(1)], leaf=leaf if broken else None)

    breaks_only(
        b, build, ValidationError, r"§7\.9\.2: the committer's leaf parent_hash matches the path"
    )


def test_commit_path_leaf_parent_hash() -> None:
    _, (a, _b, c) = make_group(3)

    def build(broken: bool) -> bytes:
        def leaf(path: UpdatePath) -> LeafNode:
            return msgspec.structs.replace(path.leaf_node, parent_hash=bytes(32))

        return forge_commit(c, [], leaf=leaf if broken else None)

    breaks_only(
        a, build, ValidationError, r"§7\.9\.2: the committer's leaf parent_hash matches the path"
    )


def test_commit_path_ciphertext_count() -> None:
    _, (a, _b, c) = make_group(3)
    pm = real_commit(c)
    path = path_of(pm)
    node = path.nodes[0]
    assert len(node.encrypted_path_secret) == 2  # leaves 0 and 1 (node 1 is blank)
    nodes = (
        msgspec.structs.replace(node, encrypted_path_secret=node.encrypted_path_secret[:1]),
        *path.nodes[1:],
    )
    rejects(
        a,
        resign(c, with_path(pm, msgspec.structs.replace(path, nodes=nodes))),
        ValidationError,
        r"§7\.6: one ciphertext per node of the copath resolution",
    )


def test_commit_path_ciphertext_count_every_node() -> None:
    # c (leaf 2) commits in a group of 4: a (leaf 0) decrypts at nodes[1] (node 3), so a
    # extra ciphertext at nodes[0] (node 5, for leaf 3) is not one a would ever open.
    _, (a, _b, c, _d) = make_group(4)
    pm = real_commit(c)
    path = path_of(pm)
    node = path.nodes[0]
    nodes = (
        msgspec.structs.replace(
            node, encrypted_path_secret=(*node.encrypted_path_secret, node.encrypted_path_secret[0])
        ),
        *path.nodes[1:],
    )
    rejects(
        a,
        resign(c, with_path(pm, msgspec.structs.replace(path, nodes=nodes))),
        ValidationError,
        r"§7\.6: one ciphertext per node of the copath resolution.*node 5",
    )


def test_commit_path_secret_decrypts() -> None:
    _, (a, _b, c) = make_group(3)
    pm = real_commit(c)
    path = path_of(pm)
    node = path.nodes[0]
    ct = node.encrypted_path_secret[0]
    broken = msgspec.structs.replace(
        ct, ciphertext=bytes([ct.ciphertext[0] ^ 1]) + ct.ciphertext[1:]
    )
    nodes = (
        msgspec.structs.replace(
            node, encrypted_path_secret=(broken, *node.encrypted_path_secret[1:])
        ),
        *path.nodes[1:],
    )
    rejects(
        a,
        resign(c, with_path(pm, msgspec.structs.replace(path, nodes=nodes))),
        CryptoError,
        r"§12\.4\.2: the UpdatePath path secret for node \d+ does not decrypt",
    )


def test_commit_path_derived_keys_match() -> None:
    # The root's path secret is replaced, for receiver a, by a random one that is
    # correctly encrypted (to a's leaf key, under the provisional GroupContext a will
    # compute): it decrypts, but the key pair it derives is not the path's.
    _, (a, _b, c) = make_group(3)
    pm = real_commit(c)
    path = path_of(pm)
    st = a._state
    template = msgspec.structs.replace(st.context, epoch=st.context.epoch + 1)
    merged = treekem.merge_update_path(st.tree, 2, path, st.context.group_id)
    _, ctx_bytes = treekem._provisional(template, merged)
    kem_output, ciphertext = labeled.encrypt_with_label(
        st.suite, leaf_at(a, 0).encryption_key, "UpdatePathNode", ctx_bytes, bytes(32)
    )
    node = path.nodes[0]
    ours = HPKECiphertext(kem_output=kem_output, ciphertext=ciphertext)
    nodes = (
        msgspec.structs.replace(
            node, encrypted_path_secret=(ours, *node.encrypted_path_secret[1:])
        ),
        *path.nodes[1:],
    )
    rejects(
        a,
        resign(c, with_path(pm, msgspec.structs.replace(path, nodes=nodes))),
        ValidationError,
        r"§7\.5: derived node public keys equal the UpdatePath's",
    )


def test_commit_confirmation_tag() -> None:
    _, (a, _b, c) = make_group(3)
    pm = real_commit(c)
    tag = pm.auth.confirmation_tag
    assert tag is not None
    bad = msgspec.structs.replace(
        pm, auth=msgspec.structs.replace(pm.auth, confirmation_tag=bytes([tag[0] ^ 1]) + tag[1:])
    )
    rejects(a, resign(c, bad), ValidationError, CONFIRMATION_TAG)


def test_commit_reinit_stops_sending() -> None:
    _, (a, b) = make_group(2)
    out = a.commit([reinit()])
    staged(b.process(out.commit)).merge()
    rejects(lambda: b.encrypt(b"after reinit"), None, StateError, r"can no longer be used")


# --- §8.4 pre-shared keys ------------------------------------------------------------------


def test_psk_available() -> None:
    # a holds "only-a", b does not; control: a PSK both hold
    _, (a, b) = make_group(2)
    a.client.add_external_psk(b"only-a", bytes(32))
    for g in (a, b):
        g.client.add_external_psk(b"shared", bytes(32))
    breaks_only(
        b,
        lambda broken: forge_commit(a, [psk(external_psk(b"only-a" if broken else b"shared"))]),
        StateError,
        r"external PSK [0-9a-f]+ is not available",
    )


def test_psk_nonce_length() -> None:
    # a PSK both hold, named with a 5-byte nonce; control: a 32-byte nonce
    _, (a, b) = make_group(2)
    for g in (a, b):
        g.client.add_external_psk(b"psk", bytes(32))
    breaks_only(
        b,
        lambda broken: forge_commit(a, [psk(external_psk(nonce_len=5 if broken else 32))]),
        ValidationError,
        r"§12\.1\.4: psk_nonce must have length KDF\.Nh",
    )


def _resumption_commit(a: Group, usage: ResumptionPSKUsage) -> Callable[[bool], bytes]:
    """a's Commit of a resumption PSK of its current epoch with ``usage`` (control:
    usage application, which b holds)."""
    return lambda broken: forge_commit(
        a, [psk(resumption_psk(usage if broken else ResumptionPSKUsage.application, a))]
    )


def test_psk_resumption_usage_application() -> None:
    _, (a, b) = make_group(2)
    breaks_only(
        b,
        _resumption_commit(a, ResumptionPSKUsage.reinit),
        ValidationError,
        r"§12\.1\.4: resumption PSK with usage reinit/branch only",
    )


def test_psk_resumption_usage_not_reserved() -> None:
    _, (a, b) = make_group(2)
    breaks_only(
        b,
        _resumption_commit(a, ResumptionPSKUsage.reserved),
        ValidationError,
        r"§8\.4: resumption PSK has a usage",
    )


def test_psk_resumption_epoch_held() -> None:
    # b keeps the resumption PSK of its current epoch only: the previous one is gone;
    # control: the current epoch's
    _, (a, b) = make_group(2, GroupConfig(handshake_wire_format="public", resumption_psk_epochs=1))
    old = resumption_psk(ResumptionPSKUsage.application, a)
    out = a.update()
    b.process(out.commit).merge()  # type: ignore[union-attr]
    a.merge_pending_commit()
    current = resumption_psk(ResumptionPSKUsage.application, a)
    breaks_only(
        b,
        lambda broken: forge_commit(a, [psk(old if broken else current)]),
        StateError,
        r"resumption PSK of group [0-9a-f]+ epoch \d+ is not available",
    )


# --- §12.4.3.2 external commits --------------------------------------------------------------


def _external(remove_leaf: int | None = None) -> tuple[Client, Group, Group, PublicMessage]:
    _clients, (a, b) = make_group(2)
    joiner = Client.generate(b"joiner")
    _, commit = joiner.join_by_external_commit(
        a.group_info(), remove_leaf=remove_leaf, config=PUBLIC
    )
    return joiner, a, b, public(commit)


def test_external_commit_has_path() -> None:
    joiner, a, _b, pm = _external()
    rejects(
        a,
        resign(a, with_path(pm, None), signature_key=joiner.signature_private_key),
        ValidationError,
        r"§12\.4\.3\.2: an external Commit carries a path",
    )


def test_external_commit_no_reference() -> None:
    # a holds the PSK the referenced proposal names (so that only the reference is
    # wrong); control: the same PreSharedKey proposal by value
    _, (a, b) = make_group(2)
    a.client.add_external_psk(b"psk", bytes(32))
    joiner = Client.generate(b"joiner")
    got = a.process(forge_proposal(b, psk(external_psk())))
    assert isinstance(got, ProposalMessage)
    breaks_only(
        a,
        lambda broken: forge_external_commit(
            a, joiner, [by_ref(got.ref) if broken else by_value(psk(external_psk()))]
        ),
        ValidationError,
        r"§12\.4\.3\.2: an external Commit includes no proposals by reference",
    )


def test_external_commit_signed_by_joiner() -> None:
    _joiner, a, _b, pm = _external()
    other = Client.generate(b"other")
    rejects(
        a,
        resign(a, pm, signature_key=other.signature_private_key),
        CryptoError,
        r"§6\.1: FramedContentTBS signature of new_member_commit does not verify",
    )


def test_external_commit_one_external_init() -> None:
    # control: one ExternalInit
    _, (a, _b) = make_group(2)
    joiner = Client.generate(b"joiner")
    breaks_only(
        a,
        lambda broken: forge_external_commit(a, joiner, [external_init(a)] if broken else []),
        ValidationError,
        r"§12\.2: an external Commit holds exactly one ExternalInit",
    )


def test_external_commit_at_most_one_remove() -> None:
    # b has two leaves (1 and 2, two devices with one credential) and rejoins removing
    # both: each Remove is of the joiner's own old leaf (E7) and of a different leaf, and
    # the path is made for the tree without them. Control: one Remove.
    clients = [Client.generate(b"a"), Client.generate(b"b"), Client.generate(b"b")]
    _, (a, _b1, _b2) = make_group(3, clients=clients)
    breaks_only(
        a,
        lambda broken: forge_external_commit(
            a, clients[1], [remove(1), remove(2)] if broken else [remove(1)]
        ),
        ValidationError,
        r"§12\.2: an external Commit holds at most one Remove",
    )


def test_external_commit_allowed_proposals() -> None:
    # control: the Commit without the GroupContextExtensions
    _, (a, _b) = make_group(2)
    joiner = Client.generate(b"joiner")
    breaks_only(
        a,
        lambda broken: forge_external_commit(a, joiner, [gce()] if broken else []),
        ValidationError,
        r"§12\.2: an external Commit holds only ExternalInit, Remove, PSK",
    )


def test_external_commit_remove_is_same_client() -> None:
    # a stranger's external commit removes member b: the new leaf must be acceptable as
    # an Update of the removed leaf, i.e. the same participant (§12.2)
    _joiner, a, _b, pm = _external(remove_leaf=1)
    rejects(
        a,
        encode_public(pm),
        ValidationError,
        r"§12\.2: an external Commit's Remove replaces the joiner's own old leaf",
    )


def test_external_commit_resync_accepted() -> None:
    # positive control for the row above: the removed member itself rejoins
    clients, (a, _b) = make_group(2)
    _, commit = clients[1].join_by_external_commit(a.group_info(), remove_leaf=1, config=PUBLIC)
    assert [m.leaf_index for m in staged(a.process(commit)).removed] == [1]
