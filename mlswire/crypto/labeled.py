"""The labeled operations of RFC 9420 §5 (and ExpandWithLabel/DeriveSecret of §8).

Every label gets the ``"MLS 1.0 "`` prefix here, once; the structures that carry labels
and contexts (KDFLabel, SignContent, EncryptContext, RefHashInput) are encoded by the
schema's TLS codec like every other struct.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Set
from contextlib import contextmanager
from contextvars import ContextVar

from ..codecs import tls
from ..schema import EncryptContext, KDFLabel, RefHashInput, SignContent
from .suites import CipherSuite

Rng = Callable[[int], bytes]

PREFIX = b"MLS 1.0 "


def _label(label: str | bytes) -> bytes:
    return PREFIX + (label.encode() if isinstance(label, str) else label)


# The encoded head of a KDFLabel (uint16 length, then the prefixed label as an
# opaque<V>) per (label, length), and of a SignContent (the label) per label: the hot
# paths (a message's ratchet and sender-data keys, every signature) use a handful of
# labels, so each head is encoded once and the varying context appended to it. The
# bytes are the codec's own (tests compare them); caller-chosen labels (exporter) can
# be arbitrary, so the memo stops growing at _MEMO_LIMIT entries.
_MEMO_LIMIT = 256
_kdf_heads: dict[tuple[str | bytes, int], bytes] = {}
_sign_heads: dict[str | bytes, bytes] = {}


def _kdf_head(label: str | bytes, length: int) -> bytes:
    head = _kdf_heads.get((label, length))
    if head is None:
        # Encoded with an empty context, whose opaque<V> is the one byte 0x00.
        head = tls.encode(KDFLabel(length=length, label=_label(label), context=b""), KDFLabel)
        head = head[:-1]
        if len(_kdf_heads) < _MEMO_LIMIT:
            _kdf_heads[(label, length)] = head
    return head


def kdf_label(label: str | bytes, context: bytes, length: int) -> bytes:
    """The encoded KDFLabel (RFC 9420 §5.1), ``info`` of ExpandWithLabel."""
    return _kdf_head(label, length) + tls.write_length(len(context)) + context


def expand_with_label(
    cs: CipherSuite, secret: bytes, label: str | bytes, context: bytes, length: int
) -> bytes:
    return cs.kdf_expand(secret, kdf_label(label, context, length), length)


def derive_secret(cs: CipherSuite, secret: bytes, label: str | bytes) -> bytes:
    return expand_with_label(cs, secret, label, b"", cs.hash_len)


def derive_tree_secret(
    cs: CipherSuite, secret: bytes, label: str | bytes, generation: int, length: int
) -> bytes:
    return expand_with_label(cs, secret, label, generation.to_bytes(4, "big"), length)


def sign_content(label: str | bytes, content: bytes) -> bytes:
    """The encoded SignContent (RFC 9420 §5.1.2) that SignWithLabel signs."""
    head = _sign_heads.get(label)
    if head is None:
        head = tls.encode(SignContent(label=_label(label), content=b""), SignContent)[:-1]
        if len(_sign_heads) < _MEMO_LIMIT:
            _sign_heads[label] = head
    return head + tls.write_length(len(content)) + content


def sign_with_label(
    cs: CipherSuite, sign_key: bytes, label: str | bytes, content: bytes, rng: Rng | None = None
) -> bytes:
    return cs.sign(sign_key, sign_content(label, content), rng=rng)


#: (key, SignContent bytes, signature) triples already verified in this context (the
#: engine checks many independent signatures on a thread pool first, see
#: ``engine/parallel.py``, then runs its checks in their usual order; those find the
#: verified ones here). Only successes are recorded: a failing signature is verified
#: again where the serial order reaches it, so the error is the serial one.
_verified: ContextVar[Set[tuple[bytes, bytes, bytes]]] = ContextVar(
    "mlswire_verified", default=frozenset()
)


@contextmanager
def verified_signatures(triples: Set[tuple[bytes, bytes, bytes]]) -> Iterator[None]:
    """Within the block, :func:`verify_with_label` accepts these triples without
    verifying them again."""
    token = _verified.set(triples)
    try:
        yield
    finally:
        _verified.reset(token)


def verify_with_label(
    cs: CipherSuite, verify_key: bytes, label: str | bytes, content: bytes, signature: bytes
) -> None:
    """Raises :class:`mlswire.CryptoError` when the signature does not verify."""
    tbs = sign_content(label, content)
    if (verify_key, tbs, signature) in _verified.get():
        return
    cs.verify(verify_key, tbs, signature)


def _encrypt_context(label: str | bytes, context: bytes) -> bytes:
    return tls.encode(EncryptContext(label=_label(label), context=context), EncryptContext)


def encrypt_with_label(
    cs: CipherSuite,
    public_key: bytes,
    label: str | bytes,
    context: bytes,
    plaintext: bytes,
    rng: Rng | None = None,
) -> tuple[bytes, bytes]:
    """HPKE base-mode seal; returns ``(kem_output, ciphertext)``."""
    return cs.hpke_seal(public_key, _encrypt_context(label, context), b"", plaintext, rng=rng)


class LabeledEncryptor:
    """EncryptWithLabel(., label, context, .) to several public keys under one label and
    context (a Welcome: one seal per new member under the encrypted GroupInfo).

    The EncryptContext is encoded and its HPKE key-schedule hash computed once, here,
    so each :meth:`encrypt` costs the same however long ``context`` is; the result is
    what :func:`encrypt_with_label` gives for each key.
    """

    __slots__ = ("_cs", "_info")

    def __init__(self, cs: CipherSuite, label: str | bytes, context: bytes) -> None:
        self._cs = cs
        self._info = cs.hpke_info(_encrypt_context(label, context))

    def encrypt(
        self, public_key: bytes, plaintext: bytes, rng: Rng | None = None
    ) -> tuple[bytes, bytes]:
        """HPKE base-mode seal to ``public_key``; returns ``(kem_output, ciphertext)``."""
        return self._cs.hpke_seal(public_key, self._info, b"", plaintext, rng=rng)


def decrypt_with_label(
    cs: CipherSuite,
    private_key: bytes,
    label: str | bytes,
    context: bytes,
    kem_output: bytes,
    ciphertext: bytes,
) -> bytes:
    return cs.hpke_open(private_key, kem_output, _encrypt_context(label, context), b"", ciphertext)


def ref_hash(cs: CipherSuite, label: str | bytes, value: bytes) -> bytes:
    """RefHash: the label is used as given (callers pass the full ``"MLS 1.0 ..."``)."""
    raw = label.encode() if isinstance(label, str) else label
    return cs.hash(tls.encode(RefHashInput(label=raw, value=value), RefHashInput))


def make_key_package_ref(cs: CipherSuite, key_package: bytes) -> bytes:
    """KeyPackageRef of the TLS-encoded KeyPackage."""
    return ref_hash(cs, b"MLS 1.0 KeyPackage Reference", key_package)


def make_proposal_ref(cs: CipherSuite, authenticated_content: bytes) -> bytes:
    """ProposalRef of the TLS-encoded AuthenticatedContent carrying the proposal."""
    return ref_hash(cs, b"MLS 1.0 Proposal Reference", authenticated_content)
