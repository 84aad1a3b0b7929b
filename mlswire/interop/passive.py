"""Passive-client test vectors derived from interop runs (what the official
``active_to_passive.js`` does, RUNNER.md §5), in the official "Passive Client
Scenarios" format that ``mlswire vectors verify`` checks.

Differences from the official converter, on purpose:

* only cases that passed are used (the converter also takes failed cases' partial
  transcripts);
* ``epochs`` lists the member's HandleCommits after its join up to its first RPC that a
  passive client could not follow (it proposes, commits, encrypts, reinitializes,
  branches or joins again); the converter meant that, but its slice bound coerces to 0,
  so every member that does anything else after joining got ``epochs: []``;
* a member is found by the transaction its JoinGroup names, so a member that joined
  twice gives two vectors with the right KeyPackage each.

Members who joined by NewMemberAddProposal are skipped (as the converter does), and so
are members whose client did not return its KeyPackage's private keys (the converter
crashes on those).
"""

from __future__ import annotations

from typing import Any

from .runner import CaseResult

# RPCs that change nothing a later Commit depends on: a passive client can skip them.
_TRANSPARENT = frozenset({"StorePSK", "GroupInfo", "Unprotect", "StateAuth", "Export"})


def _hex(data: bytes) -> str:
    return bytes(data).hex()


def vectors(result: CaseResult) -> list[dict[str, Any]]:
    """The passive-client vectors of one case (none if it failed)."""
    if not result.passed:
        return []
    out = []
    transcript = result.transcript
    for at, join in enumerate(transcript):
        if join.rpc != "JoinGroup":
            continue
        actor = join.actor
        mine = [e for e in transcript if e.actor == actor]
        created = [
            e
            for e in mine
            if e.rpc == "CreateKeyPackage"
            and e.response.transaction_id == join.request.transaction_id
        ]
        if len(created) != 1:
            continue  # joined with a NewMemberAddProposal's KeyPackage, or unknown
        kp = created[0].response
        if not (kp.init_priv and kp.encryption_priv and kp.signature_priv):
            continue  # the client keeps its private keys to itself (mls-rs's bindings)
        epochs = []
        for e in transcript[at + 1 :]:
            if e.actor != actor or e.rpc in _TRANSPARENT:
                continue
            if e.rpc != "HandleCommit" or not e.response.epoch_authenticator:
                break
            epochs.append(
                {
                    "proposals": [_hex(p) for p in e.request.proposal],
                    "commit": _hex(e.request.commit),
                    "epoch_authenticator": _hex(e.response.epoch_authenticator),
                }
            )
        out.append(
            {
                "cipher_suite": result.cipher_suite,
                "key_package": _hex(kp.key_package),
                "init_priv": _hex(kp.init_priv),
                "encryption_priv": _hex(kp.encryption_priv),
                "signature_priv": _hex(kp.signature_priv),
                "welcome": _hex(join.request.welcome),
                "ratchet_tree": _hex(join.request.ratchet_tree)
                if join.request.ratchet_tree
                else None,
                "initial_epoch_authenticator": _hex(join.response.epoch_authenticator),
                "external_psks": [
                    {"psk_id": _hex(e.request.psk_id), "psk": _hex(e.request.psk_secret)}
                    for e in mine
                    if e.rpc == "StorePSK"
                ],
                "epochs": epochs,
            }
        )
    return out
