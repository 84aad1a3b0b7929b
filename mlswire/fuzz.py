"""Fuzzing harnesses for every decoder in every encoding and for the engine's message
processing, with a time-budgeted runner.

    python -m mlswire.fuzz --seconds 600                 # every harness, 10 minutes in all
    python -m mlswire.fuzz --seconds 30 --harness decode-tls-Welcome
    python -m mlswire.fuzz --list
    python -m mlswire.fuzz --replay fuzz-findings/engine-commit-public-1a2b3c4d5e6f.bin
    python -m mlswire.fuzz --seconds 600 --engine atheris   # coverage-guided (libFuzzer)

A harness takes one input (bytes) and fails when mlswire lets anything but an
:class:`mlswire.MLSError` escape, when a decoded value does not re-encode to the same
bytes (TLS, CBOR) or to an equal value (JSON, and across encodings), when a rejected
message changes a group's saved state (``Group.to_bytes()``) or a client's KeyPackage
secrets, or when one input takes longer than ``--slow`` seconds. With the
``tls-construct`` codec plugin installed (``pip install plugins/mlswire-construct``), the
``diff-tls-construct-*`` harnesses decode each input with both TLS implementations and
fail unless both refuse it, or both accept it with equal values that re-encode to it.

Seeds are real messages from live groups (built once per process), so mutations start
from inputs that reach deep into the decoders and the engine. The built-in engine
mutates bytes (bit flips, boundary values, varint headers, cuts, splices) and the
decoded document (CBOR, JSON, and TLS MLSMessages through their CBOR tree: replace,
drop or duplicate a node; for CBOR also wrap one in a tag); inputs that are accepted
join the corpus (up to MAX_CORPUS), so later mutations build on them. With
``--engine atheris`` each harness runs in its own process under libFuzzer for its share
of the budget, guided by coverage (``pip install atheris``; instrumenting mlswire takes
a few seconds to a minute per process, so give it minutes, not seconds).

Each failure is written to ``--out`` (default ``fuzz-findings/``) as ``<harness>-<hash>.bin``
(the input) and ``.txt`` (harness name and traceback); ``--replay FILE`` runs it again.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import importlib.util
import os
import random
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cbor2
import orjson

from .codecs import cbor as cbor_codec
from .codecs import tls
from .errors import MLSError
from .schema import MLSMessage

ENCODINGS = ("tls", "cbor", "json")
#: Every top-level type a peer sends, plus the inner structures users decode on their own.
DECODER_TYPES = (
    "MLSMessage",
    "Welcome",
    "GroupInfo",
    "KeyPackage",
    "RatchetTree",
    "GroupSecrets",
    "Commit",
    "Proposal",
    "LeafNode",
    "PublicMessage",
    "PrivateMessage",
    "UpdatePath",
)
ENGINE_HARNESSES = (
    "engine-commit-public",
    "engine-commit-private",
    "engine-proposal-public",
    "engine-proposal-private",
    "engine-application",
    "engine-welcome",
    "engine-group-info",
    "engine-group-state",
)
#: A second, independent TLS codec (plugins/mlswire-construct), found by its entry point.
DIFFERENTIAL_ENCODING = "tls-construct"
DIFFERENTIAL_HARNESSES = tuple(f"diff-{DIFFERENTIAL_ENCODING}-{t}" for t in DECODER_TYPES)
MAX_CORPUS = 400  # per harness: enough variety, bounded memory
DEFAULT_OUT = "fuzz-findings"


class HarnessFailure(Exception):
    """An invariant of a harness broke (not an exception from mlswire itself)."""


@dataclass
class Harness:
    name: str
    seeds: list[bytes]
    target: Callable[[bytes], bool]  # True: the input was accepted
    kind: str  # "bytes" (mutate bytes only) or "cbor"/"json" (documents too)


@dataclass
class Stats:
    iterations: int = 0
    accepted: int = 0  # inputs that decoded / were processed without error
    failures: list[tuple[str, Path]] = field(default_factory=list)
    seconds: float = 0.0


# --- seeds: real messages from live groups ---------------------------------------------------


@dataclass
class _World:
    """Groups and messages the engine harnesses replay mutations of."""

    values: dict[str, list[Any]]  # RFC type name -> real values
    victims: dict[str, Any]  # harness name -> callable(bytes) that checks invariants
    seeds: dict[str, list[bytes]]


def _det_rng(seed: bytes) -> Callable[[int], bytes]:
    """Deterministic randomness so that a reproducer replays against the same groups."""
    counter = [0]

    def rng(n: int) -> bytes:
        out = b""
        while len(out) < n:
            counter[0] += 1
            out += hashlib.sha256(seed + counter[0].to_bytes(8, "big")).digest()
        return out[:n]

    return rng


_WORLD: _World | None = None


def _world() -> _World:
    global _WORLD
    if _WORLD is None:
        _WORLD = _build_world()
    return _WORLD


def _build_world() -> _World:
    from .engine.group import Client, Group, GroupConfig, StagedCommit
    from .engine.welcome import decrypt_group_secrets, find_group_secrets, key_package_ref

    rng = _det_rng(b"mlswire fuzz")
    values: dict[str, list[Any]] = {t: [] for t in DECODER_TYPES}
    seeds: dict[str, list[bytes]] = {}
    victims: dict[str, Any] = {}

    def msg(data: bytes) -> MLSMessage:
        m: MLSMessage = tls.decode(data, MLSMessage)
        values["MLSMessage"].append(m)
        for name in ("public_message", "private_message", "welcome", "group_info", "key_package"):
            inner = getattr(m, name)
            if inner is not None:
                rfc = {
                    "public_message": "PublicMessage",
                    "private_message": "PrivateMessage",
                    "welcome": "Welcome",
                    "group_info": "GroupInfo",
                    "key_package": "KeyPackage",
                }[name]
                values[rfc].append(inner)
        return m

    engine: dict[str, list[bytes]] = {name: [] for name in ENGINE_HARNESSES}
    receivers: dict[str, Any] = {}

    for wire in ("public", "private"):
        config = GroupConfig(handshake_wire_format=wire, max_past_epochs=1)
        alice = Client.generate(b"alice-" + wire.encode(), rng=rng)
        bob = Client.generate(b"bob-" + wire.encode(), rng=rng)
        carol = Client.generate(b"carol-" + wire.encode(), rng=rng)
        group = alice.create_group(b"fuzz-" + wire.encode(), config=config, rng=rng)
        bob_kp = bob.key_package(rng=rng)
        msg(bob_kp)
        out = group.add_members([bob_kp])
        group.merge_pending_commit()
        assert out.welcome is not None
        msg(out.welcome)
        msg(out.commit)
        bob_group = bob.join_group(out.welcome, config=config, rng=rng)
        values["RatchetTree"].append(tls.decode(group.ratchet_tree(), "RatchetTree"))
        # A second epoch: an update commit with a path, from alice, processed by bob.
        upd = group.update()
        msg(upd.commit)
        staged = bob_group.process(upd.commit)
        assert isinstance(staged, StagedCommit)
        staged.merge()
        group.merge_pending_commit()
        gi = group.group_info()
        msg(gi)
        # Messages for bob's current epoch that the harnesses mutate.
        carol_kp = carol.key_package(rng=rng)
        commit = group.add_members([carol_kp])
        group.clear_pending_commit()
        commits = [commit.commit, group.update().commit]
        group.clear_pending_commit()
        commits.append(group.remove_members([bob_group.own_leaf_index]).commit)
        engine[f"engine-commit-{wire}"] += commits
        group.clear_pending_commit()
        for p in (group.propose_update(), group.propose_remove(bob_group.own_leaf_index)):
            engine[f"engine-proposal-{wire}"].append(p)
            msg(p)
        group.clear_pending_proposals()
        engine[f"engine-proposal-{wire}"].append(group.propose_add(carol.key_package(rng=rng)))
        group.clear_pending_proposals()
        for text in (b"hello", b"", b"x" * 300):
            app = group.encrypt(text, authenticated_data=b"ad")
            if wire == "private":
                engine["engine-application"].append(app)
            msg(app)
        for c in commits:
            msg(c)
        receivers[wire] = (bob_group, bob)
        # Saved states (bob's; alice's with a pending commit) for Group.from_bytes.
        engine["engine-group-state"].append(bob_group.to_bytes())
        group.update()
        engine["engine-group-state"].append(group.to_bytes())
        receivers[f"{wire}-state"] = alice
        group.clear_pending_commit()
        # A Welcome for a fresh joiner: mutations go to join_group.
        dave = Client.generate(b"dave-" + wire.encode(), rng=rng)
        dave_kp = dave.key_package(rng=rng)
        add = group.add_members([dave_kp])
        group.clear_pending_commit()
        assert add.welcome is not None
        if wire == "private":
            engine["engine-welcome"].append(add.welcome)
        msg(add.welcome)
        receivers[f"{wire}-welcome"] = dave
        if wire == "public":
            engine["engine-group-info"].append(gi)
        # Inner values for the decoder harnesses.
        kp_msg: MLSMessage = tls.decode(dave_kp, MLSMessage)
        assert kp_msg.key_package is not None
        values["LeafNode"].append(kp_msg.key_package.leaf_node)
        welcome_msg: MLSMessage = tls.decode(add.welcome, MLSMessage)
        assert welcome_msg.welcome is not None
        suite = group._state.suite
        entry = find_group_secrets(welcome_msg.welcome, key_package_ref(suite, kp_msg.key_package))
        init_priv, _ = dave.key_package_private_keys(dave_kp)
        values["GroupSecrets"].append(
            decrypt_group_secrets(suite, init_priv, entry, welcome_msg.welcome.encrypted_group_info)
        )
    for value in values["PublicMessage"]:
        if value.content.commit is not None:
            values["Commit"].append(value.content.commit)
            if value.content.commit.path is not None:
                values["UpdatePath"].append(value.content.commit.path)
            for por in value.content.commit.proposals:
                if por.proposal is not None:
                    values["Proposal"].append(por.proposal)
        if value.content.proposal is not None:
            values["Proposal"].append(value.content.proposal)

    def processing(wire: str) -> Callable[[bytes], bool]:
        group, _ = receivers[wire]

        def target(data: bytes) -> bool:
            before = group.to_bytes()
            try:
                group.process(data)
            except MLSError:
                if group.to_bytes() != before:
                    raise HarnessFailure("a rejected message changed the group state") from None
                return False
            # Accepted: put the group back, so that every input meets the same state.
            # (A staged commit changes nothing; an application message consumes a key.)
            restored = Group.from_bytes(before, receivers[wire][1])
            group.__dict__.update(restored.__dict__)
            return True

        return target

    def joining(wire: str) -> Callable[[bytes], bool]:
        client = receivers[f"{wire}-welcome"]

        def target(data: bytes) -> bool:
            saved = dict(client._key_packages)
            try:
                client.join_group(data)
                return True
            except MLSError:
                if client._key_packages != saved:
                    raise HarnessFailure("a rejected Welcome consumed a KeyPackage") from None
                return False
            finally:
                client._key_packages.clear()
                client._key_packages.update(saved)

        return target

    def external(wire: str) -> Callable[[bytes], bool]:
        client = Client.generate(b"eve-" + wire.encode(), rng=rng)

        def target(data: bytes) -> bool:
            try:
                client.join_by_external_commit(data)
            except MLSError:
                return False
            return True

        return target

    victims["engine-commit-public"] = processing("public")
    victims["engine-commit-private"] = processing("private")
    victims["engine-proposal-public"] = victims["engine-commit-public"]
    victims["engine-proposal-private"] = victims["engine-commit-private"]
    victims["engine-application"] = victims["engine-commit-private"]
    victims["engine-welcome"] = joining("private")
    victims["engine-group-info"] = external("public")

    def loading(data: bytes) -> bool:
        # A stored state is read back by its owner: mutations are of bob's and alice's.
        for owner in (receivers["private"][1], receivers["private-state"]):
            try:
                Group.from_bytes(data, owner)
            except MLSError:
                continue
            return True
        return False

    victims["engine-group-state"] = loading
    seeds.update(engine)
    return _World(values=values, victims=victims, seeds=seeds)


# --- decoder harnesses -----------------------------------------------------------------------


def _decoder_target(type_name: str, encoding: str) -> Callable[[bytes], bool]:
    from .codecs import get_codec

    codec = get_codec(encoding)

    def target(data: bytes) -> bool:
        try:
            value = codec.decode(data, type_name)
        except MLSError:
            return False
        # Decoding is exact: the value re-encodes to the same bytes (TLS; deterministic
        # CBOR) or at least to an equal value (JSON allows other spellings), and every
        # encoding carries it losslessly (DESIGN rule 2). An MLSError here is a bug too:
        # whatever was decoded must encode again.
        try:
            again = codec.encode(value, type_name)
            if encoding in ("tls", "cbor") and again != data:
                raise HarnessFailure(f"{encoding} decode/encode is not the identity")
            if codec.decode(again, type_name) != value:
                raise HarnessFailure(f"{encoding} round trip changed the value")
            for other in ENCODINGS:
                if other != encoding:
                    oc = get_codec(other)
                    if oc.decode(oc.encode(value, type_name), type_name) != value:
                        raise HarnessFailure(f"{encoding} -> {other} changed the value")
        except MLSError as e:
            raise HarnessFailure(f"a decoded value does not round-trip: {e!r}") from e
        return True

    return target


def differential_available() -> bool:
    """Whether the second TLS codec is installed (asked of the package metadata: nothing
    is imported until a differential harness runs)."""
    from .codecs import available

    return DIFFERENTIAL_ENCODING in available()


def _differential_target(type_name: str) -> Callable[[bytes], bool]:
    from .codecs import get_codec

    other = get_codec(DIFFERENTIAL_ENCODING)

    def verdict(decode: Callable[[bytes, str], Any], data: bytes) -> tuple[bool, Any]:
        try:
            return True, decode(data, type_name)
        except MLSError as e:
            return False, e

    def target(data: bytes) -> bool:
        ours_ok, ours = verdict(tls.decode, data)
        theirs_ok, theirs = verdict(other.decode, data)
        if ours_ok != theirs_ok:
            refused = theirs if ours_ok else ours
            raise HarnessFailure(
                f"tls {'accepts' if ours_ok else 'refuses'} but {DIFFERENTIAL_ENCODING} "
                f"{'accepts' if theirs_ok else 'refuses'}: {refused!r}"
            )
        if not ours_ok:
            return False
        if ours != theirs:
            raise HarnessFailure(f"tls and {DIFFERENTIAL_ENCODING} decode different values")
        # Each encoder gives back the input from the other's value.
        try:
            if tls.encode(theirs, type_name) != data or other.encode(ours, type_name) != data:
                raise HarnessFailure("a decoded value does not re-encode to the input")
        except MLSError as e:
            raise HarnessFailure(f"a decoded value does not encode: {e!r}") from e
        return True

    return target


def harnesses() -> dict[str, Harness]:
    """Every harness by name (builds the seed groups on first call)."""
    from .codecs import get_codec

    world = _world()
    out: dict[str, Harness] = {}
    for encoding in ENCODINGS:
        codec = get_codec(encoding)
        for t in DECODER_TYPES:
            seeds = [codec.encode(v, t) for v in world.values[t]]
            name = f"decode-{encoding}-{t}"
            kind = encoding if encoding != "tls" else "tls"
            out[name] = Harness(name, seeds, _decoder_target(t, encoding), kind)
    for name, seeds in world.seeds.items():
        out[name] = Harness(name, list(seeds), world.victims[name], "tls")
    if differential_available():
        for name, t in zip(DIFFERENTIAL_HARNESSES, DECODER_TYPES, strict=True):
            seeds = [tls.encode(v, t) for v in world.values[t]]
            out[name] = Harness(name, seeds, _differential_target(t), "tls")
    return out


def harness_names() -> list[str]:
    names = [f"decode-{e}-{t}" for e in ENCODINGS for t in DECODER_TYPES]
    extra = list(DIFFERENTIAL_HARNESSES) if differential_available() else []
    return [*names, *ENGINE_HARNESSES, *extra]


# --- mutation --------------------------------------------------------------------------------

_INTERESTING = (0x00, 0x01, 0x02, 0x3F, 0x40, 0x7F, 0x80, 0xBF, 0xC0, 0xFE, 0xFF)
# Varint headers (RFC 9420 §2.1.2) of boundary and hostile lengths, and non-minimal ones.
_HEADERS = (
    b"\x00",
    b"\x3f",
    b"\x40\x40",
    b"\x7f\xff",
    b"\x40\x01",
    b"\x80\x00\x40\x00",
    b"\xbf\xff\xff\xff",
    b"\x80\x00\x00\x01",
    b"\xc0",
    b"\xff\xff\xff\xff",
)
_BIG_INTS = (0, 1, 2, 0xFF, 0x100, 0xFFFF, 0x10000, 0xFFFFFFFF, 1 << 32, (1 << 64) - 1, 1 << 64)


def mutate_bytes(rng: random.Random, data: bytes, corpus: Sequence[bytes]) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 5))):
        op = rng.randrange(10)
        n = len(buf)
        pos = rng.randrange(n + 1)
        if op == 0 and n:
            buf[pos % n] ^= 1 << rng.randrange(8)
        elif op == 1 and n:
            buf[pos % n] = rng.choice(_INTERESTING)
        elif op == 2 and n:
            buf[pos % n] = rng.randrange(256)
        elif op == 3:
            buf[pos:pos] = rng.randbytes(rng.choice((1, 2, 4, 8, 32)))
        elif op == 4 and n:
            end = min(n, pos + rng.choice((1, 2, 4, 16, 64)))
            del buf[pos:end]
        elif op == 5:
            del buf[pos:]
        elif op == 6:
            buf[pos : pos + rng.choice((0, 1, 2, 4))] = rng.choice(_HEADERS)
        elif op == 7 and n:
            start = rng.randrange(n)
            chunk = buf[start : start + rng.choice((1, 4, 16, 64, 256))]
            buf[pos:pos] = chunk * rng.choice((1, 2, 8))
        elif op == 8 and corpus:
            other = rng.choice(corpus)
            cut = rng.randrange(len(other) + 1)
            buf = buf[:pos] + bytearray(other[cut:])
        elif op == 9 and n >= 2:
            # A multi-byte big-endian field set to a boundary value.
            width = rng.choice((2, 4, 8))
            value = rng.choice(_BIG_INTS) & ((1 << (8 * width)) - 1)
            buf[pos : pos + width] = value.to_bytes(width, "big")
    return bytes(buf)


def _random_leaf(rng: random.Random, like: Any) -> Any:
    choices: list[Any] = [
        None,
        True,
        rng.choice(_BIG_INTS),
        -1,
        1.5,
        "",
        "x" * rng.choice((1, 64)),
        b"",
        rng.randbytes(rng.choice((1, 32, 65))),
        [],
        {},
    ]
    if isinstance(like, str):
        choices += [like[: len(like) // 2], like.upper(), like + "0", "ff" * 10]
    if isinstance(like, bytes):
        choices += [like[:-1], like + b"\x00"]
    if isinstance(like, int) and not isinstance(like, bool):
        choices += [like + 1, like - 1, str(like), like << 32]
    if isinstance(like, list):
        choices += [like * 2, like[:-1], [like]]
    return rng.choice(choices)


def mutate_tree(rng: random.Random, tree: Any, tagged: bool = False) -> Any:
    """Change one node of a decoded CBOR/JSON document (maps, arrays, leaves)."""
    nodes: list[tuple[Any, Any]] = []  # (container, key) of every child

    def walk(x: Any, depth: int) -> None:
        if depth > 30:
            return
        if isinstance(x, dict):
            for k in x:
                nodes.append((x, k))
                walk(x[k], depth + 1)
        elif isinstance(x, list):
            for i, y in enumerate(x):
                nodes.append((x, i))
                walk(y, depth + 1)

    walk(tree, 0)
    if not nodes:
        return _random_leaf(rng, tree)
    container, key = rng.choice(nodes)
    op = rng.randrange(7)
    if op == 6 and tagged:
        # CBOR only: tags (bignums, shared and string references) are not deterministic
        # input, and references must not let a small input expand while parsing.
        container[key] = cbor2.CBORTag(
            rng.choice((2, 25, 28, 29, 256, 55799, 4000)), container[key]
        )
        return tree
    if op == 0 and isinstance(container, dict):
        del container[key]
    elif op == 1 and isinstance(container, dict):
        container[rng.choice(["x", key + "_", "extra"])] = container[key]
    elif op == 2 and isinstance(container, list):
        container.insert(key, container[key])
    elif op == 3 and isinstance(container, list):
        del container[key]
    else:
        container[key] = _random_leaf(rng, container[key])
    return tree


def mutate(rng: random.Random, data: bytes, kind: str, corpus: Sequence[bytes]) -> bytes:
    if kind in ("cbor", "json") and rng.random() < 0.6:
        try:
            if kind == "cbor":
                return bytes(cbor2.dumps(mutate_tree(rng, cbor2.loads(data), tagged=True)))
            return bytes(orjson.dumps(mutate_tree(rng, orjson.loads(data))))
        except Exception:  # a document the mutator cannot walk: mutate its bytes instead
            pass
    if kind == "tls" and rng.random() < 0.15:
        # Structure-aware for TLS too: mutate the value as a CBOR document, encode it
        # back to TLS; values the schema refuses fall back to byte mutation.
        with_tree = _tls_tree_mutation(rng, data)
        if with_tree is not None:
            return with_tree
    return mutate_bytes(rng, data, corpus)


def _tls_tree_mutation(rng: random.Random, data: bytes) -> bytes | None:
    try:
        value = tls.decode(data, MLSMessage)
        tree = cbor_codec.to_tree(value, MLSMessage)
        changed = cbor_codec.from_tree(mutate_tree(rng, tree), MLSMessage)
        return tls.encode(changed, MLSMessage)
    except Exception:  # not an MLSMessage, or a mutation the schema refuses
        return None


# --- running ---------------------------------------------------------------------------------


def run_one(harness: Harness, data: bytes, slow: float) -> tuple[str | None, bool]:
    """Run one input; return (a failure description with traceback, or None; whether
    the input was accepted)."""
    start = time.perf_counter()
    accepted = False
    try:
        accepted = harness.target(data)
    except MLSError:
        pass  # a refusal: what every harness expects of bad input
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise
        return "".join(traceback.format_exception(e)), False
    took = time.perf_counter() - start
    if took > slow:
        return f"slow input: {took:.2f} s (limit {slow} s)\n", accepted
    return None, accepted


def _record(out: Path, harness: str, data: bytes, text: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(data).hexdigest()[:12]
    path = out / f"{harness}-{digest}.bin"
    path.write_bytes(data)
    path.with_suffix(".txt").write_text(f"harness: {harness}\n\n{text}")
    return path


def _signature(text: str) -> str:
    """Failures with the same exception type and innermost frame count once."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    frames = [ln for ln in lines if ln.lstrip().startswith("File ")]
    return (frames[-1] if frames else "") + "|" + (lines[-1] if lines else "")


