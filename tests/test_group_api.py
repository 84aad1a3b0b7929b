"""The public API an interop client is written against (issue 14, item 8): an Add and a
Remove in one commit without schema values, removal by identity or credential, a
client-level default GroupConfig, the list of supported suites, late messages of the
previous epoch read by default, and a compressed ECDSA key named as such."""

from __future__ import annotations

import msgspec
import pytest

from mlswire.codecs import tls
from mlswire.crypto.suites import cipher_suite
from mlswire.engine import Client, Group, GroupConfig, StagedCommit, ValidationPolicy
from mlswire.engine.group import default_capabilities
from mlswire.engine.group.config import DEFAULT_MAX_PAST_EPOCHS
from mlswire.errors import ValidationError
from mlswire.schema import (
    CipherSuite,
    Credential,
    CredentialType,
    KeyPackage,
    MLSMessage,
    WireFormat,
)

from ._forge import set_tree, tree_nodes

PUBLIC = GroupConfig(handshake_wire_format="public")


def _three(config: GroupConfig = PUBLIC) -> tuple[list[Client], list[Group]]:
    clients = [Client.generate(n, config=config) for n in (b"alice", b"bob", b"carol")]
    group = clients[0].create_group(b"g")
    out = group.add_members([c.key_package() for c in clients[1:]])
    group.merge_pending_commit()
    assert out.welcome is not None
    return clients, [group, *(c.join_group(out.welcome) for c in clients[1:])]


def test_add_and_remove_in_one_commit_by_identity() -> None:
    _, (alice, bob, carol) = _three()
    dave = Client.generate(b"dave", config=PUBLIC)
    carol_member = alice.member_by_identity(b"carol")
    assert carol_member is not None and carol_member.leaf_index == carol.own_leaf_index
    out = alice.commit(add=[dave.key_package()], remove=[carol_member])
    staged = bob.process(out.commit)
    assert isinstance(staged, StagedCommit)
    assert [m.identity for m in staged.removed] == [b"carol"]
    assert [m.identity for m in staged.added] == [b"dave"]
    staged.merge()
    alice.merge_pending_commit()
    assert carol.process(out.commit).removes_self  # type: ignore[union-attr]
    assert out.welcome is not None
    dave_group = dave.join_group(out.welcome)
    assert {m.identity for m in dave_group.members.values()} == {b"alice", b"bob", b"dave"}
    assert alice.member_by_identity(b"carol") is None


def test_remove_by_credential_and_add_members_takes_values() -> None:
    clients, (alice, bob, _) = _three()
    bob_member = alice.member_by_credential(clients[1].credential)
    assert bob_member is not None and bob_member.leaf_index == bob.own_leaf_index
    assert (
        alice.member_by_credential(
            Credential(credential_type=CredentialType.basic, identity=b"nobody")
        )
        is None
    )
    alice.remove_members([bob_member])
    assert [m.identity for m in alice.pending_commit.removed] == [b"bob"]  # type: ignore[union-attr]
    alice.clear_pending_commit()
    erin = Client.generate(b"erin", config=PUBLIC)
    kp: KeyPackage | None = tls.decode(erin.key_package(), MLSMessage).key_package
    assert kp is not None
    alice.add_members([kp])  # a KeyPackage value, as commit(add=...) takes
    assert [m.identity for m in alice.pending_commit.added] == [b"erin"]  # type: ignore[union-attr]


def test_client_default_config_applies_to_create_join_and_external_join() -> None:
    config = GroupConfig(handshake_wire_format="public", padding_block=32)
    _, groups = _three(config)
    assert all(g.config == config for g in groups)
    frank = Client.generate(b"frank", config=config)
    joined, commit = frank.join_by_external_commit(groups[0].group_info())
    assert joined.config == config
    assert tls.decode(commit, MLSMessage).wire_format == WireFormat.mls_public_message
    # an explicit config still wins
    other = GroupConfig(max_past_epochs=0)
    assert frank.create_group(b"h", config=other).config == other


def test_supported_suites_are_listed_and_usable() -> None:
    suites = Client.supported_suites()
    assert {1, 2, 3} <= set(suites) and len(suites) == len(set(suites))
    for suite in suites:
        a, b = Client.generate(b"a", suite), Client.generate(b"b", suite)
        group = a.create_group(b"g")
        out = group.add_members([b.key_package()])
        group.merge_pending_commit()
        assert out.welcome is not None
        assert b.join_group(out.welcome).epoch_authenticator == group.epoch_authenticator


