"""key-schedule.json: a chain of epochs per cipher suite: the GroupContext encoding,
every secret of RFC 9420 §8, the external public key and one exporter output."""

from __future__ import annotations

from typing import Any

from ..crypto.suites import CipherSuite, cipher_suite
from ..engine import key_schedule as ks
from ..schema import CipherSuite as CipherSuiteId
from ..schema import GroupContext
from . import expect, unhex
from ._build import per_suite_generator
from ._rng import Drbg

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


# --- generation: a chain of EPOCHS epochs per case, random inputs each epoch -----------
DEFAULT_COUNT = 1
EPOCHS = 4  # the official file has 5; four keep the file smaller and still chain


def _case(cs: CipherSuite, r: Drbg) -> dict[str, Any]:
    nh = cs.hash_len
    group_id = r(32)
    initial_init_secret = init_secret = r(nh)
    epochs: list[dict[str, Any]] = []
    for n in range(EPOCHS):
        tree_hash, commit_secret, transcript_hash = r(nh), r(nh), r(nh)
        # Every other epoch has no PSK: psk_secret is then the all-zero vector (§8.4).
        psk_secret = ks.zero_secret(cs) if n % 2 else r(nh)
        context = ks.encode_group_context(
            GroupContext(
                cipher_suite=CipherSuiteId(cs.suite_id),
                group_id=group_id,
                epoch=n,
                tree_hash=tree_hash,
                confirmed_transcript_hash=transcript_hash,
                extensions=(),
            )
        )
        secrets = ks.derive_epoch(cs, init_secret, context, commit_secret, psk_secret)
        # The official exporter labels are hex text; any string is a valid label.
        label, exporter_context = r(32).hex(), r(32)
        epoch: dict[str, Any] = {
            "tree_hash": tree_hash.hex(),
            "commit_secret": commit_secret.hex(),
            "psk_secret": psk_secret.hex(),
            "confirmed_transcript_hash": transcript_hash.hex(),
            "group_context": context.hex(),
        }
        epoch.update({name: getattr(secrets, name).hex() for name in _SECRETS})
        epoch["external_pub"] = secrets.external_key_pair()[1].hex()
        epoch["exporter"] = {
            "label": label,
            "context": exporter_context.hex(),
            "length": nh,
            "secret": secrets.export(label, exporter_context, nh).hex(),
        }
        epochs.append(epoch)
        init_secret = secrets.init_secret
    return {
        "cipher_suite": cs.suite_id,
        "group_id": group_id.hex(),
        "initial_init_secret": initial_init_secret.hex(),
        "epochs": epochs,
    }


generate = per_suite_generator(_case, DEFAULT_COUNT)
