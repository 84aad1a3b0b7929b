"""Independent signature checks on a small thread pool (issue 20).

Joining checks every leaf's signature (§12.4.3.1) and a commit with many Adds checks two
signatures per KeyPackage (§10.1, §7.3): N checks that do not depend on each other.
``cryptography`` releases the GIL while it verifies, so two threads verify about twice
as many Ed25519 signatures per second as one.

The checks themselves stay where they are and run in their usual order; :func:`prechecked`
only verifies the batch first, on the pool, and records the signatures that verified
(``crypto.labeled.verified_signatures``). The serial checks then skip those and verify the
others themselves, so a bad signature raises the same error, for the same (first) leaf or
proposal, as with threads off. Below ``threshold`` signatures, or with one thread, nothing
is done ahead: the threads would cost more than they save.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from ..crypto import labeled
from ..crypto.suites import CipherSuite
from ..errors import MLSError

#: (signature key, label, content, signature): one SignWithLabel to verify.
Check = tuple[bytes, str, bytes, bytes]

#: Signatures per piece of work handed to a thread (~1.7 ms of Ed25519 checks).
CHUNK = 16


@dataclass(frozen=True)
class Parallelism:
    """How many threads verify independent signatures; ``threads`` None is one per core
    (``os.cpu_count()``), 1 (or 0) is off. ``threshold``: the fewest signatures worth
    handing to threads (one Ed25519 check is ~0.1 ms; a batch costs ~0.1 ms to start)."""

    threads: int | None = None
    threshold: int = 32

    def workers(self) -> int:
        return max(1, self.threads if self.threads is not None else (os.cpu_count() or 1))

    def worth(self, checks: int) -> bool:
        """Whether ``checks`` signatures are verified ahead on threads (else: serially,
        and there is no point preparing them for the pool)."""
        return min(self.workers(), checks) >= 2 and checks >= self.threshold


SERIAL = Parallelism(threads=1)

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()


def _executor(workers: int) -> ThreadPoolExecutor:
    # One process-wide pool, replaced by a larger one when a larger size is asked for;
    # its threads only run verify calls, which hold no engine state. A replaced pool is
    # not shut down: another thread may still be handing it work (its idle threads end
    # with the process).
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < workers:
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlswire-verify")
            _pool_size = workers
        return _pool


def _verify_chunk(
    cs: CipherSuite, checks: Sequence[tuple[bytes, bytes, bytes]]
) -> list[tuple[bytes, bytes, bytes]]:
    good = []
    for key, tbs, sig in checks:
        try:
            cs.verify(key, tbs, sig)
        except MLSError:
            continue  # the serial check will raise it, in its order
        good.append((key, tbs, sig))
    return good


def verify_ahead(
    cs: CipherSuite, checks: Sequence[Check], parallelism: Parallelism
) -> frozenset[tuple[bytes, bytes, bytes]]:
    """The checks that verify, as (key, SignContent, signature) triples, verified on
    ``parallelism.workers()`` threads (this one included); empty when below threshold."""
    if not parallelism.worth(len(checks)):
        return frozenset()
    return verify_signed_ahead(
        cs,
        [(key, labeled.sign_content(label, content), sig) for key, label, content, sig in checks],
        parallelism,
    )


def verify_signed_ahead(
    cs: CipherSuite, triples: Sequence[tuple[bytes, bytes, bytes]], parallelism: Parallelism
) -> frozenset[tuple[bytes, bytes, bytes]]:
    """:func:`verify_ahead` for (key, SignContent, signature) triples already made."""
    if not parallelism.worth(len(triples)):
        return frozenset()
    workers = min(parallelism.workers(), len(triples))
    # Small chunks taken in turn rather than one equal share per thread: on a shared
    # machine one thread may get less CPU than the other, and the one that is ahead then
    # takes more chunks instead of waiting for the late one at the end.
    chunks = [triples[i : i + CHUNK] for i in range(0, len(triples), CHUNK)]
    taken = itertools.count()  # next() on it is atomic under the GIL

    def work() -> list[tuple[bytes, bytes, bytes]]:
        good: list[tuple[bytes, bytes, bytes]] = []
        while (i := next(taken)) < len(chunks):
            good.extend(_verify_chunk(cs, chunks[i]))
        return good

    pool = _executor(workers - 1)
    futures = [pool.submit(work) for _ in range(workers - 1)]
    good = work()  # this thread takes chunks too
    for f in futures:
        good.extend(f.result())
    return frozenset(good)


@contextmanager
def prechecked(
    cs: CipherSuite, checks: Sequence[Check], parallelism: Parallelism
) -> Iterator[None]:
    """Verify ``checks`` on the pool, then run the block with the ones that verified
    known to ``verify_with_label`` (the block's own checks decide every error)."""
    good = verify_ahead(cs, checks, parallelism)
    if not good:
        yield
        return
    with labeled.verified_signatures(good):
        yield


__all__ = ["SERIAL", "Check", "Parallelism", "prechecked", "verify_ahead", "verify_signed_ahead"]
