"""passive-client-random.json: join from a Welcome and follow the group (see _passive).

A generated case (one per suite by default) is a random run of ``EPOCHS`` epochs after
the passive client joined a group of four: in each, a random member commits, with a
path or not, after zero to three proposals from random members (by reference), plus
zero to two proposals of its own by value. Proposals are drawn from Add, Update (by
reference only), Remove, resumption PreSharedKey and GroupContextExtensions, and each
member frames its messages as PublicMessage or PrivateMessage at random; now and then
a new member joins by external commit instead. The group stays between two and five
members besides the passive client, who is never removed. No external PSKs (the
official file has none either).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..crypto.suites import cipher_suite
from ..engine.group import Group
from ..schema import Proposal
from ._build import per_case
from ._passive import KEYS, Sim, check, required_capabilities
from ._rng import Drbg

FAMILY = "passive-client-random"
DEFAULT_COUNT = 1
EPOCHS = 10
MIN_MEMBERS, MAX_MEMBERS = 2, 5  # acting members, the passive client not counted


def _epoch(sim: Sim, r: Drbg) -> None:
    actors = sim.actors
    if len(actors) < MAX_MEMBERS and r.below(8) == 0:
        sim.external_join(sim.client(), via=r.choice(actors))
        return
    committer = r.choice(actors)
    # Leaves already named by a proposal of this commit (updated or removed): naming one
    # twice would make the proposal list invalid (§12.2).
    touched = {committer}
    size = len(actors)
    gce = False
    joiners = []

    def pick_kind(by_value: bool) -> str:
        kinds = ["add", "psk"]
        if size > MIN_MEMBERS and len(touched) < len(actors):
            kinds.append("remove")
        if not by_value and len(touched) < len(actors):
            kinds.append("update")
        if not gce:
            kinds.append("gce")
        return r.choice(kinds)

    by_value: list[Proposal] = []
    psk_epochs: set[int] = set()
    epoch = sim.groups[committer].epoch
    first = sim.oldest_shared_epoch
    for n in range(r.below(4) + r.below(3)):
        reference = n < 3 and r.below(3) != 0
        kind = pick_kind(not reference)
        free = [i for i in actors if i not in touched]
        proposer = r.choice([i for i in actors if i != committer] or [committer])
        public = r.below(2) == 1
        if kind == "add" and size < MAX_MEMBERS:
            client = sim.client()
            kp = sim.key_package(client)
            joiners.append(client)
            size += 1
            if reference:
                sim.propose(proposer, Group.propose_add, kp, public=public)
            else:
                by_value.append(Sim.add(kp))
        elif kind == "remove":
            target = r.choice(free)
            touched.add(target)
            size -= 1
            if reference and proposer != target:
                sim.propose(proposer, Group.propose_remove, target, public=public)
            else:
                by_value.append(Sim.remove(target))
        elif kind == "update":
            updater = r.choice(free)
            touched.add(updater)
            sim.propose(updater, lambda g: g.propose_update(), public=public)
        elif kind == "psk":
            # A resumption PSK of a recent epoch every member was in (so holds).
            e = r.between(max(first, epoch - 3), epoch)
            if e in psk_epochs:
                continue
            psk_epochs.add(e)
            if reference:
                sim.propose(proposer, Group.propose_psk, resumption_epoch=e, public=public)
            else:
                by_value.append(sim.psk(resumption_epoch=e))
        elif kind == "gce":
            gce = True
            if reference:
                sim.propose(
                    proposer,
                    lambda g: g.propose_group_context_extensions([required_capabilities()]),
                    public=public,
                )
            else:
                by_value.append(Sim.gce((required_capabilities(),)))
    path = r.below(2) == 1
    # New members join only when no resumption PSK is in the commit (they could not
    # resolve it); otherwise they stay in the tree as members who never speak.
    sim.commit(
        committer,
        lambda g: g.commit(by_value, update_path=path),
        public=r.below(2) == 1,
        joiners=[] if psk_epochs else joiners,
    )


def _case(suite: int, r: Drbg, epochs: int) -> dict[str, Any]:
    sim = Sim(suite, r)
    sim.grow(4)
    sim.add_passive(r.choice(sim.actors), path=r.below(2) == 1)
    for _ in range(epochs):
        _epoch(sim, r)
    return sim.vector()


def generate(
    suite: int | None,
    rng: Drbg,
    count: int | None = None,
    *,
    progress: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    suite_id = cipher_suite(suite if suite is not None else 1).suite_id
    n = DEFAULT_COUNT if count is None else count
    return [_case(suite_id, r, EPOCHS) for _, r in per_case(rng, n, progress)]


__all__ = ["DEFAULT_COUNT", "EPOCHS", "FAMILY", "KEYS", "check", "generate"]
