"""A message carried as CBOR or JSON is processed exactly as its TLS form: the engine
works on schema values, and the codecs give back the same values (signatures, MACs and
AEAD are computed over the re-encoded TLS, which is byte-identical)."""

from __future__ import annotations

import json
import time
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


def test_group_processes_cbor_commit_and_json_welcome_like_tls() -> None:
    """The group engine itself: a Welcome received as JSON joins, a commit received as
    CBOR stages and merges, an application message as JSON decrypts, and the result is
    the same epoch, epoch authenticator and tree as for the TLS forms."""
    from mlswire.engine.group import Client

    def run(encoding_welcome: str, encoding_commit: str) -> tuple[int, bytes, bytes, bytes]:
        alice = Client.generate(b"alice", rng=_Counter(b"a"))
        bob = Client.generate(b"bob", rng=_Counter(b"b"))
        carol = Client.generate(b"carol", rng=_Counter(b"c"))
        group = alice.create_group(b"g", rng=_Counter(b"g"))
        out = group.add_members([bob.key_package(rng=_Counter(b"kb"), now=NOW)])
        group.merge_pending_commit()
        welcome = mlswire.encode(mlswire.decode(out.welcome, MLSMessage), encoding_welcome)
        bob_group = bob.join_group(welcome, encoding=encoding_welcome)
        out = group.add_members([carol.key_package(rng=_Counter(b"kc"), now=NOW)])
        group.merge_pending_commit()
        commit = mlswire.encode(mlswire.decode(out.commit, MLSMessage), encoding_commit)
        staged = bob_group.process(commit, encoding=encoding_commit)
        assert [m.identity for m in staged.added] == [b"carol"]
        staged.merge()
        message = mlswire.encode(mlswire.decode(group.encrypt(b"hi"), MLSMessage), "json")
        assert bob_group.process(message, encoding="json").data == b"hi"
        assert bob_group.epoch_authenticator == group.epoch_authenticator
        return (
            bob_group.epoch,
            bob_group.epoch_authenticator,
            bob_group.tree_hash,
            bob_group.ratchet_tree(),
        )

    assert run("json", "cbor") == run("tls", "tls")


# One time for every KeyPackage of both runs: two runs that read the clock can straddle a second.
NOW = int(time.time())


class _Counter:
    """A deterministic rng, so the TLS and the converted runs make the same group."""

    def __init__(self, seed: bytes) -> None:
        self.seed, self.n = seed, 0

    def __call__(self, size: int) -> bytes:
        import hashlib

        out = b""
        while len(out) < size:
            self.n += 1
            out += hashlib.sha256(self.seed + self.n.to_bytes(8, "big")).digest()
        return out[:size]
