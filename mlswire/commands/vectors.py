"""``mlswire vectors ...``: check and generate official-format test vector files."""

from __future__ import annotations

import argparse
import sys
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


def _suite_id(text: str) -> int:
    """A cipher suite as given on the command line: decimal or 0x-hex id, or a name
    (:func:`mlswire.crypto.suites.parse_suite`)."""
    from ..crypto.suites import parse_suite

    try:
        return parse_suite(text)
    except MLSError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def generate(args: argparse.Namespace) -> int:
    from ..vectors import _generate as gen

    every = args.family == "all"
    if every and args.output is None:
        print("error: 'generate all' writes one file per family: give -o DIR", file=sys.stderr)
        return 2
    if args.count is not None and args.count < 0:
        print("error: --count must be >= 0", file=sys.stderr)
        return 2
    try:
        # Check every argument before any (possibly long) work starts.
        suites = gen.check_suites(args.suite or gen.SUPPORTED_CIPHER_SUITES)
        names = gen.generator_families() if every else [args.family]
        for name in names:
            gen.require_generator(name)
    except MLSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    progress = gen.Progress(sum(gen.expected_cases(n, suites, args.count) for n in names))
    try:
        texts = gen.generate_files(
            names, suites=suites, count=args.count, seed=args.seed, progress=progress
        )
    finally:
        progress.close()
    if every:
        paths = gen.write_all(Path(args.output), texts)
        if progress.enabled:  # a person is watching; piped runs stay quiet
            print(f"wrote {len(paths)} files to {args.output}", file=sys.stderr)
    elif args.output is None:
        sys.stdout.write(texts[args.family])
    else:
        Path(args.output).write_text(texts[args.family])
    return 0


def add_parser(sub: Any) -> None:
    vectors = sub.add_parser("vectors", help="official MLS test vectors")
    vsub = vectors.add_subparsers(dest="vectors_command", required=True)
    p = vsub.add_parser("verify", help="check vector files; prints N passed, M failed")
    p.add_argument("files", nargs="+", help="vector JSON files")
    p.add_argument("--family", help="vector family, when the file name does not tell")
    p.add_argument("-v", "--verbose", action="store_true", help="show each failing case and why")
    p.set_defaults(func=verify)

    g = vsub.add_parser(
        "generate",
        help="generate vector files in the official format",
        description="Generate test vectors of one family (to stdout or -o FILE), or of "
        "every family mlswire can generate ('all', into the folder -o DIR). The same "
        "--seed gives byte-identical files; without one the vectors are fresh.",
    )
    g.add_argument("family", help="vector family (official file stem, e.g. tree-math) or 'all'")
    g.add_argument(
        "--suite",
        type=_suite_id,
        action="extend",
        nargs="+",
        metavar="SUITE",
        help="cipher suite(s): decimal or 0x-hex id, suite name, or TBD1..TBD11 for the "
        "post-quantum draft's suites (default: the seven of RFC 9420)",
    )
    g.add_argument("--count", type=int, help="cases per suite (default: the family's)")
    g.add_argument("--seed", help="seed for reproducible output (default: random)")
    g.add_argument("-o", "--output", help="output file (a folder for 'all'); default stdout")
    g.set_defaults(func=generate)
