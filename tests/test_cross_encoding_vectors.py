"""vectors/cross-encoding.json: one value per case in TLS, CBOR and JSON, made by
``mlswire vectors generate cross-encoding`` and checked by ``mlswire vectors verify``."""

from __future__ import annotations

import json
from pathlib import Path

import cbor2
import pytest

from mlswire.vectors import Mismatch, cross_encoding, verify_file
from mlswire.vectors._generate import generate_files

from .test_encoding_exports import cddl_for, json_schema_for

FILE = Path(__file__).resolve().parents[1] / "vectors" / "cross-encoding.json"


def test_committed_file_is_what_the_seed_generates() -> None:
    text = generate_files(["cross-encoding"], suites=None, count=None, seed="mlswire")
    assert FILE.read_text() == text["cross-encoding"], (
        "vectors/cross-encoding.json is out of date: run "
        "`mlswire vectors generate cross-encoding --seed mlswire -o vectors/cross-encoding.json`"
    )


def test_every_case_verifies_and_the_coverage_is_complete() -> None:
    family, results = verify_file(FILE)
    assert family == "cross-encoding"
    assert [r.error for r in results if r.error] == []
    cases = json.loads(FILE.read_text())
    descriptions = " ".join(c["description"] for c in cases)
    for name in ("public", "private", "welcome", "group_info", "key_package"):
        assert f"mls_{name}" in descriptions
    assert "GREASE" in descriptions
    kinds = {
        (c["type"], c["json"].get(key))
        for c in cases
        for key in ("proposal_type", "extension_type", "credential_type")
        if key in c["json"]
    }
    assert {k for t, k in kinds if t == "Proposal"} >= {
        "add",
        "update",
        "remove",
        "psk",
        "reinit",
        "external_init",
        "group_context_extensions",
        0x3A3A,
    }
    assert {k for t, k in kinds if t == "Extension"} >= {
        "application_id",
        "ratchet_tree",
        "required_capabilities",
        "external_pub",
        "external_senders",
        0x3A3A,
    }
    assert {k for t, k in kinds if t == "Credential"} == {"basic", "x509", 0x3A3A}
    senders = {
        c["json"]["public_message"]["content"]["sender"]["sender_type"]
        for c in cases
        if "public_message" in c["json"]
    }
    assert senders == {"member", "external", "new_member_proposal", "new_member_commit"}


def test_vectors_validate_against_the_published_schemas() -> None:
    for case in json.loads(FILE.read_text()):
        if "context" not in case:
            cddl_for(case["type"]).validate_cbor(bytes.fromhex(case["cbor"]))
        json_schema_for(case["type"]).validate(case["json"])


def test_a_tampered_case_fails() -> None:
    case = json.loads(FILE.read_text())[14]  # a Remove proposal
    assert case["json"]["proposal_type"] == "remove"
    bad = dict(
        case, json={**case["json"], "remove": {"removed": case["json"]["remove"]["removed"] + 1}}
    )
    with pytest.raises(Mismatch, match="json decodes to a different value"):
        cross_encoding.check(bad)
    tree = cbor2.loads(bytes.fromhex(case["cbor"]))
    tree["remove"]["removed"] += 1
    with pytest.raises(Mismatch, match="cbor decodes to a different value"):
        cross_encoding.check(dict(case, cbor=cbor2.dumps(tree, canonical=True).hex()))
