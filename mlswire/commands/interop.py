"""``mlswire interop ...``: the MLS working group's interop harness.

    mlswire interop serve --port 50051
    mlswire interop run --client localhost:50051 --client localhost:50052 \\
        --config commit.json --suite 1 --private -o results.json

``serve`` runs mlswire's gRPC ``MLSClient`` server (``mls_client.proto``), for this
runner or the official Go test-runner. ``run`` drives one or more such servers through
the official scenario configs: every assignment of clients to actors, for every suite
some client supports (or ``--suite``), in both handshake modes (or ``--public`` /
``--private``).

Results: with one config, the official results JSON goes to ``-o FILE`` (or stdout);
with several, ``-o DIR`` gets ``<config>.json`` each. ``--passive-out DIR`` writes
passive-client test vectors (``<config>.json``) from the cases that passed, which
``mlswire vectors verify`` checks. Progress goes to stderr.

Exit status of ``run``: 0 every case passed; 1 a case failed, a config could not be
read or a client could not be reached; 2 bad arguments (e.g. no client supports
``--suite``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

DEFAULT_PORT = 50051


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "interop",
        help="the MLS interop harness: gRPC MLSClient server and scenario runner",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = p.add_subparsers(dest="interop_command", required=True)

    s = verbs.add_parser("serve", help="run mlswire's MLSClient gRPC server")
    s.add_argument("--port", type=int, default=DEFAULT_PORT, help="default %(default)s")
    s.add_argument("--host", default="[::]", help="default %(default)s (all interfaces)")
    s.add_argument(
        "--suite",
        type=int,
        action="append",
        dest="suites",
        help="offer only this cipher suite (repeatable; default: every suite mlswire has)",
    )
    s.set_defaults(func=serve)

    r = verbs.add_parser("run", help="run interop scenario configs against MLSClient servers")
    r.add_argument(
        "--client", action="append", required=True, metavar="HOST:PORT", help="repeatable"
    )
    r.add_argument(
        "--config",
        action="append",
        required=True,
        metavar="FILE",
        help="a config file, or the name of an official one shipped with mlswire "
        "(application, branch, commit, deep_random, external_join, external_proposals, "
        "reinit, welcome_join); repeatable",
    )
    r.add_argument("--suite", type=int, default=None, help="only this cipher suite")
    mode = r.add_mutually_exclusive_group()
    mode.add_argument("--public", action="store_true", help="only handshake as PublicMessage")
    mode.add_argument("--private", action="store_true", help="only handshake as PrivateMessage")
    r.add_argument(
        "--random",
        type=int,
        default=None,
        metavar="N",
        help="N random assignments per suite and mode instead of all of them",
    )
    r.add_argument("--seed", type=int, default=None, help="seed for --random")
    r.add_argument("--fail-fast", action="store_true", help="stop a script at its first failure")
    r.add_argument("-o", "--output", default=None, help="results file (one config) or directory")
    r.add_argument("--passive-out", default=None, metavar="DIR", help="write passive vectors")
    r.add_argument("--connect-timeout", type=float, default=30.0, help="seconds per client")
    r.set_defaults(func=run)

    rep = verbs.add_parser("report", help="summarize results files as a Markdown table")
    rep.add_argument("results", nargs="+", help="results JSON files or directories of them")
    rep.add_argument(
        "--totals", action="store_true", help="one row per argument instead of per script"
    )
    rep.set_defaults(func=report)


def serve(args: argparse.Namespace) -> int:
    from ..crypto import SUPPORTED_CIPHER_SUITES
    from ..interop.proto import InteropUnavailable

    try:
        from ..interop import server
    except InteropUnavailable as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    suites = args.suites or SUPPORTED_CIPHER_SUITES
    unknown = sorted(set(suites) - set(SUPPORTED_CIPHER_SUITES))
    if unknown:
        print(f"error: mlswire has no cipher suite {unknown}", file=sys.stderr)
        return 2
    try:
        srv, port = server.serve(args.port, args.host, suites)
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{server.NAME}: MLSClient on {args.host}:{port}", file=sys.stderr, flush=True)
    try:
        srv.wait_for_termination()
    except KeyboardInterrupt:
        srv.stop(None)
    return 0


def run(args: argparse.Namespace) -> int:
    from ..interop.proto import InteropUnavailable

    try:
        from ..interop import config as cfg
        from ..interop import passive, runner
    except InteropUnavailable as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.random is not None and args.random < 1:
        print("error: --random needs N >= 1", file=sys.stderr)
        return 2
    several = len(args.config) > 1
    if several and args.output is not None and Path(args.output).is_file():
        print("error: with several configs, -o names a directory", file=sys.stderr)
        return 2
    try:
        configs = [cfg.load(cfg.resolve(c)) for c in args.config]
    except cfg.ConfigError as e:
        print(f"Error: Failure to parse config file - {e}", file=sys.stderr)
        return 1
    if several and len({c.name for c in configs}) != len(configs):
        print("error: two configs have the same file name", file=sys.stderr)
        return 2
    try:
        clients = [runner.connect(a, args.connect_timeout) for a in args.client]
    except runner.RunnerError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    modes = (False,) if args.public else (True,) if args.private else (True, False)
    plan = runner.Plan(
        suite=args.suite,
        modes=modes,
        random_assignments=args.random,
        seed=args.seed,
        fail_fast=args.fail_fast,
    )
    try:
        total = sum(runner.count_cases(c, clients, plan) for c in configs)
    except runner.RunnerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    progress = runner.Progress(total)
    passed = failed = unimplemented = 0
    single: str | None = None
    try:
        for c in configs:
            progress.start_config(c.name)
            results = runner.run_config(c, clients, plan, on_case=progress.case)
            for cases in results.values():
                for case in cases:
                    passed += case.passed
                    failed += not case.passed
                    unimplemented += case.unimplemented
            # Written as each config finishes, so a long run shows its results early.
            text = runner.dumps(runner.results_json(results))
            if args.output is None:
                single = text
            elif several:
                out_dir = Path(args.output)
                out_dir.mkdir(parents=True, exist_ok=True)
                (out_dir / f"{c.name}.json").write_text(text)
            else:
                Path(args.output).write_text(text)
            if args.passive_out is not None:
                doc = [
                    v for cases in results.values() for case in cases for v in passive.vectors(case)
                ]
                if doc:  # a config whose cases have no joiners gives no vectors
                    out_dir = Path(args.passive_out)
                    out_dir.mkdir(parents=True, exist_ok=True)
                    (out_dir / f"{c.name}.json").write_text(json.dumps(doc, indent=2) + "\n")
    finally:
        progress.close()
        for client in clients:
            client.channel.close()
    if single is not None and not several:
        sys.stdout.write(single)
    print(
        f"{passed + failed} cases: {passed} passed, {failed} failed"
        f" ({unimplemented} of them UNIMPLEMENTED by a client)",
        file=sys.stderr,
    )
    if failed:
        print("Test failed", file=sys.stderr)
    return 1 if failed else 0


def report(args: argparse.Namespace) -> int:
    from ..interop.report import summarize, totals

    groups: dict[str, list[Path]] = {}
    for name in args.results:
        path = Path(name)
        groups[name] = sorted(path.glob("*.json")) if path.is_dir() else [path]
    try:
        if args.totals:
            sys.stdout.write(totals(groups))
        else:
            sys.stdout.write(summarize([p for paths in groups.values() for p in paths]))
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
