"""Codec benchmark: decode + re-encode every value of the official ``messages.json`` vectors.

For each message key of the vector file (one RFC 9420 type each), this times one decode
followed by one encode of every value, with mlswire's compiled TLS codec, with the
``tls-construct`` codec plugin (the same encoding on the construct library,
``pip install plugins/mlswire-construct``), with the Python peer ``rfc9420`` and with
ts-mls under node, and prints microseconds per value, MB/s of wire bytes, and how much
faster mlswire is than each of the others.

Before timing, every value is round-tripped once per implementation: the decoder must
accept it and the re-encoding must be byte-identical. Only values that pass are timed;
the table says how many passed, so a peer that cannot handle a type shows up as
``n/a`` (no decoder) or ``fails`` instead of as a fast number.

Timing: ``time.perf_counter`` around a loop over all values of a key (node times
itself the same way, see node/bench-codec.mjs). After ``--min-time`` seconds of
warm-up the loop count grows (1, 2, 5, 10, 20, ...) until one measurement lasts at
least ``--min-time``, then the best of ``--repeat`` measurements is kept. The garbage
collector stays on, as it is in node: collecting the decoded objects is part of the
real cost. This script never asserts anything about timings.

Run from the project root (ts-mls needs ``npm ci --prefix node`` once):
    python bench/codec.py [--json] [--min-time S] [--repeat N] [--key KEY] [--cpu N]
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from _peers import (
    PeerUnavailable,
    machine_description,
    package_version,
    run_node_script,
    use_project_mlswire,
    vectors_dir,
)

use_project_mlswire()
from mlswire.vectors.messages import TYPES as KEY_TYPES  # noqa: E402  (vector key -> RFC type)

# Types whose decoded value is not a schema struct (RatchetTree decodes to a tuple), so
# mlswire.encode cannot infer the type from the value and must be told, as a user would.
NOT_STRUCTS = frozenset({"RatchetTree"})

IMPLS = ("mlswire", "tls-construct", "rfc9420", "ts-mls")
PEERS = ("tls-construct", "rfc9420", "ts-mls")


@dataclass(frozen=True)
class Codec:
    """One implementation's decode and encode for one type, as plain callables."""

    decode: Callable[[bytes], Any]
    encode: Callable[[Any], bytes]


@dataclass
class Measurement:
    """The result for one implementation on one message key."""

    impl: str
    key: str
    type_name: str
    n: int  # values in the vector file for this key
    status: str  # "ok" (timed), "n/a" (no decoder), "fails" (none round-trips), "unavailable"
    ok: int = 0  # values that decoded and re-encoded byte-identically
    failures: dict[str, int] = field(default_factory=dict)  # reason -> count
    seconds: float | None = None  # best measurement
    loops: int = 0  # passes over the values in that measurement
    values_per_pass: int = 0
    bytes_per_pass: int = 0

    @property
    def us_per_value(self) -> float | None:
        if self.seconds is None or not self.values_per_pass:
            return None
        return self.seconds / (self.loops * self.values_per_pass) * 1e6

    @property
    def mb_per_s(self) -> float | None:
        if self.seconds is None:
            return None
        return self.bytes_per_pass * self.loops / self.seconds / 1e6

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["us_per_value"] = self.us_per_value
        data["mb_per_s"] = self.mb_per_s
        return data


# ---------------------------------------------------------------------------------------
# Timing


def _one_pass(codec: Codec, values: Sequence[bytes]) -> None:
    decode, encode = codec.decode, codec.encode  # locals: keep attribute lookups out of the loop
    for data in values:
        encode(decode(data))


def best_time(
    codec: Codec, values: Sequence[bytes], min_time: float, repeat: int
) -> tuple[float, int]:
    """Best-of-``repeat`` seconds for ``loops`` passes, ``loops`` scaled to reach ``min_time``.

    The same scheme as node/bench-codec.mjs, so both sides are measured alike. It starts
    with ``min_time`` of warm-up passes: CPython has nothing to compile, but node's JIT
    does, and warming both the same way keeps the comparison simple to state.
    """
    deadline = time.perf_counter() + min_time
    while time.perf_counter() < deadline:
        _one_pass(codec, values)
    loops = 1
    scale = 1
    while True:
        for step in (1, 2, 5):
            loops = step * scale
            start = time.perf_counter()
            for _ in range(loops):
                _one_pass(codec, values)
            if time.perf_counter() - start >= min_time:
                break
        else:
            scale *= 10
            continue
        break
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(loops):
            _one_pass(codec, values)
        best = min(best, time.perf_counter() - start)
    return best, loops


