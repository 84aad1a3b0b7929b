"""The full interop matrix in one command (docs/INTEROP.md):

    python tests/interop/grpc_matrix.py -o interop-results

It starts mlswire's server, the ts-mls peer (node/grpc-peer.mjs) and the mls-rs peer
(tests/interop/grpc_mlsrs.py) on free ports, then runs ``mlswire interop run``:

* ``self``: mlswire alone, all 8 official configs, every suite, both modes;
* ``ts-mls/suite-N``: mlswire and ts-mls, every assignment of the two to the actors, the
  7 configs other than deep_random, per suite; passive-client vectors from these runs
  go to ``passive/suite-N`` (they verify with ``mlswire vectors verify``);
* ``ts-mls-deep``: deep_random (841 actors) with one random assignment per suite and mode;
* ``mls-rs``: mlswire and mls-rs, suite 1 (all the bindings offer), the 7 configs.

Each run writes ``<config>.json`` (the official results shape) into its directory as
each config finishes; ``SUMMARY.md`` gets a table per run (``mlswire interop report``).
``--only`` and ``--suites`` narrow the matrix; ``--sample SUITE:N`` runs N random
assignments per script and mode for a ts-mls suite instead of all of them.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = [
    "welcome_join",
    "application",
    "commit",
    "external_join",
    "external_proposals",
    "reinit",
    "branch",
]
RUNS = ("self", "ts-mls", "mls-rs")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def started(name: str, argv: list[str], port: int, log: Path) -> Iterator[str]:
    with log.open("w") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start; see {log}")
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def interop_run(out: Path, clients: list[str], configs: list[str], *extra: str) -> int:
    argv = [sys.executable, "-m", "mlswire", "interop", "run"]
    for c in clients:
        argv += ["--client", c]
    for c in configs:
        argv += ["--config", c]
    if len(configs) == 1:  # -o names a file then
        out.mkdir(parents=True, exist_ok=True)
        argv += ["-o", str(out / f"{Path(configs[0]).stem}.json"), *extra]
    else:
        argv += ["-o", str(out), *extra]
    print(f"== {out}", file=sys.stderr, flush=True)
    return subprocess.run(argv, cwd=ROOT).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", default="interop-results")
    parser.add_argument("--only", default=",".join(RUNS), help="runs, comma-separated")
    parser.add_argument("--suites", default="1,2,3,4,5,6,7", help="for self and ts-mls")
    parser.add_argument(
        "--sample",
        default="",
        metavar="SUITE:N,...",
        help="for these ts-mls suites, N random assignments per script and mode instead of "
        "all (the full product takes about half an hour per suite on 2 busy cores)",
    )
    parser.add_argument("--no-deep", action="store_true", help="skip ts-mls-deep")
    args = parser.parse_args()
    out = Path(args.output).resolve()
    out.mkdir(parents=True, exist_ok=True)
    only = set(args.only.split(","))
    suites = [int(s) for s in args.suites.split(",")]
    sample = {int(k): int(v) for k, v in (i.split(":") for i in args.sample.split(",") if i)}
    py = sys.executable
    ports = {n: free_port() for n in ("mlswire", "ts-mls", "mls-rs")}
    with contextlib.ExitStack() as stack:
        mlswire = stack.enter_context(
            started(
                "mlswire",
                [
                    py,
                    "-m",
                    "mlswire",
                    "interop",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(ports["mlswire"]),
                ],
                ports["mlswire"],
                out / "mlswire.log",
            )
        )
        runs: list[tuple[str, Path]] = []
        if "mls-rs" in only:
            rs = stack.enter_context(
                started(
                    "mls-rs",
                    [py, "tests/interop/grpc_mlsrs.py", "--port", str(ports["mls-rs"])],
                    ports["mls-rs"],
                    out / "mls-rs.log",
                )
            )
            d = out / "mls-rs"
            interop_run(d, [mlswire, rs], CONFIGS, "--suite", "1")
            runs.append(("mlswire x mls-rs, suite 1", d))
        if "ts-mls" in only:
            ts = stack.enter_context(
                started(
                    "ts-mls",
                    ["node", "node/grpc-peer.mjs", "--port", str(ports["ts-mls"])],
                    ports["ts-mls"],
                    out / "ts-mls.log",
                )
            )
            for suite in suites:
                d = out / "ts-mls" / f"suite-{suite}"
                passive = out / "passive" / f"suite-{suite}"
                n = sample.get(suite)
                extra = [] if n is None else ["--random", str(n), "--seed", "9420"]
                interop_run(
                    d,
                    [mlswire, ts],
                    CONFIGS,
                    "--suite",
                    str(suite),
                    "--passive-out",
                    str(passive),
                    *extra,
                )
                how = "every assignment" if n is None else f"{n} random assignments per mode"
                runs.append((f"mlswire x ts-mls, suite {suite} ({how})", d))
            if not args.no_deep:
                d = out / "ts-mls-deep"
                interop_run(d, [mlswire, ts], ["deep_random"], "--random", "1", "--seed", "9420")
                runs.append(("mlswire x ts-mls, deep_random (one random assignment)", d))
        if "self" in only:
            for suite in suites:
                d = out / "self" / f"suite-{suite}"
                interop_run(d, [mlswire], [*CONFIGS, "deep_random"], "--suite", str(suite))
                runs.append((f"mlswire x mlswire, suite {suite}", d))
    with (out / "SUMMARY.md").open("w") as summary:
        for title, d in runs:
            table = subprocess.run(
                [py, "-m", "mlswire", "interop", "report", str(d)],
                cwd=ROOT,
                capture_output=True,
                text=True,
            ).stdout
            summary.write(f"## {title}\n\n{table}\n")
    print(f"summary: {out / 'SUMMARY.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
