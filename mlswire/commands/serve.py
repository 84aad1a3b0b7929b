"""``mlswire serve``: run the Authentication Service and/or the Delivery Service.

    mlswire serve                          # AS and DS together, SQLite, 127.0.0.1:8480
    mlswire serve --ds --db postgresql://u@db/mls --as-url http://as.example:8480

Without ``--as``/``--ds`` both run in one process. The AS keys and the SQLite database
live in a data folder (``--data-dir``; default the user's data folder, printed at
start), never in the current folder unless asked. A DS running without the AS reads
the AS root certificate and CRL from ``--as-url`` (the CRL again every
``--crl-refresh`` seconds), so revocations reach it without a restart.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from . import FAILED, OK, Unavailable, UsageError

DEFAULT_PORT = 8480
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def default_data_dir() -> Path:
    """The user's data folder for mlswire (platformdirs: ~/.local/share/mlswire on Linux)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("mlswire", appauthor=False))


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is not in 0..65535")
    return port


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
        "--data-dir",
        type=Path,
        help="folder for the AS state and the SQLite database "
        "(default: the user's data folder, e.g. ~/.local/share/mlswire)",
    )
    p.add_argument(
        "--db",
        help="DS store: a SQLite file path or a postgresql:// URL (default DATA_DIR/ds.sqlite3)",
    )
    p.add_argument("--as-dir", help="AS state folder: root key, registry (default DATA_DIR/as)")
    p.add_argument("--as-url", help="the AS to trust when running --ds alone (root and CRL)")
    p.add_argument("--crl-refresh", type=float, default=30.0, help="seconds between CRL fetches")
    p.add_argument(
        "--queue-retention",
        type=float,
        default=None,
        help="seconds a queued message waits for an offline device (default: forever)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    p.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help="TCP port (default %(default)s)"
    )
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
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="DS processes sharing the port (default 1); more than one needs --ds with"
        " --as-url and a PostgreSQL --db",
    )
    p.add_argument(
        "--http",
        choices=("mlswire", "uvicorn"),
        default="mlswire",
        help="the HTTP server: mlswire's own (default; sends and push connections"
        " handled directly, every other request through the ASGI app) or uvicorn"
        " (every request through the ASGI app)",
    )
    p.add_argument(
        "--log-level",
        default="warning",
        choices=LOG_LEVELS,
        help="server log verbosity (default %(default)s)",
    )
    p.set_defaults(func=run)