def test_previous_epoch_application_message_is_read_by_default() -> None:
    assert GroupConfig().max_past_epochs == DEFAULT_MAX_PAST_EPOCHS == 1
    _, (alice, bob, _) = _three(GroupConfig())
    late = bob.encrypt(b"sent before the commit")
    out = alice.update()
    bob.process(out.commit).merge()  # type: ignore[union-attr]
    alice.merge_pending_commit()
    got = alice.process(late)
    assert got.data == b"sent before the commit" and got.epoch == 1  # type: ignore[union-attr]


def _compressed(key: bytes) -> bytes:
    x, y = key[1:33], key[33:]
    return bytes([2 + (y[-1] & 1)]) + x


def test_compressed_ecdsa_key_is_named() -> None:
    """A P-256 signature key in compressed form is reported as such, not as a signature
    that does not verify (suite 2 = P-256)."""
    assert len(_compressed(cipher_suite(2).signature_key_pair()[1])) == 33
    a, b = Client.generate(b"a", 2), Client.generate(b"b", 2)
    group = a.create_group(b"g", config=PUBLIC)
    kp = tls.decode(b.key_package(), MLSMessage).key_package
    assert kp is not None
    leaf = msgspec.structs.replace(
        kp.leaf_node, signature_key=_compressed(kp.leaf_node.signature_key)
    )
    bad = msgspec.structs.replace(kp, leaf_node=leaf)
    with pytest.raises(ValidationError, match=r"§5\.1\.1.*uncompressed point.*compressed point"):
        group.add_members([bad])
    # The GroupInfo signer's key, when an external joiner reads it.
    info_msg = tls.decode(group.group_info(ratchet_tree=True), MLSMessage)
    info = info_msg.group_info
    assert info is not None
    nodes = tree_nodes(info)
    node = nodes[0]
    assert node is not None and node.leaf_node is not None
    signer_leaf = msgspec.structs.replace(
        node.leaf_node, signature_key=_compressed(node.leaf_node.signature_key)
    )
    nodes[0] = msgspec.structs.replace(node, leaf_node=signer_leaf)
    forged = msgspec.structs.replace(info_msg, group_info=set_tree(info, nodes))
    with pytest.raises(ValidationError, match="compressed point"):
        Client.generate(b"c", 2).join_by_external_commit(tls.encode(forged, MLSMessage))


def test_group_whose_leaves_omit_its_own_suite_is_joined_and_followed() -> None:
    # Seen in the field: a suite-7 group whose members' capabilities list suites 1-6.
    # §7.2 asks a leaf to be "compatible with the group's parameters" and spells that out
    # as the required_capabilities check only, so the default policy accepts such a group;
    # ValidationPolicy(strict=True) keeps mlswire's older, stricter check.
    capabilities = msgspec.structs.replace(
        default_capabilities(7), cipher_suites=tuple(CipherSuite(s) for s in range(1, 7))
    )
    alice, bob, carol = (
        Client.generate(n, 7, capabilities=capabilities) for n in (b"alice", b"bob", b"carol")
    )
    group = alice.create_group(b"field")
    out = group.add_members([bob.key_package()])
    group.merge_pending_commit()
    assert out.welcome is not None
    bob_group = bob.join_group(out.welcome)
    out = bob_group.add_members([carol.key_package()])
    staged = group.process(out.commit)
    assert isinstance(staged, StagedCommit)
    staged.merge()
    bob_group.merge_pending_commit()
    assert out.welcome is not None
    carol_group = carol.join_group(out.welcome)
    out = carol_group.update()
    for g in (group, bob_group):
        staged = g.process(out.commit)
        assert isinstance(staged, StagedCommit)
        staged.merge()
    carol_group.merge_pending_commit()
    assert group.epoch_authenticator == bob_group.epoch_authenticator
    assert bob_group.epoch_authenticator == carol_group.epoch_authenticator
    assert bob_group.process(carol_group.encrypt(b"hi")).data == b"hi"

    strict = Client.generate(
        b"dave", 7, capabilities=capabilities, policy=ValidationPolicy(strict=True)
    )
    out = group.add_members([strict.key_package()])
    assert out.welcome is not None
    with pytest.raises(ValidationError, match=r"§7\.2 \(strict\): capabilities list"):
        strict.join_group(out.welcome)
