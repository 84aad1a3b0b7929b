"""Hostile input is refused early, quickly and in bounded memory (docs: mlswire.limits).

Each test measures only the refused call: wall time under a second and the peak of
Python allocations (tracemalloc) under a few MB beyond the input itself, with the error
a subclass of MLSError that says which limit or rule refused the input.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import cbor2
import msgspec
import pytest

import mlswire
from mlswire.codecs import tls
from mlswire.crypto.suites import cipher_suite
from mlswire.engine import key_schedule as ks
from mlswire.engine.group import ApplicationMessage, Client, Group, GroupConfig, StagedCommit
from mlswire.engine.ratchet_tree import RatchetTree
from mlswire.engine.secret_tree import Ratchet, RatchetType
from mlswire.engine.tree_validation import validate_tree
from mlswire.engine.welcome import encrypt_group_secrets
from mlswire.errors import DecodeError, MLSError, StateError, ValidationError
from mlswire.limits import Limits
from mlswire.schema import (
    Extension,
    ExtensionType,
    GroupInfo,
    GroupSecrets,
    KeyPackage,
    MLSMessage,
    Node,
    NodeType,
    ParentNode,
    Welcome,
    WireFormat,
)

MB = 1 << 20


@contextmanager
def peak_memory(megabytes: float) -> Iterator[None]:
    """Assert that the block allocates at most ``megabytes`` at its peak (tracemalloc)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    try:
        yield
    finally:
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
    assert peak < megabytes * MB, f"peak {peak / MB:.1f} MB"


def refused(
    call: Callable[[], Any],
    error: type[MLSError],
    match: str,
    *,
    seconds: float = 1.0,
    megabytes: float = 8.0,
) -> MLSError:
    """``call`` raises ``error`` (matching ``match``) within ``seconds`` and ``megabytes``.

    Timed and measured in two runs (a refused input changes nothing, so it can be fed
    twice): tracemalloc slows allocation several times, which would distort the time."""
    start = time.perf_counter()
    with pytest.raises(error, match=match) as e:
        call()
    took = time.perf_counter() - start
    assert took < seconds, f"took {took:.2f} s"
    with peak_memory(megabytes), pytest.raises(error, match=match):
        call()
    return e.value


# --- a Welcome that anyone holding our (public) KeyPackage can build ------------------------


def _group(n: int = 2, config: GroupConfig | None = None) -> tuple[list[Client], list[Group]]:
    clients = [Client.generate(f"m{i}".encode()) for i in range(n)]
    groups = [clients[0].create_group(b"hostile", config=config)]
    for c in clients[1:]:
        out = groups[0].add_members([c.key_package()])
        for g in groups[1:]:
            staged = g.process(out.commit)
            assert isinstance(staged, StagedCommit)
            staged.merge()
        groups[0].merge_pending_commit()
        assert out.welcome is not None
        groups.append(c.join_group(out.welcome, config=config))
    return clients, groups


def hostile_welcome(key_package: bytes, group_info: bytes) -> bytes:
    """A Welcome to ``key_package`` whose GroupInfo plaintext is ``group_info`` (any bytes).

    No signature or group secret is needed to get this far: the joiner decrypts with its
    own init key a GroupSecrets the attacker chose, then decodes the GroupInfo and its
    tree before anything can be verified (the signer's key is in the tree)."""
    kp_msg: MLSMessage = tls.decode(key_package, MLSMessage)
    kp = kp_msg.key_package
    assert isinstance(kp, KeyPackage)
    cs = cipher_suite(int(kp.cipher_suite))
    joiner_secret = b"\x07" * cs.hash_len
    key, nonce = ks.welcome_key_nonce(cs, ks.welcome_secret(cs, joiner_secret, None))
    encrypted = cs.aead_seal(key, nonce, b"", group_info)
    secrets = GroupSecrets(joiner_secret=joiner_secret, path_secret=None, psks=())
    entry = encrypt_group_secrets(cs, kp, encrypted, secrets)
    welcome = Welcome(cipher_suite=kp.cipher_suite, secrets=(entry,), encrypted_group_info=encrypted)
    return tls.encode(MLSMessage(wire_format=WireFormat.mls_welcome, welcome=welcome), MLSMessage)


