"""A message carried as CBOR or JSON is processed exactly as its TLS form: the engine
works on schema values, and the codecs give back the same values (signatures, MACs and
AEAD are computed over the re-encoded TLS, which is byte-identical)."""

from __future__ import annotations

import json
from typing import Any

import mlswire
from mlswire.crypto.suites import cipher_suite
from mlswire.engine import framing
from mlswire.engine import welcome as wl
from mlswire.schema import CipherSuite, GroupContext, MLSMessage

from .conftest import require, vectors_dir


def _cases(name: str) -> list[dict[str, Any]]:
    return list(json.loads(require(vectors_dir() / name).read_text()))


def _via(data_hex: str, encoding: str) -> MLSMessage:
    """The vector's message as a peer speaking ``encoding`` would send it, as received."""
    sent = mlswire.encode(mlswire.decode(bytes.fromhex(data_hex), MLSMessage), encoding)
    received: MLSMessage = mlswire.decode(sent, MLSMessage, encoding=encoding)
    return received


def test_welcome_as_json_joins_like_its_tls_form() -> None:
    for case in _cases("welcome.json"):
        results = []
        for welcome_enc, kp_enc in (("tls", "tls"), ("json", "cbor")):
            welcome = _via(case["welcome"], welcome_enc).welcome
            key_package = _via(case["key_package"], kp_enc).key_package
            assert welcome is not None and key_package is not None
            opened = wl.open_welcome(welcome, key_package, bytes.fromhex(case["init_priv"]))
            hashes = opened.verify(bytes.fromhex(case["signer_pub"]))
            results.append((opened.group_info, hashes.confirmed, hashes.interim))
        assert results[0] == results[1]


def test_commit_as_cbor_unprotects_like_its_tls_form() -> None:
    for case in _cases("message-protection.json"):
        cs = cipher_suite(case["cipher_suite"])
        context = GroupContext(
            cipher_suite=CipherSuite(case["cipher_suite"]),
            group_id=bytes.fromhex(case["group_id"]),
            epoch=case["epoch"],
            tree_hash=bytes.fromhex(case["tree_hash"]),
            confirmed_transcript_hash=bytes.fromhex(case["confirmed_transcript_hash"]),
            extensions=(),
        )
        contents = []
        for enc in ("tls", "cbor", "json"):
            message = _via(case["commit_pub"], enc).public_message
            assert message is not None
            contents.append(
                framing.unprotect_public(
                    cs,
                    message,
                    group_context=context,
                    signature_key=bytes.fromhex(case["signature_pub"]),
                    membership_key=bytes.fromhex(case["membership_key"]),
                )
            )
        assert contents[0] == contents[1] == contents[2]
        assert contents[0].content.commit is not None