def fuzz(
    harness: Harness,
    seconds: float,
    *,
    seed: int = 0,
    out: Path = Path(DEFAULT_OUT),
    slow: float = 2.0,
    iterations: int | None = None,
) -> Stats:
    """Mutate ``harness``'s seeds for ``seconds`` (or ``iterations`` inputs)."""
    rng = random.Random(f"{seed}:{harness.name}")
    corpus = list(harness.seeds)
    stats = Stats()
    seen: set[str] = set()
    start = time.monotonic()
    deadline = start + seconds
    # Every seed runs once first: a seed that fails is a finding in itself.
    queue = list(corpus)
    while True:
        if iterations is not None and stats.iterations >= iterations:
            break
        if iterations is None and time.monotonic() >= deadline:
            break
        data = queue.pop() if queue else mutate(rng, rng.choice(corpus), harness.kind, corpus)
        stats.iterations += 1
        failure, accepted = run_one(harness, data, slow)
        if accepted:
            stats.accepted += 1
            # Validity feedback: inputs that still decode join the corpus (bounded), so
            # mutations move away from the seeds over time.
            _keep_valid(rng, data, corpus)
        if failure is None:
            continue
        sig = _signature(failure)
        if sig in seen:
            continue
        seen.add(sig)
        stats.failures.append((failure, _record(out, harness.name, data, failure)))
    stats.seconds = time.monotonic() - start
    return stats


