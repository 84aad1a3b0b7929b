"""Delivery Service load: the benchmark a DS operator would run.

The DS under test is ``python -m mlswire serve`` from this checkout, on loopback, with a
real AS and the DS verifying every handshake. The benchmark first sets up real MLS
groups through the SDK (``MLSClient``: AS registration, KeyPackages, ``invite``, the
Welcomes processed), by default 10 groups of 10 devices. Then, for each offered rate
(sends per second, open-loop: every send starts at its scheduled time, whether or not
earlier ones were answered), load generator processes (separate from the DS: see
``bench/_ds_gen.py``) send application messages from every device in turn while every
device receives its queue by WebSocket push (long-poll when the DS has no push or with
``--delivery poll``) and acknowledges it.

By default the application messages are real MLS PrivateMessages encrypted by each
sender's group state, and the requests signed by the sender's device key, all before
the timed phase: the generator then measures the DS, not client crypto. A side table
(ciphertext -> message index -> scheduled time) matches deliveries to sends, since an
encrypted message carries no readable timestamp. ``--real-clients`` instead runs an
``MLSClient`` per device: senders encrypt at send time, receivers decrypt and save.

Per rate: accepted sends/s, deliveries/s, send-to-delivery latency p50/p99/max (receipt
time minus *scheduled* send time, so a DS that falls behind shows it: no coordinated
omission), send errors, deliveries missing when the phase ended (bounded: every phase
ends by itself), the DS processes' CPU % (100 = one core) and memory, and the
generator's own CPU %. The saturation point is the highest offered rate at which the DS
accepted at least 95 % of it, delivered everything and kept p99 under ``--p99-bound``.
The ramp stops at the first rate past it.

Configurations: SQLite with one DS process; PostgreSQL (``MLSWIRE_PG_URL``, else a
throwaway server of this run) with one DS process and with two (``--workers 2``, when
``mlswire serve`` has it). ``--profile`` samples the DS with py-spy (cProfile of the
main thread without it) at the first saturated rate and prints the top costs.

Run from the project root:
    python bench/ds_load.py                    # the full ramp, every store
    python bench/ds_load.py --quick            # under a minute: proves the script works
    python bench/ds_load.py --stores sqlite --rates 500,1000,1500 --profile --json

Nothing here asserts anything about timings.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import math
import multiprocessing
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson
from _ds_gen import PLAINTEXT, PLAINTEXT_SIZE, DeviceSpec, Phase, http_request, worker_main
from _ds_procs import (
    CpuMeter,
    DSProcess,
    Postgres,
    Sampler,
    collapsed_top,
    cprofile_top,
    load_average,
    py_spy,
    rss_bytes,
    serve_supports,
)
from _peers import machine_description, use_project_mlswire

use_project_mlswire()

from mlswire.client import MLSClient  # noqa: E402
from mlswire.service.signing import sign_request  # noqa: E402

DEFAULT_RATES = [50, 100, 250, 500, 1000, 1500, 2000, 3000, 4000]
ACCEPTED_SHARE = 0.95  # of the offered rate, for a rate to count as sustained


# --- setup: real MLS groups through the SDK -------------------------------------------------------


@dataclass
class Fleet:
    """The benchmark's devices: ``groups[g]`` are the MLSClients of group ``gids[g]``."""

    groups: list[list[MLSClient]]
    gids: list[bytes]
    setup_s: float

    @property
    def devices(self) -> list[tuple[int, MLSClient]]:
        return [(g, c) for g, members in enumerate(self.groups) for c in members]


