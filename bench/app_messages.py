"""Application messages at the floor (issue 20): mlswire's encrypt and decrypt next to
the Ed25519 sign and verify that each one must do, measured in the same process.

An N-member group (suite 1 by default, 100-byte payload): the member at leaf 0
encrypts ``--count`` messages, the member at leaf N-1 decrypts them in order. Each
round times the encrypts, then the decrypts, then ``--count`` bare signatures and
verifications of a SignContent of the same size, straight on the library (key objects
parsed once): OpenSSL through ``cryptography`` and, when PyNaCl is installed,
libsodium. Times are process CPU time (``time.process_time``), best of ``--rounds``
rounds, because on a shared machine wall time measures the neighbours. Overhead is the
time per message minus one sign (encrypt) or one verify (decrypt) of the backend
mlswire uses (libsodium when installed, ``--openssl`` forces OpenSSL).

``--profile encrypt|decrypt`` runs cProfile over one round of that operation instead
and prints the functions with the most total time.

    python bench/app_messages.py [--n 16] [--suite 1] [--count 800] [--rounds 5]
        [--profile encrypt|decrypt] [--openssl]

No assertions: run it and read.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from collections.abc import Callable

from _peers import use_project_mlswire

PAYLOAD = 100


def _group(n: int, suite: int) -> tuple[object, object]:
    use_project_mlswire()
    from mlswire.engine.group import Client

    clients = [Client.generate(b"member %d" % i, suite) for i in range(n)]
    sender = clients[0].create_group()
    out = sender.add_members([c.key_package() for c in clients[1:]])
    sender.merge_pending_commit()
    receiver = clients[-1].join_group(out.welcome)
    return sender, receiver


def _cpu(fn: Callable[[], None]) -> float:
    t = time.process_time()
    fn()
    return time.process_time() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--suite", type=int, default=1)
    ap.add_argument("--count", type=int, default=800)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--profile", choices=("encrypt", "decrypt"))
    ap.add_argument("--openssl", action="store_true", help="Ed25519 through OpenSSL only")
    args = ap.parse_args()
    use_project_mlswire()
    from mlswire.crypto import signature

    use = getattr(signature, "use_libsodium", None)  # absent before issue 20's session 4
    sodium = use(not args.openssl) if use is not None else False

    sender, receiver = _group(args.n, args.suite)
    from cryptography.hazmat.primitives.asymmetric import ed25519

    payload = b"a" * PAYLOAD
    count = args.count

    def encrypt_all() -> list[bytes]:
        enc = sender.encrypt  # type: ignore[attr-defined]
        return [enc(payload) for _ in range(count)]

    def decrypt_all(messages: list[bytes]) -> None:
        proc = receiver.process  # type: ignore[attr-defined]
        for m in messages:
            proc(m)

    if args.profile:
        encrypt_all()  # warm-up
        messages = encrypt_all() if args.profile == "decrypt" else []
        prof = cProfile.Profile()
        prof.enable()
        if args.profile == "encrypt":
            encrypt_all()
        else:
            decrypt_all(messages)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        return

    # The floor: Ed25519 on a SignContent about as long as a message's FramedContentTBS.
    sk = ed25519.Ed25519PrivateKey.generate()
    pk = sk.public_key()
    tbs = bytes(200 + PAYLOAD)
    sig = sk.sign(tbs)
    floors: dict[str, Callable[[], None]] = {
        "openssl sign": lambda: [sk.sign(tbs) for _ in range(count)] and None,
        "openssl verify": lambda: [pk.verify(sig, tbs) for _ in range(count)] and None,
    }
    try:
        from nacl.bindings import crypto_sign, crypto_sign_open
    except ImportError:
        pass
    else:
        secret, public = sk.private_bytes_raw() + pk.public_bytes_raw(), pk.public_bytes_raw()
        floors["libsodium sign"] = lambda: (
            [crypto_sign(tbs, secret)[:64] for _ in range(count)] and None
        )
        floors["libsodium verify"] = lambda: (
            [crypto_sign_open(sig + tbs, public) for _ in range(count)] and None
        )

    best = dict.fromkeys(["encrypt", "decrypt", *floors], 1e9)
    for _ in range(args.rounds):
        t = time.process_time()
        messages = encrypt_all()
        best["encrypt"] = min(best["encrypt"], time.process_time() - t)
        t = time.process_time()
        decrypt_all(messages)
        best["decrypt"] = min(best["decrypt"], time.process_time() - t)
        for name, fn in floors.items():
            best[name] = min(best[name], _cpu(fn))
    us = {k: v / count * 1e6 for k, v in best.items()}
    backend = "libsodium" if sodium else "openssl"
    sign_us, verify_us = us[f"{backend} sign"], us[f"{backend} verify"]
    print(
        f"N={args.n} suite {args.suite}, {PAYLOAD}-byte payload, {count} messages, "
        f"process CPU time, best of {args.rounds} rounds; Ed25519 through {backend}"
    )
    print(
        "| encrypt/s | decrypt/s | sign/s floor | verify/s floor "
        "| encrypt overhead | decrypt overhead |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| {1e6 / us['encrypt']:,.0f} | {1e6 / us['decrypt']:,.0f} | {1e6 / sign_us:,.0f} "
        f"| {1e6 / verify_us:,.0f} | {us['encrypt'] - sign_us:.1f} µs "
        f"| {us['decrypt'] - verify_us:.1f} µs |"
    )
    print("µs per call: " + ", ".join(f"{k} {v:.1f}" for k, v in us.items()))


if __name__ == "__main__":
    main()