def _keep_valid(rng: random.Random, data: bytes, corpus: list[bytes]) -> None:
    if len(corpus) < MAX_CORPUS:
        corpus.append(data)
    else:
        corpus[rng.randrange(len(corpus))] = data


def run_all(
    names: Sequence[str],
    seconds: float,
    *,
    seed: int = 0,
    out: Path = Path(DEFAULT_OUT),
    slow: float = 2.0,
    report: Callable[[str], None] = print,
) -> dict[str, Stats]:
    """Run each named harness for an equal share of ``seconds``; print a line per harness."""
    table = harnesses()
    results: dict[str, Stats] = {}
    share = seconds / max(1, len(names))
    for name in names:
        stats = fuzz(table[name], share, seed=seed, out=out, slow=slow)
        results[name] = stats
        status = "ok" if not stats.failures else f"{len(stats.failures)} FAILURE(S)"
        report(
            f"{name:32} {stats.iterations:9d} inputs {stats.seconds:7.1f} s "
            f"{stats.iterations / max(stats.seconds, 1e-9):8.0f}/s "
            f"{stats.accepted:8d} accepted  {status}"
        )
        for text, path in stats.failures:
            report(f"    {path}: {text.strip().splitlines()[-1]}")
    total = sum(s.iterations for s in results.values())
    failed = sum(len(s.failures) for s in results.values())
    report(f"{len(results)} harnesses, {total} inputs, {failed} failures")
    return results


