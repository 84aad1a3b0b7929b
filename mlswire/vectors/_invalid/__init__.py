"""The must-reject cases: one per docs/VALIDATION.md rule that a wire-level vector can
express, each a valid setup in the passive-client shape and one input that breaks only
that rule (see :mod:`mlswire.vectors.invalid_input` for the file format).

A case is a function of a :class:`World` (registered with :func:`case`) that sets up a
group, makes the passive client one of its members (the *receiver*) or the joiner of a
Welcome, and returns ``build(broken)``: the input with the break (``True``) and the same
input built the same way without it (``False``, the control). The forging itself is
:mod:`mlswire.vectors.forge`, the code the negative tests of docs/VALIDATION.md use.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...crypto.suites import cipher_suite
from ...engine.group import Client, CommitOutput, Group, GroupConfig, StagedCommit
from ...errors import MLSError
from ...schema import Capabilities, Extension
from .. import forge
from .._rng import Drbg

# The passive client's configuration, as the verifier's (lifetimes checked against the
# clock, every other setting the default): a rule that needs another setting is not
# expressible as a vector.
RECEIVER = GroupConfig()


@dataclass(frozen=True)
class Input:
    """What the passive client is given: ``proposals`` (messages it must accept first),
    then ``message``; or, for a Welcome case, ``welcome`` (and ``ratchet_tree`` out of
    band); or, for an external join, ``group_info`` (and ``ratchet_tree``)."""

    message: bytes | None = None
    proposals: tuple[bytes, ...] = ()
    welcome: bytes | None = None
    ratchet_tree: bytes | None = None
    # the break is in the (last) proposal: a receiver may refuse it on receipt (§12.1)
    break_in_proposals: bool = False
    group_info: bytes | None = None
    # a Welcome into a group that resumes the passive client's group (reinit / branch)
    resumes: bool = False

    @property
    def kind(self) -> str:
        if self.group_info is not None:
            return "group_info"
        if self.resumes:
            return "resumption_welcome"
        return "welcome" if self.welcome is not None else "message"

    def to_json(self) -> dict[str, Any]:
        tree = None if self.ratchet_tree is None else self.ratchet_tree.hex()
        if self.group_info is not None:
            return {"kind": "group_info", "group_info": self.group_info.hex(), "ratchet_tree": tree}
        if self.welcome is not None:
            return {"kind": self.kind, "welcome": self.welcome.hex(), "ratchet_tree": tree}
        assert self.message is not None
        return {
            "kind": "message",
            "proposals": [p.hex() for p in self.proposals],
            "break_in_proposals": self.break_in_proposals,
            "message": self.message.hex(),
        }


Build = Callable[[bool], Input]


@dataclass(frozen=True)
class CaseDef:
    rule: str  # the VALIDATION.md code
    area: str
    section: str
    requirement: str  # the rule in the RFC's words (VALIDATION.md's rule column)
    error: type[MLSError]
    pattern: str  # what mlswire's error text must match (it names the rule)
    make: Callable[[World], Build]

    def names_rule(self, error: BaseException) -> bool:
        return isinstance(error, self.error) and re.search(self.pattern, str(error)) is not None


CASES: dict[str, CaseDef] = {}

AREAS = (
    "framing",
    "leaf-node",
    "key-package",
    "capabilities",
    "extensions",
    "proposal",
    "proposal-list",
    "commit",
    "psk",
    "welcome",
    "tree",
    "external-commit",
)


def case(
    rule: str,
    area: str,
    section: str,
    requirement: str,
    error: type[MLSError],
    pattern: str,
) -> Callable[[Callable[[World], Build]], Callable[[World], Build]]:
    """Register a case (one per rule)."""
    assert area in AREAS, area

    def register(make: Callable[[World], Build]) -> Callable[[World], Build]:
        assert rule not in CASES, f"two cases for {rule}"
        CASES[rule] = CaseDef(rule, area, section, requirement, error, pattern, make)
        return make

    return register


@dataclass
class Head:
    """The passive client's join: its KeyPackage and private keys, the Welcome."""

    key_package: bytes
    signature_priv: bytes
    init_priv: bytes
    encryption_priv: bytes
    welcome: bytes = b""
    ratchet_tree: bytes | None = None
    initial_epoch_authenticator: bytes = b""


