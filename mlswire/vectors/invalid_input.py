"""invalid-input.json: must-reject vectors, one case per docs/VALIDATION.md rule that a
wire-level vector can express (``vectors/README.md`` documents the format).

Each case is a passive-client case (key package and private keys, Welcome, optional
ratchet tree, external PSKs, valid epochs) followed by one input that breaks exactly
one rule. Verification: join and follow the epochs; the invalid input must be refused,
naming the rule, with the state unchanged; the control (the same input built the same
way without the break) must be accepted from the same state; the continuation (a valid
Commit after the refusal) must be accepted, with the epoch authenticator given. For a
Welcome case the invalid input is a Welcome to the same KeyPackage, refused before the
case's own Welcome (the control) is joined.

Cases are built by :mod:`mlswire.vectors._invalid` with the forging code of the
negative tests (:mod:`mlswire.vectors.forge`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..codecs import tls
from ..crypto.suites import cipher_suite
from ..engine.group import (
    ApplicationMessage,
    Client,
    Group,
    ProposalMessage,
    StagedCommit,
)
from ..errors import MLSError
from ..schema import MLSMessage
from . import Mismatch, expect, unhex
from ._invalid import CASES, RECEIVER, CaseDef, World
from ._invalid import cases as _cases  # noqa: F401  (registers the cases)
from ._passive import follow, join, passive_client
from ._rng import Drbg
from .forge import forging

FAMILY = "invalid-input"
OFFICIAL = False
KEYS = frozenset({"rule", "area", "invalid", "control", "continuation", "welcome", "key_package"})

# Suite 1 has every case; the other suites, by default, the first case of each area
# in rule order (the files stay a sane size; ``--count`` asks for more).
DEFAULT_COUNT = len(CASES)


def representative() -> list[str]:
    seen: dict[str, str] = {}
    for rule, c in CASES.items():
        seen.setdefault(c.area, rule)
    return list(seen.values())


# --- checking ------------------------------------------------------------------------------


def _refused(defn: CaseDef, what: str, action: Callable[[], object]) -> None:
    try:
        action()
    except MLSError as e:
        if not defn.names_rule(e):
            raise Mismatch(
                f"{what} refused, but not for {defn.rule} "
                f"({defn.error.__name__} matching {defn.pattern!r}): {type(e).__name__}: {e}"
            ) from None
        return
    raise Mismatch(f"{what} was accepted: {defn.rule} ({defn.section}) is not enforced")


def _accept(group: Group, data: dict[str, Any], defn: CaseDef | None = None) -> bool:
    """Process ``data["proposals"]``, which must be accepted, except that the last one
    may be refused naming the rule when it carries the break (``break_in_proposals``,
    given ``defn``). Whether it was (the input is then refused, nothing more to do)."""
    what = "control" if defn is None else "invalid"
    proposals = data["proposals"]
    for k, proposal in enumerate(proposals):
        if defn is not None and data.get("break_in_proposals") and k == len(proposals) - 1:
            before = group.to_bytes()
            try:
                got = group.process(unhex(proposal))
            except MLSError as e:
                if not defn.names_rule(e):
                    raise
                expect("group state after the refusal (unchanged)", group.to_bytes(), before)
                return True
        else:
            got = group.process(unhex(proposal))
        if not isinstance(got, ProposalMessage | ApplicationMessage):
            raise Mismatch(f"{what}.proposals[{k}]: not a proposal or application message")
    return False


def check(case: dict[str, Any]) -> None:
    defn = CASES.get(case["rule"])
    if defn is None:
        raise Mismatch(f"unknown rule {case['rule']!r}")
    client = passive_client(case)
    invalid = case["invalid"]
    if invalid["kind"] == "group_info":
        _check_external_join(defn, client, case)
        return
    if invalid["kind"] == "resumption_welcome":
        _check_resumption(defn, client, case)
        return
    if invalid["kind"] == "welcome":
        held = client.unused_key_packages()
        tree = unhex(invalid["ratchet_tree"]) if invalid.get("ratchet_tree") else None
        _refused(
            defn,
            "invalid.welcome",
            lambda: client.join_group(unhex(invalid["welcome"]), tree, config=RECEIVER),
        )
        expect("KeyPackages held after the refusal", client.unused_key_packages(), held)
        group = join(client, case)
        follow(group, case["epochs"])
        return
    group = join(client, case)
    follow(group, case["epochs"])
    saved = group.to_bytes()
    if not _accept(group, invalid, defn):
        before = group.to_bytes()
        _refused(defn, "invalid.message", lambda: group.process(unhex(invalid["message"])))
        expect("group state after the refusal (unchanged)", group.to_bytes(), before)
    control = case["control"]
    twin = Group.from_bytes(saved, client)
    _accept(twin, control)
    try:
        twin.process(unhex(control["message"]))
    except MLSError as e:
        raise Mismatch(f"control.message refused: {type(e).__name__}: {e}") from None
    if case["continuation"] is not None:
        follow(group, [case["continuation"]], "continuation")


def _check_resumption(defn: CaseDef, client: Client, case: dict[str, Any]) -> None:
    """Join the old group and follow it; with the second KeyPackage (``resumption``),
    joining the new group from ``invalid.welcome`` against the old group must be
    refused (the old group and the KeyPackages unchanged), and from ``control.welcome``
    must succeed with ``control.epoch_authenticator``."""
    old = join(client, case)
    follow(old, case["epochs"])
    r = case["resumption"]
    client.add_key_package(
        unhex(r["key_package"]), unhex(r["init_priv"]), unhex(r["encryption_priv"])
    )
    held, before = client.unused_key_packages(), old.to_bytes()

    def attempt(data: dict[str, Any]) -> Group:
        tree = unhex(data["ratchet_tree"]) if data.get("ratchet_tree") else None
        return client.join_group(unhex(data["welcome"]), tree, config=RECEIVER, resumed_from=old)

    _refused(defn, "invalid.welcome", lambda: attempt(case["invalid"]))
    expect("KeyPackages held after the refusal", client.unused_key_packages(), held)
    expect("old group after the refusal (unchanged)", old.to_bytes(), before)
    try:
        new = attempt(case["control"])
    except MLSError as e:
        raise Mismatch(f"control.welcome refused: {type(e).__name__}: {e}") from None
    expect(
        "control epoch_authenticator",
        new.epoch_authenticator,
        unhex(case["control"]["epoch_authenticator"]),
    )


def _check_external_join(defn: CaseDef, client: Client, case: dict[str, Any]) -> None:
    """The client, with the KeyPackage leaf's credential and capabilities, must refuse
    to join by external Commit from ``invalid.group_info`` and join from
    ``control.group_info``."""
    kp = tls.decode(unhex(case["key_package"]), MLSMessage).key_package
    assert kp is not None  # passive_client checked it
    client.capabilities = kp.leaf_node.capabilities

    def attempt(data: dict[str, Any]) -> object:
        tree = unhex(data["ratchet_tree"]) if data.get("ratchet_tree") else None
        return client.join_by_external_commit(unhex(data["group_info"]), tree, config=RECEIVER)

    _refused(defn, "invalid.group_info", lambda: attempt(case["invalid"]))
    try:
        attempt(case["control"])
    except MLSError as e:
        raise Mismatch(f"control.group_info refused: {type(e).__name__}: {e}") from None


# --- generation ------------------------------------------------------------------------------


def build_case(defn: CaseDef, suite: int, rng: Drbg) -> dict[str, Any]:
    """The vector of one rule in one suite (generation also checks that the engine
    refuses the input for the rule, so a case that went wrong fails here)."""
    w = World(suite, rng)
    with forging(rng, suite, real_tags=True):
        build = defn.make(w)
        bad, good = build(True), build(False)
        head = w.head
        assert head is not None, f"{defn.rule}: the case made no passive client"
        control: dict[str, Any] | None = None
        continuation: dict[str, Any] | None = None
        initial: bytes | None
        if bad.kind == "group_info":
            assert w.joiner is not None and good.group_info is not None
            joiner = w.joiner
            _refused(
                defn,
                f"{defn.rule}: invalid.group_info",
                lambda: joiner.join_by_external_commit(
                    bad.group_info or b"", bad.ratchet_tree, config=RECEIVER
                ),
            )
            joiner.join_by_external_commit(
                good.group_info, good.ratchet_tree, config=RECEIVER, rng=rng
            )
            control = good.to_json()
            del control["kind"]
            initial = None
        elif bad.kind == "resumption_welcome":
            assert w.resumption is not None and good.welcome is not None
            receiver, me = w.receiver, w.receiver.client
            initial = head.initial_epoch_authenticator
            _refused(
                defn,
                f"{defn.rule}: invalid.welcome",
                lambda: me.join_group(bad.welcome or b"", config=RECEIVER, resumed_from=receiver),
            )
            new = me.join_group(good.welcome, config=RECEIVER, resumed_from=receiver, rng=rng)
            control = good.to_json()
            del control["kind"]
            control["epoch_authenticator"] = new.epoch_authenticator.hex()
        elif bad.kind == "welcome":
            assert w.joiner is not None and good.welcome is not None
            joiner = w.joiner
            _refused(
                defn,
                f"{defn.rule}: invalid.welcome",
                lambda: joiner.join_group(bad.welcome or b"", bad.ratchet_tree, config=RECEIVER),
            )
            group = joiner.join_group(good.welcome, good.ratchet_tree, config=RECEIVER, rng=rng)
            head.welcome, head.ratchet_tree = good.welcome, good.ratchet_tree
            initial = group.epoch_authenticator
        else:
            receiver = w.receiver
            initial = head.initial_epoch_authenticator
            for p in bad.proposals:
                receiver.process(p)
            _refused(
                defn, f"{defn.rule}: invalid.message", lambda: receiver.process(bad.message or b"")
            )
            control = good.to_json()
            del control["kind"], control["break_in_proposals"]
            if w.continuer is not None:
                continuation = _continue(w, w.continuer)
    return {
        "rule": defn.rule,
        "area": defn.area,
        "section": defn.section,
        "requirement": defn.requirement,
        "cipher_suite": suite,
        "external_psks": [{"psk_id": k.hex(), "psk": v.hex()} for k, v in w.external_psks.items()],
        "key_package": head.key_package.hex(),
        "signature_priv": head.signature_priv.hex(),
        "encryption_priv": head.encryption_priv.hex(),
        "init_priv": head.init_priv.hex(),
        "welcome": head.welcome.hex() if head.welcome else None,
        "ratchet_tree": None if head.ratchet_tree is None else head.ratchet_tree.hex(),
        "initial_epoch_authenticator": None if initial is None else initial.hex(),
        "epochs": w.epochs,
        "invalid": bad.to_json(),
        "control": control,
        "continuation": continuation,
        **({} if w.resumption is None else {"resumption": w.resumption}),
    }


def _continue(w: World, committer: int) -> dict[str, Any]:
    """A valid Commit (a path, nothing else) by member ``committer``, which the
    receiver takes after it refused the invalid input."""
    g = w.groups[committer]
    g.clear_pending_proposals()
    out = g.commit([], update_path=True)
    g.merge_pending_commit()
    staged = w.receiver.process(out.commit)
    assert isinstance(staged, StagedCommit)
    staged.merge()
    return {
        "proposals": [],
        "commit": out.commit.hex(),
        "epoch_authenticator": w.receiver.epoch_authenticator.hex(),
    }


def generate(
    suite: int | None,
    rng: Drbg,
    count: int | None = None,
    *,
    progress: Callable[[], None] | None = None,
) -> list[dict[str, Any]]:
    suite_id = cipher_suite(suite if suite is not None else 1).suite_id
    if count is not None:
        rules = list(CASES)[:count]
    elif suite_id == 1:
        rules = list(CASES)
    else:
        rules = representative()
    out = []
    for rule in rules:
        out.append(build_case(CASES[rule], suite_id, rng.fork("case", rule)))
        if progress is not None:
            progress()
    return out


__all__ = ["DEFAULT_COUNT", "FAMILY", "KEYS", "build_case", "check", "generate", "representative"]
