"""Starting a group (§11) and joining one from a Welcome (§12.4.3.1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...crypto.primitives import Rng
from ...errors import ValidationError
from ...schema import CipherSuite as SuiteId
from ...schema import (
    Extension,
    GroupContext,
    LeafNodeSource,
    Lifetime,
    PreSharedKeyID,
    PSKType,
    WireFormat,
)
from .. import key_schedule as ks
from .. import psk as psk_mod
from .. import tree_math as tm
from .. import treekem
from ..ratchet_tree import RatchetTree
from ..transcript import confirmation_tag, interim_transcript_hash
from ..validation import MemberSummary, ValidationPolicy, validate_leaf_node
from ..welcome import open_welcome
from ._wire import decode_message, random_bytes
from .config import MAX_LIFETIME, GroupConfig
from .epoch import begin_epoch
from .group import Group
from .group_info import check_joined_group, tree_and_signer
from .resumption import check_resumed

if TYPE_CHECKING:
    from .client import Client


def create(
    client: Client,
    group_id: bytes | None,
    extensions: tuple[Extension, ...],
    config: GroupConfig,
    rng: Rng | None,
) -> Group:
    """A one-member group at epoch 0 (§11)."""
    cs = client.suite
    gid = group_id if group_id is not None else random_bytes(rng, 16)
    enc_sk, enc_pk = cs.generate_key_pair(rng)
    leaf = client._leaf_node(
        enc_pk,
        LeafNodeSource.key_package,
        lifetime=Lifetime(not_before=0, not_after=MAX_LIFETIME),
        rng=rng,
    )
    tree = RatchetTree.with_first_leaf(client.suite_id, leaf)
    context = GroupContext(
        cipher_suite=SuiteId(client.suite_id),
        group_id=gid,
        epoch=0,
        tree_hash=tree.tree_hash(),
        confirmed_transcript_hash=b"",
        extensions=extensions,
    )
    # §11: the creator's leaf must meet the group's own required capabilities.
    validate_leaf_node(
        cs,
        leaf,
        source=LeafNodeSource.key_package,
        group_id=gid,
        leaf_index=0,
        extensions=extensions,
        summary=MemberSummary(),
        policy=ValidationPolicy(check_lifetime=False),
        where="creator leaf",
    )
    secrets = ks.derive_epoch(cs, random_bytes(rng, cs.hash_len), context)
    # §8.2: epoch 0's interim hash covers the tag MAC(confirmation_key, "").
    tag = confirmation_tag(cs, secrets.confirmation_key, b"")
    state = begin_epoch(
        config,
        context,
        tree,
        MemberSummary.of_tree(tree),
        treekem.TreePrivateState(0, {0: enc_sk}),
        secrets,
        interim_transcript_hash(cs, b"", tag),
    )
    return Group(client, config, state, rng=rng)


def join(
    client: Client,
    welcome_bytes: bytes,
    ratchet_tree: bytes | None,
    config: GroupConfig,
    psks: psk_mod.PskLookup | None,
    resumed_from: Group | None,
    rng: Rng | None,
) -> Group:
    """Join from a Welcome (§12.4.3.1)."""
    msg = decode_message(welcome_bytes, config.limits)
    if msg.wire_format != WireFormat.mls_welcome or msg.welcome is None:
        raise ValidationError("RFC 9420 §6: expected a Welcome", f"{msg.wire_format!r}")
    welcome = msg.welcome
    entry = next(
        (
            client._key_packages[e.new_member]
            for e in welcome.secrets
            if e.new_member in client._key_packages
        ),
        None,
    )
    if entry is None:
        raise ValidationError(
            "RFC 9420 §12.4.3.1: the Welcome has an entry for one of this client's KeyPackages",
            f"{len(welcome.secrets)} entries, none for ours",
            "Welcome.secrets",
        )
    kp = entry.key_package

    def lookup(psk: PreSharedKeyID) -> bytes | None:
        if psks is not None:
            found = psks(psk)
            if found is not None:
                return found
        if resumed_from is not None:
            return resumed_from.psk_lookup(psk)
        if psk.psktype == PSKType.external and psk.psk_id is not None:
            return client.external_psks.get(psk.psk_id)
        return None

    opened = open_welcome(welcome, kp, entry.init_private_key, psks=lookup)
    info = opened.group_info
    context = info.group_context
    cs = opened.suite
    if client.participates_in(context.group_id):
        raise ValidationError(
            "RFC 9420 §12.4.3.1: the group_id is unique among the client's groups",
            f"already in group {context.group_id.hex()}",
            "GroupInfo.group_context.group_id",
        )
    tree, signer = tree_and_signer(info, ratchet_tree, config, "12.4.3.1")
    hashes = opened.verify(signer.signature_key)
    summary = check_joined_group(
        cs, info, tree, kp.leaf_node.capabilities, client.policy, "GroupInfo"
    )
    check_resumed(opened.group_secrets.psks, context, tree, resumed_from, client.policy)
    own = next((i for i in tree.members() if tree.leaf(i) == kp.leaf_node), None)  # O(N) once
    if own is None:
        raise ValidationError("RFC 9420 §12.4.3.1: the tree holds this client's KeyPackage leaf")
    path_secrets: dict[int, bytes] = {}
    if opened.group_secrets.path_secret is not None:
        secret = opened.group_secrets.path_secret.path_secret
        lca = tm.common_ancestor(tm.leaf_to_node(own), tm.leaf_to_node(info.signer))
        path = tree.filtered_direct_path(info.signer)
        if lca not in path:
            raise ValidationError(
                "RFC 9420 §12.4.3.1: the path secret is for a node on the signer's "
                "filtered direct path",
                where=f"node {lca}",
            )
        for x in path[path.index(lca) :]:
            path_secrets[x] = secret
            secret = treekem.next_path_secret(cs, secret)
    private = treekem.private_state_from_secrets(
        tree, own, entry.encryption_private_key, path_secrets
    )
    # §9.2: the KeyPackage's private keys are deleted once used.
    for ref, value in list(client._key_packages.items()):
        if value is entry:
            del client._key_packages[ref]
    state = begin_epoch(config, context, tree, summary, private, opened.epoch, hashes.interim)
    return Group(client, config, state, rng=rng)


__all__ = ["create", "join"]
