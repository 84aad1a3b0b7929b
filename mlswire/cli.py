"""The ``mlswire`` command: a thin dispatcher over the modules of ``mlswire.commands``.

Adding a verb is adding a module with ``add_parser(subparsers)`` to ``COMMAND_MODULES``;
its handler returns an exit code or raises :class:`mlswire.commands.CommandError`, and
``main`` turns every failure into one line on stderr and a documented exit code.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

from . import __version__
from .commands import (
    EXIT_CODES,
    INTERNAL,
    UNAVAILABLE,
    CommandError,
    client,
    encodings,
    interop,
    one_line,
    serve,
    suites,
    vectors,
)
from .errors import MLSError

# The modules of the optional extras, by import name: `service` (mlswire serve, mlswire
# client) and `interop` (mlswire interop; protobuf imports as google.protobuf).
EXTRA_MODULES = {
    **dict.fromkeys(
        ["starlette", "uvicorn", "httptools", "websockets", "psycopg", "httpx", "platformdirs"],
        "service",
    ),
    **dict.fromkeys(["grpc", "google"], "interop"),
}

# Each module registers its own subcommands.
COMMAND_MODULES = [vectors, encodings, serve, client, interop, suites]


class Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2) instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _epilog() -> str:
    codes = "\n".join(f"  {code:<3} {text}" for code, text in EXIT_CODES.items())
    return f"exit codes:\n{codes}"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="mlswire",
        description="Messaging Layer Security (RFC 9420) toolkit",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"mlswire {__version__}")
    # Subcommand dests end in "command" (command, vectors_command, ...): `_verb` reads them.
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.add_parser(sub)
    return parser


def _verb(args: argparse.Namespace) -> str:
    words = [v for k, v in vars(args).items() if k.endswith("command") and isinstance(v, str)]
    return " ".join(["mlswire", *words])


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    verb = _verb(args)
    try:
        return int(args.func(args))
    except CommandError as e:
        print(f"{verb}: error: {one_line(str(e))}", file=sys.stderr)
        return e.code
    except MLSError as e:  # input mlswire refuses, wherever a command met it
        print(f"{verb}: error: {one_line(str(e))}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as e:  # an optional dependency is not installed
        extra = EXTRA_MODULES.get((e.name or "").partition(".")[0])
        fix = f"pip install 'mlswire[{extra}]'" if extra else f"pip install {e.name}"
        print(f"{verb}: error: needs the Python package {e.name!r}: {fix}", file=sys.stderr)
        return UNAVAILABLE
    except BrokenPipeError:  # the reader went away (`| head`): nothing left to say
        sys.stderr.close()
        return 1
    except KeyboardInterrupt:
        print(f"{verb}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug: still one line, the traceback on request
        if os.environ.get("MLSWIRE_TRACEBACK"):
            traceback.print_exc()
        print(
            f"{verb}: internal error (a bug in mlswire, please report it): "
            f"{type(e).__name__}: {one_line(str(e))} (MLSWIRE_TRACEBACK=1 shows where)",
            file=sys.stderr,
        )
        return INTERNAL


if __name__ == "__main__":
    sys.exit(main())
