"""``mlswire suites``: every cipher suite mlswire runs, and other stacks' PQ dialects."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def _suite_row(cs: Any, tag: str) -> dict[str, Any]:
    return {
        "id": f"0x{cs.suite_id:04x}",
        "name": cs.name,
        "tag": tag,
        "kem": f"0x{cs.kem_id:04x} {cs.kem_name}",
        "kdf": cs._kdf.name,
        "hash": cs.hash_name.upper(),
        "aead": cs.aead_name,
        "signature": cs.signature_scheme,
        "sizes": {
            "hpke_public_key": cs.hpke_public_key_len,
            "hpke_private_key": cs.hpke_private_key_len,
            "kem_output": cs.kem_output_len,
        },
    }


def rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from ..crypto import dialects
    from ..crypto.suites import PQ_CIPHER_SUITES, SUPPORTED_CIPHER_SUITES, cipher_suite

    suites = [_suite_row(cipher_suite(s), "RFC 9420") for s in SUPPORTED_CIPHER_SUITES]
    suites += [
        _suite_row(cipher_suite(s), f"TBD{i + 1} (provisional)")
        for i, s in enumerate(PQ_CIPHER_SUITES)
    ]
    out = []
    for e in dialects.DIALECT_SUITES:
        out.append(
            {
                "suite": e.key,
                "code_point": f"0x{e.code_point:04x}",
                "name": e.name,
                "same_as": e.same_as,
                "kem": f"0x{e.kem_id:04x}",
                "kdf": e.kdf_id,
                # the MLS hash as the KDF id whose hash it is (RFC 9180 ids: 1 SHA-256,
                # 2 SHA-384, 3 SHA-512); the KDF's own unless the stack pairs them otherwise
                "hash": e.hash_id or e.kdf_id,
                "aead": e.aead_id,
                "signature": f"0x{e.signature_scheme_id:04x}",
                "derive_key_pair": e.rule,
                "private_key": e.private_key,
                "runs": not e.unsupported,
                "why_not": e.unsupported,
                "checked_by_interop": e.verified,
            }
        )
    return suites, out


def run(args: argparse.Namespace) -> int:
    from ..crypto.primitives import KDFS

    suites, dialect_rows = rows()
    if args.json:
        json.dump({"suites": suites, "dialects": dialect_rows}, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    print("Cipher suites (select with --suite ID, NAME or TBDn):")
    for r in suites:
        print(f"  {r['id']}  {r['name']:<56} {r['tag']}")
        print(f"          KEM {r['kem']}, {r['kdf']}, {r['aead']}, {r['signature']}")
    print(
        "\nDialects (select with --suite DIALECT:CODE; DeriveKeyPair rules in mlswire.crypto.dialects):"
    )
    for d in dialect_rows:
        state = "runs" if d["runs"] else f"does not run: {d['why_not']}"
        like = f" = {d['same_as']}" if d["same_as"] else ""
        if d["hash"] != d["kdf"]:
            kdf, digest = KDFS[d["kdf"]], KDFS[d["hash"]]
            like += f" ({kdf.name} with {digest.hash_name.upper()} as the MLS hash)"
        print(f"  {d['suite']:<16} {d['name']}{like}")
        print(f"          rule {d['derive_key_pair']}, keys {d['private_key']}; {state}")
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("suites", help="list cipher suites and other stacks' PQ dialects")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)