def set_up(url: str, as_url: str, workdir: Path, groups: int, size: int) -> Fleet:
    start = time.perf_counter()
    tag = uuid.uuid4().hex[:6]

    def register(g: int, i: int) -> MLSClient:
        return MLSClient.register(
            workdir / f"dev-{tag}-{g}-{i}", f"b{tag}g{g}m{i}", "d", url, as_url, key_packages=1
        )

    with ThreadPoolExecutor(4) as pool:
        futures = [[pool.submit(register, g, i) for i in range(size)] for g in range(groups)]
        fleet = [[f.result() for f in row] for row in futures]

        def form(members: list[MLSClient]) -> bytes:
            gid = members[0].create_group()
            members[0].invite(gid, *(m.service.keys.user for m in members[1:]))
            for m in members[1:]:
                events = m.receive()
                if not any(e.kind == "joined" for e in events):
                    raise RuntimeError(f"{m.address} did not join: {events}")
                m.events_taken()
            return gid

        gids = list(pool.map(form, fleet))
    for members in fleet:
        for m in members:
            # The SDK's push connections of the setup would receive every message too:
            # closed, so the generator's receivers are the only ones.
            m.service.drop_push()
    return Fleet(fleet, gids, time.perf_counter() - start)


# --- the generator processes -------------------------------------------------------------------


class Generators:
    """``procs`` worker processes, each owning every procs-th device."""

    def __init__(self, fleet: Fleet, url: str, procs: int, push: bool, real: bool) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.owner: dict[str, int] = {}
        per: list[list[DeviceSpec]] = [[] for _ in range(procs)]
        for n, (_, c) in enumerate(fleet.devices):
            k = c.service.keys
            per[n % procs].append(
                DeviceSpec(k.address, k.suite, k.signature_private_key, str(c.dir))
            )
            self.owner[k.address] = n % procs
        self.pipes: list[Connection] = []
        self.procs: list[Any] = []
        try:
            for devices in per:
                parent, child = ctx.Pipe()
                p = ctx.Process(
                    target=worker_main, args=(child, url, devices, push, real), daemon=True
                )
                p.start()
                self.pipes.append(parent)
                self.procs.append(p)
            for pipe in self.pipes:
                self._expect(pipe, "ready", 300)
        except BaseException:
            self.stop()
            raise

    @staticmethod
    def _expect(pipe: Connection, what: str, timeout: float) -> Any:
        if not pipe.poll(timeout):
            raise RuntimeError(f"a generator process did not say {what} in {timeout:.0f} s")
        tag, value = pipe.recv()
        if tag != what:
            raise RuntimeError(f"a generator process said {tag}, not {what}")
        return value

    def run(self, phases: list[Phase], lead: float = 0.3) -> tuple[float, list[dict[str, Any]]]:
        for pipe, phase in zip(self.pipes, phases, strict=True):
            pipe.send(("phase", phase))
        for pipe in self.pipes:  # receivers connected
            self._expect(pipe, "armed", 120)
        t0 = time.time() + lead
        for pipe in self.pipes:
            pipe.send(("go", t0))
        timeout = t0 + phases[0].end - time.time() + 60
        return t0, [self._expect(pipe, "done", timeout) for pipe in self.pipes]

    def stop(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(("stop", None))
        for p in self.procs:
            p.join(3)  # a worker in the middle of a phase reads "stop" only after it
            if p.is_alive():
                p.terminate()
                p.join(5)


# --- one load phase ----------------------------------------------------------------------------


@dataclass
class Timetable:
    """Every message of a phase: scheduled offset and how many devices should get it."""

    offsets: list[float] = field(default_factory=list)
    fanout: list[int] = field(default_factory=list)


def build_phase(
    fleet: Fleet,
    gens: Generators,
    host: str,
    rate: float,
    seconds: float,
    drain: float,
    real: bool,
    closed: int,
) -> tuple[Timetable, list[Phase]]:
    """The phase's messages, each sender in turn, pre-built (or, in real-clients mode,
    described for the device's MLSClient to make)."""
    n = max(1, round(rate * seconds))
    devices = fleet.devices
    procs = len(gens.pipes)
    phases = [Phase([], {}, 0, seconds, seconds + drain, closed) for _ in range(procs)]
    table = Timetable()
    for index in range(n):
        g, sender = devices[index % len(devices)]
        offset = index / rate
        gid = fleet.gids[g]
        others = [m for m in fleet.groups[g] if m is not sender]
        table.offsets.append(offset)
        table.fanout.append(len(others))
        phase = phases[gens.owner[sender.address]]
        for m in others:
            phases[gens.owner[m.address]].expected += 1
        if real:
            phase.sends.append((offset, index, (sender.address, gid)))
            continue
        data = PLAINTEXT.pack(index).ljust(PLAINTEXT_SIZE, b".")
        message = sender.groups[gid].encrypt(data)
        key = base64.b64encode(message).decode()
        body = orjson.dumps({"message": key})
        k = sender.service.keys
        target = "/v1/messages"
        # Signed now, sent within seconds: well inside the DS's 300 s timestamp window.
        auth = sign_request(k.suite, k.signature_private_key, k.address, "POST", target, body)
        phase.sends.append((offset, index, http_request(host, "POST", target, body, auth)))
        for worker in {gens.owner[m.address] for m in others}:
            phases[worker].keys[key] = index
    return table, phases


def percentile(values: list[float], p: float) -> float:
    if not values:
        return math.nan
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


class Watch:
    """The DS processes' CPU seconds over a phase and their peak memory, and the CPU
    of the database server when it is this run's (PostgreSQL: other processes)."""

    def __init__(self, ds: DSProcess, db_pids: Callable[[], list[int]]) -> None:
        self.ds = ds
        self.ds_cpu = CpuMeter(ds.pids)
        self.db_cpu = CpuMeter(db_pids)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.25):
            self.peak = max(self.peak, rss_bytes(self.ds.pids()))
            self.ds_cpu.sample()
            self.db_cpu.sample()

    def __enter__(self) -> Watch:
        self.ds_cpu.start()
        self.db_cpu.start()
        self.wall0 = time.time()
        self.peak = rss_bytes(self.ds.pids())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.ds_cpu.sample()
        self.db_cpu.sample()
        wall = time.time() - self.wall0
        self.cpu_s = self.ds_cpu.seconds()
        self.cpu_pct = 100 * self.cpu_s / wall
        self.db_cpu_pct = 100 * self.db_cpu.seconds() / wall if self.db_cpu.last else math.nan


