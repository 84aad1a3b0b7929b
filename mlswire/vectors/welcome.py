"""welcome.json: open a Welcome with the KeyPackage's init key, verify the GroupInfo's
signature with the signer's key and its confirmation tag with the key schedule."""

from __future__ import annotations

from typing import Any

from ..codecs import tls
from ..crypto.suites import CipherSuite
from ..engine import key_schedule as ks
from ..engine import transcript
from ..engine import welcome as wl
from ..schema import CipherSuite as CipherSuiteId
from ..schema import GroupContext, MLSMessage, WireFormat
from . import Mismatch, expect, unhex
from ._build import new_key_package, new_signer, per_suite_generator
from ._rng import Drbg

FAMILY = "welcome"
KEYS = frozenset({"cipher_suite", "init_priv", "signer_pub", "key_package", "welcome"})


def check(case: dict[str, Any]) -> None:
    kp_msg = tls.decode(unhex(case["key_package"]), MLSMessage)
    welcome_msg = tls.decode(unhex(case["welcome"]), MLSMessage)
    expect("key_package.wire_format", kp_msg.wire_format, WireFormat.mls_key_package)
    expect("welcome.wire_format", welcome_msg.wire_format, WireFormat.mls_welcome)
    key_package, welcome = kp_msg.key_package, welcome_msg.welcome
    if key_package is None or welcome is None:  # implied by the wire formats just checked
        raise Mismatch("message bodies missing")
    expect("welcome.cipher_suite", int(welcome.cipher_suite), case["cipher_suite"])

    # The vector has no PSKs: a lookup is not passed, so any PSK named would fail.
    opened = wl.open_welcome(welcome, key_package, unhex(case["init_priv"]))
    hashes = opened.verify(unhex(case["signer_pub"]))
    expect(
        "confirmed_transcript_hash",
        hashes.confirmed,
        opened.group_info.group_context.confirmed_transcript_hash,
    )


# --- generation: a joiner's KeyPackage and a Welcome to it for a random epoch ----------
DEFAULT_COUNT = 1


def _case(cs: CipherSuite, r: Drbg) -> dict[str, Any]:
    nh = cs.hash_len
    signer = new_signer(cs, r)
    joiner = new_key_package(cs, r)
    context = GroupContext(
        cipher_suite=CipherSuiteId(cs.suite_id),
        group_id=r(32),
        epoch=r.uint(16),
        tree_hash=r(nh),
        confirmed_transcript_hash=r(nh),
        extensions=(),
    )
    # The epoch the Welcome lets the joiner into: no PSKs, as check() expects.
    epoch = ks.derive_epoch(cs, r(nh), context, commit_secret=r(nh))
    tag = transcript.confirmation_tag(cs, epoch.confirmation_key, context.confirmed_transcript_hash)
    group_info = wl.sign_group_info(
        cs,
        signer.priv,
        group_context=context,
        confirmation_tag=tag,
        signer=r.uint(16),
        rng=r,
    )
    welcome = wl.create_welcome(epoch, group_info, [wl.NewMember(joiner.key_package)], rng=r)
    kp_msg = MLSMessage(wire_format=WireFormat.mls_key_package, key_package=joiner.key_package)
    welcome_msg = MLSMessage(wire_format=WireFormat.mls_welcome, welcome=welcome)
    return {
        "cipher_suite": cs.suite_id,
        "init_priv": joiner.init_priv.hex(),
        "signer_pub": signer.pub.hex(),
        "key_package": tls.encode(kp_msg, MLSMessage).hex(),
        "welcome": tls.encode(welcome_msg, MLSMessage).hex(),
    }


generate = per_suite_generator(_case, DEFAULT_COUNT)