def _roundtrip_problem(codec: Codec, data: bytes) -> str | None:
    """None when ``data`` decodes and re-encodes byte-identically, else a short reason."""
    try:
        value = codec.decode(data)
    except Exception as exc:  # a peer may raise anything; the reason is reported, not hidden
        return f"decode raised {type(exc).__name__}: {str(exc)[:80]}"
    try:
        encoded = codec.encode(value)
    except Exception as exc:
        return f"encode raised {type(exc).__name__}: {str(exc)[:80]}"
    if encoded != data:
        return "re-encoding differs"
    return None


def measure_python(
    impl: str,
    key: str,
    codec: Codec | None,
    values: Sequence[bytes],
    min_time: float,
    repeat: int,
) -> Measurement:
    m = Measurement(impl=impl, key=key, type_name=KEY_TYPES[key], n=len(values), status="n/a")
    if codec is None:
        return m
    good: list[bytes] = []
    failures: Counter[str] = Counter()
    for data in values:
        problem = _roundtrip_problem(codec, data)
        if problem is None:
            good.append(data)
        else:
            failures[problem] += 1
    m.ok, m.failures = len(good), dict(failures)
    if not good:
        m.status = "fails"
        return m
    m.seconds, m.loops = best_time(codec, good, min_time, repeat)
    m.status = "ok"
    m.values_per_pass = len(good)
    m.bytes_per_pass = sum(map(len, good))
    return m


# ---------------------------------------------------------------------------------------
# mlswire


def mlswire_codecs(encoding: str = "tls") -> dict[str, Codec]:
    """mlswire's generic API: ``mlswire.decode(data, "TypeName", encoding=...)`` and
    ``mlswire.encode(obj, encoding=...)``."""
    try:
        mlswire = importlib.import_module("mlswire")
    except ImportError as exc:
        raise PeerUnavailable(f"cannot import mlswire: {exc}") from exc
    if not (hasattr(mlswire, "decode") and hasattr(mlswire, "encode")):
        raise PeerUnavailable("mlswire has no decode/encode yet")
    decode, encode = mlswire.decode, mlswire.encode

    def for_type(type_name: str) -> Codec:
        if type_name in NOT_STRUCTS:
            return Codec(
                decode=lambda data: decode(data, type_name, encoding),
                encode=lambda value: encode(value, encoding, type=type_name),
            )
        return Codec(
            decode=lambda data: decode(data, type_name, encoding),
            encode=lambda value: encode(value, encoding),
        )

    return {key: for_type(type_name) for key, type_name in KEY_TYPES.items()}


# ---------------------------------------------------------------------------------------
# tls-construct (plugins/mlswire-construct): the same encoding, on the construct library,
# derived from the same schema; used through the same mlswire API as the compiled codec.


def construct_codecs() -> dict[str, Codec]:
    from mlswire.codecs import available

    if "tls-construct" not in available():
        raise PeerUnavailable("the plugin is not installed; pip install plugins/mlswire-construct")
    return mlswire_codecs("tls-construct")


# ---------------------------------------------------------------------------------------
# rfc9420 (PyPI rfc9420==1.3.0)
#
# rfc9420 has no generic codec; each struct class has deserialize()/serialize(). The
# adapters below use the deepest parse its public classes offer for each key, so that
# "decode" means roughly the same work as for the other implementations:
# - MLSMessage.deserialize only splits off version and wire_format and keeps the body as
#   raw bytes, so the body is also parsed with get_parsed_content() and re-encoded from
#   the parsed object. Even so, some sub-structures stay raw bytes in rfc9420's objects
#   (e.g. extension lists, a PublicMessage's proposal or commit body, an Add's KeyPackage).
# - Proposal classes serialize with the 2-byte ProposalType in front, but the vectors
#   hold the bare Add/Update/... struct, so that prefix is dropped after encoding.
# - The ratchet tree has no codec of its own: it is loaded into a RatchetTree, which also
#   computes the tree hashes (SHA-256) while loading, and serialized back from it.


