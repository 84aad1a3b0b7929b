"""``tls-construct``: the RFC 9420 TLS encoding again, built on the construct library.

A second, independent implementation of mlswire's canonical encoding, derived from the
same schema (:mod:`mlswire.schema`) by :mod:`mlswire_construct._derive`. It produces the
same bytes and the same values as mlswire's compiled ``tls`` codec, which makes it a
differential check on that codec, and a worked example of an mlswire codec plugin
(see README.md). Once installed::

    mlswire.encode(value, encoding="tls-construct")
    mlswire.decode(data, "MLSMessage", encoding="tls-construct")
    mlswire convert --from tls --to tls-construct < message.bin
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Mapping
from typing import Any

import construct as cs

from mlswire.errors import DecodeError, EncodeError
from mlswire.schema.base import describe, lookup

from ._derive import Deriver, Field, as_construct_error

__all__ = ["ConstructTLS", "codec"]


def _where(name: str, e: Exception) -> str:
    """``Welcome.secrets[3].new_member``: the type's name, then the segments noted on
    the error from the outermost field in."""
    path = name
    for segment in reversed(e.__dict__.get("mls_path", [])):
        path += segment if segment.startswith("[") else f".{segment}"
    return path


def _reason(e: Exception, parsing: bool) -> str:
    # construct puts "Error in path (parsing) -> ..." before its own messages; the path
    # is reported apart, so keep the last line only.
    text = str(e).splitlines()[-1] if str(e) else type(e).__name__
    if parsing and isinstance(e, cs.StreamError):
        return f"input ends early: {text}"
    return text


class ConstructTLS:
    """The :class:`mlswire.codecs.Codec` interface over construct objects."""

    def __init__(self) -> None:
        self.deriver = Deriver()
        self.top: dict[Any, tuple[cs.Construct, str]] = {}
        # Deriving is done once per type, under this lock: two threads deriving the same
        # struct at once would otherwise see it half-made (Deriver.pending).
        self.lock = threading.RLock()

    def construct(self, tp: Any) -> cs.Construct:
        """The construct object for a schema type (a class or an RFC name): print it, or
        use it with construct's own ``parse``/``build`` (pass ``env={}``)."""
        return self._top(tp)[0]

    def _top(self, tp: Any) -> tuple[cs.Construct, str]:
        try:
            return self.top[tp]
        except (KeyError, TypeError):
            pass
        d = describe(lookup(tp))
        with self.lock:
            entry = (Field("", self.deriver.of(d)), d.name or d.rfc())
        with contextlib.suppress(TypeError):  # an unhashable annotation: derived each time
            self.top[tp] = entry
        return entry

    def decode(
        self,
        data: bytes | bytearray | memoryview,
        tp: Any,
        context: Mapping[str, Any] | None = None,
    ) -> Any:
        """Exactly one value of ``tp``; anything else raises :class:`mlswire.DecodeError`."""
        con, name = self._top(tp)
        buf = bytes(data)
        stream = io.BytesIO(buf)
        try:
            value = con.parse_stream(stream, env=dict(context or {}))
        except cs.ConstructError as e:
            offset = getattr(e, "mls_offset", None)
            offset = None if offset is None else min(offset, len(buf))
            raise DecodeError(_reason(e, True), _where(name, e), offset) from None
        end = stream.tell()
        if end != len(buf):
            raise DecodeError(f"{len(buf) - end} trailing bytes after the value", name, end)
        return value

    def encode(self, value: Any, tp: Any, context: Mapping[str, Any] | None = None) -> bytes:
        """The TLS encoding of ``value`` as ``tp``; raises :class:`mlswire.EncodeError`."""
        con, name = self._top(tp)
        try:
            return bytes(con.build(value, env=dict(context or {})))
        except (cs.ConstructError, TypeError, AttributeError, ValueError, OverflowError) as e:
            err = as_construct_error(e)
            path, reason = _where(name, err), _reason(err, False)
            out = EncodeError(f"{path}: {reason}")
            out.path = path  # type: ignore[attr-defined]
            out.reason = reason  # type: ignore[attr-defined]
            raise out from None


#: The object the ``mlswire.codecs`` entry point names.
codec = ConstructTLS()
