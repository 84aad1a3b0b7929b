"""key-schedule.json: a chain of epochs per cipher suite: the GroupContext encoding,
every secret of RFC 9420 §8, the external public key and one exporter output."""

from __future__ import annotations

from typing import Any

from ..crypto.suites import cipher_suite
from ..engine import key_schedule as ks
from ..schema import GroupContext
from . import expect, unhex

FAMILY = "key-schedule"
KEYS = frozenset({"cipher_suite", "group_id", "initial_init_secret", "epochs"})

# Vector field -> EpochSecrets attribute (the names differ only where the RFC's do).
_SECRETS = (
    "joiner_secret",
    "welcome_secret",
    "init_secret",
    "sender_data_secret",
    "encryption_secret",
    "exporter_secret",
    "epoch_authenticator",
    "external_secret",
    "confirmation_key",
    "membership_key",
    "resumption_psk",
)


def check(case: dict[str, Any]) -> None:
    suite_id = case["cipher_suite"]
    cs = cipher_suite(suite_id)
    group_id = unhex(case["group_id"])
    init_secret = unhex(case["initial_init_secret"])
    if not case["epochs"]:
        raise ValueError("a key-schedule case with no epochs checks nothing")
    for n, epoch in enumerate(case["epochs"]):
        where = f"epoch {n}"
        context = GroupContext(
            cipher_suite=suite_id,
            group_id=group_id,
            epoch=n,
            tree_hash=unhex(epoch["tree_hash"]),
            confirmed_transcript_hash=unhex(epoch["confirmed_transcript_hash"]),
            extensions=(),
        )
        encoded = ks.encode_group_context(context)
        expect(f"{where}: group_context", encoded, unhex(epoch["group_context"]))

        secrets = ks.derive_epoch(
            cs,
            init_secret,
            encoded,
            commit_secret=unhex(epoch["commit_secret"]),
            psk_secret=unhex(epoch["psk_secret"]),
        )
        for name in _SECRETS:
            expect(f"{where}: {name}", getattr(secrets, name), unhex(epoch[name]))

        _, external_pub = secrets.external_key_pair()
        expect(f"{where}: external_pub", external_pub, unhex(epoch["external_pub"]))

        x = epoch["exporter"]
        exported = secrets.export(x["label"], unhex(x["context"]), x["length"])
        expect(f"{where}: exporter.secret", exported, unhex(x["secret"]))

        init_secret = secrets.init_secret
