"""``mlswire vectors ...``: check official-format test vector files."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import MLSError


def verify(args: argparse.Namespace) -> int:
    from ..vectors import verify_file

    total_pass = total_fail = 0
    for name in args.files:
        path = Path(name)
        try:
            _, results = verify_file(path, args.family)
            passed = failed = 0
            for r in results:
                if r.error is None:
                    passed += 1
                else:
                    failed += 1
                    if args.verbose:
                        print(f"  {path.name} {r.label}: {r.error}")
        except (OSError, ValueError, MLSError) as e:
            print(f"{path}: error: {e}")
            total_fail += 1
            continue
        print(f"{path}: {passed} passed, {failed} failed")
        total_pass += passed
        total_fail += failed
    print(f"{total_pass} passed, {total_fail} failed")
    return 1 if total_fail else 0


def add_parser(sub: Any) -> None:
    vectors = sub.add_parser("vectors", help="official MLS test vectors")
    vsub = vectors.add_subparsers(dest="vectors_command", required=True)
    p = vsub.add_parser("verify", help="check vector files; prints N passed, M failed")
    p.add_argument("files", nargs="+", help="vector JSON files")
    p.add_argument("--family", help="vector family, when the file name does not tell")
    p.add_argument("-v", "--verbose", action="store_true", help="show each failing case and why")
    p.set_defaults(func=verify)
