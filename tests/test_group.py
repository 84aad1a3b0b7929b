"""The group engine (mlswire.engine.group): lifecycle, stage-then-merge, rejections that
leave the state byte-identical, PSKs, proposals by reference, persistence."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from mlswire.codecs import tls
from mlswire.crypto import labeled
from mlswire.engine import framing
from mlswire.engine.group import (
    ApplicationMessage,
    Client,
    Group,
    GroupConfig,
    ProposalMessage,
    StagedCommit,
)
from mlswire.engine.state import FORMAT_VERSION
from mlswire.errors import CryptoError, DecodeError, MLSError, StateError, ValidationError
from mlswire.schema import (
    AuthenticatedContent,
    Commit,
    Extension,
    ExtensionType,
    GroupContextExtensions,
    MLSMessage,
    Proposal,
    ProposalOrRef,
    ProposalOrRefType,
    ProposalType,
    PublicMessage,
    Remove,
    RequiredCapabilities,
    WireFormat,
)
from mlswire.vectors import verify_file

from ._forge import PUBLIC, make_group, resigned_group_info
from .conftest import require, vectors_dir

PRIVATE = GroupConfig()


def counter_rng(seed: int = 0) -> Callable[[int], bytes]:
    """A reproducible rng (not secure; tests only)."""
    import hashlib

    state = {"n": 0}

    def rng(n: int) -> bytes:
        out = b""
        while len(out) < n:
            state["n"] += 1
            out += hashlib.sha256(f"{seed}:{state['n']}".encode()).digest()
        return out[:n]

    return rng


def assert_in_sync(groups: list[Group]) -> None:
    assert len({g.epoch for g in groups}) == 1
    assert len({g.epoch_authenticator for g in groups}) == 1
    assert len({g.tree_hash for g in groups}) == 1
    assert len({g.export_secret(b"t", b"", 8) for g in groups}) == 1


def deliver(commit: bytes, committer: Group, others: list[Group]) -> None:
    for g in others:
        staged = g.process(commit)
        assert isinstance(staged, StagedCommit)
        staged.merge()
    committer.merge_pending_commit()


# --- lifecycle --------------------------------------------------------------------------


@pytest.mark.parametrize("suite", range(1, 8))
def test_lifecycle_every_suite(suite: int) -> None:
    _clients, groups = make_group(3, PRIVATE, suite=suite)
    assert_in_sync(groups)
    a, b, c = groups
    assert [g.own_leaf_index for g in groups] == [0, 1, 2]
    assert {i: m.identity for i, m in a.members.items()} == {
        0: b"member0",
        1: b"member1",
        2: b"member2",
    }
    msg = b.encrypt(b"from b")
    for g in (a, c):
        got = g.process(msg)
        assert isinstance(got, ApplicationMessage)
        assert (got.data, got.sender) == (b"from b", 1)
    out = c.update()
    deliver(out.commit, c, [a, b])
    assert_in_sync(groups)
    out = a.remove_members([1])
    staged = b.process(out.commit)
    assert isinstance(staged, StagedCommit) and staged.removes_self
    staged.merge()
    assert not b.active
    deliver(out.commit, a, [c])
    assert_in_sync([a, c])
    late = a.encrypt(b"secret")
    with pytest.raises(MLSError):
        b.process(late)
    got = c.process(late)
    assert isinstance(got, ApplicationMessage) and got.data == b"secret"


def test_public_handshake_and_tree_out_of_band() -> None:
    config = GroupConfig(handshake_wire_format="public", ratchet_tree_extension=False)
    a_client, b_client = Client.generate(b"a"), Client.generate(b"b")
    a = a_client.create_group(config=config)
    out = a.add_members([b_client.key_package()])
    msg = tls.decode(out.commit, MLSMessage)
    assert msg.wire_format == WireFormat.mls_public_message
    a.merge_pending_commit()
    assert out.welcome is not None
    with pytest.raises(StateError, match="ratchet_tree"):
        b_client.join_group(out.welcome, config=config)
    b = b_client.join_group(out.welcome, a.ratchet_tree(), config=config)
    assert_in_sync([a, b])


def test_stage_then_merge_changes_nothing_until_merge() -> None:
    _, (a, _b, c) = make_group(3, PRIVATE)
    out = c.update()
    before = a.to_bytes()
    staged = a.process(out.commit)
    assert isinstance(staged, StagedCommit)
    assert staged.epoch == a.epoch + 1
    assert a.to_bytes() == before
    staged.merge()
    assert a.epoch == staged.epoch
    staged.merge()  # idempotent


def test_own_commit_echo_merges_and_unknown_own_commit_is_rejected() -> None:
    _, (a, b) = make_group(2, PRIVATE)
    out = a.update()
    echoed = a.process(out.commit)
    assert isinstance(echoed, StagedCommit) and echoed.merged
    b.process(out.commit).merge()  # type: ignore[union-attr]
    assert_in_sync([a, b])
    with pytest.raises(StateError):
        a.process(out.commit)  # old epoch now


def test_add_required_capabilities_and_gce() -> None:
    _, (a, b) = make_group(2, PRIVATE)
    needed = RequiredCapabilities(
        extension_types=(ExtensionType(0xFF00),), proposal_types=(), credential_types=()
    )
    ext = Extension(
        extension_type=ExtensionType.required_capabilities,
        extension_data=tls.encode(needed, RequiredCapabilities),
    )
    before = a.to_bytes()
    with pytest.raises(ValidationError, match="required_capabilities"):
        a.update_group_context_extensions([ext])
    assert a.to_bytes() == before
    app_id = Extension(extension_type=ExtensionType.application_id, extension_data=b"app")
    out = a.update_group_context_extensions([app_id])
    deliver(out.commit, a, [b])
    assert b.extensions == (app_id,)
    assert_in_sync([a, b])


def test_proposals_by_reference_update_remove_add() -> None:
    _clients, (a, b, c, d) = make_group(4, PRIVATE)
    e_client = Client.generate(b"e")
    p_update = b.propose_update()
    p_remove = c.propose_remove(3)
    p_add = d.propose_add(e_client.key_package())
    for g, own in ((a, None), (b, p_update), (c, p_remove), (d, p_add)):
        for p in (p_update, p_remove, p_add):
            if p is not own:
                got = g.process(p)
                assert isinstance(got, ProposalMessage)
    with pytest.raises(StateError, match="commit the pending proposals"):
        a.encrypt(b"not yet")
    out = a.commit()
    staged = b.process(out.commit)
    assert isinstance(staged, StagedCommit)
    assert staged.updated == (1,)
    assert [m.leaf_index for m in staged.removed] == [3]
    assert [m.identity for m in staged.added] == [b"e"]
    staged.merge()
    c.process(out.commit).merge()  # type: ignore[union-attr]
    d.process(out.commit).merge()  # type: ignore[union-attr]
    a.merge_pending_commit()
    assert not d.active
    assert out.welcome is not None
    e = e_client.join_group(out.welcome)
    assert_in_sync([a, b, c, e])
    # b's new leaf key (from its Update) is what it decrypts with now.
    out = e.update()
    deliver(out.commit, e, [a, b, c])
    assert_in_sync([a, b, c, e])


def test_psks_external_and_resumption() -> None:
    clients, (a, b) = make_group(2, PRIVATE)
    for c in clients:
        c.add_external_psk(b"shared", b"\x07" * 32)
    out = a.add_psks([b"shared"], resumption_epochs=[a.epoch])
    deliver(out.commit, a, [b])
    assert_in_sync([a, b])
    # A PSK b does not hold: rejected, state unchanged.
    clients[0].add_external_psk(b"only-a", b"\x01" * 32)
    out = a.add_psks([b"only-a"])
    before = b.to_bytes()
    with pytest.raises(StateError, match="not available"):
        b.process(out.commit)
    assert b.to_bytes() == before


def test_out_of_order_and_past_epoch_messages() -> None:
    config = GroupConfig(max_past_epochs=1)
    _, (a, b) = make_group(2, config)
    m1, m2, m3 = (a.encrypt(bytes([i])) for i in range(3))
    assert b.process(m3).data == b"\x02"  # type: ignore[union-attr]
    assert b.process(m1).data == b"\x00"  # type: ignore[union-attr]
    with pytest.raises(StateError, match="already used"):
        b.process(m1)
    out = b.update()
    deliver(out.commit, b, [a])
    assert b.process(m2).data == b"\x01"  # type: ignore[union-attr]  # epoch n-1
    _, (x, y) = make_group(2, GroupConfig(max_past_epochs=0))  # no past epochs kept
    m = x.encrypt(b"late")
    out = y.update()
    deliver(out.commit, y, [x])
    with pytest.raises(StateError, match="too old"):
        y.process(m)


# --- rejected messages leave the state byte-identical ------------------------------------


def _public(data: bytes) -> PublicMessage:
    msg = tls.decode(data, MLSMessage)
    assert msg.public_message is not None
    pm: PublicMessage = msg.public_message
    return pm


def _encode_public(pm: PublicMessage) -> bytes:
    return tls.encode(
        MLSMessage(wire_format=WireFormat.mls_public_message, public_message=pm), MLSMessage
    )


def _retag(sender: Group, pm: PublicMessage) -> PublicMessage:
    """A valid membership tag for (possibly altered) content, as a member would compute."""
    st = sender._state
    ac = AuthenticatedContent(
        wire_format=WireFormat.mls_public_message, content=pm.content, auth=pm.auth
    )
    tag = framing.membership_tag(st.suite, st.secrets.membership_key, ac, st.context)
    return msgspec.structs.replace(pm, membership_tag=tag)


def _resign(sender: Group, pm: PublicMessage) -> PublicMessage:
    st = sender._state
    sig = framing.sign_framed_content(
        st.suite,
        sender.client.signature_private_key,
        pm.content,
        WireFormat.mls_public_message,
        st.context,
    )
    return _retag(
        sender, msgspec.structs.replace(pm, auth=msgspec.structs.replace(pm.auth, signature=sig))
    )


def _rejects(group: Group, message: bytes, error: type[MLSError], match: str) -> None:
    before = group.to_bytes()
    with pytest.raises(error, match=match):
        group.process(message)
    assert group.to_bytes() == before


def test_rejections_leave_state_identical() -> None:
    _, (a, b, c) = make_group(3, PUBLIC)
    out = c.update()
    pm = _public(out.commit)

    # bad signature (membership tag recomputed so that the signature is what fails)
    bad_sig = bytearray(pm.auth.signature)
    bad_sig[5] ^= 1
    forged = _retag(
        c,
        msgspec.structs.replace(
            pm, auth=msgspec.structs.replace(pm.auth, signature=bytes(bad_sig))
        ),
    )
    _rejects(a, _encode_public(forged), CryptoError, "signature")

    # bad membership tag
    assert pm.membership_tag is not None
    tag = bytearray(pm.membership_tag)
    tag[0] ^= 1
    _rejects(
        a,
        _encode_public(msgspec.structs.replace(pm, membership_tag=bytes(tag))),
        CryptoError,
        "membership_tag",
    )

    # bad confirmation tag (correctly signed and tagged otherwise)
    assert pm.auth.confirmation_tag is not None
    conf = bytearray(pm.auth.confirmation_tag)
    conf[0] ^= 1
    forged = _resign(
        c,
        msgspec.structs.replace(
            pm, auth=msgspec.structs.replace(pm.auth, confirmation_tag=bytes(conf))
        ),
    )
    _rejects(a, _encode_public(forged), ValidationError, "confirmation_tag")

    # wrong epoch: too old and from the future
    future = _resign(
        c,
        msgspec.structs.replace(
            pm, content=msgspec.structs.replace(pm.content, epoch=pm.content.epoch + 1)
        ),
    )
    _rejects(a, _encode_public(future), StateError, "future")

    # invalid proposal list: the committer removes itself
    assert pm.content.commit is not None
    bad_commit = Commit(
        proposals=(
            ProposalOrRef(
                type=ProposalOrRefType.proposal,
                proposal=Proposal(proposal_type=ProposalType.remove, remove=Remove(removed=2)),
            ),
        ),
        path=pm.content.commit.path,
    )
    forged = _resign(
        c,
        msgspec.structs.replace(pm, content=msgspec.structs.replace(pm.content, commit=bad_commit)),
    )
    _rejects(a, _encode_public(forged), ValidationError, "§12.2")

    # and the genuine commit still goes through afterwards
    deliver(out.commit, c, [a, b])
    _rejects(a, out.commit, StateError, "too old")
    assert_in_sync([a, b, c])


def test_commit_from_removed_member_is_rejected() -> None:
    _, (a, b, c) = make_group(3, PUBLIC)
    out = a.remove_members([2])
    deliver(out.commit, a, [b])
    # c did not process its removal and commits in the old epoch
    stale = c.update()
    _rejects(b, stale.commit, StateError, "too old")
    # c's commit forged into the current epoch, tagged with a member's key: c's leaf is blank
    pm = _public(stale.commit)
    moved = msgspec.structs.replace(pm, content=msgspec.structs.replace(pm.content, epoch=b.epoch))
    _rejects(b, _encode_public(_retag(a, moved)), ValidationError, "member")


def test_private_message_rejections() -> None:
    _, (a, b) = make_group(2, PRIVATE)
    msg = tls.decode(a.encrypt(b"x"), MLSMessage)
    pm = msg.private_message
    assert pm is not None
    ct = bytearray(pm.ciphertext)
    ct[-1] ^= 1
    bad = tls.encode(
        msgspec.structs.replace(
            msg, private_message=msgspec.structs.replace(pm, ciphertext=bytes(ct))
        ),
        MLSMessage,
    )
    _rejects(b, bad, CryptoError, r"§6\.3\.1: PrivateMessage content .* does not decrypt")
    _rejects(b, b"\x00\x01\x00\x02garbage", MLSError, r"group_id: length \d+ exceeds")
    out = a.update()  # a PrivateMessage commit, tampered
    msg = tls.decode(out.commit, MLSMessage)
    assert msg.private_message is not None
    ct = bytearray(msg.private_message.ciphertext)
    ct[3] ^= 1
    bad = tls.encode(
        msgspec.structs.replace(
            msg, private_message=msgspec.structs.replace(msg.private_message, ciphertext=bytes(ct))
        ),
        MLSMessage,
    )
    _rejects(b, bad, CryptoError, r"§6\.3\.2: PrivateMessage sender data does not decrypt")
    b.process(out.commit).merge()  # type: ignore[union-attr]
    a.merge_pending_commit()
    assert_in_sync([a, b])


# --- persistence ----------------------------------------------------------------------------


def test_persistence_round_trip_and_use() -> None:
    clients, (a, b, c) = make_group(3, GroupConfig(max_past_epochs=2))
    p = b.propose_update()
    a.process(p)
    c.process(p)
    data = b.to_bytes()
    b2 = Group.from_bytes(data, clients[1])
    assert b2.to_bytes() == data
    out = a.commit()  # commits b's Update by reference: b2 needs the saved update key
    deliver(out.commit, a, [c])
    b2.process(out.commit).merge()  # type: ignore[union-attr]
    assert_in_sync([a, b2, c])
    got = b2.process(c.encrypt(b"after reload"))
    assert isinstance(got, ApplicationMessage) and got.data == b"after reload"
    out = b2.update()
    deliver(out.commit, b2, [a, c])
    assert_in_sync([a, b2, c])


def test_persistence_errors() -> None:
    clients, (a, _b) = make_group(2, PRIVATE)
    data = a.to_bytes()
    with pytest.raises(StateError, match="another client"):
        Group.from_bytes(data, clients[1])
    with pytest.raises(DecodeError):
        Group.from_bytes(b"\xff\x00junk", clients[0])
    import cbor2

    doc = cbor2.loads(data)
    doc["version"] = FORMAT_VERSION + 1
    with pytest.raises(DecodeError, match="version"):
        Group.from_bytes(cbor2.dumps(doc), clients[0])
    del doc["current"]
    doc["version"] = FORMAT_VERSION
    with pytest.raises(DecodeError, match="malformed"):
        Group.from_bytes(cbor2.dumps(doc), clients[0])
    # Regressions from fuzzing: an integer where bytes belong raised OverflowError (or
    # allocated bytes(N) for a stored N); every field's type is checked first now.
    for path, value in (
        (("current", "interim"), 10**20),
        (("current", "interim"), 10**9),
        (("current", "secret_tree", "nodes"), {0: 5}),
        (("current", "leaf_index"), -1),
        (("resumption_psks",), {1 << 70: b""}),
    ):
        doc = cbor2.loads(data)
        *outer, last = path
        target = doc
        for key in outer:
            target = target[key]
        target[last] = value
        with pytest.raises(DecodeError, match=r"malformed (group|secret tree) state"):
            Group.from_bytes(cbor2.dumps(doc), clients[0])


def test_key_package_private_keys_deleted_on_use() -> None:
    a_client, b_client = Client.generate(b"a"), Client.generate(b"b")
    a = a_client.create_group()
    out = a.add_members([b_client.key_package()])
    a.merge_pending_commit()
    assert out.welcome is not None
    assert len(b_client._key_packages) == 1
    b_client.join_group(out.welcome)
    assert b_client._key_packages == {}
    with pytest.raises(ValidationError, match="KeyPackages"):
        b_client.join_group(out.welcome)


def test_reproducible_with_injected_rng() -> None:
    def run() -> bytes:
        rng = counter_rng(7)
        a_client = Client.generate(b"a", 1, rng=rng)
        b_client = Client.generate(b"b", 1, rng=rng)
        a = a_client.create_group(b"g", rng=rng)
        out = a.add_members([b_client.key_package(rng=rng, lifetime=(0, 2**40))])
        return out.commit + (out.welcome or b"")

    assert run() == run()


def test_passive_vector_mismatch_is_reported(tmp_path: Path) -> None:
    cases = json.loads(require(vectors_dir() / "passive-client-handling-commit.json").read_text())
    case = cases[0]
    auth = bytearray.fromhex(case["epochs"][-1]["epoch_authenticator"])
    auth[0] ^= 1
    case["epochs"][-1]["epoch_authenticator"] = auth.hex()
    path = tmp_path / "passive-client-handling-commit.json"
    path.write_text(json.dumps([case]))
    results = list(verify_file(path)[1])
    assert results[0].error is not None and "epoch_authenticator" in results[0].error


def test_proposal_ref_matches_rfc_definition() -> None:
    _, (a, b) = make_group(2, PUBLIC)
    p = a.propose_remove(1)
    got = b.process(p)
    assert isinstance(got, ProposalMessage)
    pm = _public(p)
    ac = AuthenticatedContent(
        wire_format=WireFormat.mls_public_message, content=pm.content, auth=pm.auth
    )
    assert got.ref == labeled.make_proposal_ref(
        a._state.suite, tls.encode(ac, AuthenticatedContent)
    )


@pytest.mark.parametrize("config", [GroupConfig(), PUBLIC], ids=["private", "public"])
def test_external_commit_join_and_resync(config: GroupConfig) -> None:
    clients, (a, b) = make_group(2, config)
    out = a.add_members([Client.generate(b"c").key_package()])
    deliver(out.commit, a, [b])
    assert out.group_info is not None  # published with every commit that adds
    info = out.group_info
    d_client = Client.generate(b"d")
    d, commit = d_client.join_by_external_commit(info, config=config)
    for g in (a, b):
        staged = g.process(commit)
        assert isinstance(staged, StagedCommit)
        assert staged.sender.sender_type.name == "new_member_commit"
        staged.merge()
    assert_in_sync([a, b, d])
    got = a.process(d.encrypt(b"hello from d"))
    assert isinstance(got, ApplicationMessage) and got.data == b"hello from d"
    # b lost its state and rejoins, removing its old leaf
    out = a.update()
    deliver(out.commit, a, [b, d])
    info = a.group_info()
    b_new, commit = clients[1].join_by_external_commit(info, remove_leaf=1, config=config)
    for g in (a, d):
        g.process(commit).merge()  # type: ignore[union-attr]
    staged = b.process(commit)
    assert isinstance(staged, StagedCommit) and staged.removes_self
    assert_in_sync([a, d, b_new])


def test_external_sender_proposal_and_join_request() -> None:
    from mlswire.engine.group import external_proposal, external_senders_extension
    from mlswire.schema import Credential, CredentialType

    server = Client.generate(b"server")
    ext = external_senders_extension(
        [
            (
                server.signature_public_key,
                Credential(credential_type=CredentialType.basic, identity=b"server"),
            )
        ]
    )
    clients = [Client.generate(n) for n in (b"a", b"b", b"c")]
    a = clients[0].create_group(b"ext", extensions=[ext])
    out = a.add_members([c.key_package() for c in clients[1:]])
    a.merge_pending_commit()
    assert out.welcome is not None
    b, c = (cl.join_group(out.welcome) for cl in clients[1:])
    remove_c = Proposal(proposal_type=ProposalType.remove, remove=Remove(removed=2))
    message = external_proposal(1, server.signature_private_key, 0, a.group_id, a.epoch, remove_c)
    for g in (a, b, c):
        got = g.process(message)
        assert isinstance(got, ProposalMessage) and got.sender.sender_type.name == "external"
    # an unknown external sender index, and a forged signature, are rejected
    bad_index = external_proposal(1, server.signature_private_key, 3, a.group_id, a.epoch, remove_c)
    _rejects(b, bad_index, ValidationError, "external")
    impostor = external_proposal(
        1, clients[1].signature_private_key, 0, a.group_id, a.epoch, remove_c
    )
    _rejects(b, impostor, CryptoError, "signature")
    out = b.commit()
    for g in (a, c):
        g.process(out.commit).merge()  # type: ignore[union-attr]
    b.merge_pending_commit()
    assert not c.active
    assert_in_sync([a, b])
    # a new member asks to join; a member commits its Add; the Welcome lets it in
    d_client = Client.generate(b"d")
    request = d_client.join_request(a.group_id, a.epoch)
    for g in (a, b):
        got = g.process(request)
        assert isinstance(got, ProposalMessage)
        assert got.sender.sender_type.name == "new_member_proposal"
    out = a.commit(update_path=False)
    b.process(out.commit).merge()  # type: ignore[union-attr]
    a.merge_pending_commit()
    assert out.welcome is not None
    d = d_client.join_group(out.welcome)
    assert_in_sync([a, b, d])


def test_own_proposal_echo_is_recognised() -> None:
    _, (a, b) = make_group(2, PRIVATE)
    p = a.propose_remove(1)
    first = a.process(p)  # the DS echoes it back to a
    assert isinstance(first, ProposalMessage)
    assert b.process(p).ref == first.ref  # type: ignore[union-attr]


def test_reinit_and_branch() -> None:
    clients, (a, b, c) = make_group(3, PRIVATE)
    p = b.propose_reinit(b"reborn", suite=3)
    a.process(p)
    c.process(p)
    out = a.commit(update_path=False)
    for g in (b, c):
        g.process(out.commit).merge()  # type: ignore[union-attr]
    a.merge_pending_commit()
    for g in (a, b, c):
        assert not g.active and g.pending_reinit is not None
        with pytest.raises(StateError, match="ReInit"):
            g.encrypt(b"no")
    saved = Group.from_bytes(c.to_bytes(), clients[2])
    assert saved.pending_reinit == c.pending_reinit
    # the new group uses suite 3: each member brings a client of that suite
    new_clients = [Client.generate(f"member{i}".encode(), 3) for i in range(3)]
    with pytest.raises(StateError, match="suite"):
        b.reinit_successor([])
    b3, out = b.reinit_successor(
        [new_clients[0].key_package(), new_clients[2].key_package()], client=new_clients[1]
    )
    assert out.welcome is not None
    assert (b3.group_id, b3.cipher_suite, b3.epoch) == (b"reborn", 3, 1)
    # without the old group's resumption PSK the Welcome cannot be opened, and with only
    # the PSK it cannot be checked against the old group (§12.4.3.1)
    with pytest.raises(StateError, match="resumption PSK"):
        new_clients[0].join_group(out.welcome)
    with pytest.raises(StateError, match="resumed_from"):
        new_clients[0].join_group(out.welcome, psks=a.psk_lookup)
    a3 = new_clients[0].join_group(out.welcome, resumed_from=a)
    c3 = new_clients[2].join_group(out.welcome, resumed_from=saved)
    assert_in_sync([a3, b3, c3])

    # branch: a subgroup of a3 and c3 tied to the reborn group's current epoch
    sub, out = a3.branch([new_clients[2].key_package()])
    assert out.welcome is not None
    c_sub = new_clients[2].join_group(out.welcome, resumed_from=c3)
    assert_in_sync([sub, c_sub])
    assert sub.group_id != a3.group_id


def test_stored_state_fixture_still_loads() -> None:
    """States written by format version 1 (committed, never regenerated) load and work:
    the pending Update proposal is committed, a late message is read, a commit flows."""
    doc = json.loads((Path(__file__).parent / "fixtures" / "group_state_v1.json").read_text())
    groups = []
    for member in doc["members"]:
        client = Client.from_keys(
            member["identity"].encode(), 1, bytes.fromhex(member["signature_priv"])
        )
        for psk in doc["external_psks"]:
            client.add_external_psk(bytes.fromhex(psk["psk_id"]), bytes.fromhex(psk["psk"]))
        groups.append(Group.from_bytes(bytes.fromhex(member["state"]), client))
    a, b = groups
    assert a.epoch == b.epoch == doc["epoch"]
    assert a.epoch_authenticator.hex() == doc["epoch_authenticator"]
    got = b.process(bytes.fromhex(doc["pending_application_message"]))
    assert isinstance(got, ApplicationMessage) and got.data.startswith(b"sent in epoch 2")
    out = b.add_psks([b"fixture psk"])  # also commits a's Update by reference
    deliver(out.commit, b, [a])
    assert_in_sync([a, b])
    got = a.process(b.encrypt(b"still working"))
    assert isinstance(got, ApplicationMessage) and got.data == b"still working"


def test_stored_state_v2_fixture_pending_commit() -> None:
    """States written by format version 2 (committed, never regenerated): alice's holds a
    pending commit (Remove carol with a path, bob's Update by reference) that merges after
    the reload, into the epoch bob reaches by processing it."""
    doc = json.loads((Path(__file__).parent / "fixtures" / "group_state_v2.json").read_text())
    a, b = (
        Group.from_bytes(
            bytes.fromhex(m["state"]),
            Client.from_keys(m["identity"].encode(), 1, bytes.fromhex(m["signature_priv"])),
        )
        for m in doc["members"]
    )
    commit = bytes.fromhex(doc["pending_commit"])
    assert a.pending_commit_output is not None and a.pending_commit_output.commit == commit
    assert a.pending_commit is not None and [m.leaf_index for m in a.pending_commit.removed] == [2]
    b.process(commit).merge()  # type: ignore[union-attr]
    assert a.process(commit).merged  # type: ignore[union-attr]  # the DS's echo
    assert a.epoch == b.epoch == doc["epoch"] + 1
    assert a.epoch_authenticator.hex() == doc["epoch_authenticator_after"]
    got = b.process(a.encrypt(b"after the reload"))
    assert isinstance(got, ApplicationMessage) and got.data == b"after the reload"


def test_pending_commit_is_saved() -> None:
    """A pending commit survives to_bytes/from_bytes: its messages, its views, and the
    epoch it creates."""
    clients, (a, b, c) = make_group(3, PRIVATE)
    out = a.add_members([Client.generate(b"d").key_package()], update_path=True)
    assert a.pending_commit is not None
    views = _staged_views(a.pending_commit)
    data = a.to_bytes()
    a2 = Group.from_bytes(data, clients[0])
    assert a2.to_bytes() == data
    assert a2.pending_commit_output == out
    assert a2.pending_commit is not None and _staged_views(a2.pending_commit) == views
    deliver(out.commit, a2, [b, c])
    assert_in_sync([a2, b, c])
    assert Group.from_bytes(a2.to_bytes(), clients[0]).pending_commit is None


def _staged_views(staged: StagedCommit) -> tuple[object, ...]:
    return (
        staged.epoch,
        staged.added,
        staged.removed,
        staged.updated,
        staged.psks,
        staged.reinit,
        staged.custom_proposals,
        staged.epoch_authenticator,
    )


def test_commit_leaves_out_cached_proposals_that_would_invalidate_it() -> None:
    """§12.1: the committer includes received proposals as long as the list stays
    valid: of a cached Update of c and a cached Remove of c, the first to arrive is
    committed, the other left out, and every member agrees."""
    _, (a, b, c, d) = make_group(4, PRIVATE)
    update_c = c.propose_update()
    remove_c = b.propose_remove(2)
    for g in (a, b, d):
        g.process(update_c)
    for g in (a, c, d):
        g.process(remove_c)
    out = a.commit()
    staged = b.process(out.commit)
    assert isinstance(staged, StagedCommit)
    assert staged.updated == (2,) and staged.removed == ()
    staged.merge()
    deliver(out.commit, a, [c, d])
    assert_in_sync([a, b, c, d])
    # our by-value Remove of c wins over c's cached Update; an invalid by-value
    # proposal is never dropped: its error is raised
    update_c = c.propose_update()
    for g in (b, d):
        g.process(update_c)
    with pytest.raises(ValidationError, match="Remove names a member"):
        b.commit([Proposal(proposal_type=ProposalType.remove, remove=Remove(removed=9))])
    assert b.pending_commit is None
    out = b.commit([Proposal(proposal_type=ProposalType.remove, remove=Remove(removed=2))])
    staged = d.process(out.commit)
    assert isinstance(staged, StagedCommit)
    assert staged.updated == () and [m.leaf_index for m in staged.removed] == [2]


def test_concurrent_commits_first_one_wins() -> None:
    _, (a, b, c) = make_group(3, PRIVATE)
    out_a = a.update()
    out_b = b.remove_members([2])
    # the DS orders a's commit first: b drops its own pending commit by merging a's
    staged = b.process(out_a.commit)
    assert isinstance(staged, StagedCommit)
    staged.merge()
    assert b.pending_commit is None
    c.process(out_a.commit).merge()  # type: ignore[union-attr]
    assert a.process(out_a.commit).merged  # type: ignore[union-attr]
    _rejects(a, out_b.commit, StateError, "too old")
    assert_in_sync([a, b, c])
    # b can commit again in the new epoch
    out_b = b.remove_members([2])
    deliver(out_b.commit, b, [a, c])
    assert_in_sync([a, b])


def test_custom_proposal_types_and_padding() -> None:
    from mlswire.engine.group import default_capabilities

    custom_type = ProposalType(0xF0F0)
    caps = msgspec.structs.replace(default_capabilities(1), proposals=(custom_type,))
    config = GroupConfig(padding_block=64)
    a_client = Client.generate(b"a", capabilities=caps)
    b_client = Client.generate(b"b", capabilities=caps)
    plain = Client.generate(b"plain")
    a = a_client.create_group(config=config)
    out = a.add_members([b_client.key_package()])
    a.merge_pending_commit()
    assert out.welcome is not None
    b = b_client.join_group(out.welcome, config=config)
    custom = Proposal(proposal_type=custom_type, custom=b"application payload")
    out = a.commit([custom])
    staged = b.process(out.commit)
    assert isinstance(staged, StagedCommit) and staged.custom_proposals == (custom,)
    staged.merge()
    a.merge_pending_commit()
    assert_in_sync([a, b])
    # a member without support for the type: the proposal list is invalid
    out = a.add_members([plain.key_package()])
    deliver(out.commit, a, [b])
    with pytest.raises(ValidationError, match="supports the proposal type"):
        a.commit([custom])
    # padding: short payloads give ciphertexts of one size
    assert len({len(a.encrypt(bytes(n))) for n in (0, 1, 7, 20)}) == 1


@pytest.mark.parametrize("required", [False, True])
def test_new_group_extensions_bind_only_the_remaining_members(required: bool) -> None:
    """§12.1.7 / §11.1: members removed by the same Commit need not support the new
    extensions (or meet new required_capabilities); the commit is valid."""
    from mlswire.engine.group import default_capabilities

    ext_type = ExtensionType(0xF0F1)
    caps = msgspec.structs.replace(default_capabilities(1), extensions=(ext_type,))
    clients = [Client.generate(n, capabilities=caps) for n in (b"a", b"b")]
    clients.append(Client.generate(b"c"))  # c lacks the extension
    _, (a, b, c) = make_group(3, PRIVATE, clients=clients)
    if required:
        rc = RequiredCapabilities(extension_types=(ext_type,), proposal_types=(), credential_types=())
        ext = Extension(
            extension_type=ExtensionType.required_capabilities,
            extension_data=tls.encode(rc, RequiredCapabilities),
        )
    else:
        ext = Extension(extension_type=ext_type, extension_data=b"")
    with pytest.raises(ValidationError, match=r"§1[12]\.1(\.7)?: .*(supports|required)"):
        a.update_group_context_extensions([ext])
    out = a.commit(
        [
            Proposal(proposal_type=ProposalType.remove, remove=Remove(removed=2)),
            Proposal(
                proposal_type=ProposalType.group_context_extensions,
                group_context_extensions=GroupContextExtensions(extensions=(ext,)),
            ),
        ]
    )
    deliver(out.commit, a, [b])
    assert_in_sync([a, b])
    assert a.extensions == (ext,)
    assert c.process(out.commit).removes_self  # type: ignore[union-attr]


def test_unknown_capabilities_and_extensions_are_ignored() -> None:
    """§13.4: a receiver ignores unknown values in capabilities and unknown KeyPackage,
    LeafNode and GroupInfo extensions (it would not interoperate with newer clients
    otherwise)."""
    from mlswire.engine.group import default_capabilities
    from mlswire.schema import CipherSuite as SuiteId
    from mlswire.schema import CredentialType

    base = default_capabilities(1)
    newer = msgspec.structs.replace(
        base,
        cipher_suites=(*base.cipher_suites, SuiteId(0xABCD)),
        extensions=(ExtensionType(0xFF0A),),
        proposals=(ProposalType(0xF0F5),),
        credentials=(*base.credentials, CredentialType(0xF00D)),
    )
    d = Client.generate(b"d", capabilities=newer)
    unknown = Extension(extension_type=ExtensionType(0xFF0A), extension_data=b"leaf")
    kp = d.key_package(
        leaf_extensions=[unknown],
        extensions=[Extension(extension_type=ExtensionType(0xFF0B), extension_data=b"kp")],
    )
    _, (a, b) = make_group(2, PRIVATE)
    out = a.add_members([kp])
    deliver(out.commit, a, [b])
    assert out.welcome is not None
    joined = d.join_group(out.welcome)
    assert_in_sync([a, b, joined])
    # a GroupInfo with an extension nobody knows (signed again by a) serves an external join
    unknown_gi = Extension(extension_type=ExtensionType(0xFF0C), extension_data=b"gi")
    info = resigned_group_info(
        a, lambda gi: msgspec.structs.replace(gi, extensions=(*gi.extensions, unknown_gi))
    )
    e = Client.generate(b"e")
    group_e, commit = e.join_by_external_commit(info)
    for g in (a, b, joined):
        g.process(commit).merge()  # type: ignore[union-attr]
    assert_in_sync([a, b, joined, group_e])


def test_required_capabilities_x509_and_credential_policy() -> None:
    from mlswire.engine.group import default_capabilities
    from mlswire.engine.proposals import ValidationPolicy
    from mlswire.schema import Certificate, Credential, CredentialType

    ext_type = ExtensionType(0xFF00)
    caps = msgspec.structs.replace(default_capabilities(1), extensions=(ext_type,))
    required = Extension(
        extension_type=ExtensionType.required_capabilities,
        extension_data=tls.encode(
            RequiredCapabilities(
                extension_types=(ext_type,), proposal_types=(), credential_types=()
            ),
            RequiredCapabilities,
        ),
    )
    with pytest.raises(ValidationError, match="required_capabilities"):
        Client.generate(b"plain").create_group(extensions=[required])
    a = Client.generate(b"a", capabilities=caps).create_group(extensions=[required])
    before = a.to_bytes()
    with pytest.raises(ValidationError, match="required_capabilities"):
        a.add_members([Client.generate(b"lacks it").key_package()])
    assert a.to_bytes() == before
    # an X.509 member next to basic ones
    x509 = Credential(
        credential_type=CredentialType.x509, certificates=(Certificate(cert_data=b"DER..."),)
    )
    signer = Client.generate(b"unused")
    cert_client = Client(
        x509, 1, signer.signature_private_key, signer.signature_public_key, capabilities=caps
    )
    out = a.add_members([cert_client.key_package()])
    a.merge_pending_commit()
    assert out.welcome is not None
    b = cert_client.join_group(out.welcome)
    assert b.members[1].credential.credential_type == CredentialType.x509
    assert b.members[1].identity is None
    assert_in_sync([a, b])
    # the credential policy (an AS plugs in here) refuses a member
    a.client.policy = ValidationPolicy(
        credential_ok=lambda credential, _key: credential.identity != b"eve"
    )
    eve = Client.generate(b"eve", capabilities=caps)
    with pytest.raises(ValidationError, match="credential is acceptable"):
        a.add_members([eve.key_package()])
