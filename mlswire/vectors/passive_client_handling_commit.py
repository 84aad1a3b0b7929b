"""passive-client-handling-commit.json: join from a Welcome and follow the group (see
_passive).

Each generated case starts the same way: a creator adds two members (with a path),
then adds the passive client (Add by value, no path), tree in the Welcome's GroupInfo.
Then come the recorded epochs: the scenarios of one of the two ``SEQUENCES`` (below),
one after the other, one or two epochs each (with ``--count`` beyond two the sequences
repeat with other randomness). Together they cover every proposal type (Add, Update,
Remove, PreSharedKey external and resumption, ReInit, ExternalInit,
GroupContextExtensions), by value and by reference, commits with and without a path,
external joins (new member and resync), a new_member_proposal, an external sender's
proposal, and PublicMessage and PrivateMessage framing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..crypto.suites import cipher_suite
from ..engine.group import Group, external_proposal, external_senders_extension
from ..schema import Credential, CredentialType
from ._build import FOREVER, per_case
from ._passive import KEYS, Sim, check, required_capabilities
from ._rng import Drbg

FAMILY = "passive-client-handling-commit"

# After the setup: leaves 0, 1, 2 are the members who act, 3 is the passive client.
# 0 and 1 stay; the third actor changes as members are removed and added.
COMMITTER, PROPOSER = 0, 1


def _other(sim: Sim) -> int:
    """The member a scenario removes or resyncs: the last one that is neither the
    committer nor the proposer."""
    return max(i for i in sim.actors if i not in (COMMITTER, PROPOSER))


def _setup(suite: int, r: Drbg) -> Sim:
    sim = Sim(suite, r)
    sim.add_passive(sim.grow(3))
    return sim


def add_by_value(sim: Sim) -> None:
    """Add by value, no path, public."""
    c = sim.client()
    kp = sim.key_package(c)
    sim.commit(COMMITTER, lambda g: g.add_members([kp]), public=True, joiners=[c])


def add_by_reference_with_path(sim: Sim) -> None:
    """Add proposed by one member, committed by reference with a path, private."""
    c = sim.client()
    kp = sim.key_package(c)
    sim.propose(PROPOSER, lambda g: g.propose_add(kp))
    sim.commit(COMMITTER, lambda g: g.commit(update_path=True), joiners=[c])


def update_by_reference(sim: Sim) -> None:
    """Update proposed, committed by reference (path required), public."""
    sim.propose(PROPOSER, lambda g: g.propose_update(), public=True)
    sim.commit(COMMITTER, lambda g: g.commit(), public=True)


def remove_by_value(sim: Sim) -> None:
    """Remove by value (path required), private."""
    target = _other(sim)
    sim.commit(COMMITTER, lambda g: g.remove_members([target]))


def remove_by_reference(sim: Sim) -> None:
    """Remove proposed, committed by reference, public."""
    sim.propose(PROPOSER, Group.propose_remove, _other(sim), public=True)
    sim.commit(COMMITTER, lambda g: g.commit(), public=True)


def external_psk_by_value(sim: Sim) -> None:
    """External PreSharedKey by value, no path, public."""
    psk = sim.new_external_psk()
    sim.commit(COMMITTER, lambda g: g.add_psks([psk]), public=True)


def external_psk_by_reference(sim: Sim) -> None:
    """External PreSharedKey proposed, committed by reference without a path, private."""
    psk = sim.new_external_psk()
    sim.propose(PROPOSER, lambda g: g.propose_psk(psk))
    sim.commit(COMMITTER, lambda g: g.commit(update_path=False))


def resumption_psk_by_value(sim: Sim) -> None:
    """Resumption PSK of the current epoch by value, with a path, public."""
    epoch = sim.groups[COMMITTER].epoch
    sim.commit(
        COMMITTER,
        lambda g: g.commit([sim.psk(resumption_epoch=epoch)], update_path=True),
        public=True,
    )


def resumption_psk_by_reference(sim: Sim) -> None:
    """Resumption PSK of the previous epoch (the passive client's first), proposed and
    committed by reference, private; after an empty commit so there is a previous one."""
    sim.commit(_other(sim), lambda g: g.update())
    epoch = max(sim.groups[PROPOSER].epoch - 1, sim.oldest_shared_epoch)
    sim.propose(PROPOSER, Group.propose_psk, resumption_epoch=epoch)
    sim.commit(COMMITTER, lambda g: g.commit(update_path=False))


def gce_by_value(sim: Sim) -> None:
    """GroupContextExtensions (required_capabilities) by value (path required), public."""
    sim.commit(
        COMMITTER,
        lambda g: g.update_group_context_extensions([required_capabilities()]),
        public=True,
    )


def gce_by_reference_then_external_sender(sim: Sim) -> None:
    """GroupContextExtensions adding an external sender, by reference, private; in the
    next epoch that external sender proposes a Remove, committed by reference."""
    priv, pub = sim.cs.signature_key_pair(sim.rng)
    sender = Credential(credential_type=CredentialType.basic, identity=b"external sender")
    ext = external_senders_extension([(pub, sender)])
    sim.propose(PROPOSER, lambda g: g.propose_group_context_extensions([ext]))
    sim.commit(COMMITTER, lambda g: g.commit())
    group = sim.groups[COMMITTER]
    proposal = external_proposal(
        sim.suite, priv, 0, group.group_id, group.epoch, Sim.remove(_other(sim)), rng=sim.rng
    )
    sim.deliver(proposal, sender=None)
    sim.commit(COMMITTER, lambda g: g.commit(), public=True)


def self_update(sim: Sim) -> None:
    """An empty commit with a path from a member other than the creator, private."""
    sim.commit(PROPOSER, lambda g: g.update())


def external_join(sim: Sim) -> None:
    """A new member joins by external commit (ExternalInit) with an external PSK."""
    psk = sim.new_external_psk()
    sim.external_join(sim.client(), via=COMMITTER, psk_ids=[psk])


def external_resync(sim: Sim) -> None:
    """A member rejoins by external commit, removing its old leaf (ExternalInit + Remove)."""
    leaf = _other(sim)
    sim.external_join(sim.groups[leaf].client, via=COMMITTER, remove_leaf=leaf)


def new_member_proposal(sim: Sim) -> None:
    """A new member's own Add (new_member_proposal sender), committed by reference
    without a path, public."""
    c = sim.client()
    group = sim.groups[COMMITTER]
    sim.deliver(
        c.join_request(group.group_id, group.epoch, rng=sim.rng, lifetime=FOREVER), sender=None
    )
    sim.commit(COMMITTER, lambda g: g.commit(update_path=False), public=True, joiners=[c])


def reinit_by_value(sim: Sim) -> None:
    """ReInit by value (alone, no path), public: the group ends here."""
    sim.commit(COMMITTER, lambda g: g.reinit(), public=True)


def reinit_by_reference(sim: Sim) -> None:
    """ReInit proposed, committed by reference with a path, public."""
    sim.propose(PROPOSER, lambda g: g.propose_reinit(), public=True)
    sim.commit(COMMITTER, lambda g: g.commit(update_path=True), public=True)


def everything_by_reference(sim: Sim) -> None:
    """Add, Update, Remove, external and resumption PSK, GroupContextExtensions, all
    proposed and committed by reference in one commit, public."""
    c = sim.client()
    kp = sim.key_package(c)
    psk = sim.new_external_psk()
    sim.propose(PROPOSER, lambda g: g.propose_add(kp), public=True)
    sim.propose(PROPOSER, lambda g: g.propose_update(), public=True)
    sim.propose(PROPOSER, Group.propose_remove, _other(sim), public=True)
    sim.propose(PROPOSER, lambda g: g.propose_psk(psk), public=True)
    sim.propose(PROPOSER, lambda g: g.propose_psk(resumption_epoch=g.epoch), public=True)
    sim.propose(
        PROPOSER,
        lambda g: g.propose_group_context_extensions([required_capabilities()]),
        public=True,
    )
    # The new member does not join: its Welcome names the group's resumption PSK, which
    # only members hold (the Add is what the passive client has to follow).
    sim.commit(COMMITTER, lambda g: g.commit(), public=True)


def everything_by_value(sim: Sim) -> None:
    """Add, Remove, external and resumption PSK, GroupContextExtensions by value in one
    commit (an Update cannot be by value, §12.2), private."""
    c = sim.client()
    kp = sim.key_package(c)
    psk = sim.new_external_psk()
    epoch = sim.groups[COMMITTER].epoch
    proposals = [
        Sim.add(kp),
        Sim.remove(_other(sim)),
        sim.psk(psk),
        sim.psk(resumption_epoch=epoch),
        Sim.gce((required_capabilities(),)),
    ]
    sim.commit(COMMITTER, lambda g: g.commit(proposals))  # no join: see the case above


# Each case runs one sequence: its scenarios one after the other, one or two epochs
# each, so one Welcome serves many epochs (the file stays small). A ReInit ends a
# group, hence two sequences, each ending with one. The epochs of a case, in order:
SEQUENCES: tuple[tuple[Callable[[Sim], None], ...], ...] = (
    (
        add_by_value,
        add_by_reference_with_path,
        update_by_reference,
        remove_by_value,
        remove_by_reference,
        external_psk_by_value,
        external_psk_by_reference,
        resumption_psk_by_value,
        resumption_psk_by_reference,  # two epochs
        gce_by_value,
        self_update,
        reinit_by_value,
    ),
    (
        gce_by_reference_then_external_sender,  # two epochs
        external_join,
        external_resync,
        new_member_proposal,
        everything_by_reference,
        everything_by_value,
        reinit_by_reference,
    ),
)
SCENARIOS = tuple(s for seq in SEQUENCES for s in seq)
DEFAULT_COUNT = len(SEQUENCES)


def generate(
    suite: int | None,
    rng: Drbg,
    count: int | None = None,
    *,
    progress: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    suite_id = cipher_suite(suite if suite is not None else 1).suite_id
    n = DEFAULT_COUNT if count is None else count
    cases = []
    for i, r in per_case(rng, n, progress):
        sim = _setup(suite_id, r)
        for scenario in SEQUENCES[i % len(SEQUENCES)]:
            scenario(sim)
        cases.append(sim.vector())
    return cases


__all__ = ["DEFAULT_COUNT", "FAMILY", "KEYS", "SCENARIOS", "SEQUENCES", "check", "generate"]