def _fetch(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:  # the operator-given AS URL
            data: bytes = r.read()
            return data
    except ValueError as e:  # not a URL at all
        raise UsageError(f"--as-url: {e}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise Unavailable(f"cannot fetch {url}: {reason}") from None


def _redacted(url: str) -> str:
    """A database URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def _is_postgres(db: str) -> bool:
    return db.startswith(("postgresql://", "postgres://"))


def _check_sqlite_folder(db: str) -> None:
    folder = Path(db).resolve().parent
    if not folder.is_dir():
        raise UsageError(f"--db {db}: folder {folder} does not exist")


def _open_store(db: str) -> Any:
    from ..service.stores import open_store

    if _is_postgres(db):
        try:
            return open_store(db)
        except Exception as e:  # psycopg's errors: the server is down, refuses us, ...
            raise Unavailable(
                f"cannot open the PostgreSQL store {_redacted(db)}: {type(e).__name__}: {e}"
            ) from None
    try:
        return open_store(db)
    except Exception as e:  # sqlite3 errors: not a database, no permission, ...
        raise UsageError(f"cannot open the SQLite store {db}: {e}") from None


def _open_ca(folder: Path) -> Any:
    from ..service.auth_service import CertificateAuthority

    try:
        return CertificateAuthority.open(folder)
    except OSError as e:
        raise UsageError(
            f"AS folder {folder}: {e.strerror or e} ({e.filename or folder})"
        ) from None
    except ValueError as e:
        raise UsageError(f"AS folder {folder}: {e}") from None


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything is announced, so that a taken port
    or a bad address is one clear error instead of a server that starts and dies."""
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as e:
        raise UsageError(f"--host {host}: {e.strerror}") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        raise Unavailable(
            f"cannot listen on {host}:{port}: {e.strerror or e} "
            "(another server there? choose --port)"
        ) from None
    sock.set_inheritable(True)
    return sock


def _check_workers(args: argparse.Namespace, run_as: bool, db: str) -> None:
    if args.workers < 1:
        raise UsageError("--workers: at least 1")
    if args.workers == 1:
        return
    if run_as:
        raise UsageError(
            "--workers N starts N Delivery Service processes; the Authentication Service"
            " keeps its registry in one process: run it on its own (mlswire serve --as)"
            " and the DS with --ds --as-url URL --workers N"
        )
    if not _is_postgres(db):
        raise UsageError(
            "--workers N needs PostgreSQL (--db postgresql://...): SQLite serialises every"
            " write in its one file, so more processes would only wait on its lock, and it"
            " cannot notify other processes; SQLite is the one-process default"
        )


def _build_app(args: argparse.Namespace, run_as: bool, run_ds: bool, data_dir: Path, db: str) -> Any:
    """The ASGI app of one server process (its store, its AS keys or AS policy)."""
    from ..service.auth_service import CredentialPolicy
    from ..service.delivery_service import DeliveryService
    from ..service.http import DEFAULT_MAX_BLOB, DEFAULT_MAX_BODY, create_app

    ca = _open_ca(Path(args.as_dir) if args.as_dir else data_dir / "as") if run_as else None
    ds = None
    if run_ds:
        if ca is not None:
            policy = ca.policy()
        else:
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
        ds = DeliveryService(
            _open_store(db),
            policy,
            queue_retention=args.queue_retention,
            follow_groups=not args.unverified_groups,
        )
    return create_app(
        ds,
        ca,
        max_body=args.max_body or DEFAULT_MAX_BODY,
        max_blob=args.max_blob or DEFAULT_MAX_BLOB,
        admin_token=args.admin_token,
        open_enrollment=not args.closed_enrollment,
    )


def _serve(args: argparse.Namespace, app: Any, sock: socket.socket) -> None:
    if args.http == "uvicorn":
        import uvicorn

        config = uvicorn.Config(
            app,
            host=args.host,
            port=sock.getsockname()[1],
            log_level=args.log_level,
            timeout_graceful_shutdown=5,
        )
        uvicorn.Server(config).run(sockets=[sock])
        return
    from ..service.http import DEFAULT_MAX_BLOB, DEFAULT_MAX_BODY
    from ..service.server import serve

    largest = max(args.max_body or DEFAULT_MAX_BODY, args.max_blob or DEFAULT_MAX_BLOB)
    serve(app, sock, max_request=largest, access_log=args.log_level in ("info", "debug", "trace"))


def _die_with_parent() -> None:
    """Linux: this (forked) worker gets SIGKILL when the supervising process dies, so a
    killed ``mlswire serve --workers N`` leaves no worker holding the port."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _run_workers(
    args: argparse.Namespace, sock: socket.socket, build: Callable[[], Any]
) -> int:
    """N worker processes accepting from the one listening socket (forked after it is
    bound, before any database connection or thread exists). One shared accept queue
    rather than SO_REUSEPORT: an idle worker takes the next connection, where
    SO_REUSEPORT's hashing would pin long-lived push connections to a busy one, and a
    socket bound but not accepting (the supervisor's) would strand the connections
    hashed to it. The supervisor forwards SIGTERM/SIGINT and stops every worker when
    one dies."""
    sys.stdout.flush()
    sys.stderr.flush()
    children: list[int] = []
    for _ in range(args.workers):
        pid = os.fork()
        if pid == 0:  # a worker
            code = 1
            try:
                _die_with_parent()
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                _serve(args, build(), sock)
                code = 0
            except BaseException as e:  # a worker must never return into the supervisor
                print(f"mlswire serve: worker failed: {type(e).__name__}: {e}", file=sys.stderr)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        children.append(pid)
    sock.close()

    stopping = False

    def forward(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    status = OK
    alive = set(children)
    while alive:
        try:
            pid, code = os.wait()
        except ChildProcessError:
            break
        alive.discard(pid)
        code = os.waitstatus_to_exitcode(code)
        # A worker ending by the SIGTERM it was sent ended as asked (uvicorn, with
        # --http uvicorn, re-raises the stop signal once it has shut down).
        if code != 0 and not (stopping and code in (-signal.SIGTERM, -signal.SIGINT)):
            status = FAILED
        if not stopping:
            forward(signal.SIGTERM, None)  # one worker gone: stop them all
    return status


def run(args: argparse.Namespace) -> int:
    run_as, run_ds = args.run_as, args.run_ds
    if not run_as and not run_ds:
        run_as = run_ds = True
    if run_ds and not run_as and not args.as_url:
        raise UsageError("--ds without --as needs --as-url")
    data_dir: Path = args.data_dir or default_data_dir()
    db = args.db or str(data_dir / "ds.sqlite3")
    _check_workers(args, run_as, db)
    uses_data_dir = (run_as and args.as_dir is None) or (run_ds and args.db is None)
    if uses_data_dir:
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(f"data folder {data_dir}: {e.strerror or e}") from None
        print(f"mlswire serve: data in {data_dir}", flush=True)
    if run_ds and not _is_postgres(db):
        _check_sqlite_folder(db)  # before the AS folder is created: nothing half-made
    sock = _listen(args.host, args.port)
    roles = "+".join(r for r, on in (("AS", run_as), ("DS", run_ds)) if on)
    port = sock.getsockname()[1]  # the one chosen when --port 0
    if args.workers > 1:
        print(
            f"mlswire serve: {roles} on http://{args.host}:{port} ({args.workers} processes)",
            flush=True,
        )
        return _run_workers(args, sock, lambda: _build_app(args, run_as, run_ds, data_dir, db))
    try:
        app = _build_app(args, run_as, run_ds, data_dir, db)
    except BaseException:
        sock.close()
        raise
    print(f"mlswire serve: {roles} on http://{args.host}:{port}", flush=True)
    _serve(args, app, sock)
    return OK
