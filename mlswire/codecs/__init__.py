"""Interchangeable serializers over the schema, looked up by name.

``tls`` (RFC 9420, canonical), ``cbor`` and ``json`` are built in. Any installed
distribution can add one under the entry-point group ``mlswire.codecs``::

    [project.entry-points."mlswire.codecs"]
    myformat = "mypackage.mlscodec:codec"

The entry point names a module or object with the :class:`Codec` methods (a class is
instantiated without arguments). It is loaded the first time its name is used; the
built-in names cannot be taken over by a plugin.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, Protocol, cast

from ..limits import Limits
from ..schema.base import Struct, lookup
from . import tls


class Codec(Protocol):
    """What a serializer provides: exact decode of one value, and encode."""

    def decode(
        self,
        data: bytes | bytearray | memoryview,
        tp: Any,
        context: Mapping[str, Any] | None = None,
    ) -> Any: ...

    def encode(self, value: Any, tp: Any, context: Mapping[str, Any] | None = None) -> bytes: ...


ENTRY_POINT_GROUP = "mlswire.codecs"

_CODECS: dict[str, Codec] = {"tls": tls}
# Imported on first use, so that ``import mlswire`` stays as light as the TLS codec.
_BUILTIN_MODULES = {"cbor": "mlswire.codecs.cbor", "json": "mlswire.codecs.json"}


def register_codec(name: str, codec: Codec) -> None:
    """Make ``codec`` usable as ``encoding=name`` in this process."""
    if name in _BUILTIN_MODULES or name == "tls":
        raise ValueError(f"{name!r} is a built-in encoding")
    _CODECS[name] = codec


def _plugin(name: str) -> Codec | None:
    # importlib.metadata is imported here, not at the top: it drags zipfile, email and
    # csv into every ``import mlswire`` for the rare lookup of a third-party codec.
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP, name=name):
        try:
            obj = ep.load()
        except Exception as e:  # a broken plugin: say which, in the caller's error type
            raise ValueError(f"encoding {name!r}: plugin {ep.value!r} failed to load: {e}") from e
        codec = obj() if isinstance(obj, type) else obj
        if not (
            callable(getattr(codec, "encode", None)) and callable(getattr(codec, "decode", None))
        ):
            raise ValueError(f"encoding {name!r}: plugin {ep.value!r} has no encode/decode")
        return cast(Codec, codec)
    return None


def available() -> list[str]:
    """Every encoding name usable now: built-in, registered, and installed plugins."""
    names = set(_CODECS) | set(_BUILTIN_MODULES)
    from importlib.metadata import entry_points

    names.update(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    return sorted(names)


def get_codec(name: str) -> Codec:
    """The codec registered under ``name`` (``"tls"``, ``"cbor"``, ``"json"`` or a plugin)."""
    codec = _CODECS.get(name)
    if codec is not None:
        return codec
    if name in _BUILTIN_MODULES:
        codec = cast(Codec, importlib.import_module(_BUILTIN_MODULES[name]))
    else:
        # Entry points are looked up on every miss (not cached as absent), so a codec
        # installed while the process runs is found too.
        codec = _plugin(name)
        if codec is None:
            raise ValueError(f"unknown encoding {name!r}; known: {', '.join(available())}")
    _CODECS[name] = codec
    return codec


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
    *,
    limits: Limits | None = None,
) -> Any:
    """Parse exactly one value of ``type`` (a schema class or RFC name such as
    ``"MLSMessage"``); raises :class:`mlswire.DecodeError` on anything else.

    ``limits`` (:class:`mlswire.limits.Limits`): the input size is checked before any
    codec sees the input; TLS also checks each vector's length header and element count
    against ``max_vector_length`` and ``max_vector_elements``. (CBOR and JSON need no
    more: CBOR is read in one pass that never expands the input, JSON is parsed in C by
    orjson, both in work and memory bounded by the input size.)"""
    if limits is None:
        return get_codec(encoding).decode(data, type, context)
    limits.check_size(len(data), str(getattr(type, "__name__", type)))
    if encoding == "tls":
        return tls.decode(data, type, context, limits=limits)
    return get_codec(encoding).decode(data, type, context)


__all__ = [
    "ENTRY_POINT_GROUP",
    "Codec",
    "available",
    "decode",
    "encode",
    "get_codec",
    "lookup",
    "register_codec",
]
