"""``mlswire serve``: run the Authentication Service and/or the Delivery Service.

    mlswire serve                          # AS and DS together, SQLite, 127.0.0.1:8480
    mlswire serve --ds --db postgresql://u@db/mls --as-url http://as.example:8480

Without ``--as``/``--ds`` both run in one process. A DS running without the AS reads
the AS root certificate and CRL from ``--as-url`` (the CRL again every
``--crl-refresh`` seconds), so revocations reach it without a restart.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import urllib.request
from typing import Any

DEFAULT_PORT = 8480


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="run the Authentication Service and/or the Delivery Service (HTTP)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--as", dest="run_as", action="store_true", help="run the AS")
    p.add_argument("--ds", dest="run_ds", action="store_true", help="run the DS")
    p.add_argument(
        "--db",
        default="mlswire-ds.sqlite3",
        help="DS store: a SQLite file path (default %(default)s) or a postgresql:// URL",
    )
    p.add_argument("--as-dir", default="mlswire-as", help="AS state directory (root key, registry)")
    p.add_argument("--as-url", help="the AS to trust when running --ds alone (root and CRL)")
    p.add_argument("--crl-refresh", type=float, default=30.0, help="seconds between CRL fetches")
    p.add_argument(
        "--queue-retention",
        type=float,
        default=None,
        help="seconds a queued message waits for an offline device (default: forever)",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--max-body", type=int, default=None, help="request body limit in bytes")
    p.add_argument("--max-blob", type=int, default=None, help="attachment size limit in bytes")
    p.add_argument(
        "--admin-token",
        default=os.environ.get("MLSWIRE_ADMIN_TOKEN"),
        help="AS admin bearer token (default: $MLSWIRE_ADMIN_TOKEN)",
    )
    p.add_argument(
        "--closed-enrollment",
        action="store_true",
        help="a user's first device needs the admin token too",
    )
    p.add_argument(
        "--unverified-groups",
        action="store_true",
        help="also take groups created without a GroupInfo, whose handshakes the DS cannot"
        " verify (for tests and benchmarks with synthetic messages; never in production)",
    )
    p.add_argument("--log-level", default="warning")
    p.set_defaults(func=run)


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as r:  # the operator-given AS URL
        data: bytes = r.read()
        return data


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from ..service.auth_service import CertificateAuthority, CredentialPolicy
    from ..service.delivery_service import DeliveryService
    from ..service.http import DEFAULT_MAX_BLOB, DEFAULT_MAX_BODY, create_app
    from ..service.stores import open_store

    run_as, run_ds = args.run_as, args.run_ds
    if not run_as and not run_ds:
        run_as = run_ds = True
    ca = CertificateAuthority.open(args.as_dir) if run_as else None
    ds = None
    if run_ds:
        if ca is not None:
            policy = ca.policy()
        elif args.as_url:
            base = args.as_url.rstrip("/")
            policy = CredentialPolicy.from_published(
                _fetch(base + "/as/root"), _fetch(base + "/as/crl")
            )

            def refresh() -> None:
                while not stop.wait(args.crl_refresh):
                    try:
                        policy.update_crl(_fetch(base + "/as/crl"))
                    except Exception as e:  # keep the last good CRL; say why on stderr
                        print(f"mlswire serve: CRL refresh failed: {e}", file=sys.stderr)

            stop = threading.Event()
            threading.Thread(target=refresh, daemon=True, name="crl-refresh").start()
        else:
            print("mlswire serve: --ds without --as needs --as-url", file=sys.stderr)
            return 2
        ds = DeliveryService(
            open_store(args.db),
            policy,
            queue_retention=args.queue_retention,
            follow_groups=not args.unverified_groups,
        )
    app = create_app(
        ds,
        ca,
        max_body=args.max_body or DEFAULT_MAX_BODY,
        max_blob=args.max_blob or DEFAULT_MAX_BLOB,
        admin_token=args.admin_token,
        open_enrollment=not args.closed_enrollment,
    )
    roles = "+".join(r for r, on in (("AS", run_as), ("DS", run_ds)) if on)
    print(f"mlswire serve: {roles} on http://{args.host}:{args.port}", flush=True)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        timeout_graceful_shutdown=5,
    )
    return 0