def _group_info_with_tree(group: Group, tree_data: bytes, signer: int = 0) -> bytes:
    msg: MLSMessage = tls.decode(group.group_info(ratchet_tree=True), MLSMessage)
    info = msg.group_info
    assert isinstance(info, GroupInfo)
    exts = tuple(e for e in info.extensions if e.extension_type != ExtensionType.ratchet_tree)
    ext = Extension(extension_type=ExtensionType.ratchet_tree, extension_data=tree_data)
    return tls.encode(msgspec.structs.replace(info, extensions=(*exts, ext), signer=signer), GroupInfo)


def test_welcome_whose_tree_claims_2_30_leaves_by_length_header() -> None:
    """The ratchet_tree vector header declares 2^30-1 bytes (room for 2^29 leaves) and 16
    follow: refused when the header is read, before anything is allocated for it."""
    _, (alice, _) = _group()
    joiner = Client.generate(b"joiner")
    tree = b"\xbf\xff\xff\xff" + bytes(16)
    welcome = hostile_welcome(joiner.key_package(), _group_info_with_tree(alice, tree))
    e = refused(lambda: joiner.join_group(welcome), DecodeError, "exceeds the 16 bytes left")
    assert "RatchetTree" in str(e)


def test_welcome_with_a_wide_tree_of_blank_leaves_is_refused_before_padding() -> None:
    """One byte per blank node: a 1 MiB tree declares 2^19 + 1 leaves (16 MiB, the
    default message limit, would declare 2^23). Decoding stops at the first node past
    the leaf limit, before the rest is read, the tree padded, hashed or validated."""
    _, (alice, _) = _group()
    joiner = Client.generate(b"joiner")
    leaf = tls.decode(alice.ratchet_tree(), "RatchetTree")[0]
    tree = tls.encode((None,) * (1 << 20) + (leaf,), "RatchetTree")
    welcome = hostile_welcome(joiner.key_package(), _group_info_with_tree(alice, tree))
    e = refused(
        lambda: joiner.join_group(welcome),
        ValidationError,
        "max_tree_leaves",
        megabytes=8 + 3 * len(welcome) / MB,  # the input, a copy or two of it
    )
    assert "more than 131071 nodes or elements, so more than 65536 leaves" in str(e)
    # The same tree given out of band, and a limit the operator lowered.
    small = GroupConfig(max_tree_leaves=2)
    three = tls.encode((leaf, None, leaf, None, leaf), "RatchetTree")
    with pytest.raises(ValidationError, match="more than 2 leaves"):
        RatchetTree.decode(1, three, max_leaves=small.max_tree_leaves)


def test_group_info_signer_at_leaf_2_30_is_refused() -> None:
    _, (alice, _) = _group()
    joiner = Client.generate(b"joiner")
    info = _group_info_with_tree(alice, alice.ratchet_tree(), signer=1 << 30)
    welcome = hostile_welcome(joiner.key_package(), info)
    refused(lambda: joiner.join_group(welcome), ValidationError, "signer is a member")


def test_unmerged_leaf_2_30_is_refused_by_tree_validation() -> None:
    _, (alice, _) = _group()
    nodes = list(tls.decode(alice.ratchet_tree(), "RatchetTree"))
    leaf_key = nodes[0].leaf_node.encryption_key
    nodes[1] = Node(
        node_type=NodeType.parent,
        parent_node=ParentNode(encryption_key=leaf_key[::-1], parent_hash=b"", unmerged_leaves=(1 << 30,)),
    )
    tree = RatchetTree.from_nodes(1, nodes)
    refused(
        lambda: validate_tree(tree, alice.group_id, tree.tree_hash()),
        ValidationError,
        "unmerged leaf 1073741824 is blank or not below",
    )


# --- vector length headers -------------------------------------------------------------------


_TLS_TOO_LONG = r"length 1073741823 exceeds the 8 bytes left"
_CBOR_TOO_LONG = r"^RatchetTree\[\d+\]: input ends early"