def run_phase(
    fleet: Fleet,
    gens: Generators,
    ds: DSProcess,
    args: argparse.Namespace,
    rate: float,
    sampler: Any = None,
    seconds: float | None = None,
) -> dict[str, Any]:
    host = ds.url.split("://", 1)[1]
    table, phases = build_phase(
        fleet,
        gens,
        host,
        rate,
        seconds or args.seconds,
        args.drain,
        args.real_clients,
        args.closed_loop,
    )
    with Watch(ds, args.db_pids) as watch:
        if sampler is not None:
            sampler()
        t0, results = gens.run(phases)
    sent = [s for r in results for s in r["sent"]]
    start_of = {index: start for index, start, _ in sent}
    received = [x for r in results for x in r["received"]]
    if args.closed_loop:  # from the actual send start: there is no timetable
        lat = [t - start_of[i] for i, t in received if i in start_of]
    else:
        lat = [t - (t0 + table.offsets[i]) for i, t in received]
    if args.closed_loop:
        answers = [answer - start for _, start, answer in sent]
    else:
        answers = [answer - (t0 + table.offsets[i]) for i, _, answer in sent]
    expected = sum(table.fanout[i] for i in start_of)
    delivered_of_accepted = sum(1 for i, _ in received if i in start_of)
    errors: dict[str, int] = {}
    for r in results:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    last_answer = max((a for _, _, a in sent), default=t0)
    last_delivery = max((t for _, t in received), default=t0)
    n = len(table.offsets)
    window = n / rate
    gen_cpu = sum(r["cpu_s"] for r in results)
    row = {
        "offered_per_s": rate if not args.closed_loop else None,
        "closed_loop": args.closed_loop or None,
        "messages": n,
        "accepted": len(sent),
        "accepted_per_s": len(sent) / max(window, last_answer - t0) if sent else 0.0,
        "deliveries": len(received),
        "deliveries_per_s": len(received) / max(window, last_delivery - t0) if received else 0.0,
        "missing": expected - delivered_of_accepted,
        "duplicates": sum(r["duplicates"] for r in results),
        "late_from_earlier_phase": sum(r["stale"] for r in results),
        "p50_ms": 1000 * percentile(lat, 50),
        "p99_ms": 1000 * percentile(lat, 99),
        "max_ms": 1000 * max(lat, default=math.nan),
        "answer_p50_ms": 1000 * percentile(answers, 50),
        "answer_p99_ms": 1000 * percentile(answers, 99),
        "errors": errors,
        "ds_cpu_pct": watch.cpu_pct,
        # The DS's CPU per accepted send (its fan-out, pushes and acks included): the
        # floor a CPU-bound DS would reach is 1000 / this many sends/s per core.
        "ds_cpu_ms_per_send": 1000 * watch.cpu_s / len(sent) if sent else math.nan,
        "ds_rss_mb": watch.peak / 2**20,
        "db_cpu_pct": watch.db_cpu_pct,
        "generator_cpu_pct": 100 * gen_cpu / max(window, last_delivery - t0, 1e-9),
        "send_connections": max(r["max_connections"] for r in results),
        "load_average": load_average()[0],
    }
    if args.closed_loop:
        row["offered_per_s"] = row["accepted_per_s"]
    row["sustained"] = sustained(row, args.p99_bound)
    return row