def rfc9420_codecs() -> dict[str, Codec]:
    try:
        from rfc9420 import DefaultCryptoProvider
        from rfc9420.messages import data_structures as ds
        from rfc9420.messages.messages import MLSMessage
        from rfc9420.protocol.tree.ratchet_tree import RatchetTree
    except ImportError as exc:
        raise PeerUnavailable(f"cannot import rfc9420 ({exc}); pip install rfc9420==1.3.0") from exc

    def decode_message(data: bytes) -> tuple[Any, Any]:
        outer = MLSMessage.deserialize(data)
        return outer, outer.get_parsed_content()

    def encode_message(parsed: tuple[Any, Any]) -> bytes:
        outer, inner = parsed
        return bytes(MLSMessage(outer.version, outer.wire_format, inner.serialize()).serialize())

    crypto = DefaultCryptoProvider()  # only its hash is used, for the tree hashes

    def decode_tree(data: bytes) -> Any:
        tree = RatchetTree(crypto)
        tree.load_full_tree_from_welcome_bytes(data)
        return tree

    def encode_tree(tree: Any) -> bytes:
        return bytes(tree.serialize_full_tree_for_welcome())

    def plain(cls: Any) -> Codec:
        return Codec(decode=cls.deserialize, encode=lambda obj: bytes(obj.serialize()))

    def proposal(cls: Any) -> Codec:
        return Codec(decode=cls.deserialize, encode=lambda obj: bytes(obj.serialize()[2:]))

    message = Codec(decode=decode_message, encode=encode_message)
    by_type: dict[str, Codec] = {
        "MLSMessage": message,
        "RatchetTree": Codec(decode=decode_tree, encode=encode_tree),
        "GroupSecrets": plain(ds.GroupSecrets),
        "Add": proposal(ds.AddProposal),
        "Update": proposal(ds.UpdateProposal),
        "Remove": proposal(ds.RemoveProposal),
        "PreSharedKey": proposal(ds.PreSharedKeyProposal),
        "ReInit": proposal(ds.ReInitProposal),
        "ExternalInit": proposal(ds.ExternalInitProposal),
        "GroupContextExtensions": proposal(ds.GroupContextExtensionsProposal),
        "Commit": plain(ds.Commit),
    }
    return {key: by_type[type_name] for key, type_name in KEY_TYPES.items() if type_name in by_type}


# ---------------------------------------------------------------------------------------
# ts-mls (npm ts-mls@1.6.4 under node, see node/bench-codec.mjs)


def measure_ts_mls(
    cases: dict[str, list[bytes]], min_time: float, repeat: int
) -> tuple[list[Measurement], dict[str, str]]:
    payload = {
        "min_time": min_time,
        "repeat": repeat,
        "cases": [
            {"key": key, "type": KEY_TYPES[key], "values": [v.hex() for v in values]}
            for key, values in cases.items()
        ],
    }
    out = run_node_script("bench-codec.mjs", payload)
    results = []
    for r in out["results"]:
        results.append(
            Measurement(
                impl="ts-mls",
                key=r["key"],
                type_name=r["type"],
                n=r["n"],
                status=r["status"],
                ok=r["ok"],
                failures=r["failures"],
                seconds=r.get("seconds"),
                loops=r.get("loops", 0),
                values_per_pass=r.get("values_per_pass", 0),
                bytes_per_pass=r.get("bytes_per_pass", 0),
            )
        )
    return results, out["runtime"]


# ---------------------------------------------------------------------------------------
# Output


def _unavailable(impl: str, cases: dict[str, list[bytes]], reason: str) -> list[Measurement]:
    return [
        Measurement(
            impl=impl,
            key=key,
            type_name=KEY_TYPES[key],
            n=len(v),
            status="unavailable",
            failures={reason: len(v)},
        )
        for key, v in cases.items()
    ]


def _time_cell(m: Measurement) -> str:
    if m.status != "ok":
        return {"unavailable": "-", "incomplete": "-"}.get(m.status, m.status)
    text = f"{m.us_per_value:.1f}"
    if m.ok < m.n:
        text += f" ({m.ok}/{m.n} ok)"
    return text


def _rate_cell(m: Measurement) -> str:
    return f"{m.mb_per_s:.1f}" if m.status == "ok" and m.mb_per_s is not None else ""