@pytest.mark.parametrize(
    ("data", "tp", "encoding", "match"),
    [
        # A Welcome (mls10, mls_welcome, suite 1) whose secrets vector claims 2^30-1 bytes.
        (
            bytes.fromhex("0001000300 01 bfffffff".replace(" ", "")) + bytes(8),
            "MLSMessage",
            "tls",
            r"^MLSMessage\.welcome\.secrets: " + _TLS_TOO_LONG,
        ),
        (b"\xbf\xff\xff\xff" + bytes(8), "RatchetTree", "tls", r"^RatchetTree: " + _TLS_TOO_LONG),
        # A KeyPackage (mls10, suite 1) whose init_key claims 2^30-1 bytes.
        (
            bytes.fromhex("00010001bfffffff") + bytes(8),
            "KeyPackage",
            "tls",
            r"^KeyPackage\.init_key: " + _TLS_TOO_LONG,
        ),
        # CBOR: a byte string whose head claims 2^30 bytes (more than TLS can carry), and
        # arrays claiming 2^30 and 2^62 nodes that hold a few blank ones: the claimed
        # count allocates nothing, the input simply ends.
        (
            b"\x5a\x40\x00\x00\x00" + bytes(8),
            "HPKEPublicKey",
            "cbor",
            r"^HPKEPublicKey: longer than 2\^30-1 bytes",
        ),
        (b"\x9a\x40\x00\x00\x00" + b"\xf6" * 8, "RatchetTree", "cbor", _CBOR_TOO_LONG),
        (b"\x9b" + (1 << 62).to_bytes(8, "big") + b"\xf6", "RatchetTree", "cbor", _CBOR_TOO_LONG),
    ],
    ids=["tls-Welcome.secrets", "tls-RatchetTree", "tls-KeyPackage", "cbor-bytes", "cbor-array", "cbor-array-2^62"],
)
def test_vector_length_header_of_2_30(data: bytes, tp: str, encoding: str, match: str) -> None:
    refused(lambda: mlswire.decode(data, tp, encoding=encoding), DecodeError, match)


def test_vector_length_limit_is_checked_at_the_header() -> None:
    _, (alice, _) = _group()
    kp = Client.generate(b"x").key_package()
    assert mlswire.decode(kp, "MLSMessage", limits=Limits()) == mlswire.decode(kp, "MLSMessage")
    with pytest.raises(DecodeError, match=r"signature: vector length 64 exceeds the limit of 63"):
        mlswire.decode(kp, "MLSMessage", limits=Limits(max_vector_length=63))
    # Element counts: a vector of 2^20 one-byte elements stops at the first past the limit.
    many = tls.encode((None,) * (1 << 20), "RatchetTree")
    refused(
        lambda: mlswire.decode(many, "RatchetTree", limits=Limits(max_vector_elements=1000)),
        DecodeError,
        r"RatchetTree\[1000\]: more than 1000 elements \(Limits.max_vector_elements\)",
        megabytes=1 + 2 * len(many) / MB,
    )
    # The engine applies its configured limit to every received message.
    _, (alice, bob) = _group()
    bob.config = GroupConfig(max_vector_length=63)
    with pytest.raises(DecodeError, match="Limits.max_vector_length"):
        bob.process(alice.encrypt(b"x" * 100))


def test_message_size_limit_is_checked_before_parsing() -> None:
    _, (alice, bob) = _group()
    bob.config = GroupConfig(max_message_size=200)
    before = bob.to_bytes()
    big = alice.encrypt(b"x" * 300)
    for encoding, data in (
        ("tls", big),
        ("json", mlswire.encode(mlswire.decode(big, "MLSMessage"), "json")),
    ):
        with pytest.raises(DecodeError, match="exceeds the limit of 200 bytes"):
            bob.process(data, encoding=encoding)
    assert bob.to_bytes() == before
    got = bob.process(alice.encrypt(b"small"))
    assert isinstance(got, ApplicationMessage) and got.data == b"small"
    with pytest.raises(DecodeError, match="Limits.max_message_size"):
        mlswire.decode(big, "MLSMessage", limits=Limits(max_message_size=200))
    joiner = Client.generate(b"j")
    out = alice.add_members([joiner.key_package()])
    assert out.welcome is not None
    with pytest.raises(DecodeError, match="max_message_size"):
        joiner.join_group(out.welcome, config=GroupConfig(max_message_size=100))


def test_cbor_shared_references_cannot_expand_while_parsing() -> None:
    """Found by review of the CBOR harness: tag 28/29 shared references let 18 KB of
    CBOR stand for 9 million integers (1.6 s, 100 MB before the fix); tag 25 string
    references likewise. Deterministic input has no tags, so every tag is refused as the
    parser meets it."""
    n = 3000
    parent = {"parent_hash": b"", "encryption_key": b"k", "unmerged_leaves": list(range(n))}
    node = {"node_type": "parent", "parent_node": parent}
    data = cbor2.dumps([node] * n, value_sharing=True)
    refused(lambda: mlswire.decode(data, "RatchetTree", encoding="cbor"), DecodeError, "no tags")
    strings = cbor2.dumps(cbor2.CBORTag(256, [b"x" * 60000] + [cbor2.CBORTag(25, 0)] * 20000))
    refused(lambda: mlswire.decode(strings, "RatchetTree", encoding="cbor"), DecodeError, "no tags")


