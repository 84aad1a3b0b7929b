"""The ``mlswire`` command: a thin dispatcher over the modules of ``mlswire.commands``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .commands import client, encodings, serve, suites, vectors

# Each module registers its own subcommands.
COMMAND_MODULES = [vectors, encodings, serve, client, suites]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlswire", description="Messaging Layer Security (RFC 9420) toolkit"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
