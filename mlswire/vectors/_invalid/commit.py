"""Proposals (§12.1), proposal lists (§12.2), Commits and UpdatePaths (§12.4.2), PSKs
(§8.4) and external Commits as a member receives them (§12.4.3.2): the P, X5, PL, C, S
and E1-E7 rows of docs/VALIDATION.md."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from ...crypto import labeled
from ...engine import treekem
from ...engine.group import Group, ProposalMessage, external_proposal, external_senders_extension
from ...errors import CryptoError, StateError, ValidationError
from ...schema import (
    Extension,
    ExtensionType,
    HPKECiphertext,
    LeafNode,
    PreSharedKeyID,
    Proposal,
    ProposalType,
    ProtocolVersion,
    PSKType,
    ResumptionPSKUsage,
    UpdatePath,
    UpdatePathNode,
)
from .. import forge
from ..forge import (
    CONFIRMATION_TAG,
    ForgedPath,
    by_ref,
    by_value,
    forge_commit,
    forge_external_commit,
    forge_proposal,
    public,
)
from . import Build, Input, World, case
from ._common import CUSTOM_EXT, CUSTOM_PROPOSAL, external_psk, gce, psk, reinit, remove


def _custom_ext() -> Extension:
    return Extension(extension_type=ExtensionType(CUSTOM_EXT), extension_data=b"")


def _custom_proposal() -> Proposal:
    return Proposal(proposal_type=ProposalType(CUSTOM_PROPOSAL), custom=b"x")


# --- §12.1 individual proposals ----------------------------------------------------------


@case(
    "P1",
    "proposal",
    "§12.1.2",
    "an Update comes from a member (not breakable alone: an external sender's Update "
    "also breaks P6)",
    ValidationError,
    r"§12\.1\.2: an Update comes from a member",
)
def _p1(w: World) -> Build:
    server = w.client(b"server")
    ext = external_senders_extension([(server.signature_public_key, server.credential)])
    a, _b, _c = w.group(3, extensions=[ext])

    def build(broken: bool) -> bytes:
        proposal = forge.update(forge.update_leaf(a)) if broken else remove(2)
        return external_proposal(
            w.suite, server.signature_private_key, 0, a.group_id, a.epoch, proposal, rng=w.rng
        )

    return lambda broken: w.msg(build(broken))


@case(
    "P2",
    "proposal",
    "§12.1.3",
    "Remove names a member (a non-blank leaf)",
    ValidationError,
    r"§12\.1\.3: Remove names a member",
)
def _p2(w: World) -> Build:
    a, _b, _c = w.group(3)
    return lambda broken: w.msg(forge_commit(a, [remove(5 if broken else 2)]))


@case(
    "P3",
    "proposal",
    "§12.1.5",
    "ReInit does not downgrade the version",
    ValidationError,
    r"§12\.1\.5: ReInit does not downgrade the version",
)
def _p3(w: World) -> Build:
    a, _b = w.group(2)
    version = ProtocolVersion.reserved
    return lambda broken: w.msg(
        forge_commit(a, [reinit(w.suite, version if broken else ProtocolVersion.mls10)])
    )


@case(
    "X5",
    "extensions",
    "§13.4",
    "an extension type appears at most once: ReInit proposal (the new group's extensions)",
    ValidationError,
    r"§13\.4: an extension type appears at most once.*proposals\[0\]",
)
def _x5(w: World) -> Build:
    a, _b = w.group(2)
    req = forge.required_capabilities_ext()
    return lambda broken: w.msg(
        forge_commit(a, [reinit(w.suite, extensions=(req, req) if broken else (req,))])
    )


@case(
    "P4",
    "proposal",
    "§12.1.6",
    "ExternalInit only in an external Commit (never proposed)",
    ValidationError,
    r"§12\.1\.6: ExternalInit only in an external Commit",
)
def _p4(w: World) -> Build:
    a, _b, _c = w.group(3)
    # control: a proposal a member may send (a Remove)
    return lambda broken: w.msg(forge_proposal(a, forge.external_init(a) if broken else remove(2)))


@case(
    "P5",
    "proposal",
    "§12.1.7, §13.4",
    "every member supports the new group extensions",
    ValidationError,
    r"§12\.1\.7: every member supports the new group extensions",
)
def _p5(w: World) -> Build:
    # the committer a supports the extension (its path leaf does), b does not
    people = [w.client(b"a", forge.caps(extensions=(CUSTOM_EXT,))), w.client(b"b")]
    a, _b = w.group(2, clients=people)
    return lambda broken: w.msg(
        forge_commit(a, [gce(_custom_ext() if broken else forge.required_capabilities_ext())])
    )


@case(
    "P6",
    "proposal",
    "§12.1.8.1",
    "external senders propose Add, Remove, PSK, ReInit or GroupContextExtensions",
    ValidationError,
    r"§12\.1\.8: external senders propose Add, Remove, PSK, ReInit or GroupContextExtensions",
)
def _p6(w: World) -> Build:
    server = w.client(b"server")
    ext = external_senders_extension([(server.signature_public_key, server.credential)])
    a, _b, _c = w.group(3, extensions=[ext])
    return lambda broken: w.msg(
        external_proposal(
            w.suite,
            server.signature_private_key,
            0,
            a.group_id,
            a.epoch,
            _custom_proposal() if broken else remove(2),
            rng=w.rng,
        )
    )


@case(
    "P9",
    "proposal",
    "§12.1.8.1",
    "an external_senders extension added by GroupContextExtensions decodes",
    ValidationError,
    r"§12\.1\.8\.1: external_senders decodes",
)
def _p9(w: World) -> Build:
    a, _b = w.group(2)
    server = w.client(b"server")
    good = external_senders_extension([(server.signature_public_key, server.credential)])
    junk = Extension(extension_type=ExtensionType.external_senders, extension_data=b"\x05junk")
    return lambda broken: w.msg(forge_commit(a, [gce(junk if broken else good)]))


# --- §12.2 proposal lists ----------------------------------------------------------------


@case(
    "PL1",
    "proposal-list",
    "§12.2",
    "no Update from the committer (by reference)",
    ValidationError,
    r"§12\.2: no Update from the committer",
)
def _pl1(w: World) -> Build:
    a, _b, c = w.group(3)

    def build(broken: bool) -> tuple[bytes, bytes]:
        # c commits its own Update (proposed through the engine, so that c knows it);
        # control: c commits a's Update
        proposer = c if broken else a
        message = proposer.propose_update()
        if proposer is not c:
            c.process(message)
        ref = next(
            p.ref for p in c.pending_proposals if p.sender.leaf_index == proposer.own_leaf_index
        )
        c_commit = forge_commit(c, [by_ref(ref)])
        c.clear_pending_proposals()
        return message, c_commit

    def make(broken: bool) -> Input:
        message, commit = build(broken)
        return w.msg(commit, message)

    return make


@case(
    "PL2",
    "proposal-list",
    "§12.2",
    "no Update from the committer: an Update by value (the committer's own)",
    ValidationError,
    r"§12\.2: no Update from the committer",
)
def _pl2(w: World) -> Build:
    a, _b = w.group(2)
    return lambda broken: w.msg(
        forge_commit(a, [forge.update(forge.update_leaf(a))] if broken else [])
    )


@case(
    "PL3",
    "proposal-list",
    "§12.2",
    "no Remove of the committer",
    ValidationError,
    r"§12\.2: no Remove of the committer",
)
def _pl3(w: World) -> Build:
    a, _b, _c = w.group(3)
    return lambda broken: w.msg(forge_commit(a, [remove(0 if broken else 2)]))


@case(
    "PL4",
    "proposal-list",
    "§12.2",
    "one Update or Remove per leaf",
    ValidationError,
    r"§12\.2: one Update or Remove per leaf",
)
def _pl4(w: World) -> Build:
    a, _b, _c = w.group(3)
    return lambda broken: w.msg(forge_commit(a, [remove(2), remove(2)] if broken else [remove(2)]))


@case(
    "PL5",
    "proposal-list",
    "§12.2",
    "no two Adds for the same client (same signature key)",
    ValidationError,
    r"§12\.2: no two Adds for the same client",
)
def _pl5(w: World) -> Build:
    a, _b = w.group(2)
    d, e = w.client(b"d"), w.client(b"e")
    return lambda broken: w.msg(
        forge_commit(
            a, [forge.add(forge.key_package(d)), forge.add(forge.key_package(d if broken else e))]
        )
    )


@case(
    "PL6",
    "proposal-list",
    "§12.2",
    "no Add for a client already in the group (unless the list removes it)",
    ValidationError,
    r"§12\.2: no Add for a client already in the group",
)
def _pl6(w: World) -> Build:
    people = [w.client(b"a"), w.client(b"b"), w.client(b"c")]
    a, _b, _c = w.group(3, clients=people)
    d = w.client(b"d")
    return lambda broken: w.msg(
        forge_commit(a, [forge.add(forge.key_package(people[2] if broken else d))])
    )


@case(
    "PL7",
    "proposal-list",
    "§12.2",
    "the same PreSharedKeyID must not be proposed twice",
    ValidationError,
    r"§12\.2: the same PreSharedKeyID must not be proposed twice",
)
def _pl7(w: World) -> Build:
    a, _b = w.group(2, psks=[(b"psk", bytes(w.nh))])
    a.client.add_external_psk(b"psk", bytes(w.nh))
    one = psk(external_psk(b"psk", w.nh))
    return lambda broken: w.msg(forge_commit(a, [one, one] if broken else [one]))


@case(
    "PL8",
    "proposal-list",
    "§12.2",
    "at most one GroupContextExtensions",
    ValidationError,
    r"§12\.2: at most one GroupContextExtensions",
)
def _pl8(w: World) -> Build:
    a, _b = w.group(2)
    return lambda broken: w.msg(forge_commit(a, [gce(), gce()] if broken else [gce()]))


@case(
    "PL9",
    "proposal-list",
    "§12.2",
    "a ReInit is the only proposal of its Commit",
    ValidationError,
    r"§12\.2: a ReInit is the only proposal of its Commit",
)
def _pl9(w: World) -> Build:
    a, _b, _c = w.group(3)
    return lambda broken: w.msg(
        forge_commit(a, [reinit(w.suite), remove(2)] if broken else [reinit(w.suite)])
    )


@case(
    "PL10",
    "proposal-list",
    "§12.2",
    "only an external Commit holds ExternalInit",
    ValidationError,
    r"§12\.2: only an external Commit holds ExternalInit",
)
def _pl10(w: World) -> Build:
    a, _b = w.group(2)
    return lambda broken: w.msg(forge_commit(a, [forge.external_init(a)] if broken else []))


@case(
    "PL11",
    "proposal-list",
    "§12.2",
    "every member supports the proposal type (non-default types)",
    ValidationError,
    r"§12\.2: every member supports the proposal type",
)
def _pl11(w: World) -> Build:
    full = forge.caps(proposals=(CUSTOM_PROPOSAL,))
    people = [w.client(b"a", full), w.client(b"b", full), w.client(b"c")]
    a, _b, _c = w.group(3, clients=people)
    return lambda broken: w.msg(forge_commit(a, [_custom_proposal()] if broken else []))


@case(
    "PL12",
    "proposal-list",
    "§12.4",
    "a proposal committed by reference was received in this epoch",
    ValidationError,
    r"§12\.4: a proposal committed by reference was received in this epoch",
)
def _pl12(w: World) -> Build:
    a, _b, c = w.group(3)

    def make(broken: bool) -> Input:
        # c's Add, which the receiver gets in both: the Commit names it, or names a
        # reference nobody sent
        message = forge_proposal(c, forge.add(forge.key_package(w.client())))
        got = a.process(message)
        assert isinstance(got, ProposalMessage)
        ref = bytes(len(got.ref)) if broken else got.ref
        commit = forge_commit(a, [by_ref(ref)])
        a.clear_pending_proposals()
        return w.msg(commit, message)

    return make


# --- §12.4.2 Commits and UpdatePaths -----------------------------------------------------


@case(
    "C1",
    "commit",
    "§12.4.2",
    "the path is populated when the proposal list is empty",
    ValidationError,
    r"§12\.4: the Commit needs a path",
)
def _c1(w: World) -> Build:
    a, _b = w.group(2)
    return lambda broken: w.msg(forge_commit(a, [], with_path=not broken))


@case(
    "C2",
    "commit",
    "§12.4.2",
    "the path is populated when the list holds a Remove",
    ValidationError,
    r"§12\.4: the Commit needs a path",
)
def _c2(w: World) -> Build:
    a, _b, _c = w.group(3)
    return lambda broken: w.msg(forge_commit(a, [remove(2)], with_path=not broken))


@case(
    "C3",
    "commit",
    "§12.4.2",
    "the UpdatePath leaf's encryption_key differs from the committer's current leaf",
    ValidationError,
    r"§12\.4\.2: the UpdatePath leaf's encryption_key differs from the committer's current leaf",
)
def _c3(w: World) -> Build:
    _a, _b, c = w.group(3)
    current = forge.leaf_at(c, 2).encryption_key

    def leaf(path: UpdatePath) -> LeafNode:
        return msgspec.structs.replace(path.leaf_node, encryption_key=current)

    return lambda broken: w.msg(forge_commit(c, [], leaf=leaf if broken else None))


@case(
    "C4",
    "commit",
    "§12.4.2",
    "UpdatePath public keys are new to the tree",
    ValidationError,
    r"§12\.4\.2: UpdatePath public keys are new to the tree",
)
def _c4(w: World) -> Build:
    _a, _b, c = w.group(3)
    # c's valid Commit (an epoch of the vector) starts from a path secret it drew; the
    # forged one starts from the same secret, so its root key is the tree's already
    draws: list[bytes] = []
    rng = c._rng

    def recording(n: int) -> bytes:
        assert rng is not None
        draws.append(rng(n))
        return draws[-1]

    c._rng = recording
    w.advance(2, lambda g: g.update())
    c._rng = rng
    secret = draws[0]  # create_update_path draws the first path secret first
    tree = c._state.tree
    root = tree.parent_node(tree.root)
    assert tree.filtered_direct_path(2) == [tree.root] and root is not None
    assert treekem.node_key_pair(c._state.suite, secret)[1] == root.encryption_key

    def make(broken: bool) -> Input:
        again = [secret] if broken else []

        def draw(n: int) -> bytes:
            return again.pop() if again else w.rng(n)

        return w.msg(forge_commit(c, [], rng=draw))

    return make


@case(
    "C13",
    "commit",
    "§12.4.2",
    "none of the public keys in the UpdatePath appear twice in the UpdatePath",
    ValidationError,
    r"§12\.4\.2: UpdatePath public keys are new to the tree.*nodes\[0\]",
)
def _c13(w: World) -> Build:
    _a, _b, c = w.group(3)

    def leaf(path: UpdatePath) -> LeafNode:
        return msgspec.structs.replace(path.leaf_node, encryption_key=path.nodes[0].encryption_key)

    return lambda broken: w.msg(forge_commit(c, [], leaf=leaf if broken else None))


@case(
    "C14",
    "commit",
    "§12.4.2",
    "a member the Commit removes checks the path like the others",
    ValidationError,
    r"§7\.9\.2: the committer's leaf parent_hash matches the path",
)
def _c14(w: World) -> Build:
    _a, _b, c = w.group(3)

    def leaf(path: UpdatePath) -> LeafNode:
        return msgspec.structs.replace(path.leaf_node, parent_hash=bytes(w.nh))

    # the receiver (leaf 1) is the member removed
    return lambda broken: w.msg(forge_commit(c, [remove(1)], leaf=leaf if broken else None))


@case(
    "C6",
    "commit",
    "§12.4.2, §7.9.2",
    "the committer's leaf parent_hash matches the path",
    ValidationError,
    r"§7\.9\.2: the committer's leaf parent_hash matches the path",
)
def _c6(w: World) -> Build:
    _a, _b, c = w.group(3)

    def leaf(path: UpdatePath) -> LeafNode:
        return msgspec.structs.replace(path.leaf_node, parent_hash=bytes(w.nh))

    return lambda broken: w.msg(forge_commit(c, [], leaf=leaf if broken else None))


def _path_nodes(
    w: World, committer: Group, change: Callable[[ForgedPath], tuple[UpdatePathNode, ...]]
) -> Build:
    """A Commit of ``committer`` (empty list) whose path nodes are ``change``d; its
    confirmation tag is the one of the path as forged (what a receiver that skips the
    broken check computes: same tree, same commit_secret)."""

    def make(broken: bool) -> Input:
        fp = forge.forged_path(committer)
        if broken:
            path = msgspec.structs.replace(fp.update_path, nodes=change(fp))
            fp = ForgedPath(path, fp.tree, fp.commit_secret)
        return w.msg(forge_commit(committer, [], path=fp))

    return make


@case(
    "C5",
    "commit",
    "§12.4.2, §7.6",
    "one UpdatePathNode per node of the filtered direct path",
    ValidationError,
    r"§7\.6: one UpdatePathNode per node of the filtered direct path",
)
def _c5(w: World) -> Build:
    _a, _b, c = w.group(3)

    def change(fp: ForgedPath) -> tuple[UpdatePathNode, ...]:
        nodes = fp.update_path.nodes
        _, fresh = c._state.suite.generate_key_pair(w.rng)
        return (*nodes, msgspec.structs.replace(nodes[0], encryption_key=fresh))

    return _path_nodes(w, c, change)


@case(
    "C7",
    "commit",
    "§12.4.2, §7.6",
    "one ciphertext per node of the copath resolution",
    ValidationError,
    r"§7\.6: one ciphertext per node of the copath resolution",
)
def _c7(w: World) -> Build:
    _a, _b, c = w.group(3)

    def change(fp: ForgedPath) -> tuple[UpdatePathNode, ...]:
        node, *rest = fp.update_path.nodes
        assert len(node.encrypted_path_secret) == 2  # leaves 0 and 1
        short = msgspec.structs.replace(node, encrypted_path_secret=node.encrypted_path_secret[:1])
        return (short, *rest)

    return _path_nodes(w, c, change)


@case(
    "C12",
    "commit",
    "§12.4.2, §7.6",
    "the ciphertext count holds at every node of the path, not only where the receiver decrypts",
    ValidationError,
    r"§7\.6: one ciphertext per node of the copath resolution.*node 5",
)
def _c12(w: World) -> Build:
    # c (leaf 2) commits in a group of 4: the receiver (leaf 1) decrypts at nodes[1]
    # (node 3); the extra ciphertext is at nodes[0] (node 5, for leaf 3)
    _a, _b, c, _d = w.group(4)

    def change(fp: ForgedPath) -> tuple[UpdatePathNode, ...]:
        node, *rest = fp.update_path.nodes
        cts = node.encrypted_path_secret
        return (msgspec.structs.replace(node, encrypted_path_secret=(*cts, cts[0])), *rest)

    return _path_nodes(w, c, change)


@case(
    "C8",
    "commit",
    "§12.4.2",
    "the UpdatePath path secret decrypts",
    CryptoError,
    r"§12\.4\.2: the UpdatePath path secret for node \d+ does not decrypt",
)
def _c8(w: World) -> Build:
    _a, _b, c = w.group(3)

    def change(fp: ForgedPath) -> tuple[UpdatePathNode, ...]:
        node, *rest = fp.update_path.nodes
        flipped = tuple(
            msgspec.structs.replace(
                ct, ciphertext=bytes([ct.ciphertext[0] ^ 1]) + ct.ciphertext[1:]
            )
            for ct in node.encrypted_path_secret
        )
        return (msgspec.structs.replace(node, encrypted_path_secret=flipped), *rest)

    return _path_nodes(w, c, change)


@case(
    "C9",
    "commit",
    "§12.4.2, §7.5",
    "the key pairs derived from the decrypted path secret are the UpdatePath's",
    ValidationError,
    r"§7\.5: derived node public keys equal the UpdatePath's",
)
def _c9(w: World) -> Build:
    # The receiver's ciphertext at the root holds a random secret, encrypted as it should
    # be (to its leaf key, under the provisional GroupContext it computes): it decrypts,
    # but the keys it derives are not the path's.
    _a, b, c = w.group(3)

    def change(fp: ForgedPath) -> tuple[UpdatePathNode, ...]:
        st = b._state
        template = msgspec.structs.replace(st.context, epoch=st.context.epoch + 1)
        merged = treekem.merge_update_path(st.tree, 2, fp.update_path, st.context.group_id)
        _, ctx_bytes = treekem._provisional(template, merged)
        ((_, copath),) = merged.filtered_path(2)
        position = merged.resolution(copath).index(2 * b.own_leaf_index)
        kem_output, ciphertext = labeled.encrypt_with_label(
            st.suite,
            forge.leaf_at(b, 1).encryption_key,
            "UpdatePathNode",
            ctx_bytes,
            w.rng(w.nh),
            w.rng,
        )
        node, *rest = fp.update_path.nodes
        cts = list(node.encrypted_path_secret)
        cts[position] = HPKECiphertext(kem_output=kem_output, ciphertext=ciphertext)
        return (msgspec.structs.replace(node, encrypted_path_secret=tuple(cts)), *rest)

    return _path_nodes(w, c, change)


@case(
    "C10", "commit", "§12.4.2", "the confirmation_tag verifies", ValidationError, CONFIRMATION_TAG
)
def _c10(w: World) -> Build:
    _a, _b, c = w.group(3)

    def make(broken: bool) -> Input:
        pm = public(forge_commit(c, []))
        tag = pm.auth.confirmation_tag
        assert tag is not None
        if broken:
            tag = bytes([tag[0] ^ 1]) + tag[1:]
        auth = msgspec.structs.replace(pm.auth, confirmation_tag=tag)
        return w.msg(forge.resign(c, msgspec.structs.replace(pm, auth=auth)))

    return make


# --- §8.4 PSKs ---------------------------------------------------------------------------


@case(
    "S1",
    "psk",
    "§8.4, §12.4.2",
    "every PSK of a Commit is available",
    StateError,
    r"external PSK [0-9a-f]+ is not available",
)
def _s1(w: World) -> Build:
    a, _b = w.group(2, psks=[(b"shared", bytes(w.nh))])
    a.client.add_external_psk(b"shared", bytes(w.nh))
    a.client.add_external_psk(b"only-a", bytes(w.nh))
    return lambda broken: w.msg(
        forge_commit(a, [psk(external_psk(b"only-a" if broken else b"shared", w.nh))])
    )


@case(
    "S3",
    "psk",
    "§8.4, §12.1.4",
    "psk_nonce must have length KDF.Nh",
    ValidationError,
    r"§12\.1\.4: psk_nonce must have length KDF\.Nh",
)
def _s3(w: World) -> Build:
    a, _b = w.group(2, psks=[(b"psk", bytes(w.nh))])
    a.client.add_external_psk(b"psk", bytes(w.nh))
    return lambda broken: w.msg(forge_commit(a, [psk(external_psk(b"psk", 5 if broken else w.nh))]))


def _resumption(w: World, a: Group, usage: ResumptionPSKUsage) -> PreSharedKeyID:
    return PreSharedKeyID(
        psktype=PSKType.resumption,
        usage=usage,
        psk_group_id=a.group_id,
        psk_epoch=a.epoch,
        psk_nonce=bytes(w.nh),
    )


@case(
    "S4",
    "psk",
    "§8.4, §12.1.4",
    "a Commit's resumption PSK has usage application (reinit/branch only while "
    "reinitializing/branching)",
    ValidationError,
    r"§12\.1\.4: resumption PSK with usage reinit/branch only",
)
def _s4(w: World) -> Build:
    a, _b = w.group(2)
    return lambda broken: w.msg(
        forge_commit(
            a,
            [
                psk(
                    _resumption(
                        w,
                        a,
                        ResumptionPSKUsage.reinit if broken else ResumptionPSKUsage.application,
                    )
                )
            ],
        )
    )


@case(
    "S5",
    "psk",
    "§8.4",
    "a resumption PSK has a usage (not reserved)",
    ValidationError,
    r"§8\.4: resumption PSK has a usage",
)
def _s5(w: World) -> Build:
    a, _b = w.group(2)
    return lambda broken: w.msg(
        forge_commit(
            a,
            [
                psk(
                    _resumption(
                        w,
                        a,
                        ResumptionPSKUsage.reserved if broken else ResumptionPSKUsage.application,
                    )
                )
            ],
        )
    )


# --- §12.4.3.2 external Commits, as a member receives them -------------------------------


@case(
    "E1",
    "external-commit",
    "§12.4.3.2",
    "an external Commit carries a path",
    ValidationError,
    r"§12\.4\.3\.2: an external Commit carries a path",
)
def _e1(w: World) -> Build:
    a, _b = w.group(2)

    def make(broken: bool) -> Input:
        joiner = w.client(b"joiner")
        _, commit = joiner.join_by_external_commit(a.group_info(), config=forge.PUBLIC, rng=w.rng)
        if not broken:
            return w.msg(commit)
        pm = forge.with_path(public(commit), None)
        return w.msg(forge.resign(a, pm, signature_key=joiner.signature_private_key))

    return make


@case(
    "E2",
    "external-commit",
    "§12.4.3.2",
    "an external Commit includes no proposals by reference",
    ValidationError,
    r"§12\.4\.3\.2: an external Commit includes no proposals by reference",
)
def _e2(w: World) -> Build:
    a, _b, c = w.group(3, psks=[(b"psk", bytes(w.nh))])
    for g in (a, c):
        g.client.add_external_psk(b"psk", bytes(w.nh))
    joiner = w.client(b"joiner")

    def make(broken: bool) -> Input:
        message = forge_proposal(c, psk(external_psk(b"psk", w.nh)))
        got = a.process(message)
        assert isinstance(got, ProposalMessage)
        listed = by_ref(got.ref) if broken else by_value(psk(external_psk(b"psk", w.nh)))
        commit = forge_external_commit(a, joiner, [listed])
        a.clear_pending_proposals()
        return w.msg(commit, message)

    return make


@case(
    "E3",
    "external-commit",
    "§12.4.3.2",
    "an external Commit is signed by the new member (the path leaf's key)",
    CryptoError,
    r"§6\.1: FramedContentTBS signature of new_member_commit does not verify",
)
def _e3(w: World) -> Build:
    a, _b = w.group(2)
    joiner, other = w.client(b"joiner"), w.client(b"other")
    return lambda broken: w.msg(
        forge_external_commit(
            a, joiner, signature_key=other.signature_private_key if broken else None
        )
    )


@case(
    "E4",
    "external-commit",
    "§12.2",
    "an external Commit holds exactly one ExternalInit",
    ValidationError,
    r"§12\.2: an external Commit holds exactly one ExternalInit",
)
def _e4(w: World) -> Build:
    a, _b = w.group(2)
    joiner = w.client(b"joiner")
    return lambda broken: w.msg(
        forge_external_commit(a, joiner, [forge.external_init(a)] if broken else [])
    )


@case(
    "E5",
    "external-commit",
    "§12.2",
    "an external Commit holds at most one Remove",
    ValidationError,
    r"§12\.2: an external Commit holds at most one Remove",
)
def _e5(w: World) -> Build:
    # leaves 2 and 3 are two devices of one client ("b"), who rejoins removing both
    people = [w.client(b"a"), w.client(b"r"), w.client(b"b"), w.client(b"b")]
    a, _r, _b1, _b2 = w.group(4, clients=people)
    return lambda broken: w.msg(
        forge_external_commit(a, people[2], [remove(2), remove(3)] if broken else [remove(2)])
    )


@case(
    "E6",
    "external-commit",
    "§12.2",
    "an external Commit holds only ExternalInit, Remove, PSK",
    ValidationError,
    r"§12\.2: an external Commit holds only ExternalInit, Remove, PSK",
)
def _e6(w: World) -> Build:
    a, _b = w.group(2)
    joiner = w.client(b"joiner")
    return lambda broken: w.msg(forge_external_commit(a, joiner, [gce()] if broken else []))


@case(
    "E7",
    "external-commit",
    "§12.2",
    "an external Commit's Remove replaces the joiner's own old leaf (same participant)",
    ValidationError,
    r"§12\.2: an external Commit's Remove replaces the joiner's own old leaf",
)
def _e7(w: World) -> Build:
    people = [w.client(b"a"), w.client(b"b"), w.client(b"c")]
    a, _b, _c = w.group(3, clients=people)

    def make(broken: bool) -> Input:
        # a stranger's external Commit removes member c; control: c itself rejoins
        joiner = w.client(b"stranger") if broken else people[2]
        _, commit = joiner.join_by_external_commit(
            a.group_info(), remove_leaf=2, config=forge.PUBLIC, rng=w.rng
        )
        return w.msg(commit)

    return make