@dataclass
class World:
    """A group being set up for one case, under ``forge.forging(rng, suite)``."""

    suite: int
    rng: Drbg
    groups: list[Group] = field(default_factory=list)
    receiver_index: int = 1
    head: Head | None = None
    joiner: Client | None = None
    external_psks: dict[bytes, bytes] = field(default_factory=dict)
    epochs: list[dict[str, Any]] = field(default_factory=list)
    # the member that makes the valid continuation (None: the case has none)
    continuer: int | None = 0
    # a resumption case: the passive client's KeyPackage for the new group, and the usage
    resumption: dict[str, Any] | None = None
    _names: int = 0

    @property
    def nh(self) -> int:
        """KDF.Nh of the case's suite (psk_nonce lengths)."""
        return cipher_suite(self.suite).hash_len

    # --- clients -------------------------------------------------------------------------
    def client(self, name: bytes | None = None, capabilities: Capabilities | None = None) -> Client:
        if name is None:
            name = b"client %d" % self._names
            self._names += 1
        return forge.new_client(name, capabilities)

    def hold_psk(self, clients: Sequence[Client | Group], psk_id: bytes, value: bytes) -> None:
        """``psk_id`` held by ``clients`` (the receiver's makes it part of the vector)."""
        for c in clients:
            client = c.client if isinstance(c, Group) else c
            client.add_external_psk(psk_id, value)
            if self.joiner is client or (self.groups and self.receiver.client is client):
                self.external_psks[psk_id] = value

    # --- the group and the passive client ------------------------------------------------
    def group(
        self,
        n: int,
        *,
        clients: Sequence[Client] | None = None,
        extensions: Sequence[Extension] = (),
        receiver: int = 1,
        psks: Sequence[tuple[bytes, bytes]] = (),
    ) -> list[Group]:
        """``n`` members at one epoch; member ``receiver`` is the passive client, who
        joins from the Welcome that adds members 1..n-1 (and holds ``psks``)."""
        assert 1 <= receiver < n
        people = list(clients) if clients is not None else [self.client() for _ in range(n)]
        for psk_id, value in psks:
            people[receiver].add_external_psk(psk_id, value)
            self.external_psks[psk_id] = value
        creator = people[0].create_group(
            b"group-id", config=forge.PUBLIC, extensions=extensions, rng=self.rng
        )
        kps = [forge.raw_key_package(c) for c in people[1:n]]
        mine = people[receiver]
        init_priv, encryption_priv = mine.key_package_private_keys(kps[receiver - 1])
        self.head = Head(kps[receiver - 1], mine.signature_private_key, init_priv, encryption_priv)
        out = creator.add_members(kps)
        creator.merge_pending_commit()
        assert out.welcome is not None
        self.head.welcome = out.welcome
        self.groups = [creator] + [
            c.join_group(
                out.welcome, config=RECEIVER if i == receiver else forge.PUBLIC, rng=self.rng
            )
            for i, c in enumerate(people[1:n], start=1)
        ]
        self.receiver_index = receiver
        self.head.initial_epoch_authenticator = self.receiver.epoch_authenticator
        return self.groups

    @property
    def receiver(self) -> Group:
        return self.groups[self.receiver_index]

    def advance(
        self, committer: int = 0, make: Callable[[Group], CommitOutput] | None = None
    ) -> None:
        """A valid epoch: ``committer`` commits (``make``, default: a path and nothing
        else); every member follows; the passive client's epoch authenticator is
        recorded."""
        g = self.groups[committer]
        g.clear_pending_proposals()
        out = make(g) if make is not None else g.commit([], update_path=True)
        g.merge_pending_commit()
        for i, other in enumerate(self.groups):
            if i != committer:
                staged = other.process(out.commit)
                assert isinstance(staged, StagedCommit)
                staged.merge()
        self.epochs.append(
            {
                "proposals": [],
                "commit": out.commit.hex(),
                "epoch_authenticator": self.receiver.epoch_authenticator.hex(),
            }
        )

    def members(
        self,
        n: int,
        *,
        clients: Sequence[Client] | None = None,
        extensions: Sequence[Extension] = (),
        config: GroupConfig = forge.PUBLIC,
    ) -> tuple[list[Client], list[Group]]:
        """``n`` members at one epoch, none of them the passive client (who joins
        later: :meth:`joining`)."""
        people = list(clients) if clients is not None else [self.client() for _ in range(n)]
        creator = people[0].create_group(
            b"group-id", config=config, extensions=extensions, rng=self.rng
        )
        groups = [creator]
        if n > 1:
            out = creator.add_members([forge.raw_key_package(c) for c in people[1:n]])
            creator.merge_pending_commit()
            assert out.welcome is not None
            groups += [c.join_group(out.welcome, config=config, rng=self.rng) for c in people[1:n]]
        self.groups = groups
        return people, groups

    def joining(self, joiner: Client, key_package: bytes) -> None:
        """Make ``joiner`` (holding ``key_package``) the passive client of a Welcome case;
        the case's ``build`` returns the Welcome (``Input(welcome=...)``)."""
        init_priv, encryption_priv = joiner.key_package_private_keys(key_package)
        self.joiner = joiner
        self.head = Head(key_package, joiner.signature_private_key, init_priv, encryption_priv)
        self.continuer = None
        for psk_id, value in joiner.external_psks.items():
            self.external_psks[psk_id] = value

    # --- inputs --------------------------------------------------------------------------
    @staticmethod
    def msg(message: bytes, *proposals: bytes, break_in_proposals: bool = False) -> Input:
        return Input(
            message=message, proposals=tuple(proposals), break_in_proposals=break_in_proposals
        )

    @staticmethod
    def wel(welcome: bytes, ratchet_tree: bytes | None = None) -> Input:
        return Input(welcome=welcome, ratchet_tree=ratchet_tree)

    def resuming(self, usage: str) -> Client:
        """Make this a resumption case: the passive client (member ``receiver`` of the
        group, the old group) gets a second KeyPackage for the new group, which the
        case's ``build`` returns a Welcome to (``Input(welcome=..., resumes=True)``).
        Returns the passive client."""
        me = self.receiver.client
        data = forge.raw_key_package(me)
        init_priv, encryption_priv = me.key_package_private_keys(data)
        self.resumption = {
            "usage": usage,
            "key_package": data.hex(),
            "init_priv": init_priv.hex(),
            "encryption_priv": encryption_priv.hex(),
        }
        self.continuer = None
        return me

    @staticmethod
    def resumed(welcome: bytes) -> Input:
        return Input(welcome=welcome, resumes=True)

    @staticmethod
    def info(group_info: bytes, ratchet_tree: bytes | None = None) -> Input:
        return Input(group_info=group_info, ratchet_tree=ratchet_tree)


