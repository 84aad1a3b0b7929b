"""Delivery Service load: M devices in K groups sending through one DS on loopback.

For each store (SQLite, and PostgreSQL when ``MLSWIRE_PG_URL`` is set) this starts
``mlswire serve`` on a free 127.0.0.1 port, registers M devices with the AS and the DS,
puts them round-robin into K groups, then lets every device send N application
messages (PrivateMessage-shaped: the DS reads headers only, so no group secrets are
needed and the numbers measure the DS, not the MLS engine) from its own thread while
its own long-poll loop receives and acknowledges. Each message carries its send time;
delivery latency is receive time minus send time (one clock: same machine).

Reported per store: accepted sends per second, deliveries per second (every send fans
out to the other members of its group), and p50 / p99 delivery latency. Nothing here
asserts anything about timings.

Run from the project root:
    python bench/ds_load.py [--devices M] [--groups K] [--messages N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from mlswire.client import DeviceKeys, ServiceClient
from mlswire.codecs import tls
from mlswire.schema import (
    Commit,
    ContentType,
    FramedContent,
    FramedContentAuthData,
    MLSMessage,
    PrivateMessage,
    PublicMessage,
    Sender,
    SenderType,
    Welcome,
    WireFormat,
)

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def private_message(group_id: bytes, epoch: int, payload: bytes) -> bytes:
    """Epoch 0: the commit that adds everyone, as a PublicMessage (the DS refuses
    PrivateMessage handshakes); later epochs: application ciphertext."""
    if epoch == 0:
        content = FramedContent(
            group_id=group_id,
            epoch=0,
            sender=Sender(sender_type=SenderType.member, leaf_index=0),
            authenticated_data=payload,
            content_type=ContentType.commit,
            commit=Commit(proposals=(), path=None),
        )
        pub = PublicMessage(
            content=content,
            auth=FramedContentAuthData(signature=os.urandom(64), confirmation_tag=os.urandom(32)),
            membership_tag=os.urandom(32),
        )
        return tls.encode(
            MLSMessage(wire_format=WireFormat.mls_public_message, public_message=pub), MLSMessage
        )
    pm = PrivateMessage(
        group_id=group_id,
        epoch=epoch,
        content_type=ContentType.application,
        authenticated_data=b"",
        encrypted_sender_data=os.urandom(16),
        ciphertext=payload + os.urandom(64),
    )
    return tls.encode(
        MLSMessage(wire_format=WireFormat.mls_private_message, private_message=pm), MLSMessage
    )


def welcome() -> bytes:
    w = Welcome(cipher_suite=1, secrets=(), encrypted_group_info=os.urandom(64))  # type: ignore[arg-type]
    return tls.encode(MLSMessage(wire_format=WireFormat.mls_welcome, welcome=w), MLSMessage)


class Server:
    def __init__(self, db: str, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        log = (workdir / f"serve-{self.port}.log").open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlswire",
                "serve",
                "--port",
                str(self.port),
                "--db",
                db,
                "--as-dir",
                str(workdir / f"as-{self.port}"),
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def run(
    store: str, db: str, devices: int, groups: int, messages: int, workdir: Path
) -> dict[str, Any]:
    server = Server(db, workdir)
    try:
        tag = uuid.uuid4().hex[:6]
        clients = []
        for i in range(devices):
            c = ServiceClient(DeviceKeys.generate(f"u{i}-{tag}", "d"), server.url)
            c.as_register()
            c.register()
            clients.append(c)
        rosters: list[list[ServiceClient]] = [clients[g::groups] for g in range(groups)]
        gids = []
        for g, members in enumerate(rosters):
            gid = f"load-{tag}-{g}".encode()
            members[0].create_group(gid)
            members[0].send(
                private_message(gid, 0, b""),
                welcome=welcome(),
                add=[m.keys.address for m in members[1:]],
            )
            gids.append(gid)
        group_of = {c.keys.address: g for g, ms in enumerate(rosters) for c in ms}
        expected = {
            c.keys.address: (len(rosters[group_of[c.keys.address]]) - 1) * messages for c in clients
        }
        latencies: list[float] = []
        lock = threading.Lock()
        done = threading.Event()

        def receive(c: ServiceClient) -> None:
            got = 0
            deadline = time.monotonic() + 300
            while got < expected[c.keys.address] and time.monotonic() < deadline:
                batch = c.fetch(limit=200, wait=5)
                now = time.time()
                lat = []
                for m in batch:
                    if m.kind != "message" or m.epoch != 1:
                        continue
                    ct = tls.decode(m.data, MLSMessage).private_message.ciphertext
                    lat.append(now - struct.unpack(">d", ct[:8])[0])
                    got += 1
                if batch:
                    c.ack(batch[-1].seq)
                with lock:
                    latencies.extend(lat)

        def send(c: ServiceClient) -> None:
            gid = gids[group_of[c.keys.address]]
            for _ in range(messages):
                c.send(private_message(gid, 1, struct.pack(">d", time.time())))

        for c in clients:  # drain the welcomes first
            batch = c.fetch(limit=10)
            if batch:
                c.ack(batch[-1].seq)
        receivers = [threading.Thread(target=receive, args=(c,)) for c in clients]
        senders = [threading.Thread(target=send, args=(c,)) for c in clients]
        start = time.perf_counter()
        for t in receivers + senders:
            t.start()
        for t in senders:
            t.join(600)
        send_time = time.perf_counter() - start
        for t in receivers:
            t.join(600)
        total_time = time.perf_counter() - start
        done.set()
        for c in clients:
            c.close()
        sends = devices * messages
        return {
            "store": store,
            "devices": devices,
            "groups": groups,
            "messages_per_device": messages,
            "sends_per_s": sends / send_time,
            "deliveries": len(latencies),
            "deliveries_per_s": len(latencies) / total_time,
            "p50_ms": 1000 * percentile(latencies, 50),
            "p99_ms": 1000 * percentile(latencies, 99),
        }
    finally:
        server.stop()


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--devices", type=int, default=20)
    ap.add_argument("--groups", type=int, default=4)
    ap.add_argument("--messages", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows.append(
            run("sqlite", str(work / "ds.sqlite3"), args.devices, args.groups, args.messages, work)
        )
        pg = os.environ.get("MLSWIRE_PG_URL")
        if pg:
            import psycopg

            schema = "bench_" + uuid.uuid4().hex[:8]
            with psycopg.connect(pg, autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {schema}")
            sep = "&" if "?" in pg else "?"
            url = f"{pg}{sep}options=-csearch_path%3D{schema}"
            try:
                rows.append(run("postgresql", url, args.devices, args.groups, args.messages, work))
            finally:
                with psycopg.connect(pg, autocommit=True) as conn:
                    conn.execute(f"DROP SCHEMA {schema} CASCADE")
        else:
            print("(MLSWIRE_PG_URL not set: PostgreSQL skipped)", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(
        f"{args.devices} devices in {args.groups} groups, {args.messages} messages each, "
        "one DS process on loopback"
    )
    print(f"{'store':<11} {'sends/s':>9} {'deliveries/s':>13} {'p50 ms':>8} {'p99 ms':>8}")
    for r in rows:
        print(
            f"{r['store']:<11} {r['sends_per_s']:>9.0f} {r['deliveries_per_s']:>13.0f} "
            f"{r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
