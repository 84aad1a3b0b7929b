"""The application-message fast paths of issue 20 give the generic path's bytes: the
ratchet step and sender-data keys against ExpandWithLabel / DeriveTreeSecret, and the
hand-written encodings and decodings against the TLS codec, on random values."""

from __future__ import annotations

import random

import pytest

from mlswire.crypto import cipher_suite
from mlswire.crypto.labeled import derive_tree_secret, expand_with_label
from mlswire.engine.secret_tree import (
    RatchetType,
    SecretTree,
    apply_reuse_guard,
    sender_data_key_nonce,
)

SUITES = (1, 2, 3, 4, 5, 6, 7)


@pytest.mark.parametrize("suite", SUITES)
def test_sender_data_keys_are_expand_with_label(suite: int) -> None:
    cs = cipher_suite(suite)
    rnd = random.Random(suite)
    for length in (0, 1, cs.hash_len - 1, cs.hash_len, cs.hash_len + 1, 200):
        secret = rnd.randbytes(cs.hash_len)
        ciphertext = rnd.randbytes(length)
        sample = ciphertext[: cs.hash_len]
        assert sender_data_key_nonce(cs, secret, ciphertext) == (
            expand_with_label(cs, secret, "key", sample, cs.aead_key_len),
            expand_with_label(cs, secret, "nonce", sample, cs.aead_nonce_len),
        )


def _generic_ratchet(cs_id: int, secret: bytes, upto: int) -> list[tuple[bytes, bytes]]:
    cs = cipher_suite(cs_id)
    out = []
    for j in range(upto + 1):
        out.append(
            (
                derive_tree_secret(cs, secret, "key", j, cs.aead_key_len),
                derive_tree_secret(cs, secret, "nonce", j, cs.aead_nonce_len),
            )
        )
        secret = derive_tree_secret(cs, secret, "secret", j, cs.hash_len)
    return out


@pytest.mark.parametrize("suite", SUITES)
def test_ratchet_steps_are_derive_tree_secret(suite: int) -> None:
    cs = cipher_suite(suite)
    rnd = random.Random(100 + suite)
    root = rnd.randbytes(cs.hash_len)
    sender = SecretTree(cs, root, 5)
    receiver = SecretTree(cs, root, 5)
    leaf = 3
    # The leaf's application ratchet root, derived the generic way.
    probe = SecretTree(cs, root, 5)
    probe._ratchet_for_update(leaf, RatchetType.APPLICATION)
    start = probe.ratchets[RatchetType.APPLICATION][leaf].secret
    want = _generic_ratchet(suite, start, 40)
    # In order on the sender, with jumps (kept keys inside the window) on the receiver.
    for j in range(20):
        kn = sender.next_send_key(leaf, RatchetType.APPLICATION)
        assert (kn.generation, kn.key, kn.nonce) == (j, *want[j])
    for j in (5, 2, 3, 30, 29, 0, 40, 10):
        kn = receiver.consume_receive_key(leaf, RatchetType.APPLICATION, j)
        assert (kn.key, kn.nonce) == want[j]


def test_reuse_guard_is_an_xor_of_the_first_four_bytes() -> None:
    rnd = random.Random(7)
    for n in (4, 5, 12, 32):
        for _ in range(50):
            nonce, guard = rnd.randbytes(n), rnd.randbytes(4)
            want = bytes(a ^ b for a, b in zip(nonce[:4], guard, strict=True)) + nonce[4:]
            assert apply_reuse_guard(nonce, guard) == want


# --- framing: the hand-written encodings and decodings against the codec ----------------

from mlswire.codecs import tls  # noqa: E402
from mlswire.engine import framing  # noqa: E402
from mlswire.errors import DecodeError, MLSError  # noqa: E402
from mlswire.limits import Limits  # noqa: E402
from mlswire.schema import (  # noqa: E402
    ContentType,
    FramedContent,
    FramedContentAuthData,
    MLSMessage,
    PrivateMessage,
    PrivateMessageContent,
    Sender,
    SenderData,
    SenderType,
)


