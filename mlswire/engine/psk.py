"""Pre-shared keys (RFC 9420 §8.4, §12.1.4): PreSharedKeyIDs, their checks, and the
``psk_secret`` that injects them into the key schedule.

The engine never stores PSK values itself: whoever holds them (the application for
external PSKs, the group's epoch history for resumption PSKs) answers a
:data:`PskLookup`, and :func:`resolve_psks` turns a list of ids into the
``(id, value)`` pairs :func:`psk_secret` consumes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence

from ..codecs import tls
from ..crypto.labeled import Rng, expand_with_label
from ..crypto.suites import CipherSuite
from ..errors import StateError, ValidationError
from ..schema import PreSharedKeyID, PSKLabel, PSKType, ResumptionPSKUsage

PskLookup = Callable[[PreSharedKeyID], bytes | None]
"""Returns the PSK value an id refers to, or None when this client does not hold it."""

MAX_PSKS = 0xFFFF  # PSKLabel.index and .count are uint16


def fresh_psk_nonce(cs: CipherSuite, rng: Rng | None = None) -> bytes:
    """A new psk_nonce: KDF.Nh random bytes (§8.4: fresh for each injection)."""
    return (rng or os.urandom)(cs.hash_len)


def external_psk_id(psk_id: bytes, psk_nonce: bytes) -> PreSharedKeyID:
    """The PreSharedKeyID of an application-provided PSK."""
    return PreSharedKeyID(psktype=PSKType.external, psk_id=psk_id, psk_nonce=psk_nonce)


def resumption_psk_id(
    usage: ResumptionPSKUsage, group_id: bytes, epoch: int, psk_nonce: bytes
) -> PreSharedKeyID:
    """The PreSharedKeyID naming the ``resumption_psk`` of ``group_id`` at ``epoch``."""
    return PreSharedKeyID(
        psktype=PSKType.resumption,
        usage=usage,
        psk_group_id=group_id,
        psk_epoch=epoch,
        psk_nonce=psk_nonce,
    )


def resumed_group_psk(ids: Iterable[PreSharedKeyID]) -> PreSharedKeyID | None:
    """The resumption PSK with usage reinit or branch among ``ids``: it ties a new group
    to the old group it reinitializes or branches from (§11.2, §11.3)."""
    return next(
        (
            p
            for p in ids
            if p.psktype == PSKType.resumption
            and p.usage in (ResumptionPSKUsage.reinit, ResumptionPSKUsage.branch)
        ),
        None,
    )


def _referenced(psk: PreSharedKeyID) -> tuple[object, ...]:
    """What a PreSharedKeyID points at, without its nonce.

    The nonce is fresh for every injection by construction, so comparing whole ids
    would never find the duplicate §12.2 forbids: two proposals injecting one PSK."""
    if psk.psktype == PSKType.external:
        return (PSKType.external, psk.psk_id)
    return (psk.psktype, psk.usage, psk.psk_group_id, psk.psk_epoch)


def check_psk_ids(
    cs: CipherSuite,
    ids: Iterable[PreSharedKeyID],
    *,
    allowed_usages: Iterable[ResumptionPSKUsage] = (ResumptionPSKUsage.application,),
) -> None:
    """The rules a list of PSKs (of a Commit, or of a GroupSecrets) must satisfy.

    * §12.1.4: each ``psk_nonce`` has length KDF.Nh;
    * §12.1.4: resumption PSKs with usage ``reinit``/``branch`` only where the caller
      says it processes a reinitialization or branch (``allowed_usages``), and (§12.4.3.1)
      then as the only such PSK;
    * §12.2: no PSK is referenced twice.

    Raises :class:`ValidationError` naming the rule and the position in the list.
    """
    allowed = set(allowed_usages)
    seen: set[tuple[object, ...]] = set()
    special = 0
    for i, psk in enumerate(ids):
        where = f"psks[{i}]"
        if psk.psktype not in (PSKType.external, PSKType.resumption):
            raise ValidationError(
                "RFC 9420 §8.4: psktype is external or resumption", repr(psk.psktype), where
            )
        if len(psk.psk_nonce) != cs.hash_len:
            raise ValidationError(
                "RFC 9420 §12.1.4: psk_nonce must have length KDF.Nh",
                f"{len(psk.psk_nonce)} bytes, expected {cs.hash_len}",
                where,
            )
        if psk.psktype == PSKType.resumption:
            usage = psk.usage
            if usage is None or usage == ResumptionPSKUsage.reserved:
                raise ValidationError(
                    "RFC 9420 §8.4: resumption PSK has a usage", repr(usage), where
                )
            if usage != ResumptionPSKUsage.application:
                if usage not in allowed:
                    raise ValidationError(
                        "RFC 9420 §12.1.4: resumption PSK with usage reinit/branch only "
                        "while reinitializing/branching",
                        f"usage {usage.name}",
                        where,
                    )
                special += 1
                if special > 1:
                    raise ValidationError(
                        "RFC 9420 §12.4.3.1: at most one resumption PSK with usage "
                        "reinit or branch",
                        where=where,
                    )
        key = _referenced(psk)
        if key in seen:
            raise ValidationError(
                "RFC 9420 §12.2: the same PreSharedKeyID must not be proposed twice",
                where=where,
            )
        seen.add(key)


def resolve_psks(
    ids: Sequence[PreSharedKeyID], lookup: PskLookup | None
) -> list[tuple[PreSharedKeyID, bytes]]:
    """Pair every id with its value; StateError naming the first PSK not held (§12.4.3.1
    and §12.4.2: a client without the PSK cannot process the message)."""
    pairs: list[tuple[PreSharedKeyID, bytes]] = []
    for i, psk in enumerate(ids):
        value = lookup(psk) if lookup is not None else None
        if value is None:
            if psk.psktype == PSKType.external:
                what = f"external PSK {(psk.psk_id or b'').hex()}"
            else:
                what = (
                    f"resumption PSK of group {(psk.psk_group_id or b'').hex()} "
                    f"epoch {psk.psk_epoch}"
                )
            raise StateError(f"psks[{i}]: {what} is not available to this client")
        pairs.append((psk, value))
    return pairs


def psk_secret(cs: CipherSuite, psks: Sequence[tuple[PreSharedKeyID, bytes]]) -> bytes:
    """``psk_secret`` of §8.4 for the PSKs in the order they are injected.

    With no PSKs this is the all-zero vector of KDF.Nh bytes, the value the key
    schedule uses for "no PSK"."""
    count = len(psks)
    if count > MAX_PSKS:
        raise ValidationError("RFC 9420 §8.4: PSKLabel.count is a uint16", f"{count} PSKs", "psks")
    zero = bytes(cs.hash_len)
    secret = zero
    for index, (psk_id, psk) in enumerate(psks):
        label = tls.encode(PSKLabel(id=psk_id, index=index, count=count), PSKLabel)
        extracted = cs.kdf_extract(zero, psk)
        psk_input = expand_with_label(cs, extracted, "derived psk", label, cs.hash_len)
        secret = cs.kdf_extract(psk_input, secret)
    return secret


__all__ = [
    "MAX_PSKS",
    "PskLookup",
    "check_psk_ids",
    "external_psk_id",
    "fresh_psk_nonce",
    "psk_secret",
    "resolve_psks",
    "resumption_psk_id",
]
