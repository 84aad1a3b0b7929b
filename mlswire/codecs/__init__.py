"""Interchangeable serializers over the schema, looked up by name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from ..schema.base import Struct, lookup
from . import tls


class Codec(Protocol):
    """What a serializer provides: exact decode of one value, and encode."""

    def decode(
        self, data: bytes | bytearray | memoryview, tp: Any, context: Mapping[str, Any] | None = None
    ) -> Any: ...

    def encode(self, value: Any, tp: Any, context: Mapping[str, Any] | None = None) -> bytes: ...


_CODECS: dict[str, Codec] = {"tls": tls}


def get_codec(name: str) -> Codec:
    """The codec registered under ``name`` (``"tls"``)."""
    try:
        return _CODECS[name]
    except KeyError:
        raise ValueError(f"unknown encoding {name!r}; known: {', '.join(sorted(_CODECS))}") from None


def encode(
    obj: Any,
    encoding: str = "tls",
    type: Any = None,
    context: Mapping[str, Any] | None = None,
) -> bytes:
    """Serialize a schema value. ``type`` is needed only for values that are not structs
    (a ``RatchetTree`` tuple, an alias) and may be a class or an RFC name."""
    if type is None:
        if not isinstance(obj, Struct):
            raise TypeError(
                f"pass type= to encode a {obj.__class__.__name__}; only structs carry their type"
            )
        type = obj.__class__
    return get_codec(encoding).encode(obj, type, context)


def decode(
    data: bytes | bytearray | memoryview,
    type: Any,
    encoding: str = "tls",
    context: Mapping[str, Any] | None = None,
) -> Any:
    """Parse exactly one value of ``type`` (a schema class or RFC name such as
    ``"MLSMessage"``); raises :class:`mlswire.DecodeError` on anything else."""
    return get_codec(encoding).decode(data, type, context)


__all__ = ["Codec", "decode", "encode", "get_codec", "lookup"]
