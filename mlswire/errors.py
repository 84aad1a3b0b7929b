"""The one exception hierarchy of mlswire.

Every decoder and message handler raises a subclass of :class:`MLSError`; bad input
never surfaces as an ``IndexError``, ``KeyError`` or ``struct.error``.
"""

from __future__ import annotations


class MLSError(Exception):
    """Base class of every error mlswire raises on purpose."""


class DecodeError(MLSError):
    """Bytes (or a CBOR/JSON document) that do not decode as the expected type.

    ``path`` is the field path from the top-level type (``Welcome.secrets[3].new_member``)
    and ``offset`` the byte offset in the input where the problem was found.
    """

    def __init__(self, reason: str, path: str = "", offset: int | None = None) -> None:
        self.reason = reason
        self.path = path
        self.offset = offset
        where = f"{path}: " if path else ""
        at = f" (offset {offset})" if offset is not None else ""
        super().__init__(f"{where}{reason}{at}")


class EncodeError(MLSError):
    """A value that cannot be encoded as its declared type (wrong type, out of range)."""


class ValidationError(MLSError):
    """Well-formed input that breaks a rule of RFC 9420.

    ``rule`` names the rule (usually an RFC section and a short description) and
    ``where`` the leaf, node or proposal concerned.
    """

    def __init__(self, rule: str, detail: str = "", where: str = "") -> None:
        self.rule = rule
        self.detail = detail
        self.where = where
        text = rule
        if where:
            text += f" at {where}"
        if detail:
            text += f": {detail}"
        super().__init__(text)


class CryptoError(MLSError):
    """A cryptographic operation failed: bad tag, bad signature, bad key."""


class UnsupportedCipherSuite(CryptoError):
    """A cipher suite id that mlswire does not implement."""

    def __init__(self, suite: int) -> None:
        self.suite = suite
        super().__init__(f"unsupported cipher suite 0x{suite:04x} ({suite})")


class StateError(MLSError):
    """An operation that the current group or key state does not allow
    (wrong epoch, a key already consumed, a generation too old or too far ahead).

    Two subclasses say whose it is (as h11's local/remote protocol errors do):
    :class:`UsageError` for the caller's mistake, :class:`StaleMessageError` for a valid
    message this member cannot use now. A plain ``StateError`` is neither (e.g. a full
    proposal cache, or a stored state that belongs to another client).
    """


class UsageError(StateError):
    """The caller used the API in a way the group's state does not allow: committing
    while a commit of ours is pending, sending in a group we were removed from, merging
    a staged commit of an older epoch. A bug in the application, never the peer's."""


class StaleMessageError(StateError):
    """A valid message this member can no longer use (an epoch too old, a key already
    consumed) or cannot use yet (an epoch from the future, a generation beyond the
    window). The application drops it, or buffers a future one."""


__all__ = [
    "CryptoError",
    "DecodeError",
    "EncodeError",
    "MLSError",
    "StaleMessageError",
    "StateError",
    "UnsupportedCipherSuite",
    "UsageError",
    "ValidationError",
]
