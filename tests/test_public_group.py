"""The PublicGroup (a group without secrets) follows the official passive-client
vectors: started from the GroupInfo and tree of the member's first epoch, it verifies and
applies every PublicMessage proposal and commit (external commits included) and reaches
the member's tree hash, tree and GroupContext at every epoch. A forged signature is
refused with its state unchanged."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import pytest

from mlswire.codecs import tls
from mlswire.engine.group import (
    Client,
    Group,
    GroupConfig,
    ProposalMessage,
    PublicGroup,
    PublicStagedCommit,
    StagedCommit,
)
from mlswire.errors import CryptoError, DecodeError, StateError, UsageError, ValidationError
from mlswire.schema import MLSMessage, WireFormat

FAMILIES = ("passive-client-welcome", "passive-client-handling-commit", "passive-client-random")
CONFIG = GroupConfig()  # as the passive-client check (mlswire/vectors/_passive.py) uses


def _join(case: dict[str, Any]) -> Group:
    suite = case["cipher_suite"]
    kp = tls.decode(bytes.fromhex(case["key_package"]), MLSMessage).key_package
    assert kp is not None
    client = Client.from_keys(kp.leaf_node.credential, suite, bytes.fromhex(case["signature_priv"]))
    client.add_key_package(
        kp, bytes.fromhex(case["init_priv"]), bytes.fromhex(case["encryption_priv"])
    )
    for psk in case["external_psks"]:
        client.add_external_psk(bytes.fromhex(psk["psk_id"]), bytes.fromhex(psk["psk"]))
    tree = bytes.fromhex(case["ratchet_tree"]) if case.get("ratchet_tree") else None
    group = client.join_group(bytes.fromhex(case["welcome"]), tree, config=CONFIG)
    assert group.epoch_authenticator.hex() == case["initial_epoch_authenticator"]
    return group


def _is_public(message: bytes) -> bool:
    msg: MLSMessage = tls.decode(message, MLSMessage)
    return msg.wire_format == WireFormat.mls_public_message


def _same(public: PublicGroup, group: Group, where: str) -> None:
    assert public.tree_hash == group.tree_hash, where
    assert public.group_context == group.group_context, where
    assert public.ratchet_tree() == group.ratchet_tree(), where
    assert public.members == group.members, where


def _follow(case: dict[str, Any], counts: Counter[str], name: str) -> None:
    group = _join(case)
    # A GroupInfo without the tree: the tree comes out of band, as a DS might hold it.
    public = PublicGroup.from_group_info(
        group.group_info(ratchet_tree=False), group.ratchet_tree(), config=CONFIG
    )
    _same(public, group, f"{name} start")
    counts["started"] += 1
    for n, epoch in enumerate(case["epochs"]):
        for proposal in epoch["proposals"]:
            message = bytes.fromhex(proposal)
            member_view = group.process(message)
            assert isinstance(member_view, ProposalMessage)
            if _is_public(message):
                seen = public.process(message)
                assert isinstance(seen, ProposalMessage) and seen.ref == member_view.ref
                counts["proposals"] += 1
            else:
                counts["private proposals"] += 1
        commit = bytes.fromhex(epoch["commit"])
        staged = group.process(commit)
        assert isinstance(staged, StagedCommit)
        if not _is_public(commit):  # pragma: no cover - none in the official vectors
            counts["private commits (public group restarted)"] += 1
            staged.merge()
            public = PublicGroup.from_group_info(group.group_info(), config=CONFIG)
            continue
        seen_commit = public.process(commit)
        assert isinstance(seen_commit, PublicStagedCommit)
        assert seen_commit.epoch == staged.epoch
        assert [m.leaf_index for m in seen_commit.added] == [m.leaf_index for m in staged.added]
        assert seen_commit.removed == staged.removed
        assert seen_commit.reinit == staged.reinit
        staged.merge()
        seen_commit.merge()
        assert group.epoch_authenticator.hex() == epoch["epoch_authenticator"]
        _same(public, group, f"{name} epochs[{n}]")
        counts["commits"] += 1
        if staged.sender.sender_type.name == "new_member_commit":
            counts["external commits"] += 1
        if n % 25 == 24:  # a DS persists it: the saved form carries on
            public = PublicGroup.from_bytes(public.to_bytes())
            _same(public, group, f"{name} epochs[{n}] reloaded")


@pytest.mark.parametrize("family", FAMILIES)
def test_public_group_follows_passive_client_vectors(vectors: Path, family: str) -> None:
    cases = json.loads((vectors / f"{family}.json").read_text())
    counts: Counter[str] = Counter()
    for i, case in enumerate(cases):
        _follow(case, counts, f"{family}[{i}]")
    print(f"{family}: {dict(counts)}")
    assert counts["started"] == len(cases)
    commits = sum(len(c["epochs"]) for c in cases)
    assert counts["commits"] + counts["private commits (public group restarted)"] == commits
    if family != "passive-client-welcome":
        assert counts["commits"] > 0


def _first_commit_case(vectors: Path) -> tuple[PublicGroup, list[bytes], bytes]:
    """A public group following the first handling-commit case that has proposals, at
    the first epoch that has them, with those proposals and that epoch's commit."""
    cases = json.loads((vectors / "passive-client-handling-commit.json").read_text())
    case = next(c for c in cases if any(e["proposals"] for e in c["epochs"]))
    group = _join(case)
    public = PublicGroup.from_group_info(group.group_info(ratchet_tree=True), config=CONFIG)
    for epoch in case["epochs"]:
        proposals = [bytes.fromhex(p) for p in epoch["proposals"]]
        commit = bytes.fromhex(epoch["commit"])
        if proposals:
            return public, proposals, commit
        public.process(commit).merge()  # type: ignore[union-attr]
    raise AssertionError("unreachable: the case has an epoch with proposals")