def sustained(row: dict[str, Any], p99_bound: float) -> bool:
    """The DS kept up with this rate: took (nearly) all of it, delivered everything
    it took, and kept p99 bounded."""
    return bool(
        row["accepted"] >= ACCEPTED_SHARE * row["messages"]
        and row["missing"] == 0
        and row["p99_ms"] <= p99_bound
    )


# --- one configuration: store x DS processes x delivery -----------------------------------------


def run_config(
    store: str, db: str, workers: int, args: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    cprofile = None
    if args.profile and not py_spy():
        cprofile = workdir / f"cprofile-{uuid.uuid4().hex[:6]}.out"
    ds = DSProcess(db, workdir, workers=workers, cprofile=cprofile, checkout=args.ds_checkout)
    gens: Generators | None = None
    try:
        push = args.delivery == "push" or (args.delivery == "auto" and has_push(ds))
        if args.delivery == "push" and not has_push(ds):
            raise SystemExit("--delivery push: this DS has no push route")
        fleet = set_up(ds.url, ds.as_url, workdir, args.groups, args.group_size)
        if args.real_clients:
            for _, c in fleet.devices:  # the workers load them from their folders
                c.close()
        gens = Generators(fleet, ds.url, args.procs, push, args.real_clients)
        config: dict[str, Any] = {
            "store": store,
            "ds_processes": workers,
            "delivery": "push" if push else "long-poll",
            "messages": "real clients" if args.real_clients else "pre-built",
            "groups": args.groups,
            "group_size": args.group_size,
            "generator_processes": args.procs,
            "closed_loop": args.closed_loop or None,
            "setup_s": fleet.setup_s,
            "rows": [],
        }
        rows: list[dict[str, Any]] = config["rows"]
        if args.warmup > 0:  # connections, caches, the SQLite/PostgreSQL page cache
            run_phase(fleet, gens, ds, args, args.rates[0], seconds=args.warmup)
            time.sleep(args.pause)
        # Closed-loop: one phase, with enough messages for the highest rate given.
        rates = [max(args.rates)] if args.closed_loop else args.rates
        for rate in rates:
            row = run_phase(fleet, gens, ds, args, rate)
            rows.append(row)
            what = (
                f"closed loop x{args.closed_loop}" if args.closed_loop else f"{rate:.0f}/s offered"
            )
            print(
                f"  {what}: {row['accepted_per_s']:.0f} sent/s, "
                f"{row['deliveries_per_s']:.0f} deliveries/s, p99 {row['p99_ms']:.1f} ms"
                + ("" if row["sustained"] else " (not sustained)"),
                file=sys.stderr,
                flush=True,
            )
            if not row["sustained"] and not args.closed_loop:
                break
            time.sleep(args.pause)
        ok = [r["offered_per_s"] for r in rows if r["sustained"] and not args.closed_loop]
        config["saturation_sends_per_s"] = max(ok) if ok else None
        config["saturated"] = any(not r["sustained"] for r in rows)
        if args.profile:
            saturated = [r for r in rows if not r["sustained"]]
            rate = (saturated[0] if saturated else rows[-1])["offered_per_s"]
            config["profile"] = profile(fleet, gens, ds, args, rate, workers, workdir)
        if cprofile is not None:
            gens.stop()
            gens = None
            ds.stop()
            config["profile"] = {
                "tool": "cProfile (main thread only; py-spy not installed)",
                **cprofile_top(cprofile),
            }
        return config
    finally:
        if gens is not None:
            gens.stop()
        ds.stop()


def has_push(ds: DSProcess) -> bool:
    """Whether the DS has the push route: a WebSocket upgrade without credentials is
    refused for the credentials (401); without the route it is refused outright (403
    from uvicorn, or 404)."""
    import httpx

    headers = {
        "upgrade": "websocket",
        "connection": "Upgrade",
        "sec-websocket-key": base64.b64encode(uuid.uuid4().bytes).decode(),
        "sec-websocket-version": "13",
    }
    try:
        r = httpx.get(ds.url + "/v1/devices/probe/probe/push?after=0", headers=headers, timeout=10)
    except httpx.HTTPError as e:
        print(f"push probe failed ({e}): long-poll", file=sys.stderr)
        return False
    return r.status_code == 401


def profile(
    fleet: Fleet,
    gens: Generators,
    ds: DSProcess,
    args: argparse.Namespace,
    rate: float,
    workers: int,
    workdir: Path,
) -> dict[str, Any]:
    """Two more phases at ``rate`` with py-spy sampling the DS process(es): where the
    CPU goes (the GIL holder), and where busy threads are (waits included)."""
    if not py_spy():
        return {}  # the cProfile of the whole run is read when the DS stops
    result: dict[str, Any] = {"tool": "py-spy", "rate": rate}
    for view, gil in (("cpu", True), ("wall", False)):
        out = workdir / f"pyspy-{view}-{uuid.uuid4().hex[:6]}.txt"
        holder: list[Sampler] = []

        def start(out: Path = out, gil: bool = gil, holder: list[Sampler] = holder) -> None:
            # Sampling from before the receivers connect to the end of the timetable.
            seconds = args.seconds + 2
            holder.append(Sampler(ds.proc.pid, out, seconds, workers > 1, gil))

        try:
            row = run_phase(fleet, gens, ds, args, rate, sampler=start)
            problem = holder[0].wait() if holder else "py-spy did not start"
        finally:
            for s in holder:
                s.stop()
        if problem:
            return {"tool": "py-spy", "error": problem}
        result[view] = {"row": row, **collapsed_top(out.read_text())}
        time.sleep(args.pause)
    return result


# --- output ---------------------------------------------------------------------------------------

COLUMNS = (
    ("offered/s", "offered_per_s", "{:.0f}"),
    ("sent/s", "accepted_per_s", "{:.0f}"),
    ("deliv/s", "deliveries_per_s", "{:.0f}"),
    ("p50 ms", "p50_ms", "{:.1f}"),
    ("p99 ms", "p99_ms", "{:.1f}"),
    ("max ms", "max_ms", "{:.0f}"),
    ("ans p99", "answer_p99_ms", "{:.1f}"),
    ("errors", "errors", None),
    ("missing", "missing", "{}"),
    ("DS CPU%", "ds_cpu_pct", "{:.0f}"),
    ("CPU ms/send", "ds_cpu_ms_per_send", "{:.1f}"),
    ("DS MB", "ds_rss_mb", "{:.0f}"),
    ("PG CPU%", "db_cpu_pct", "{:.0f}"),
    ("gen CPU%", "generator_cpu_pct", "{:.0f}"),
    ("load", "load_average", "{:.1f}"),
)


def print_row(row: dict[str, Any], first: bool) -> None:
    """One markdown table row (the header first)."""
    if first:
        print("| " + " | ".join(h for h, _, _ in COLUMNS) + " | sustained |")
        print("|" + " ---: |" * len(COLUMNS) + " --- |")
    cells = []
    for _, key, fmt in COLUMNS:
        value = row[key]
        if fmt is None:
            cells.append(str(sum(value.values())))
        else:
            cells.append("-" if value is None or value != value else fmt.format(value))
    print("| " + " | ".join(cells) + " | " + ("yes" if row["sustained"] else "**no**") + " |")


def print_errors(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        for what, n in row["errors"].items():
            print(f"  at {row['offered_per_s']:.0f}/s: {n} x {what}")


def print_config_head(c: dict[str, Any]) -> None:
    print(
        f"\n{c['store']}, {c['ds_processes']} DS process(es), {c['delivery']} delivery, "
        f"{c['messages']} messages, {c['groups']} groups of {c['group_size']}, "
        f"{c['generator_processes']} generator process(es); setup {c['setup_s']:.1f} s"
    )


def print_config_tail(c: dict[str, Any]) -> None:
    sat = c["saturation_sends_per_s"]
    if c["closed_loop"]:
        print(
            f"  closed loop, {c['closed_loop']} send loop(s) per generator process: "
            "no offered rate, so no saturation point (see sent/s)"
        )
    elif sat is None:
        print("  saturation: below the lowest rate tried")
    else:
        more = "" if c["saturated"] else " (not reached: the highest rate tried was sustained)"
        per = sat * (c["group_size"] - 1)
        print(f"  saturation point: {sat:.0f} sends/s = {per:.0f} deliveries/s{more}")
    prof = c.get("profile")
    if prof:
        print_profile(prof)


# Frames every sample passes through (thread start, the event loop, the CLI): they
# would fill the cumulative list without telling anything.
PLUMBING = (
    "threading.py",
    "runpy",
    "asyncio/",
    "mlswire/__main__",
    "mlswire/cli.py",
    "commands/serve.py",
    "uvicorn/server.py",
    "uvicorn/_compat",
    "uvicorn/main.py",
    "contextlib.py",
    "_backends/_asyncio.py",
    "selectors.py",
    "<module>",
)


def print_profile(prof: dict[str, Any]) -> None:
    if "error" in prof:
        print(f"  profile: {prof['tool']} failed: {prof['error']}")
        return
    if "cpu" not in prof:  # cProfile
        print_view(f"profile of the DS ({prof['tool']})", prof)
        return
    what = {
        "cpu": "where the DS's CPU goes (py-spy --gil: the thread holding the GIL)",
        "wall": "where the DS's busy threads are (py-spy, idle threads left out; waits included)",
    }
    for view in ("cpu", "wall"):
        p = prof[view]
        r = p["row"]
        print(
            f"\n  {what[view]}, at {prof['rate']:.0f} sends/s offered"
            f" (that phase: {r['accepted_per_s']:.0f} sent/s, p99 {r['p99_ms']:.0f} ms,"
            f" DS CPU {r['ds_cpu_pct']:.0f} %):"
        )
        print_view("", p)


def print_view(title: str, p: dict[str, Any]) -> None:
    if title:
        print(f"  {title}:")
    print(f"    {p['samples']} samples")
    for area, pct in sorted(p.get("areas", {}).items(), key=lambda kv: -kv[1]):
        print(f"    {pct:5.1f} %  {area}")
    print("    top functions by own time (self %):")
    for t in p.get("self_top", [])[:12]:
        print(f"    {t['self_pct']:5.1f} %  {t['function']}")
    print("    top functions by cumulative time (cumulative %, plumbing left out):")
    shown = [t for t in p["top"] if not any(x in t["function"] for x in PLUMBING)]
    for t in shown[:15]:
        print(f"    {t['cumulative_pct']:5.1f} %  {t['function']}")


# --- main -------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="a short run (under a minute): SQLite, 2 groups, 2 low rates",
    )
    ap.add_argument("--stores", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    ap.add_argument(
        "--pg-processes", default="1,2", help="DS processes on PostgreSQL (default 1,2)"
    )
    ap.add_argument("--rates", help="offered sends/s, comma-separated (default a ramp 50..4000)")
    ap.add_argument("--seconds", type=float, default=5.0, help="length of each rate's phase")
    ap.add_argument(
        "--drain",
        type=float,
        default=10.0,
        help="seconds a phase waits for deliveries after its last send",
    )
    ap.add_argument(
        "--warmup", type=float, default=2.0, help="seconds of unreported load at the first rate"
    )
    ap.add_argument("--pause", type=float, default=1.0, help="seconds between phases")
    ap.add_argument("--groups", type=int, default=10)
    ap.add_argument("--group-size", type=int, default=10)
    ap.add_argument("--procs", type=int, default=2, help="load generator processes")
    ap.add_argument(
        "--delivery",
        choices=("auto", "push", "poll"),
        default="auto",
        help="auto: push when the DS has it",
    )
    ap.add_argument(
        "--real-clients", action="store_true", help="MLSClient per device: encrypt and decrypt live"
    )
    ap.add_argument(
        "--closed-loop",
        type=int,
        default=0,
        metavar="N",
        help="instead of a timetable, N send loops per generator process, each waiting for its answer",
    )
    ap.add_argument(
        "--p99-bound", type=float, default=500.0, help="p99 ms above which a rate is not sustained"
    )
    ap.add_argument(
        "--profile", action="store_true", help="sample the DS at the first saturated rate"
    )
    ap.add_argument(
        "--ds-checkout",
        type=Path,
        default=Path(__file__).resolve().parents[1],
        help="the checkout whose `mlswire serve` is measured (default this one; e.g. to"
        " compare two versions of the DS with one generator)",
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.stores, args.groups, args.procs = "sqlite", 2, 1
        args.seconds, args.drain, args.pause, args.warmup = 2.0, 5.0, 0.2, 1.0
        args.rates = args.rates or "50,200"
    args.rates = [float(r) for r in (args.rates or ",".join(map(str, DEFAULT_RATES))).split(",")]
    args.stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    args.pg_processes = [int(n) for n in args.pg_processes.split(",")]
    for s in args.stores:
        if s not in ("sqlite", "postgres"):
            ap.error(f"--stores: unknown store {s!r}")
    return args


def finite(value: Any) -> Any:
    """``value`` with NaN (no samples) as null: strict JSON."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report: dict[str, Any] = {
        "machine": machine_description(),
        "ds_checkout": str(args.ds_checkout),
        "load_average_at_start": load_average(),
        "configs": [],
        "skipped": [],
    }
    pg: Postgres | None = None
    with tempfile.TemporaryDirectory(prefix="mlswire-ds-load-") as tmp:
        work = Path(tmp)
        try:
            plan: list[tuple[str, int]] = []
            if "sqlite" in args.stores:
                plan.append(("sqlite", 1))
            if "postgres" in args.stores:
                pg = Postgres()
                if pg.error:
                    report["skipped"].append(f"postgres: {pg.error}")
                else:
                    multi = serve_supports("--workers", args.ds_checkout)
                    for n in args.pg_processes:
                        if n > 1 and not multi:
                            report["skipped"].append(
                                f"postgres x{n}: this `mlswire serve` has no --workers"
                            )
                            continue
                        plan.append(("postgres", n))
            for store, workers in plan:
                db = str(work / f"ds-{uuid.uuid4().hex[:6]}.sqlite3")
                args.db_pids = list  # SQLite: in the DS process
                if store == "postgres":
                    assert pg is not None
                    db = pg.new_db()
                    args.db_pids = pg.pids
                print(f"== {store}, {workers} DS process(es) ...", file=sys.stderr, flush=True)
                config = run_config(store, db, workers, args, work)
                report["configs"].append(config)
                if not args.json:
                    print_config_head(config)
                    print()
                    for i, row in enumerate(config["rows"]):
                        print_row(row, first=i == 0)
                    print()
                    print_errors(config["rows"])
                    print_config_tail(config)
        finally:
            if pg is not None:
                pg.stop()
    report["load_average_at_end"] = load_average()
    if not args.json:
        print(
            f"\n{report['machine']}; load average {report['load_average_at_start'][0]:.1f} at start, {report['load_average_at_end'][0]:.1f} at end"
        )
    for s in report["skipped"]:
        print(f"skipped: {s}", file=sys.stderr)
    if args.json:
        print(json.dumps(finite(report), indent=1, default=str))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # every process it started is stopped by then
        print("interrupted", file=sys.stderr)
        sys.exit(130)
