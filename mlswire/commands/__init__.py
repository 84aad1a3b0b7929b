"""The ``mlswire`` subcommands, one module per command group. Each module has
``add_parser(subparsers)`` that registers its commands; ``mlswire.cli`` lists the modules.

Every command reports a failure as one line on stderr, ``mlswire VERB: error: WHAT``, and
exits with one of the codes below (the same failure gives the same code in every verb).
A command raises :class:`CommandError` (or lets an :class:`mlswire.MLSError` out) and
``mlswire.cli.main`` prints it; no command prints a traceback for a user's mistake or for
a failing environment.
"""

from __future__ import annotations

OK = 0
#: The work failed: input that mlswire rejects (a decode or validation error), a vector
#: case that does not pass, a request the server refused.
FAILED = 1
#: The command line is wrong: a bad option or argument, or a file or folder it names is
#: missing, unreadable, unwritable or already taken.
USAGE = 2
#: Something the command needs is unavailable: a server, a database, a port to listen on,
#: or an optional dependency that is not installed.
UNAVAILABLE = 3
#: A bug in mlswire (an exception it did not expect): please report it.
INTERNAL = 70

EXIT_CODES = {
    OK: "success",
    FAILED: "the work failed (input rejected, vectors failed, request refused)",
    USAGE: "usage error (bad arguments, or a named file or folder is unusable)",
    UNAVAILABLE: "unavailable (server, database or port unreachable, or a package not installed)",
    INTERNAL: "internal error in mlswire (a bug: please report it)",
}


class CommandError(Exception):
    """A failure a command reports in one line and exits with ``code``."""

    code = FAILED

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class UsageError(CommandError):
    code = USAGE


class Unavailable(CommandError):
    code = UNAVAILABLE


def one_line(text: str) -> str:
    """A message folded onto one line (exception texts may span several)."""
    return " ".join(str(text).split())
