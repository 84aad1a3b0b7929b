"""Property: random sequences of adds, removes, updates (by commit and by proposal),
PSKs, reloads and application messages among several mlswire members keep every member
on the same epoch, epoch authenticator, tree hash and exporter secret."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mlswire.engine.group import (
    ApplicationMessage,
    Client,
    Group,
    GroupConfig,
    ProposalMessage,
    StagedCommit,
)

OPS = ("add", "remove", "update", "propose_update", "psk", "app", "reload")
PSK_ID, PSK = b"property psk", b"\x42" * 32


def _deliver(commit: bytes, committer: Group, members: dict[int, Group]) -> None:
    for g in list(members.values()):
        if g is committer:
            continue
        staged = g.process(commit)
        assert isinstance(staged, StagedCommit)
        staged.merge()
    committer.merge_pending_commit()


def _check_sync(members: dict[int, Group]) -> None:
    groups = list(members.values())
    assert len({g.epoch for g in groups}) == 1
    assert len({g.epoch_authenticator for g in groups}) == 1
    assert len({g.tree_hash for g in groups}) == 1
    assert len({g.export_secret(b"p", b"", 16) for g in groups}) == 1
    for index, g in members.items():
        assert g.own_leaf_index == index
        assert sorted(g.members) == sorted(members)


@settings(max_examples=60)
@given(
    ops=st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 10**6)), min_size=1, max_size=20),
    public=st.booleans(),
)
def test_random_operations_keep_members_in_sync(ops: list[tuple[str, int]], public: bool) -> None:
    config = GroupConfig(handshake_wire_format="public" if public else "private")
    counter = 0

    def new_client() -> Client:
        nonlocal counter
        counter += 1
        client = Client.generate(f"m{counter}".encode())
        client.add_external_psk(PSK_ID, PSK)
        return client

    first = new_client()
    clients = {0: first}
    members = {0: first.create_group(b"property", config=config)}
    for op, k in ops:
        leaves = sorted(members)
        actor_leaf = leaves[k % len(leaves)]
        actor = members[actor_leaf]
        if op == "add" and len(members) < 6:
            joiner = new_client()
            out = actor.add_members([joiner.key_package()])
            _deliver(out.commit, actor, members)
            assert out.welcome is not None
            group = joiner.join_group(out.welcome, config=config)
            members[group.own_leaf_index] = group
            clients[group.own_leaf_index] = joiner
        elif op == "remove" and len(members) > 1:
            others = [leaf for leaf in leaves if leaf != actor_leaf]
            target = others[k % len(others)]
            out = actor.remove_members([target])
            removed = members.pop(target)
            clients.pop(target)
            staged = removed.process(out.commit)
            assert isinstance(staged, StagedCommit) and staged.removes_self
            _deliver(out.commit, actor, members)
        elif op == "update":
            _deliver(actor.update().commit, actor, members)
        elif op == "propose_update" and len(members) > 1:
            proposal = actor.propose_update()
            for g in members.values():
                if g is not actor:
                    assert isinstance(g.process(proposal), ProposalMessage)
            committer = members[next(leaf for leaf in leaves if leaf != actor_leaf)]
            _deliver(committer.commit(update_path=bool(k % 2)).commit, committer, members)
        elif op == "psk":
            out = actor.add_psks([PSK_ID], resumption_epochs=[actor.epoch])
            _deliver(out.commit, actor, members)
        elif op == "app":
            data = k.to_bytes(4, "big")
            message = actor.encrypt(data)
            for g in members.values():
                if g is not actor:
                    got = g.process(message)
                    assert isinstance(got, ApplicationMessage)
                    assert (got.data, got.sender) == (data, actor_leaf)
        elif op == "reload":
            members[actor_leaf] = Group.from_bytes(actor.to_bytes(), clients[actor_leaf])
        _check_sync(members)


_FUZZ: dict[str, tuple[Group, list[bytes]]] = {}


def _fuzz_target(wire: str) -> tuple[Group, list[bytes]]:
    # Built once per wire format: hypothesis calls the test many times.
    if wire not in _FUZZ:
        config = GroupConfig(handshake_wire_format=wire)
        a_client, b_client, c_client = (Client.generate(n) for n in (b"a", b"b", b"c"))
        a = a_client.create_group(b"fuzz", config=config)
        out = a.add_members([b_client.key_package(), c_client.key_package()])
        a.merge_pending_commit()
        assert out.welcome is not None
        b = b_client.join_group(out.welcome, config=config)
        c = c_client.join_group(out.welcome, config=config)
        messages = [c.update().commit, a.encrypt(b"app")]
        c.clear_pending_commit()
        messages.append(c.propose_remove(0))
        _FUZZ[wire] = (b, messages)
    return _FUZZ[wire]


@settings(max_examples=150)
@given(
    wire=st.sampled_from(["public", "private"]),
    which=st.integers(0, 2),
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 7)), min_size=1, max_size=3),
    cut=st.one_of(st.none(), st.integers(0, 10**6)),
)
def test_mutated_messages_raise_mls_errors_and_change_nothing(
    wire: str, which: int, flips: list[tuple[int, int]], cut: int | None
) -> None:
    from mlswire.errors import MLSError

    group, messages = _fuzz_target(wire)
    original = messages[which]
    data = bytearray(original)
    for position, bit in flips:
        data[position % len(data)] ^= 1 << bit
    if cut is not None:
        del data[cut % len(data) :]
    if bytes(data) == original:
        return
    before = group.to_bytes()
    try:
        group.process(bytes(data))
    except MLSError:
        pass
    else:  # pragma: no cover - a mutation that still authenticates would be a bug
        raise AssertionError("a mutated message was accepted")
    assert group.to_bytes() == before
