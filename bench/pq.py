"""Post-quantum suites: message sizes and group-operation times against suite 1.

For suite 1, the eleven draft-ietf-mls-pq-ciphersuites-06 suites (mlswire's provisional
0xFD01-0xFD0B) and, with ``--dialects``, ts-mls 1.x's PQ suites run by mlswire in the
ts-mls dialect, at N = 16, 256, 1024 members:

* sizes: a KeyPackage; a commit with an UpdatePath (PublicMessage, as in
  bench/group.py) from leaf 0 of an N-member group whose copath is filled (log2 N HPKE
  encryptions); the Welcome that adds one member to that group, ratchet tree inline;
* times (best of ``--repeat``, process CPU time, so that other load on a shared machine
  does not count): ``commit`` -- leaf 0 makes that commit and merges it;
  ``process`` -- leaf N/2 processes and merges it; ``join`` -- the new member joins
  from that Welcome (tree checks included: N leaf signatures verified).

The group is set up as bench/group.py's ``path`` scenario does (one commit adds N-1
members, then leaves N/2, N/4, ..., 2 commit with a path). Everything runs in this
process, one suite at a time. With ``--ts-mls``, node/bench-group.mjs times ts-mls's
``path`` scenario on its PQ suites beside mlswire's (ts-mls's own numbering). This
script never asserts anything about timings.

    python bench/pq.py [--sizes 16 256 1024] [--repeat 3] [--suites ...] [--dialects]
        [--ts-mls] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

from _peers import PeerUnavailable, machine_description, run_node_script, use_project_mlswire

# ts-mls 1.x's post-quantum suites, all of which mlswire runs in the ts-mls dialect
TS_MLS_PQ = range(77, 89)


def copath_leaves(n: int) -> list[int]:
    leaves = []
    leaf = n // 2
    while leaf >= 2:
        leaves.append(leaf)
        leaf //= 2
    return leaves


def measure(suite: int, n: int, repeat: int) -> dict[str, Any]:
    from mlswire.engine import group as engine

    config = engine.GroupConfig(handshake_wire_format="public")
    t0 = time.perf_counter()
    clients = [engine.Client.generate(b"member %d" % i, suite) for i in range(n)]
    creator = clients[0].create_group(config=config)
    out = creator.add_members([c.key_package() for c in clients[1:]])
    creator.merge_pending_commit()
    active = {0: creator}
    for leaf in copath_leaves(n):
        active[leaf] = clients[leaf].join_group(out.welcome, config=config)
    for leaf in copath_leaves(n):
        commit = active[leaf].update().commit
        active[leaf].merge_pending_commit()
        for other, g in active.items():
            if other != leaf:
                g.process(commit).merge()
    committer, receiver = active[0], active[n // 2]
    setup = time.perf_counter() - t0

    times: dict[str, list[float]] = {"commit": [], "process": [], "join": []}
    sizes: dict[str, int] = {}
    for _ in range(repeat):
        t = time.process_time()
        commit = committer.update().commit
        committer.merge_pending_commit()
        times["commit"].append(time.process_time() - t)
        t = time.process_time()
        receiver.process(commit).merge()
        times["process"].append(time.process_time() - t)
        sizes["commit_with_path"] = len(commit)
    for r in range(repeat):
        joiner = engine.Client.generate(b"joiner %d" % r, suite)
        kp = joiner.key_package()
        sizes["key_package"] = len(kp)
        added = committer.add_members([kp])
        assert added.welcome is not None
        sizes["welcome"] = len(added.welcome)
        t = time.process_time()
        joiner.join_group(added.welcome, config=config)
        times["join"].append(time.process_time() - t)
        committer.clear_pending_commit()
    return {"suite": suite, "n": n, "setup": setup, "sizes": sizes, "times": times}


def ts_mls_path(suite: int, sizes: Sequence[int], repeat: int) -> dict[int, dict[str, float]]:
    """ts-mls's path scenario (node/bench-group.mjs) on one of its suites."""
    out = run_node_script(
        "bench-group.mjs",
        {"scenario": "path", "sizes": list(sizes), "repeat": repeat, "suite": suite},
    )
    rows = {}
    for r in out["results"]:
        if r.get("status") == "ok":
            rows[r["n"]] = {op: min(ts) for op, ts in r["times"].items()}
    return rows


def _ms(s: float) -> str:
    return f"{s * 1000:,.1f}"


def render(rows: list[dict[str, Any]], ts: dict[int, dict[int, dict[str, float]]]) -> str:
    from mlswire.crypto.suites import cipher_suite

    base = {r["n"]: r for r in rows if r["suite"] == 1}
    lines = [
        f"machine: {machine_description()}",
        "times: process CPU ms, best of the repeats; sizes: bytes on the wire",
        "",
        "| suite | N | KeyPackage B | commit+path B | Welcome B | commit ms | process ms "
        "| join ms | commit x suite 1 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cs = cipher_suite(r["suite"])
        t = {op: min(v) for op, v in r["times"].items()}
        b = base.get(r["n"])
        ratio = f"{t['commit'] / min(b['times']['commit']):.1f}" if b else ""
        s = r["sizes"]
        lines.append(
            f"| 0x{r['suite']:04x} {cs.name} | {r['n']} | {s['key_package']:,} | "
            f"{s['commit_with_path']:,} | {s['welcome']:,} | {_ms(t['commit'])} | "
            f"{_ms(t['process'])} | {_ms(t['join'])} | {ratio} |"
        )
    if ts:
        lines += [
            "",
            "ts-mls 1.6.4 on its own PQ suites (node/bench-group.mjs path scenario):",
            "",
            "| ts-mls suite | N | commit ms | process ms |",
            "|---|---|---|---|",
        ]
        for suite, by_n in ts.items():
            for n, t in sorted(by_n.items()):
                lines.append(f"| {suite} | {n} | {_ms(t['commit'])} | {_ms(t['process'])} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[16, 256, 1024])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--suites", nargs="+", help="suites (ids, names, TBDn, dialect:code)")
    p.add_argument("--dialects", action="store_true", help="add ts-mls:77..88 run by mlswire")
    p.add_argument("--ts-mls", action="store_true", help="time ts-mls on its PQ suites too")
    p.add_argument(
        "--ts-mls-suites",
        type=int,
        nargs="+",
        default=[1, *TS_MLS_PQ],
        help="the ts-mls suites --dialects and --ts-mls run (default 1 and 77..88)",
    )
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    use_project_mlswire()
    from mlswire.crypto.suites import PQ_CIPHER_SUITES, parse_suite

    suites = [parse_suite(s) for s in args.suites] if args.suites else [1, *PQ_CIPHER_SUITES]
    if args.dialects:
        suites += [parse_suite(f"ts-mls:{c}") for c in args.ts_mls_suites if c in TS_MLS_PQ]
    rows = []
    for n in args.sizes:
        for suite in suites:
            rows.append(measure(suite, n, args.repeat))
            print(f"suite 0x{suite:04x} N={n} done", file=sys.stderr)
    ts: dict[int, dict[int, dict[str, float]]] = {}
    if args.ts_mls:
        for suite in args.ts_mls_suites:
            try:
                ts[suite] = ts_mls_path(suite, args.sizes, args.repeat)
            except PeerUnavailable as e:
                print(f"ts-mls: {e}", file=sys.stderr)
                break
    if args.json:
        json.dump({"mlswire": rows, "ts-mls": ts}, sys.stdout, indent=1)
    else:
        print(render(rows, ts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
