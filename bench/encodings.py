"""Encoding benchmark: TLS, CBOR and JSON side by side, per message type.

For each message key of the official ``messages.json`` (one RFC 9420 type each), every
value is decoded once from TLS into a schema value; then, per encoding, this times
encoding all values (value -> bytes) and decoding all of them back (bytes -> value),
through the public API (``mlswire.encode(value, encoding, type=...)`` and
``mlswire.decode(data, type, encoding)``), and reports microseconds per value, the mean
encoded size in bytes, and each time as a ratio to TLS. The target is that CBOR and JSON
cost no more than 2x TLS.

Before timing, every value is checked to survive a round trip in every encoding.
Timing: ``time.perf_counter`` around a loop over all values of a key; the loop count
grows (1, 2, 5, 10, ...) until one measurement lasts ``--min-time`` seconds, and the best
of ``--repeat`` measurements is kept. Nothing here asserts anything about timings.

Run from the project root:
    python bench/encodings.py [--json] [--min-time S] [--repeat N] [--key KEY] [--cpu N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from _peers import machine_description, package_version, use_project_mlswire, vectors_dir

ENCODINGS = ("tls", "cbor", "json")


@dataclass
class Row:
    key: str
    type_name: str
    encoding: str
    n: int
    encode_us: float
    decode_us: float
    size: float  # mean encoded bytes per value


def best_time(fn: Callable[[], None], n_values: int, min_time: float, repeat: int) -> float:
    """Best-of-``repeat`` microseconds per value for ``fn`` (one pass over all values)."""
    fn()  # warm: compiles the type's functions on first use
    loops, scale = 1, 1
    while True:
        for step in (1, 2, 5):
            loops = step * scale
            start = time.perf_counter()
            for _ in range(loops):
                fn()
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
            fn()
        best = min(best, time.perf_counter() - start)
    return best / (loops * n_values) * 1e6


def measure(key: str, type_name: str, wire: Sequence[bytes], args: argparse.Namespace) -> list[Row]:
    import mlswire

    values = [mlswire.decode(data, type_name) for data in wire]
    rows = []
    for enc in ENCODINGS:
        encoded = [mlswire.encode(v, enc, type=type_name) for v in values]
        for v, data, tls_data in zip(values, encoded, wire, strict=True):
            back = mlswire.decode(data, type_name, enc)
            if back != v or mlswire.encode(back, type=type_name) != tls_data:
                raise SystemExit(f"{key}: a value does not survive {enc}")

        def encode_all(enc: str = enc) -> None:
            encode = mlswire.encode
            for v in values:
                encode(v, enc, type_name)

        def decode_all(enc: str = enc, encoded: list[bytes] = encoded) -> None:
            decode = mlswire.decode
            for data in encoded:
                decode(data, type_name, enc)

        rows.append(
            Row(
                key=key,
                type_name=type_name,
                encoding=enc,
                n=len(values),
                encode_us=best_time(encode_all, len(values), args.min_time, args.repeat),
                decode_us=best_time(decode_all, len(values), args.min_time, args.repeat),
                size=sum(map(len, encoded)) / len(encoded),
            )
        )
    return rows


def table(rows: list[Row]) -> str:
    head = (
        "| key (type) | encoding | encode µs | decode µs | size B | encode / TLS "
        "| decode / TLS | size / TLS |"
    )
    out = [head, "|" + " --- |" * 8]
    tls = {r.key: r for r in rows if r.encoding == "tls"}
    for r in rows:
        base = tls[r.key]
        ratio = (
            ("", "", "")
            if r.encoding == "tls"
            else (
                f"{r.encode_us / base.encode_us:.2f}x",
                f"{r.decode_us / base.decode_us:.2f}x",
                f"{r.size / base.size:.2f}x",
            )
        )
        name = f"{r.key} ({r.type_name})" if r.encoding == "tls" else ""
        out.append(
            f"| {name} | {r.encoding} | {r.encode_us:.1f} | {r.decode_us:.1f} | {r.size:.0f} | "
            + " | ".join(ratio)
            + " |"
        )
    # Totals over all keys: the mean ratio per encoding, and the worst.
    for enc in ENCODINGS[1:]:
        ratios = [
            (r.encode_us / tls[r.key].encode_us, r.decode_us / tls[r.key].decode_us)
            for r in rows
            if r.encoding == enc
        ]
        if ratios:
            mean_e = sum(e for e, _ in ratios) / len(ratios)
            mean_d = sum(d for _, d in ratios) / len(ratios)
            worst = max(max(e, d) for e, d in ratios)
            out.append(
                f"\n{enc}: mean encode {mean_e:.2f}x TLS, mean decode {mean_d:.2f}x TLS, "
                f"worst {worst:.2f}x"
            )
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    use_project_mlswire()
    from mlswire.vectors.messages import TYPES

    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--min-time", type=float, default=0.2, help="seconds per measurement")
    p.add_argument("--repeat", type=int, default=3, help="measurements per figure (best kept)")
    p.add_argument("--key", action="append", choices=sorted(TYPES), help="only these keys")
    p.add_argument("--cpu", type=int, help="pin the process to this CPU (less noise)")
    args = p.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})

    path = vectors_dir() / "messages.json"
    if not path.exists():
        print(f"{path} not found (set MLSWIRE_VECTORS)", file=sys.stderr)
        return 1
    cases = json.loads(path.read_text())
    rows: list[Row] = []
    for key, type_name in TYPES.items():
        if args.key and key not in args.key:
            continue
        rows += measure(key, type_name, [bytes.fromhex(c[key]) for c in cases], args)
    if args.json:
        meta: dict[str, Any] = {
            "machine": machine_description(),
            "cpu": args.cpu,
            "msgspec": package_version("msgspec"),
            "orjson": package_version("orjson"),
        }
        print(json.dumps({"meta": meta, "rows": [asdict(r) for r in rows]}, indent=2))
        return 0
    print(
        f"mlswire encodings on {machine_description()}; msgspec {package_version('msgspec')}, "
        f"orjson {package_version('orjson')}; µs per value, best of {args.repeat}\n"
    )
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
