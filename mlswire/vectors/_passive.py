"""The check shared by the three passive-client families (passive-client-welcome,
passive-client-handling-commit, passive-client-random): a client joins from the
Welcome (tree from the GroupInfo's extension or given out of band, external PSKs
from the vector), then for every epoch caches the proposals, processes the Commit and
compares its epoch authenticator with the vector's."""

from __future__ import annotations

from typing import Any

from ..codecs import tls
from ..crypto import cipher_suite
from ..engine.group import Client, GroupConfig, ProposalMessage, StagedCommit
from ..schema import MLSMessage
from . import Mismatch, expect, unhex

KEYS = frozenset(
    {
        "cipher_suite",
        "external_psks",
        "key_package",
        "signature_priv",
        "encryption_priv",
        "init_priv",
        "welcome",
        "ratchet_tree",
        "initial_epoch_authenticator",
        "epochs",
    }
)

# The default configuration: lifetimes checked against the clock, as for any client.
CONFIG = GroupConfig()


def check(case: dict[str, Any]) -> None:
    suite = case["cipher_suite"]
    cs = cipher_suite(suite)
    signature_priv = unhex(case["signature_priv"])
    client = Client.from_keys(b"", suite, signature_priv)
    # The vector's KeyPackage fixes the credential; the client signs nothing here.
    kp_message = tls.decode(unhex(case["key_package"]), MLSMessage)
    kp = kp_message.key_package
    if kp is None:
        raise Mismatch("key_package is not an MLSMessage carrying a KeyPackage")
    client.add_key_package(kp, unhex(case["init_priv"]), unhex(case["encryption_priv"]))
    expect(
        "signature_priv matches the KeyPackage's signature_key",
        cs.signature_public_key_from_private(signature_priv),
        kp.leaf_node.signature_key,
    )
    client.credential = kp.leaf_node.credential
    for psk in case["external_psks"]:
        client.add_external_psk(unhex(psk["psk_id"]), unhex(psk["psk"]))
    tree = unhex(case["ratchet_tree"]) if case.get("ratchet_tree") else None
    group = client.join_group(unhex(case["welcome"]), tree, config=CONFIG)
    expect(
        "initial epoch_authenticator",
        group.epoch_authenticator,
        unhex(case["initial_epoch_authenticator"]),
    )
    for n, epoch in enumerate(case["epochs"]):
        for k, proposal in enumerate(epoch["proposals"]):
            result = group.process(unhex(proposal))
            if not isinstance(result, ProposalMessage):
                raise Mismatch(f"epochs[{n}].proposals[{k}]: not a proposal")
        staged = group.process(unhex(epoch["commit"]))
        if not isinstance(staged, StagedCommit):
            raise Mismatch(f"epochs[{n}].commit: not a commit")
        staged.merge()
        expect(
            f"epochs[{n}] epoch_authenticator",
            group.epoch_authenticator,
            unhex(epoch["epoch_authenticator"]),
        )
