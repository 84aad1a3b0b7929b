"""The group lifecycle (mlswire/engine/group/lifecycle.py): one status, one table of the
operations each status allows, checked in one place; refused operations raise
UsageError (the caller's bug) and leave the state unchanged; messages a member can no
longer or not yet use raise StaleMessageError."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mlswire.engine.group import Client, Group, GroupConfig, GroupStatus
from mlswire.engine.group.lifecycle import ALLOWED
from mlswire.errors import StaleMessageError, StateError, UsageError

PUBLIC = GroupConfig(handshake_wire_format="public")


def _pair() -> tuple[list[Client], Group, Group]:
    a, b = Client.generate(b"a", config=PUBLIC), Client.generate(b"b", config=PUBLIC)
    ga = a.create_group(b"g")
    out = ga.add_members([b.key_package()])
    ga.merge_pending_commit()
    assert out.welcome is not None
    return [a, b], ga, b.join_group(out.welcome)


def _in_status(status: GroupStatus) -> tuple[list[Client], Group]:
    clients, ga, gb = _pair()
    if status == GroupStatus.PENDING_COMMIT:
        ga.update()
    elif status == GroupStatus.REINIT:
        ga.reinit(b"next")
        ga.merge_pending_commit()
    elif status == GroupStatus.REMOVED:
        out = gb.remove_members([0])
        staged = ga.process(out.commit)
        staged.merge()  # type: ignore[union-attr]
    assert ga.status == status
    return clients, ga


# One call per operation of the table, made on a group in each status.
OPERATIONS: dict[str, Callable[[list[Client], Group], object]] = {
    "encrypt": lambda _, g: g.encrypt(b"hello"),
    "propose": lambda _, g: g.propose_update(),
    "commit": lambda _, g: g.update(),
    "merge_pending": lambda _, g: g.merge_pending_commit(),
    "branch": lambda c, g: g.branch([Client.generate(b"x").key_package()]),
    "reinit_successor": lambda c, g: g.reinit_successor([c[1].key_package()]),
}


@pytest.mark.parametrize("status", list(GroupStatus), ids=lambda s: s.name)
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_each_status_allows_exactly_its_operations(status: GroupStatus, operation: str) -> None:
    clients, group = _in_status(status)
    call = OPERATIONS[operation]
    if operation in ALLOWED[status]:
        call(clients, group)
    else:
        before = group.to_bytes()
        with pytest.raises(UsageError):
            call(clients, group)
        assert group.to_bytes() == before


def test_table_covers_the_operations_checked() -> None:
    assert set(OPERATIONS) | {"process"} == set().union(*ALLOWED.values())


def test_no_proposal_while_our_commit_is_pending() -> None:
    """A proposal made while our commit is pending would belong to an epoch the commit
    ends: refused, so it cannot be silently orphaned; once merged, proposing works."""
    _, ga, gb = _pair()
    out = ga.update()
    with pytest.raises(UsageError, match="pending"):
        ga.propose_remove(1)
    assert ga.pending_proposals == ()
    gb.process(out.commit).merge()  # type: ignore[union-attr]
    ga.merge_pending_commit()
    gb.process(ga.propose_remove(1))
    assert len(gb.pending_proposals) == 1


def test_status_survives_persistence() -> None:
    for status in GroupStatus:
        clients, group = _in_status(status)
        assert Group.from_bytes(group.to_bytes(), clients[0]).status == status


def test_usage_and_stale_errors_are_state_errors() -> None:
    assert issubclass(UsageError, StateError) and issubclass(StaleMessageError, StateError)
    clients, ga, gb = _pair()
    old = gb.propose_update()  # a proposal of epoch 1
    gb.clear_pending_proposals()
    out = ga.update()
    gb.process(out.commit).merge()  # type: ignore[union-attr]
    ga.merge_pending_commit()
    with pytest.raises(StaleMessageError, match="too old"):
        ga.process(old)
    with pytest.raises(UsageError, match="another client"):
        Group.from_bytes(ga.to_bytes(), clients[1])


def test_future_epoch_message_is_stale() -> None:
    _, ga, gb = _pair()
    out = ga.update()
    ga.merge_pending_commit()  # a is at epoch 2, b still at 1
    message = ga.encrypt(b"from the future")
    before = gb.to_bytes()
    with pytest.raises(StaleMessageError, match="future"):
        gb.process(message)
    assert gb.to_bytes() == before
    gb.process(out.commit).merge()  # type: ignore[union-attr]
    assert gb.process(message).data == b"from the future"  # type: ignore[union-attr]


def test_echo_of_a_cleared_commit_is_stale() -> None:
    """Our commit, cleared (say the DS refused it) and then echoed after all: valid, but
    this member can no longer use it (its secrets are gone)."""
    _, ga, gb = _pair()
    out = ga.update()
    ga.clear_pending_commit()
    assert ga.status == GroupStatus.OPERATIONAL
    before = ga.to_bytes()
    with pytest.raises(StaleMessageError, match="not its pending commit"):
        ga.process(out.commit)
    assert ga.to_bytes() == before
    gb.process(out.commit).merge()  # type: ignore[union-attr]  # the others moved on
