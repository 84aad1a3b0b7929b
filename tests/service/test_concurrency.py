"""A server answers concurrent requests right after it starts (issue 15 item 5).

The codecs compile each type on first use; before that was locked, the first
concurrent requests of a fresh `mlswire serve` got HTTP 500 (``KeyError: 'd_MLSMessage'``,
``'d_SignContent'``). Here many devices register, publish KeyPackages, create groups
and send at once, as the first requests a fresh server sees."""

from __future__ import annotations

import threading
import uuid

import httpx

from mlswire.client import DeviceKeys, ServiceClient, ServiceError

from . import _mls
from .conftest import Backend, Server

THREADS = 12


def first_requests(url: str, user: str, barrier: threading.Barrier) -> list[str]:
    """One device's first requests; returns what went wrong."""
    c = ServiceClient(DeviceKeys.generate(user, "phone"), url)
    gid = f"g-{user}".encode()
    try:
        barrier.wait(30)
        c.as_register()  # AS: proof of possession (SignContent), certificate
        c.register()  # DS: credential decode, request signature check
        c.publish_key_packages([_mls.key_package(c.keys)])  # KeyPackage decode
        c.create_group(gid)
        c.send(_mls.commit(gid, 0))  # MLSMessage decode, sequencing
        c.send(_mls.private_message(gid, 1))
        c.fetch(limit=10)  # empty: a sender gets no copy of its own messages
        epoch = c.group(gid)["epoch"]
        return [] if epoch == 1 else [f"{user}: group at epoch {epoch}, not 1"]
    except (ServiceError, httpx.HTTPError) as e:
        return [f"{user}: {e}"]
    finally:
        c.close()


def storm(url: str) -> list[str]:
    """THREADS devices make their first requests at once; what went wrong."""
    barrier = threading.Barrier(THREADS)
    problems: list[str] = []
    lock = threading.Lock()

    def go(i: int) -> None:
        p = first_requests(url, f"u{i}-{uuid.uuid4().hex[:6]}", barrier)
        with lock:
            problems.extend(p)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return problems


def test_concurrent_requests_right_after_start(backend: Backend) -> None:
    work = backend.tmp / uuid.uuid4().hex[:8]
    work.mkdir()
    for _ in range(2):  # two fresh processes: a race is likely, not certain, per start
        server = Server(backend.new_db(), work).start()
        try:
            assert storm(server.url) == []
            log = server.log.read_text(errors="replace")
            assert "Traceback" not in log, log[-3000:]
        finally:
            server.stop()