def _opaque(rnd: random.Random) -> bytes:
    # Lengths on both sides of each varint size boundary (1, 2 and 4 header bytes).
    return rnd.randbytes(rnd.choice((0, 1, 5, 63, 64, 100, 16383, 16384, 20000)))


def test_framed_content_bytes_are_the_codecs() -> None:
    rnd = random.Random(31)
    for _ in range(300):
        fc = FramedContent(
            group_id=_opaque(rnd),
            epoch=rnd.choice((0, 1, 2**32, 2**64 - 1, rnd.randrange(2**64))),
            sender=Sender(
                sender_type=SenderType.member,
                leaf_index=rnd.choice((0, 7, 2**32 - 1, rnd.randrange(2**32))),
            ),
            authenticated_data=_opaque(rnd),
            content_type=ContentType.application,
            application_data=_opaque(rnd),
        )
        assert framing._framed_content_bytes(fc) == tls.encode(fc, FramedContent)


def test_private_content_and_sender_data_bytes_are_the_codecs() -> None:
    rnd = random.Random(32)
    ctx = {
        "PrivateMessage.content_type": ContentType.application,
        "FramedContent.content_type": ContentType.application,
    }
    for _ in range(300):
        body = PrivateMessageContent(
            application_data=_opaque(rnd),
            auth=FramedContentAuthData(signature=_opaque(rnd)),
        )
        data = tls.encode(body, PrivateMessageContent, context=ctx)
        assert framing._private_content_bytes(body, ContentType.application) == data
        padded = data + bytes(rnd.choice((0, 1, 30)))
        want = tls.decode(padded, PrivateMessageContent, context=ctx)
        assert framing._application_body(padded) == (want.application_data, want.auth.signature)
        leaf, gen, guard = rnd.randrange(2**32), rnd.randrange(2**32), rnd.randbytes(4)
        sd = SenderData(leaf_index=leaf, generation=gen, reuse_guard=guard)
        raw = tls.encode(sd, SenderData)
        assert framing._sender_data_bytes(leaf, gen, guard) == raw
        assert framing._decode_sender_data(raw) == (leaf, gen, guard)


def _private_message(rnd: random.Random) -> PrivateMessage:
    return PrivateMessage(
        group_id=_opaque(rnd),
        epoch=rnd.randrange(2**64),
        content_type=rnd.choice(list(ContentType)),
        authenticated_data=_opaque(rnd),
        encrypted_sender_data=_opaque(rnd),
        ciphertext=_opaque(rnd),
    )


def _codec_decode(data: bytes, limits: Limits | None) -> MLSMessage | str:
    try:
        msg: MLSMessage = tls.decode(data, MLSMessage, limits=limits)
    except MLSError as e:
        return type(e).__name__
    return msg


def test_private_message_bytes_and_decoding_are_the_codecs() -> None:
    rnd = random.Random(33)
    limits = Limits()
    for _ in range(300):
        pm = _private_message(rnd)
        data = tls.encode(framing.to_mls_message(pm), MLSMessage)
        assert framing.private_message_bytes(pm) == data
        assert framing.decode_private_message(data) == tls.decode(data, MLSMessage)
        # Mutated and cut inputs: the fast path answers only where the codec decodes,
        # and then with the codec's value; everything else is left to the codec.
        for _ in range(10):
            bad = bytearray(data)
            if rnd.random() < 0.5:
                i = rnd.randrange(len(bad))
                bad[i] = rnd.randrange(256)
            else:
                del bad[rnd.randrange(len(bad)) :]
            for lim in (None, limits):
                fast = framing.decode_private_message(bytes(bad), lim)
                if fast is not None:
                    assert fast == _codec_decode(bytes(bad), lim)


def test_fast_decoding_leaves_limits_and_other_messages_to_the_codec() -> None:
    rnd = random.Random(34)
    pm = _private_message(rnd)
    data = framing.private_message_bytes(pm)
    tight = Limits(max_vector_length=10)
    assert framing.decode_private_message(data, tight) is None
    with pytest.raises(DecodeError):
        tls.decode(data, MLSMessage, limits=tight)
    assert framing.decode_private_message(b"\x00\x01\x00\x01" + data[4:]) is None
    assert framing.decode_private_message(data + b"\x00") is None
