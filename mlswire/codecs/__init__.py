"""Interchangeable serializers over the schema, looked up by name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from ..schema.base import lookup


class Codec(Protocol):
    """What a serializer provides: exact decode of one value, and encode."""

    def decode(self, data: bytes, tp: Any, context: Mapping[str, Any] | None = None) -> Any: ...

    def encode(self, value: Any, tp: Any, context: Mapping[str, Any] | None = None) -> bytes: ...


def get_codec(name: str) -> Codec:
    """The codec registered under ``name`` (``"tls"``)."""
    if name == "tls":
        from . import tls

        return tls
    raise ValueError(f"unknown encoding {name!r}; known: tls")


def encode(
    obj: Any, encoding: str = "tls", type: Any = None, context: Mapping[str, Any] | None = None
) -> bytes:
    """Serialize a schema value. ``type`` is needed only for values that are not structs
    (a ``RatchetTree`` tuple, an alias) and may be a class or an RFC name."""
    tp = lookup(type) if type is not None else builtin_type(obj)
    return get_codec(encoding).encode(obj, tp, context)


def decode(
    data: bytes | bytearray | memoryview,
    type: Any,
    encoding: str = "tls",
    context: Mapping[str, Any] | None = None,
) -> Any:
    """Parse exactly one value of ``type`` (a schema class or RFC name such as
    ``"MLSMessage"``); raises :class:`mlswire.DecodeError` on anything else."""
    return get_codec(encoding).decode(bytes(data), lookup(type), context)


def builtin_type(obj: Any) -> Any:
    from ..schema.base import Struct

    if isinstance(obj, Struct):
        return type(obj)
    raise TypeError(f"pass type= to encode a {type(obj).__name__}; only structs carry their type")
