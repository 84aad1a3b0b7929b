"""Ratchet tree / TreeKEM benchmark: cost of one commit's tree work against group size.

For N = 2^4, 2^6, ..., 2^14 leaves and two tree shapes, this times:

* ``create``  -- ``treekem.create_update_path`` by leaf 0 (path secrets, key pairs,
  parent hashes, signing the new leaf, one HPKE seal per copath resolution node);
* ``apply``   -- ``treekem.process_update_path`` of that path at leaf 2 (merge, parent
  hash check, leaf signature check, one HPKE open, key derivation up to the root);
* ``rehash``  -- replace one leaf, then recompute the root tree hash from the cache;
* ``copy``    -- ``RatchetTree.copy()``, the O(N) list copy that staging a commit costs
  (shown separately so its share is visible).

Shapes: ``full`` (every leaf and parent non-blank) and ``half`` (odd leaves blank and
the parents right above them blank, as after many removals). The trees are synthetic:
every HPKE key is real (derived per node, so decryption works), but only the leaves
that sign or verify (0 and 2) have real signature keys; the others carry placeholder
signature keys and signatures, which no timed operation looks at.

Growth per doubling: a least-squares fit ``t = a + b * log2(N)`` gives ``b``, the time
each doubling of N adds (constant for O(log N)); ``x/dbl`` is the geometric mean of
t(2N)/t(N) over the measured range (1.0 flat, 2.0 for O(N)). Timing: best of
``--repeat`` medians of ``time.perf_counter``. Never asserts anything about timings.

Run from the project root:  python bench/tree.py [--max-exp 14] [--repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlswire.crypto import labeled
from mlswire.crypto.suites import cipher_suite
from mlswire.engine import treekem
from mlswire.engine.ratchet_tree import RatchetTree
from mlswire.engine.tree_validation import leaf_node_tbs
from mlswire.schema import (
    Capabilities,
    Credential,
    CredentialType,
    GroupContext,
    LeafNode,
    LeafNodeSource,
    Lifetime,
    ParentNode,
    ProtocolVersion,
)
from mlswire.schema import CipherSuite as SchemaSuite

SUITE = 1
SIGNERS = (0, 2)  # leaves with real signature keys: the committer and the receiver


def _seed(*parts: object) -> bytes:
    return hashlib.sha256(repr(parts).encode()).digest()


def _leaf(suite_id: int, i: int, enc_pk: bytes, sig: tuple[bytes, bytes] | None) -> LeafNode:
    suite = cipher_suite(suite_id)
    sig_sk, sig_pk = sig if sig else (b"", _seed("sig", i))
    leaf = LeafNode(
        encryption_key=enc_pk,
        signature_key=sig_pk,
        credential=Credential(credential_type=CredentialType.basic, identity=b"member %d" % i),
        capabilities=Capabilities(
            versions=(ProtocolVersion.mls10,),
            cipher_suites=(SchemaSuite(suite_id),),
            extensions=(),
            proposals=(),
            credentials=(CredentialType.basic,),
        ),
        leaf_node_source=LeafNodeSource.key_package,
        lifetime=Lifetime(not_before=0, not_after=2**63),
        extensions=(),
        signature=b"\x00" * 64,
    )
    if sig:
        tbs = leaf_node_tbs(leaf, b"", i)
        signature = labeled.sign_with_label(suite, sig_sk, "LeafNodeTBS", tbs)
        leaf = msgspec.structs.replace(leaf, signature=signature)
    return leaf


def synthetic_tree(
    n: int, half_blank: bool
) -> tuple[RatchetTree, dict[int, bytes], dict[int, bytes]]:
    """(tree, node index -> HPKE private key, leaf index -> signature private key)."""
    suite = cipher_suite(SUITE)
    nodes: list[LeafNode | ParentNode | None] = [None] * (2 * n - 1)
    privs: dict[int, bytes] = {}
    sig_keys = {i: suite.signature_key_pair() for i in SIGNERS}
    for x in range(2 * n - 1):
        level = (x ^ (x + 1)).bit_length() - 1
        leaf_blank = x % 2 == 0 and (x // 2) % 2 == 1 and x // 2 != n - 1
        above_blank = level == 1 and ((x + 1) // 2) % 2 == 1  # parent of leaves 2k, 2k+1
        if half_blank and (leaf_blank or above_blank):
            continue
        sk, pk = suite.derive_key_pair(_seed("node", x))
        privs[x] = sk
        if x % 2 == 0:
            nodes[x] = _leaf(SUITE, x // 2, pk, sig_keys.get(x // 2))
        else:
            nodes[x] = ParentNode(encryption_key=pk, parent_hash=b"", unmerged_leaves=())
    return RatchetTree(SUITE, nodes), privs, {i: sk for i, (sk, _) in sig_keys.items()}


def _time(fn: Callable[[], object], repeat: int, min_time: float = 0.05) -> float:
    """Seconds per call: the best of ``repeat`` medians over batches lasting min_time."""
    fn()  # warm caches (compiled codecs, parsed keys)
    best = math.inf
    for _ in range(repeat):
        samples: list[float] = []
        start_all = time.perf_counter()
        while time.perf_counter() - start_all < min_time or len(samples) < 3:
            t0 = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - t0)
        best = min(best, statistics.median(samples))
    return best


def measure(n: int, half_blank: bool, repeat: int) -> dict[str, float]:
    tree, privs, sig_keys = synthetic_tree(n, half_blank)
    receiver = 2
    context = GroupContext(
        cipher_suite=SchemaSuite(SUITE),
        group_id=b"bench",
        epoch=1,
        tree_hash=b"",
        confirmed_transcript_hash=b"\x00" * 32,
        extensions=(),
    )
    tree.tree_hash()  # a warm cache, as in a live group
    state = treekem.TreePrivateState(
        receiver,
        {x: sk for x, sk in privs.items() if x == 2 * receiver or _is_ancestor(x, 2 * receiver)},
    )
    created = treekem.create_update_path(tree, 0, sig_keys[0], context)
    result = treekem.process_update_path(tree, 0, created.update_path, state, context)
    assert result.commit_secret == created.commit_secret  # the benchmark measures real work

    leaf_a = tree.leaf(n - 1)
    leaf_b = tree.leaf(0)
    assert leaf_a is not None and leaf_b is not None
    flip = [leaf_a, leaf_b]

    def rehash() -> None:
        flip.reverse()
        tree.set_leaf(n - 1, flip[0])
        tree.tree_hash()

    return {
        "create": _time(lambda: treekem.create_update_path(tree, 0, sig_keys[0], context), repeat),
        "apply": _time(
            lambda: treekem.process_update_path(tree, 0, created.update_path, state, context),
            repeat,
        ),
        "rehash": _time(rehash, repeat),
        "copy": _time(tree.copy, repeat),
    }


def _is_ancestor(p: int, x: int) -> bool:
    half = (1 << ((p ^ (p + 1)).bit_length() - 1)) - 1
    return p != x and p - half <= x <= p + half


def fit(ns: list[int], ts: list[float]) -> tuple[float, float]:
    """(seconds added per doubling by least squares on log2 N, geometric mean ratio)."""
    xs = [math.log2(n) for n in ns]
    mx, mt = statistics.fmean(xs), statistics.fmean(ts)
    b = sum((x - mx) * (t - mt) for x, t in zip(xs, ts, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )
    doublings = xs[-1] - xs[0]
    ratio = (ts[-1] / ts[0]) ** (1 / doublings) if doublings else 1.0
    return b, ratio


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--min-exp", type=int, default=4)
    ap.add_argument("--max-exp", type=int, default=14)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--cpu", type=int, default=None, help="pin to one CPU (Linux)")
    args = ap.parse_args(argv)
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    ns = [2**e for e in range(args.min_exp, args.max_exp + 1, 2)]
    ops = ("create", "apply", "rehash", "copy")
    results: dict[str, dict[int, dict[str, float]]] = {}
    for shape in ("full", "half"):
        results[shape] = {}
        for n in ns:
            results[shape][n] = measure(n, shape == "half", args.repeat)
            print(f"  measured {shape} N={n}", file=sys.stderr)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    suite = cipher_suite(SUITE)
    print(
        f"ratchet tree / TreeKEM, cipher suite {SUITE} ({suite.name}); microseconds per operation"
    )
    print(f"python {sys.version.split()[0]}; synthetic trees (see bench/tree.py)")
    print()
    header = f"{'shape':<6}{'op':<8}" + "".join(f"{'N=' + str(n):>10}" for n in ns)
    header += f"{'+us/dbl':>10}{'x/dbl':>8}"
    print(header)
    print("-" * len(header))
    for shape, by_n in results.items():
        for op in ops:
            ts = [by_n[n][op] for n in ns]
            b, ratio = fit(ns, ts)
            row = f"{shape:<6}{op:<8}" + "".join(f"{t * 1e6:>10.1f}" for t in ts)
            print(row + f"{b * 1e6:>10.1f}{ratio:>8.2f}")
    print()
    print("+us/dbl: least-squares time added per doubling of N (constant => O(log N));")
    print("x/dbl: mean factor per doubling (1.0 flat, 2.0 linear).")


if __name__ == "__main__":
    main()
