"""Prototype: the DS's one-statement application send to PostgreSQL from an event loop,
two ways, to see what running PostgreSQL work on the loop would save the DS.

* thread pool: what the DS does (Starlette's ``run_in_threadpool`` and a pooled sync
  psycopg connection, :meth:`PostgresStore._statement`);
* event loop: psycopg's ``AsyncConnection``, one per call in flight, no thread hop.

Both run the same statement (``mlswire_send_application``, no nonce) with the same
parameters on 10 groups of 10 devices, ``--in-flight`` calls at a time. Printed: calls
per second and this process's CPU per call (the DS-side cost; PostgreSQL's is apart).
PostgreSQL is ``MLSWIRE_PG_URL`` or a throwaway server, as in ``ds_load.py``.

    python bench/pg_event_loop_call.py [--calls 3000] [--in-flight 16] [--rounds 2]

Nothing here asserts anything about timings."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from starlette.concurrency import run_in_threadpool

from bench._ds_procs import Postgres
from mlswire.service.store import Device, Submission
from mlswire.service.store_postgres import _SEND_CALL, PostgresStore

DEVICES = [f"user{i}/phone" for i in range(100)]


def setup(url: str) -> PostgresStore:
    store = PostgresStore(url)
    for a in DEVICES:
        store.register_device(Device(a, a.split("/")[0], 1, a.encode() * 4, b"credential"))
    for g in range(10):
        members = DEVICES[g * 10 : (g + 1) * 10]
        store.create_group(b"group%d" % g, members[0], 0, None, roster=members)
    return store


def params(i: int) -> tuple[Any, ...]:
    g = i % 10
    s = Submission(DEVICES[g * 10 + i % 7], b"group%d" % g, 0, 1, 1, os.urandom(150))
    digest = hashlib.sha256(s.message).digest()
    return (None, None, None, None, s.group_id, s.sender, s.epoch, s.content_type, s.message,
            digest, time.time(), str(os.getpid()))  # fmt: skip


async def thread_pool(store: PostgresStore, calls: int, in_flight: int) -> None:
    gate = asyncio.Semaphore(in_flight)

    async def one(i: int) -> None:
        p = params(i)
        async with gate:
            await run_in_threadpool(
                store._statement, lambda cur: cur.execute(_SEND_CALL, p).fetchone()
            )

    await asyncio.gather(*(one(i) for i in range(calls)))


async def event_loop(url: str, calls: int, in_flight: int) -> None:
    conns = [await psycopg.AsyncConnection.connect(url, autocommit=True) for _ in range(in_flight)]
    free: asyncio.Queue[psycopg.AsyncConnection[Any]] = asyncio.Queue()
    for c in conns:
        free.put_nowait(c)

    async def one(i: int) -> None:
        p = params(i)
        conn = await free.get()
        try:
            await (await conn.execute(_SEND_CALL, p)).fetchone()
        finally:
            free.put_nowait(conn)

    await asyncio.gather(*(one(i) for i in range(calls)))
    for c in conns:
        await c.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=3000)
    ap.add_argument("--in-flight", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    pg = Postgres()
    if pg.error:
        sys.exit(f"no PostgreSQL: {pg.error}")
    try:
        url = pg.new_db()
        store = setup(url)
        print(f"{args.calls} calls, {args.in_flight} in flight; load {os.getloadavg()[0]:.1f}")
        for _ in range(args.rounds):
            for name, run in (
                ("thread pool", lambda: thread_pool(store, args.calls, args.in_flight)),
                ("event loop", lambda: event_loop(url, args.calls, args.in_flight)),
            ):
                t, cpu = time.perf_counter(), time.process_time()
                asyncio.run(run())
                wall, cpu = time.perf_counter() - t, time.process_time() - cpu
                print(
                    f"  {name:12s} {args.calls / wall:6.0f} calls/s"
                    f"  {cpu / args.calls * 1e6:4.0f} us of this process's CPU per call"
                )
        store.close()
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
