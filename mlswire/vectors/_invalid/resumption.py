"""Welcomes into a group that resumes the passive client's group (§12.4.3.1, the
reinit and branch bullets): the S7, S8, W17-W19 and W21 rows of docs/VALIDATION.md.
The passive client is member 1 of the old group (``member1``); the new group is made
by a client named ``member0`` (the same participant as the old member 0, by the default
same-credential rule) unless a case says otherwise."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from ...engine.group import Group
from ...errors import ValidationError
from ...schema import GroupSecrets, PreSharedKeyID, PSKType, ResumptionPSKUsage
from .. import forge
from . import Build, World, case


def _old(w: World, members: int = 2, reinit_to: bytes | None = None) -> Group:
    """The old group (members ``member0``, ``member1`` (the passive client), ...), after
    member 0 committed a ReInit to ``reinit_to`` if given (an epoch of the vector)."""
    people = [w.client(b"member%d" % i) for i in range(members)]
    groups = w.group(members, clients=people)
    if reinit_to is not None:
        w.advance(0, lambda g: g.reinit(reinit_to))
    return groups[1]


def _psk(
    w: World, usage: ResumptionPSKUsage, old: Group, epoch: int | None = None, nonce: int = 0
) -> PreSharedKeyID:
    return PreSharedKeyID(
        psktype=PSKType.resumption,
        usage=usage,
        psk_group_id=old.group_id,
        psk_epoch=old.epoch if epoch is None else epoch,
        psk_nonce=bytes([nonce]) * w.nh,
    )


def _welcome(
    w: World,
    old: Group,
    psks: tuple[PreSharedKeyID, ...],
    *,
    group_id: bytes = b"new",
    creator: bytes = b"member0",
    members: tuple[bytes, ...] = (),
    later: bool = False,
) -> bytes:
    """A Welcome for the passive client (its second KeyPackage) into a new group at
    epoch 1 (2 if ``later``: its creator commits once first), made by a client named
    ``creator`` with clients named ``members``, whose GroupSecrets name ``psks`` (values
    from the old group)."""
    me = old.client
    data = bytes.fromhex(w.resumption["key_package"]) if w.resumption else b""
    new = w.client(creator).create_group(group_id, config=forge.PUBLIC, rng=w.rng)
    if later:
        new.update()
        new.merge_pending_commit()
    others = [forge.raw_key_package(w.client(m)) for m in members]
    out = new.add_members([data, *others])
    new.merge_pending_commit()
    assert out.welcome is not None

    def secrets(gs: GroupSecrets) -> GroupSecrets:
        return msgspec.structs.replace(gs, psks=psks)

    return forge.forge_welcome(out.welcome, me, new, secrets=secrets, psk_values=old.psk_lookup)


def _build(w: World, make: Callable[[bool], bytes]) -> Build:
    return lambda broken: w.resumed(make(broken))


@case(
    "S7",
    "psk",
    "§12.4.3.1",
    "at most one resumption PSK with usage reinit or branch",
    ValidationError,
    r"§12\.4\.3\.1: at most one resumption PSK with usage reinit or branch",
)
def _s7(w: World) -> Build:
    # a branch Welcome naming two branch PSKs of the old group's epoch (nonces differ);
    # control: the first alone
    old = _old(w)
    w.resuming("branch")
    first = _psk(w, ResumptionPSKUsage.branch, old)
    second = _psk(w, ResumptionPSKUsage.branch, old, nonce=1)
    return _build(w, lambda broken: _welcome(w, old, (first, second) if broken else (first,)))


@case(
    "S8",
    "psk",
    "§12.4.3.1",
    "a Welcome with a reinit/branch PSK starts epoch 1",
    ValidationError,
    r"§12\.4\.3\.1: a Welcome with a reinit/branch PSK starts epoch 1",
)
def _s8(w: World) -> Build:
    # the new group's creator commits once before adding the passive client (epoch 2)
    old = _old(w)
    w.resuming("branch")
    psk = _psk(w, ResumptionPSKUsage.branch, old)
    return _build(w, lambda broken: _welcome(w, old, (psk,), later=broken))


@case(
    "W17",
    "welcome",
    "§12.4.3.1",
    "reinit PSK: the last Commit to the referenced group contains a ReInit (the PSK's "
    "epoch is the one after it)",
    ValidationError,
    r"§12\.4\.3\.1: the last Commit to the old group contains a ReInit",
)
def _w17(w: World) -> Build:
    # the PSK names the epoch before the ReInit (whose last Commit added members);
    # control: the epoch the ReInit started
    old = _old(w, reinit_to=b"new")
    w.resuming("reinit")
    before = old.epoch - 1
    return _build(
        w,
        lambda broken: _welcome(
            w, old, (_psk(w, ResumptionPSKUsage.reinit, old, before if broken else None),)
        ),
    )


@case(
    "W18",
    "welcome",
    "§12.4.3.1",
    "reinit PSK: the new group's group_id, version, cipher_suite and extensions match the "
    "ReInit proposal",
    ValidationError,
    r"§12\.4\.3\.1: the new group matches the old group's ReInit.*group_id",
)
def _w18(w: World) -> Build:
    # the ReInit named group "reborn"; the new group is "new" (control: "reborn")
    old = _old(w, reinit_to=b"reborn")
    w.resuming("reinit")
    psk = _psk(w, ResumptionPSKUsage.reinit, old)
    return _build(
        w, lambda broken: _welcome(w, old, (psk,), group_id=b"new" if broken else b"reborn")
    )


@case(
    "W19",
    "welcome",
    "§12.4.3.1",
    "reinit PSK: all the members of the old group are also members of the new group",
    ValidationError,
    r"§12\.4\.3\.1: every member of the old group is a member of the reinitialized",
)
def _w19(w: World) -> Build:
    # member2 is not in the new group (control: it is)
    old = _old(w, 3, reinit_to=b"new")
    w.resuming("reinit")
    psk = _psk(w, ResumptionPSKUsage.reinit, old)
    return _build(
        w, lambda broken: _welcome(w, old, (psk,), members=() if broken else (b"member2",))
    )


@case(
    "W21",
    "welcome",
    "§12.4.3.1",
    "branch PSK: the members of the new group compose a subset of the members of the old group",
    ValidationError,
    r"§12\.4\.3\.1: the members of a branch are members of the old group",
)
def _w21(w: World) -> Build:
    # the new group's creator was not in the old group (control: member0 creates it)
    old = _old(w)
    w.resuming("branch")
    psk = _psk(w, ResumptionPSKUsage.branch, old)
    return _build(
        w,
        lambda broken: _welcome(w, old, (psk,), creator=b"stranger" if broken else b"member0"),
    )
