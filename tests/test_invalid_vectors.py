"""The must-reject vector family (invalid-input): every case is refused by mlswire for
its rule with the state unchanged, its control (the same input without the break) is
accepted, its continuation is accepted; the verifier can fail; the family covers the
rules of docs/VALIDATION.md that a vector can express, and lists the others."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from mlswire.crypto.suites import SUPPORTED_CIPHER_SUITES
from mlswire.vectors import Mismatch, verify_file
from mlswire.vectors import invalid_input as family
from mlswire.vectors._invalid import AREAS, CASES, NOT_EXPRESSIBLE
from mlswire.vectors._rng import Drbg

from .conftest import ROOT

COMMITTED = ROOT / "vectors" / "invalid-input.json"
RULE_ROW = re.compile(r"^\| ([A-Z]+\d+) \| (§[^|]*) \|", re.M)


def _case(rule: str, suite: int = 1) -> dict[str, Any]:
    built = family.build_case(CASES[rule], suite, Drbg("test").fork(rule, suite))
    decoded: dict[str, Any] = json.loads(json.dumps(built))  # as a verifier reads it
    return decoded


@pytest.mark.parametrize("rule", list(CASES))
def test_case_refused_for_its_rule_control_and_continuation_accepted(rule: str) -> None:
    # check() joins, follows the epochs, requires the invalid input to be refused with
    # an error naming the rule and the state unchanged, the control to be accepted
    # from the same state, and the continuation (with its epoch authenticator)
    case = _case(rule)
    family.check(case)
    kind = case["invalid"]["kind"]
    if kind == "message":
        assert case["control"]["message"] != case["invalid"]["message"]
    elif kind == "group_info":
        assert case["control"]["group_info"] != case["invalid"]["group_info"]
    elif kind == "resumption_welcome":
        assert case["control"]["welcome"] != case["invalid"]["welcome"]
    else:
        assert case["welcome"] != case["invalid"]["welcome"]


@pytest.mark.parametrize("suite", [s for s in SUPPORTED_CIPHER_SUITES if s != 1])
def test_every_area_in_every_suite(suite: int) -> None:
    for rule in family.representative():
        family.check(_case(rule, suite))


# --- the verifier can fail -------------------------------------------------------------


def _fails(case: dict[str, Any], pattern: str) -> None:
    with pytest.raises(Mismatch, match=pattern):
        family.check(case)


def test_verifier_fails_when_the_invalid_message_is_accepted() -> None:
    case = _case("PL3")
    case["invalid"]["message"] = case["control"]["message"]
    _fails(case, r"invalid\.message was accepted: PL3")


def test_verifier_fails_when_the_control_is_refused() -> None:
    case = _case("PL3")
    case["control"] = copy.deepcopy(case["invalid"])
    del case["control"]["kind"]
    _fails(case, r"control\.message refused")


def test_verifier_fails_when_refused_for_another_rule() -> None:
    case = _case("PL3")
    case["rule"] = "PL4"  # the same input, claimed to break another rule
    _fails(case, r"refused, but not for PL4")


def test_verifier_fails_when_the_invalid_welcome_is_accepted() -> None:
    case = _case("T2")
    case["invalid"]["welcome"] = case["welcome"]
    _fails(case, r"invalid\.welcome was accepted: T2")


def test_verifier_fails_when_the_invalid_group_info_is_accepted() -> None:
    case = _case("E10")
    case["invalid"]["group_info"] = case["control"]["group_info"]
    _fails(case, r"invalid\.group_info was accepted: E10")


def test_verifier_fails_when_the_control_group_info_is_refused() -> None:
    case = _case("E10")
    case["control"]["group_info"] = case["invalid"]["group_info"]
    _fails(case, r"control\.group_info refused")


def test_verifier_fails_when_the_invalid_resumption_is_accepted() -> None:
    case = _case("W18")
    case["invalid"]["welcome"] = case["control"]["welcome"]
    _fails(case, r"invalid\.welcome was accepted: W18")


def test_verifier_fails_on_a_wrong_continuation() -> None:
    case = _case("F3")
    auth = case["continuation"]["epoch_authenticator"]
    case["continuation"]["epoch_authenticator"] = ("00" if auth[:2] != "00" else "01") + auth[2:]
    _fails(case, r"continuation\[0\] epoch_authenticator")


# --- coverage ----------------------------------------------------------------------------


def _table() -> dict[str, str]:
    text = (ROOT / "docs" / "VALIDATION.md").read_text()
    return {m[1]: m[2] for m in RULE_ROW.finditer(text)}


def test_every_rule_has_a_case_or_a_reason() -> None:
    rows = _table()
    assert set(CASES) | set(NOT_EXPRESSIBLE) == set(rows)
    assert not set(CASES) & set(NOT_EXPRESSIBLE)
    assert len(CASES) >= 100
    for rule, c in CASES.items():
        # the case names the row's first section
        assert rows[rule].split(",")[0].strip().split()[0] in c.section, rule


def test_every_area_has_cases() -> None:
    assert {c.area for c in CASES.values()} == set(AREAS)


def test_committed_file_has_every_rule_in_suite_1_and_every_area_in_every_suite() -> None:
    cases = json.loads(COMMITTED.read_text())
    by_suite: dict[int, list[str]] = {}
    for c in cases:
        by_suite.setdefault(c["cipher_suite"], []).append(c["rule"])
    assert by_suite[1] == list(CASES)
    assert set(by_suite) == set(SUPPORTED_CIPHER_SUITES)
    for suite in SUPPORTED_CIPHER_SUITES:
        assert {CASES[r].area for r in by_suite[suite]} == set(AREAS), suite


def test_committed_file_verifies() -> None:
    name, results = verify_file(COMMITTED)
    assert name == "invalid-input"
    done = list(results)
    failed = [f"{r.label}: {r.error}" for r in done if r.error]
    assert len(done) == len(json.loads(COMMITTED.read_text())) and not failed, failed