_POLICY = (
    "a ValidationPolicy hook: whether the {what} is acceptable is the application's "
    "(its Authentication Service's) decision, which a vector cannot fix"
)
_W16 = (
    "the PSK must name another group while its value is the old group's: a joiner holds "
    "that only through an implementation's own PSK lookup, so a vector would test PSK "
    "availability (S6) instead"
)
_W20 = (
    "a branch into another cipher suite: a client (its signature key, its KeyPackages) has "
    "one suite, so the control, the same branch in the old suite, needs another client"
)
_OWN_GROUPS = (
    "unique among the groups the client takes part in: depends on the client's other "
    "groups, local state a vector does not carry"
)

#: The VALIDATION.md rules with no case, and why: a wire-level vector cannot express them,
#: or (R6) RFC 9420 does not ask a receiver to refuse what they break.
NOT_EXPRESSIBLE: dict[str, str] = {
    "L1": _POLICY.format(what="credential"),
    "L14": "the maximum total lifetime is the application's setting (none by default)",
    "L15": _POLICY.format(what="new credential as a successor of the old one (§5.3.1)"),
    "L16": _POLICY.format(what="new credential as a successor of the old one (§5.3.1)"),
    "K7": "not breakable alone (a version mismatch also breaks F1 or K1), and checked "
    "where the client adds a KeyPackage it downloaded, not on receipt",
    "K8": "the committer's check of a KeyPackage it downloads: local API use, no message "
    "is received",
    "K10": _POLICY.format(what="credential"),
    "P7": _POLICY.format(what="external proposal"),
    "P8": _POLICY.format(what="external sender's credential"),
    "C11": "local misuse: the client sending after a ReInit; nothing is received",
    "S2": "depends on how many past epochs' resumption PSKs the receiver keeps (its "
    "setting, 8 by default)",
    "W8": _OWN_GROUPS,
    "W16": _W16,
    "W20": _W20,
    "E14": _OWN_GROUPS,
    "R6": "not an RFC 9420 MUST: §7.2 asks that a leaf be compatible with the group's "
    "parameters and spells that out as the required_capabilities check; mlswire refuses a "
    "leaf whose capabilities omit the group's suite only with ValidationPolicy(strict=True)",
}