def _forge_signature(message: bytes) -> bytes:
    msg: MLSMessage = tls.decode(message, MLSMessage)
    assert msg.public_message is not None
    signature = bytearray(msg.public_message.auth.signature)
    signature[-1] ^= 1
    auth = msgspec.structs.replace(msg.public_message.auth, signature=bytes(signature))
    pm = msgspec.structs.replace(msg.public_message, auth=auth)
    return tls.encode(msgspec.structs.replace(msg, public_message=pm), MLSMessage)


def test_forged_signatures_are_refused_state_unchanged(vectors: Path) -> None:
    public, proposals, commit = _first_commit_case(vectors)
    before = public.to_bytes()
    with pytest.raises(CryptoError, match="signature"):
        public.process(_forge_signature(proposals[0]))
    assert public.to_bytes() == before
    for proposal in proposals:
        public.process(proposal)
    before = public.to_bytes()
    with pytest.raises(CryptoError, match="signature"):
        public.process(_forge_signature(commit))
    assert public.to_bytes() == before
    assert isinstance(public.process(commit), PublicStagedCommit)  # the real one passes


def test_public_group_refuses_what_it_cannot_read() -> None:
    alice, bob = Client.generate(b"alice"), Client.generate(b"bob")
    group = alice.create_group(b"g")  # PrivateMessage handshakes by default
    public = PublicGroup.from_group_info(group.group_info())
    out = group.add_members([bob.key_package()])
    before = public.to_bytes()
    with pytest.raises(StateError, match="PublicMessages only"):
        public.process(out.commit)
    assert public.to_bytes() == before


def test_stale_staged_commit_and_tampered_group_info() -> None:
    alice, bob = Client.generate(b"alice"), Client.generate(b"bob")
    group = alice.create_group(b"g", config=GroupConfig(handshake_wire_format="public"))
    public = PublicGroup.from_group_info(group.group_info())
    staged = public.process(group.add_members([bob.key_package()]).commit)
    group.clear_pending_commit()
    other = public.process(group.update().commit)
    assert isinstance(staged, PublicStagedCommit) and isinstance(other, PublicStagedCommit)
    other.merge()
    with pytest.raises(UsageError, match="no longer applies"):
        staged.merge()
    info = bytearray(group.group_info())
    info[-1] ^= 1  # the GroupInfo signature's last byte
    with pytest.raises((CryptoError, ValidationError)):
        PublicGroup.from_group_info(bytes(info))


def test_public_group_follows_external_joins_and_resync() -> None:
    """External commits (a new member, then a resync that removes its old leaf): none
    are in the official passive-client vectors, so made here."""
    config = GroupConfig(handshake_wire_format="public")
    alice, bob = Client.generate(b"alice", config=config), Client.generate(b"bob", config=config)
    group = alice.create_group(b"g")
    public = PublicGroup.from_group_info(group.group_info())
    bob_group, commit = bob.join_by_external_commit(group.group_info())
    for g in (group, public):
        staged = g.process(commit)
        assert isinstance(staged, (StagedCommit, PublicStagedCommit))
        assert staged.sender.sender_type.name == "new_member_commit"
        staged.merge()
    _same(public, group, "external join")
    del bob_group  # bob lost his state: he resyncs, removing his old leaf
    _, commit = bob.join_by_external_commit(group.group_info(), remove_leaf=1)
    for g in (group, public):
        staged = g.process(commit)
        assert [m.leaf_index for m in staged.removed] == [1]  # type: ignore[union-attr]
        staged.merge()  # type: ignore[union-attr]
    _same(public, group, "resync")
    assert len(public.members) == 2


def test_public_group_state_refuses_bad_bytes() -> None:
    alice = Client.generate(b"alice")
    group = alice.create_group(b"g")
    public = PublicGroup.from_group_info(group.group_info())
    saved = public.to_bytes()
    assert PublicGroup.from_bytes(saved).group_context == group.group_context
    for bad in (b"", b"\xff" * 8, group.to_bytes(), saved[:-3]):
        with pytest.raises(DecodeError):
            PublicGroup.from_bytes(bad)