def _ratio_cell(ours: Measurement, peer: Measurement) -> str:
    """Peer time / mlswire time per value: above 1 means mlswire is faster."""
    a, b = ours.us_per_value, peer.us_per_value
    if a is None or b is None:
        return ""
    text = f"{b / a:.2f}x"
    if ours.ok != peer.ok:
        text += " †"  # timed over different subsets of the values
    return text


def _totals(impl: str, ms: list[Measurement]) -> Measurement:
    """All keys together, as one value of every key per "case" (one row of the vector file).

    Only meaningful when every value of every key was timed; otherwise the result is
    marked "incomplete" and shown as "-".
    """
    if not ms or any(m.status != "ok" or m.ok != m.n for m in ms):
        return Measurement(impl=impl, key="all", type_name="", n=1, status="incomplete")
    us = sum(m.us_per_value or 0.0 for m in ms)
    nbytes = sum(m.bytes_per_pass / m.values_per_pass for m in ms)
    return Measurement(
        impl=impl,
        key="all",
        type_name="",
        n=1,
        status="ok",
        ok=1,
        seconds=us / 1e6,
        loops=1,
        values_per_pass=1,
        bytes_per_pass=round(nbytes),
    )


def render_markdown(results: dict[str, list[Measurement]], meta: dict[str, Any]) -> str:
    lines = [
        f"Vectors: `{meta['vectors']}` ({meta['cases']} cases). Machine: {meta['machine']}.",
        f"Versions: mlswire {meta['versions'].get('mlswire') or '-'}, "
        f"construct {meta['versions'].get('construct') or '-'}, "
        f"rfc9420 {meta['versions'].get('rfc9420') or '-'}, "
        f"ts-mls {meta['versions'].get('ts-mls') or '-'} on node {meta['versions'].get('node') or '-'}. "
        f"Best of {meta['repeat']}, each measurement ≥ {meta['min_time']} s"
        + (f", pinned to CPU {meta['cpu']}." if meta["cpu"] is not None else "."),
        "",
        "µs = microseconds per value for decode + re-encode; MB/s = wire bytes per second; "
        "mlswire = the built-in compiled TLS codec; tls-construct = the same encoding on "
        "construct (plugins/mlswire-construct); speedup = other µs / mlswire µs (above 1: "
        "mlswire is faster).",
        "",
        "| key | RFC 9420 type | avg bytes | "
        + " | ".join(f"{impl} µs | {impl} MB/s" for impl in IMPLS)
        + " | "
        + " | ".join(f"speedup vs {peer}" for peer in PEERS)
        + " |",
        "| --- | --- | " + " | ".join(["---:"] * (1 + 2 * len(IMPLS) + len(PEERS))) + " |",
    ]
    by_key = {impl: {m.key: m for m in ms} for impl, ms in results.items()}
    rows: list[tuple[str, str, float, dict[str, Measurement]]] = []
    for key in meta["keys"]:
        row = {impl: by_key[impl][key] for impl in IMPLS}
        rows.append((key, KEY_TYPES[key], meta["avg_bytes"][key], row))
    totals = {impl: _totals(impl, results[impl]) for impl in IMPLS}
    label = (
        "**all keys, per case**"
        if len(meta["keys"]) == len(KEY_TYPES)
        else "**these keys, per case**"
    )
    rows.append((label, "", sum(meta["avg_bytes"].values()), totals))
    for key, type_name, avg, row in rows:
        ours = row["mlswire"]
        cells = [key, type_name, f"{avg:.0f}"]
        for impl in IMPLS:
            cells += [_time_cell(row[impl]), _rate_cell(row[impl])]
        cells += [_ratio_cell(ours, row[peer]) for peer in PEERS]
        lines.append("| " + " | ".join(cells) + " |")

    notes = []
    for impl in IMPLS:
        missing = {r for m in results[impl] if m.status == "unavailable" for r in m.failures}
        if missing:
            notes.append(f"- {impl} not measured: {'; '.join(sorted(missing))}")
        for m in results[impl]:
            if m.failures and m.status != "unavailable":
                detail = "; ".join(f"{reason} x{count}" for reason, count in m.failures.items())
                notes.append(f"- {impl} on `{m.key}` ({m.ok}/{m.n} round-trip): {detail}")
    if any("†" in line for line in lines):
        notes.append("- † the two implementations were timed over different subsets of the values.")
    if notes:
        lines += ["", "Notes:", *notes]
    return "\n".join(lines)


