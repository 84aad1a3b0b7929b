"""The ``mlswire`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import MLSError


def _cmd_vectors_verify(args: argparse.Namespace) -> int:
    from .vectors import verify_file

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlswire", description="Messaging Layer Security (RFC 9420) toolkit"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    vectors = sub.add_parser("vectors", help="official MLS test vectors")
    vsub = vectors.add_subparsers(dest="vectors_command", required=True)
    verify = vsub.add_parser("verify", help="check vector files; prints N passed, M failed")
    verify.add_argument("files", nargs="+", help="vector JSON files")
    verify.add_argument("--family", help="vector family, when the file name does not tell")
    verify.add_argument(
        "-v", "--verbose", action="store_true", help="show each failing case and why"
    )
    verify.set_defaults(func=_cmd_vectors_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