# --- atheris (libFuzzer, coverage-guided) ----------------------------------------------------


def _atheris_child(name: str, argv: list[str]) -> None:
    # Imported by name: atheris is optional (it needs a matching CPython and libFuzzer)
    # and has no type stubs.
    atheris: Any = importlib.import_module("atheris")

    table = harnesses()
    harness = table[name]

    def test_one_input(data: bytes) -> None:
        failure, _ = run_one(harness, data, slow=float("inf"))
        if failure is not None:
            raise HarnessFailure(failure)

    atheris.instrument_all()
    atheris.Setup([sys.argv[0], *argv], test_one_input)
    atheris.Fuzz()


def run_atheris(
    names: Sequence[str], seconds: float, *, out: Path, report: Callable[[str], None] = print
) -> int:
    share = max(1, int(seconds / max(1, len(names))))
    out.mkdir(parents=True, exist_ok=True)
    table = harnesses()
    failed = 0
    for name in names:
        with tempfile.TemporaryDirectory() as corpus:
            for i, s in enumerate(table[name].seeds):
                Path(corpus, f"seed{i}").write_bytes(s)
            cmd = [
                sys.executable,
                "-m",
                "mlswire.fuzz",
                "--atheris-child",
                name,
                "--",
                f"-max_total_time={share}",
                f"-artifact_prefix={out}/{name}-",
                "-rss_limit_mb=2048",
                corpus,
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            runs = next(
                (ln.split()[1] for ln in proc.stderr.splitlines() if ln.startswith("Done ")), "?"
            )
            status = "ok" if proc.returncode == 0 else f"FAILURE (exit {proc.returncode})"
            if proc.returncode:
                failed += 1
                log = out / f"{name}-atheris.log"
                log.write_text(proc.stderr)
                status += f", log {log}"
            report(f"{name:32} {runs:>9} inputs {share:7d} s  {status}")
    report(f"{len(names)} harnesses, {failed} failed")
    return 1 if failed else 0


# --- command line ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in[:1] == ["--atheris-child"]:
        rest = args_in[3:] if args_in[2:3] == ["--"] else args_in[2:]
        _atheris_child(args_in[1], rest)
        return 0
    p = argparse.ArgumentParser(prog="python -m mlswire.fuzz", description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=60.0, help="total budget (default 60)")
    p.add_argument("--harness", action="append", help="run only this one (repeatable; prefix ok)")
    p.add_argument("--seed", type=int, default=int.from_bytes(os.urandom(4), "big"))
    p.add_argument("--out", type=Path, default=Path(DEFAULT_OUT), help="where failures go")
    p.add_argument("--slow", type=float, default=2.0, help="seconds one input may take")
    p.add_argument("--engine", choices=("builtin", "atheris"), default="builtin")
    p.add_argument("--list", action="store_true", help="list the harnesses and exit")
    p.add_argument("--replay", type=Path, nargs="+", help="run saved inputs again")
    args = p.parse_args(args_in)
    names = harness_names()
    if args.harness:
        names = [n for n in names if any(n == h or n.startswith(h) for h in args.harness)]
        if not names:
            p.error(f"no harness matches {args.harness}; see --list")
    if args.list:
        print("\n".join(names))
        return 0
    if args.replay:
        table = harnesses()
        bad = 0
        for path in args.replay:
            name = next(
                (n for n in sorted(table, key=len, reverse=True) if path.name.startswith(n + "-")),
                None,
            )
            if args.harness and len(names) == 1:
                name = names[0]
            if name is None:
                p.error(f"{path}: name the harness with --harness")
            failure, _ = run_one(table[name], path.read_bytes(), args.slow)
            print(f"{path}: {name}: {'ok' if failure is None else 'FAILS'}")
            if failure:
                bad += 1
                print(failure)
        return 1 if bad else 0
    print(f"seed {args.seed}; {len(names)} harnesses, {args.seconds:.0f} s in all")
    if args.engine == "atheris":
        if importlib.util.find_spec("atheris") is None:
            print("--engine atheris needs atheris: pip install atheris", file=sys.stderr)
            return 2
        return run_atheris(names, args.seconds, out=args.out)
    results = run_all(names, args.seconds, seed=args.seed, out=args.out, slow=args.slow)
    return 1 if any(s.failures for s in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