def load_cases(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        cases: list[dict[str, str]] = json.load(f)
    return cases


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    parser.add_argument(
        "--min-time",
        type=float,
        default=0.2,
        help="seconds per measurement, at least (default 0.2)",
    )
    parser.add_argument(
        "--repeat", type=int, default=5, help="measurements per key, best kept (default 5)"
    )
    parser.add_argument(
        "--key", action="append", choices=list(KEY_TYPES), help="only this message key (repeatable)"
    )
    parser.add_argument(
        "--skip",
        action="append",
        choices=list(PEERS),
        default=[],
        help="leave out a peer (repeatable)",
    )
    parser.add_argument(
        "--cpu",
        type=int,
        help="pin this process and node to one CPU (node's GC otherwise uses other cores)",
    )
    args = parser.parse_args(argv)
    if args.cpu is not None:
        # Inherited by the node child process, so every implementation gets one core.
        os.sched_setaffinity(0, {args.cpu})

    vectors = vectors_dir() / "messages.json"
    if not vectors.is_file():
        print(
            f"{vectors} not found: set MLSWIRE_VECTORS to a folder holding the official MLS test "
            "vectors (from https://github.com/mlswg/mls-implementations, test-vectors/).",
            file=sys.stderr,
        )
        return 2
    raw = load_cases(vectors)
    keys = args.key or list(KEY_TYPES)
    cases = {key: [bytes.fromhex(case[key]) for case in raw] for key in keys}

    versions: dict[str, str | None] = {
        "rfc9420": package_version("rfc9420"),
        "construct": package_version("construct"),
    }

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    # Set up every implementation first; one that cannot run is reported, not fatal.
    python_codecs: dict[str, dict[str, Codec]] = {}
    unavailable: dict[str, str] = {peer: f"skipped (--skip {peer})" for peer in args.skip}
    makers: dict[str, Callable[[], dict[str, Codec]]] = {
        "mlswire": mlswire_codecs,
        "tls-construct": construct_codecs,
        "rfc9420": rfc9420_codecs,
    }
    for impl, make in makers.items():
        if impl in unavailable:
            continue
        try:
            python_codecs[impl] = make()
        except PeerUnavailable as exc:
            unavailable[impl] = str(exc)
    if "mlswire" in sys.modules:
        versions["mlswire"] = getattr(
            sys.modules["mlswire"], "__version__", None
        ) or package_version("mlswire")

    # Key by key, all implementations in turn (node once per key): on a machine shared
    # with other work, a burst of background load then hits every implementation
    # alike instead of skewing whichever one happened to be running.
    results: dict[str, list[Measurement]] = {impl: [] for impl in IMPLS}
    for key, values in cases.items():
        for impl, codecs in python_codecs.items():
            progress(f"{key}: {impl}")
            results[impl].append(
                measure_python(impl, key, codecs.get(key), values, args.min_time, args.repeat)
            )
        if "ts-mls" not in unavailable:
            progress(f"{key}: ts-mls (node)")
            try:
                measured, runtime = measure_ts_mls({key: values}, args.min_time, args.repeat)
                results["ts-mls"] += measured
                versions["ts-mls"] = runtime.get("ts-mls")
                versions["node"] = runtime.get("node")
            except PeerUnavailable as exc:
                unavailable["ts-mls"] = str(exc)
                results["ts-mls"] = []
    for impl, reason in unavailable.items():
        progress(f"{impl}: not measured ({reason})")
        results[impl] = _unavailable(impl, cases, reason)

    meta: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "vectors": str(vectors),
        "cases": len(raw),
        "keys": keys,
        "avg_bytes": {key: sum(map(len, v)) / len(v) for key, v in cases.items()},
        "machine": machine_description(),
        "versions": versions,
        "min_time": args.min_time,
        "repeat": args.repeat,
        "cpu": args.cpu,
    }
    if args.json:
        doc = {
            "meta": meta,
            "results": {impl: [m.to_json() for m in ms] for impl, ms in results.items()},
        }
        print(json.dumps(doc, indent=2))
    else:
        print(render_markdown(results, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