# --- generations -----------------------------------------------------------------------------


def _jump(group: Group, generation: int) -> None:
    """Make ``group``'s next application message use ``generation`` (without deriving the
    generations before it: the receiver must refuse before it would derive them)."""
    st = group._state.secret_tree
    me = group.own_leaf_index
    st.next_send_key(me, RatchetType.APPLICATION)  # create the ratchet
    ratchet = st.ratchets[RatchetType.APPLICATION][me]
    st.ratchets[RatchetType.APPLICATION][me] = Ratchet(generation=generation, secret=ratchet.secret)


def test_private_message_100000_generations_ahead_is_refused() -> None:
    _, (alice, bob) = _group()
    _jump(alice, 100_000)
    message = alice.encrypt(b"from the future")
    before = bob.to_bytes()
    e = refused(lambda: bob.process(message), StateError, "too far ahead")
    assert "generation 100000" in str(e) and "at most 1000 ahead" in str(e)
    assert bob.to_bytes() == before


def test_out_of_order_window_keeps_memory_bounded() -> None:
    """Within the forward distance, skipped generations keep their keys only inside the
    out-of-order window; older ones are refused as too old."""
    config = GroupConfig(out_of_order_window=8, max_forward_distance=100)
    _, (alice, bob) = _group(config=config)
    messages = [alice.encrypt(b"%d" % i) for i in range(60)]
    got = bob.process(messages[-1])  # generation 59 first: 0..58 are skipped
    assert isinstance(got, ApplicationMessage)
    ratchet = bob._state.secret_tree.ratchets[RatchetType.APPLICATION][alice.own_leaf_index]
    assert sorted(ratchet.skipped) == list(range(50, 58 + 1))[-8:]
    assert bob.process(messages[55]).data == b"55"  # type: ignore[union-attr]
    with pytest.raises(StateError, match="too old"):
        bob.process(messages[10])
    _jump(alice, 60 + 101)
    with pytest.raises(StateError, match="at most 100 ahead"):
        bob.process(alice.encrypt(b"too far"))


# --- proposals and tree growth ---------------------------------------------------------------


def test_commit_with_more_proposals_than_the_limit_is_refused() -> None:
    config = GroupConfig(max_proposals=2)
    _, (alice, bob) = _group(config=GroupConfig())
    bob.config = config
    out = alice.add_members([Client.generate(f"n{i}".encode()).key_package() for i in range(3)])
    before = bob.to_bytes()
    with pytest.raises(ValidationError, match="3 proposals, at most 2"):
        bob.process(out.commit)
    assert bob.to_bytes() == before


def test_proposal_cache_is_bounded() -> None:
    _, (alice, bob) = _group()
    bob.config = GroupConfig(max_proposals=1)
    bob.process(alice.propose_update())
    before = bob.to_bytes()
    with pytest.raises(StateError, match="proposal cache is full"):
        bob.process(alice.propose_add(Client.generate(b"n").key_package()))
    assert bob.to_bytes() == before


def test_commit_growing_the_tree_past_the_limit_is_refused() -> None:
    _, (alice, bob) = _group()
    bob.config = GroupConfig(max_tree_leaves=3)
    out = alice.add_members([Client.generate(f"n{i}".encode()).key_package() for i in range(2)])
    before = bob.to_bytes()
    with pytest.raises(ValidationError, match="grows the tree to 4 leaves, at most 3"):
        bob.process(out.commit)
    assert bob.to_bytes() == before
    # At join, a real tree wider than the joiner's limit.
    joiner = Client.generate(b"j")
    alice.clear_pending_commit()
    out = alice.add_members([joiner.key_package()])
    assert out.welcome is not None
    with pytest.raises(ValidationError, match="max_tree_leaves"):
        joiner.join_group(out.welcome, config=GroupConfig(max_tree_leaves=2))


def test_limits_are_saved_with_the_group() -> None:
    config = GroupConfig(max_message_size=1 << 16, max_tree_leaves=64, max_proposals=10)
    clients, (alice, _) = _group(config=config)
    again = Group.from_bytes(alice.to_bytes(), clients[0])
    assert again.config == config
    assert again.config.limits == Limits(max_message_size=1 << 16, max_vector_length=config.max_vector_length)
    with pytest.raises(ValueError):
        GroupConfig(max_tree_leaves=0)
