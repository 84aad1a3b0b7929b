"""welcome.json: open a Welcome with the KeyPackage's init key, verify the GroupInfo's
signature with the signer's key and its confirmation tag with the key schedule."""

from __future__ import annotations

from typing import Any

from ..codecs import tls
from ..engine import welcome as wl
from ..schema import MLSMessage, WireFormat
from . import Mismatch, expect, unhex

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
