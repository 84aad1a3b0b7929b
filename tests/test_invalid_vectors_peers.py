"""The must-reject vectors run against the peers (mlswire/vectors/peer_validation.py,
node/invalid-vectors.mjs): the runners report refusals, gaps and cases they could not
run as docs/PEER-VALIDATION.md says, and that document's prose names every gap its
generated table lists."""

from __future__ import annotations

import json
import re
import shutil
from typing import Any

import pytest

from mlswire.vectors import peer_validation as pv

from .conftest import ROOT

VECTORS = ROOT / "vectors" / "invalid-input.json"
DOC = ROOT / "docs" / "PEER-VALIDATION.md"


def _case(rule: str, suite: int = 1) -> dict[str, Any]:
    cases: list[dict[str, Any]] = json.loads(VECTORS.read_text())
    return next(c for c in cases if c["rule"] == rule and c["cipher_suite"] == suite)


def test_verdict() -> None:
    base = {"rule": "X", "cipher_suite": 1}
    assert pv.verdict({**base, "invalid": "rejected", "control": "accepted"}) == "rejected"
    # refused with its control: nothing shown about the rule
    assert pv.verdict({**base, "invalid": "rejected", "control": "refused"}) == "not run"
    assert pv.verdict({**base, "invalid": "accepted", "control": "accepted"}) == "accepted"
    assert pv.verdict(None) == "n/a"


def test_mlswire_column_rejects_every_case() -> None:
    cases = [_case("PL3"), _case("T2"), _case("F18", 1)]
    assert [pv.verdict(r) for r in pv.run_mlswire(cases)] == ["rejected"] * 3


def test_rfc9420_runner() -> None:
    pytest.importorskip("rfc9420")
    peer = pv.Rfc9420Peer()
    pl3 = peer.run(_case("PL3"))
    assert pv.verdict(pl3) == "rejected", pl3
    # the documented state bug: after refusing a Commit, the next one of the epoch fails
    assert "SameEpochCommitError" in pl3["continuation"], pl3
    f18 = peer.run(_case("F18"))  # the documented gap: a replayed application message
    assert pv.verdict(f18) == "accepted", f18
    e1 = peer.run(_case("E1"))  # cannot process external Commits at all
    assert pv.verdict(e1) == "not run" and "invalid signature" in e1["control_error"], e1


def test_ts_mls_runner() -> None:
    if shutil.which("node") is None or not (ROOT / "node/node_modules/ts-mls").is_dir():
        pytest.skip("ts-mls not installed: npm ci --prefix node")
    results = pv.run_ts_mls(VECTORS, rules=["PL3", "F3", "P1", "F2"])
    one = {r["rule"]: r for r in results if r["cipher_suite"] == 1}
    assert pv.verdict(one["PL3"]) == "rejected", one["PL3"]
    assert pv.verdict(one["F3"]) == "accepted", one["F3"]  # documented gap
    # documented conformance bug: the RFC's external_senders vector does not decode
    assert pv.verdict(one["P1"]) == "not run", one["P1"]
    assert "ExternalSender" in one["P1"]["control_error"]
    assert pv.verdict(one["F2"]) == "n/a", one["F2"]


def _bold_rules(section: str) -> set[str]:
    found: set[str] = set()
    for group in re.findall(r"^\* \*\*([^*]+)\*\*", section, re.M):
        for part in group.split(","):
            m = re.fullmatch(r"\s*([A-Z]+)(\d+)(?:-[A-Z]*(\d+))?\s*", part)
            assert m, part
            lo = int(m[2])
            for n in range(lo, int(m[3] or lo) + 1):
                found.add(f"{m[1]}{n}")
    return found


def test_document_describes_every_gap_the_table_lists() -> None:
    text = DOC.read_text()
    prose, generated = text.split(pv.MARK, 1)
    ts_prose = prose.split("### ts-mls", 1)[1].split("### rfc9420", 1)[0]
    rfc_prose = prose.split("### rfc9420", 1)[1]
    for impl, section in (("ts-mls", ts_prose), ("rfc9420", rfc_prose)):
        line = re.search(rf"^\* {impl}: (.*)$", generated, re.M)
        assert line, impl
        listed = {r.strip() for r in line[1].split(",")}
        assert _bold_rules(section) == listed, impl
