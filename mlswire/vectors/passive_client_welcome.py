"""passive-client-welcome.json: join from a Welcome and follow the group (see _passive).

Generated cases end at the join (``epochs`` is empty, as in the official file); they
vary how the passive client gets in. The first four, per suite:

0. the creator alone adds it: Add by value, no path, tree in the GroupInfo extension;
1. in a group of three, leaf 2 adds it and another member with an UpdatePath (the
   Welcome carries a path secret), an external PSK by value, tree out of band, public
   handshake messages;
2. a member proposes the Add and an external PSK, the other commits them by reference
   with a path, tree in the extension;
3. after a Remove left a blank leaf, the passive client is added into it without a
   path, tree out of band.

Further cases (``--count``) draw these choices at random.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..crypto.suites import cipher_suite
from ._build import per_case
from ._passive import KEYS, Sim, check
from ._rng import Drbg

FAMILY = "passive-client-welcome"
DEFAULT_COUNT = 4


def _case(suite: int, index: int, r: Drbg) -> dict[str, Any]:
    sim = Sim(suite, r)
    if index == 0:
        sim.grow(1)
        sim.add_passive(0)
    elif index == 1:
        sim.grow(3)
        psk = sim.new_external_psk()
        sim.add_passive(2, others=1, path=True, psk_ids=[psk], public=True, tree_in_welcome=False)
    elif index == 2:
        sim.grow(2)
        psk = sim.new_external_psk()
        sim.add_passive(1, path=True, by_reference=True, psk_ids=[psk])
    elif index == 3:
        sim.grow(4)
        sim.commit(0, lambda g: g.remove_members([1]))
        sim.add_passive(3, tree_in_welcome=False)
    else:
        sim.grow(r.between(1, 5))
        psks = [sim.new_external_psk() for _ in range(r.below(3))]
        sim.add_passive(
            r.choice(sim.actors),
            others=r.below(3),
            path=r.below(2) == 1,
            by_reference=r.below(2) == 1,
            psk_ids=psks,
            public=r.below(2) == 1,
            tree_in_welcome=r.below(2) == 1,
        )
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
    return [_case(suite_id, i, r) for i, r in per_case(rng, n, progress)]


__all__ = ["DEFAULT_COUNT", "FAMILY", "KEYS", "check", "generate"]
