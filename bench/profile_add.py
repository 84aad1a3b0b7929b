"""Where the add scenario's CPU time goes: one commit adding N-1 members, one joiner.

Times one add-commit and one join from its Welcome like ``bench/group.py --scenario
add`` (suite 1, PublicMessage handshake, the joiner at leaf N/2): process CPU time
(``time.process_time``, all threads) and wall clock, each the best of ``--repeat``, with
signature checks on one thread (``--threads 1``, the default here, so the work that is
not signatures shows) or more. ``--profile`` runs each operation once more under cProfile and prints the top
functions by internal time and by cumulative time.

    python bench/profile_add.py [--n 1024 4096] [--repeat 3] [--threads 1] [--profile]
        [--top 25] [--skip-commit]
    python bench/profile_add.py --steps [--n 1024 4096] [--repeat 3]

``--steps`` instead times the serial (non-signature) steps of a join one by one on the
ratchet tree of an N-member group: decode, tree hash, every LeafNodeTBS, the member
summary, and the key, unmerged-leaf and parent-hash checks.

This script never asserts anything about timings.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from _peers import use_project_mlswire


def _stats(profile: cProfile.Profile, top: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def join_steps(n: int, repeat: int) -> dict[str, float]:
    """CPU seconds (best of ``repeat``) of the serial steps of a join, each timed alone on
    the ratchet tree of an N-member group made by one add-commit."""
    from mlswire.engine import group as engine
    from mlswire.engine import tree_validation as tv
    from mlswire.engine.ratchet_tree import RatchetTree
    from mlswire.engine.validation import MemberSummary

    config = engine.GroupConfig(handshake_wire_format="public")
    made = [engine.Client.generate(b"member %d" % i) for i in range(n)]
    group = made[0].create_group(config=config)
    group.add_members([c.key_package() for c in made[1:]])
    group.merge_pending_commit()
    data = group.ratchet_tree()
    group_id = group.group_id
    best: dict[str, float] = {}

    def timed(name: str, step: Callable[[], Any]) -> Any:
        c = time.process_time()
        out = step()
        best[name] = min(best.get(name, float("inf")), time.process_time() - c)
        return out

    for _ in range(repeat):
        tree = timed("ratchet tree decode", lambda: RatchetTree.decode(1, data, max_leaves=n))
        timed("tree hash", tree.tree_hash)
        timed(
            "LeafNodeTBS of every leaf",
            lambda t=tree: [tv.leaf_node_tbs(t.leaf(i), group_id, i) for i in t.members()],
        )
        timed("member summary", lambda t=tree: MemberSummary.of_tree(t))
        timed(
            "unique keys, unmerged leaves, parent hashes",
            lambda t=tree: (
                tv.verify_unique_keys(t),
                tv.verify_unmerged_leaves(t),
                tv.verify_parent_hashes(t),
            ),
        )
    return best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--skip-commit", action="store_true", help="profile the join only")
    parser.add_argument(
        "--steps", action="store_true", help="time the serial steps of a join one by one"
    )
    args = parser.parse_args(argv)

    use_project_mlswire()
    if args.steps:
        for n in args.n:
            steps = join_steps(n, args.repeat)
            cells = ", ".join(f"{k} {v * 1e3:.2f}" for k, v in steps.items())
            print(f"N={n} join steps, ms CPU (best of {args.repeat}): {cells}", flush=True)
        return 0
    from mlswire.engine import ValidationPolicy
    from mlswire.engine import group as engine
    from mlswire.engine.parallel import Parallelism

    config = engine.GroupConfig(handshake_wire_format="public")
    policy = ValidationPolicy(parallelism=Parallelism(threads=args.threads))

    def clients(count: int, tag: str) -> list[Any]:
        made = [engine.Client.generate(b"%s %d" % (tag.encode(), i)) for i in range(count)]
        for c in made:
            c.policy = policy
        return made

    for n in args.n:
        creator, *others = clients(n - 1, "member")
        kps = [c.key_package() for c in others]
        best = {op: float("inf") for op in ("commit", "join", "commit wall", "join wall")}
        for r in range(args.repeat + (1 if args.profile else 0)):
            (joiner,) = clients(1, f"joiner {r}")
            adds = [*kps[: n // 2 - 1], joiner.key_package(), *kps[n // 2 - 1 :]]
            group = creator.create_group(config=config)

            def commit(group: Any = group, adds: list[Any] = adds) -> Any:
                out = group.add_members(adds)
                group.merge_pending_commit()
                return out

            profiling = args.profile and r == args.repeat
            prof = cProfile.Profile() if profiling else None
            if prof is not None and not args.skip_commit:
                prof.enable()
            c, w = time.process_time(), time.perf_counter()
            out = commit()
            spent, wall = time.process_time() - c, time.perf_counter() - w
            if prof is not None and not args.skip_commit:
                prof.disable()
                print(f"=== add-commit N={n} (cProfile, {args.threads} thread(s)) ===")
                print(_stats(prof, args.top))
                prof = cProfile.Profile()
            if not profiling:
                best["commit"] = min(best["commit"], spent)
                best["commit wall"] = min(best["commit wall"], wall)
            if prof is not None:
                prof.enable()
            c, w = time.process_time(), time.perf_counter()
            joined = joiner.join_group(out.welcome, config=config)
            spent, wall = time.process_time() - c, time.perf_counter() - w
            if prof is not None:
                prof.disable()
                print(f"=== join N={n} (cProfile, {args.threads} thread(s)) ===")
                print(_stats(prof, args.top))
            if not profiling:
                best["join"] = min(best["join"], spent)
                best["join wall"] = min(best["join wall"], wall)
            assert joined.own_leaf_index == n // 2
        print(
            f"N={n} threads={args.threads}: add-commit CPU {best['commit'] * 1e3:.1f} ms "
            f"wall {best['commit wall'] * 1e3:.1f} ms, join CPU {best['join'] * 1e3:.1f} ms "
            f"wall {best['join wall'] * 1e3:.1f} ms (best of {args.repeat} each)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
