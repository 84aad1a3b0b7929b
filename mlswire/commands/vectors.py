"""``mlswire vectors ...``: check and generate official-format test vector files."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from ..errors import MLSError
from . import FAILED, OK, UsageError, one_line


def _vector_files(names: list[str]) -> tuple[list[Path], bool]:
    """The files to check: those named (a folder stands for the .json files in it), else
    every .json file of the default set; and whether that default set is used."""
    from ..vectors import default_vectors_dir

    if not names:
        folder = default_vectors_dir()
        files = sorted(folder.glob("*.json"))
        if not files:
            where = "MLSWIRE_VECTORS" if os.environ.get("MLSWIRE_VECTORS") else "the package"
            raise UsageError(f"no vector files (*.json) in {folder} (from {where})")
        return files, True
    files = []
    for name in names:
        path = Path(name)
        if path.is_dir():
            found = sorted(path.glob("*.json"))
            if not found:
                raise UsageError(f"{path} is a folder with no .json vector files in it")
            files += found
        elif not path.exists():
            raise UsageError(f"{path}: no such file")
        else:
            files.append(path)
    return files, False


def _load_error(path: Path, e: Exception) -> str:
    """What is wrong with a vector file that cannot be checked at all, in one line."""
    if isinstance(e, json.JSONDecodeError):
        return f"not a JSON file (line {e.lineno}, column {e.colno}: {e.msg})"
    if isinstance(e, UnicodeDecodeError):
        return "not a JSON file (not UTF-8 text)"
    if isinstance(e, OSError):
        return f"cannot read: {e.strerror or e}"
    return one_line(str(e))


def verify(args: argparse.Namespace) -> int:
    from ..vectors import verify_file

    files, default_set = _vector_files(args.files)
    if default_set:
        print(f"checking the vector files in {files[0].parent}")
    total_pass = total_fail = 0
    for path in files:
        shown = path.name if default_set else str(path)
        try:
            _, results = verify_file(path, args.family)
            passed = failed = 0
            for r in results:
                if r.error is None:
                    passed += 1
                else:
                    failed += 1
                    if args.verbose:
                        print(f"  {path.name} {r.label}: {one_line(r.error)}")
        except (OSError, ValueError, MLSError) as e:
            print(f"{shown}: error: {_load_error(path, e)}")
            total_fail += 1
            continue
        print(f"{shown}: {passed} passed, {failed} failed")
        total_pass += passed
        total_fail += failed
    print(f"{total_pass} passed, {total_fail} failed")
    return FAILED if total_fail else OK


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
        raise UsageError("'generate all' writes one file per family: give -o DIR")
    if args.count is not None and args.count < 0:
        raise UsageError("--count must be >= 0")
    try:
        # Check every argument before any (possibly long) work starts.
        suites = gen.check_suites(args.suite or gen.SUPPORTED_CIPHER_SUITES)
        names = gen.generator_families() if every else [args.family]
        for name in names:
            gen.require_generator(name)
    except MLSError as e:
        raise UsageError(str(e)) from None
    progress = gen.Progress(sum(gen.expected_cases(n, suites, args.count) for n in names))
    try:
        texts = gen.generate_files(
            names, suites=suites, count=args.count, seed=args.seed, progress=progress
        )
    finally:
        progress.close()
    try:
        if every:
            paths = gen.write_all(Path(args.output), texts)
            if progress.enabled:  # a person is watching; piped runs stay quiet
                print(f"wrote {len(paths)} files to {args.output}", file=sys.stderr)
        elif args.output is None:
            sys.stdout.write(texts[args.family])
        else:
            Path(args.output).write_text(texts[args.family])
    except OSError as e:
        raise UsageError(f"cannot write {e.filename or args.output}: {e.strerror or e}") from None
    return OK


def add_parser(sub: Any) -> None:
    vectors = sub.add_parser("vectors", help="official MLS test vectors")
    vsub = vectors.add_subparsers(dest="vectors_command", required=True)
    p = vsub.add_parser(
        "verify",
        help="check vector files; prints N passed, M failed",
        description="Check official-format test vector files. Without FILE, checks the "
        "official set bundled with mlswire (or the folder $MLSWIRE_VECTORS names). "
        "Exit 0 when every case passes, 1 when one fails, 2 for a missing file.",
    )
    p.add_argument(
        "files",
        nargs="*",
        metavar="FILE",
        help="vector JSON files or folders of them (default: the bundled official set)",
    )
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
