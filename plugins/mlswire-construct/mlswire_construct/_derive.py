"""mlswire's schema -> construct objects, generically: one rule per kind of descriptor
(:class:`mlswire.schema.base.Type`), never one per struct.

The TLS presentation language of RFC 9420 §2.1 maps onto construct like this:

==================  ===================================================================
schema kind         construct
==================  ===================================================================
uint                ``Int8ub`` / ``Int16ub`` / ``Int32ub`` / ``Int64ub``
enum                :class:`EnumValue` (an ``Adapter`` over the integer)
opaque ``<V>``      ``Prefixed(Length(), Blob(GreedyBytes))``
vector ``<V>``      ``Prefixed(Length(), Elements(element))``
fixed ``[n]``       ``Blob(Bytes(n))``
padding             :class:`ZeroPadding` over ``GreedyBytes``
optional<T>         :class:`Optional`: a presence byte (0 or 1), then ``If(present, T)``
struct              :class:`Record`: an ``Adapter`` from ``Struct`` to the schema class
select arm          ``If(condition, Required(T))``
==================  ===================================================================

A ``select`` whose discriminant lives in another struct (``FramedContent.content_type``
seen from FramedContentAuthData) reads it from ``env``, a dict passed to
``parse``/``build`` as a context keyword: the struct that owns the discriminant writes
it there (:class:`Publish`) when it is coded, and a caller may seed it.

Errors: every failure is a ``construct.ConstructError``; :class:`Field` (each struct
member) and :class:`Elements` (each vector element) note on it the field path and the
offset where the innermost failing field starts, so the codec can report them the way
mlswire's own codec does.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any, ClassVar

import construct as cs

from mlswire.schema.base import Field as SchemaField
from mlswire.schema.base import OpenEnum, Type, describe, registered

MAX_LENGTH = (1 << 30) - 1  # the largest length a §2.1.2 header can carry
UINTS: dict[int, cs.Construct] = {1: cs.Int8ub, 2: cs.Int16ub, 4: cs.Int32ub, 8: cs.Int64ub}
#: The errors a builder meets on a value of the wrong shape (``len(None)``, a missing
#: attribute, ``int("x")``): reported like construct's own.
VALUE_ERRORS = (TypeError, AttributeError, ValueError, OverflowError, KeyError, IndexError)


class TLSError(cs.ConstructError):  # type: ignore[misc]
    """A rule of the TLS presentation language is broken; ``offset``, when given, is
    where in the input."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.mls_offset = offset


def mark(e: Exception, segment: str, offset: int | None) -> None:
    """Note one more (outer) field path segment on ``e``, and the offset of the innermost
    field, the first time one is known."""
    segments: list[str] = e.__dict__.setdefault("mls_path", [])
    if segment:  # (the top-level value has no name of its own)
        segments.append(segment)
    if getattr(e, "mls_offset", None) is None:
        e.mls_offset = offset  # type: ignore[attr-defined]


def as_construct_error(e: Exception) -> cs.ConstructError:
    """A builder's TypeError (and the like) as a ConstructError, keeping its message."""
    if isinstance(e, cs.ConstructError):
        return e
    err = TLSError(f"{type(e).__name__}: {e}")
    err.__cause__ = e
    return err


# -- primitives ------------------------------------------------------------------------


class Length(cs.Construct):  # type: ignore[misc]
    """RFC 9420 §2.1.2 variable-length integer: the two top bits of the first byte give
    the size (00: 1 byte, 01: 2, 10: 4; 11 is reserved), the rest is the value. A value
    must use the shortest form that holds it."""

    SHORTEST: ClassVar[dict[int, int]] = {
        2: 0x40,
        4: 0x4000,
    }  # the smallest value each longer form may carry

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> int:
        at = cs.stream_tell(stream, path)
        first: int = cs.stream_read(stream, 1, path)[0]
        prefix = first >> 6
        if prefix == 3:
            raise TLSError("length header uses the reserved 0b11 prefix", at)
        size = 1 << prefix
        value = first & 0x3F
        if size > 1:
            rest = cs.stream_read(stream, size - 1, path)
            value = int.from_bytes(bytes([value]) + bytes(rest), "big")
            if value < self.SHORTEST[size]:
                raise TLSError("length header is not minimally encoded", at)
        return value

    def _build(self, obj: int, stream: io.BytesIO, context: Any, path: str) -> int:
        if obj < 0x40:
            data = bytes([obj])
        elif obj < 0x4000:
            data = (obj | 0x4000).to_bytes(2, "big")
        elif obj <= MAX_LENGTH:
            data = (obj | 0x80000000).to_bytes(4, "big")
        else:
            raise TLSError(f"length {obj} exceeds the maximum of 2^30-1")
        cs.stream_write(stream, data, len(data), path)
        return obj

    def _sizeof(self, context: Any, path: str) -> int:
        raise cs.SizeofError("a variable-length header has no fixed size", path=path)


class Elements(cs.Subconstruct):  # type: ignore[misc]
    """The elements of a ``T x<V>`` vector: as many as fill the (prefixed) stream, each
    one whole. Parses to a tuple, as the schema's values hold vectors."""

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> tuple[Any, ...]:
        end = cs.stream_size(stream)
        items: list[Any] = []
        at = cs.stream_tell(stream, path)
        while at < end:
            try:
                items.append(self.subcon._parsereport(stream, context, path))
            except cs.StreamError as e:
                # The vector's own bytes are a stream of their own (Prefixed), so a read
                # that falls short here ran past the vector's end, not the input's.
                err = TLSError("an element runs past the end of the vector")
                err.__dict__.update(e.__dict__)
                mark(err, f"[{len(items)}]", at)
                raise err from None
            except cs.ConstructError as e:
                mark(e, f"[{len(items)}]", at)
                raise
            at = cs.stream_tell(stream, path)
        return tuple(items)

    def _build(self, obj: Any, stream: io.BytesIO, context: Any, path: str) -> Any:
        for i, item in enumerate(obj):
            try:
                self.subcon._build(item, stream, context, path)
            except (cs.ConstructError, *VALUE_ERRORS) as e:
                err = as_construct_error(e)
                mark(err, f"[{i}]", None)
                raise err from None
        return obj

    def _sizeof(self, context: Any, path: str) -> int:
        raise cs.SizeofError("a vector has no fixed size", path=path)


class EnumValue(cs.Adapter):  # type: ignore[misc]
    """An RFC 9420 enum over its integer. Closed enums refuse values they do not name;
    registry enums (:class:`mlswire.schema.base.OpenEnum`) keep any value of their width."""

    def __init__(self, cls: Any) -> None:
        super().__init__(UINTS[cls.__wire_size__])
        self.cls = cls
        self.members = {int(m): m for m in cls}
        self.open = issubclass(cls, OpenEnum)

    def _decode(self, obj: int, context: Any, path: str) -> Any:
        member = self.members.get(obj)
        if member is not None:
            return member
        if not self.open:
            raise TLSError(f"unknown {self.cls.__name__} value {obj}")
        return self.cls(obj)

    def _encode(self, obj: Any, context: Any, path: str) -> Any:
        if not self.open and obj not in self.members:
            raise TLSError(f"{obj!r} is not a {self.cls.__name__}")
        return obj


class Blob(cs.Adapter):  # type: ignore[misc]
    """Byte strings (opaque, fixed, padding): built from bytes-like values only.
    construct's ``Bytes(n)`` alone would also build an int (as n big-endian bytes) and
    refuse a memoryview; mlswire's codecs take exactly bytes, bytearray and memoryview."""

    def _decode(self, obj: bytes, context: Any, path: str) -> bytes:
        return obj

    def _encode(self, obj: Any, context: Any, path: str) -> bytes:
        if not isinstance(obj, bytes | bytearray | memoryview):
            raise TLSError(f"expected bytes, not {type(obj).__name__}")
        return bytes(obj)


class ZeroPadding(Blob):
    """``opaque padding[length_of_padding]`` (§6.3.1): every byte up to the end is zero."""

    def _decode(self, obj: bytes, context: Any, path: str) -> bytes:
        if obj.strip(b"\x00"):
            raise TLSError("padding must be all zero bytes")
        return obj

    def _encode(self, obj: Any, context: Any, path: str) -> bytes:
        return self._decode(super()._encode(obj, context, path), context, path)


class Presence(cs.Adapter):  # type: ignore[misc]
    """The presence byte of ``optional<T>`` (§2.1.1): 0 (absent) or 1 (present)."""

    def _decode(self, obj: int, context: Any, path: str) -> int:
        if obj not in (0, 1):
            raise TLSError(f"optional presence byte is {obj}, not 0 or 1")
        return obj

    def _encode(self, obj: int, context: Any, path: str) -> int:
        return obj


class Optional(cs.Adapter):  # type: ignore[misc]
    """``optional<T>``: a presence byte, then the value if present; ``None`` when absent."""

    def __init__(self, elem: cs.Construct) -> None:
        super().__init__(
            cs.Struct(
                "present" / Presence(cs.Int8ub),
                "value" / cs.If(lambda ctx: ctx["present"] == 1, elem),
            )
        )

    def _decode(self, obj: Any, context: Any, path: str) -> Any:
        return obj["value"]

    def _encode(self, obj: Any, context: Any, path: str) -> dict[str, Any]:
        return {"present": 0 if obj is None else 1, "value": obj}


# -- structs and selects ------------------------------------------------------------------


class Field(cs.Subconstruct):  # type: ignore[misc]
    """One struct member (the ``name / subcon`` of construct, plus error locations); with
    the name ``""``, the top-level value."""

    def __init__(self, name: str, subcon: cs.Construct) -> None:
        super().__init__(subcon)
        self.name = name

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> Any:
        at = cs.stream_tell(stream, path)
        try:
            return self.subcon._parsereport(stream, context, path)
        except cs.ConstructError as e:
            mark(e, self.name, at)
            raise

    def _build(self, obj: Any, stream: io.BytesIO, context: Any, path: str) -> Any:
        try:
            return self.subcon._build(obj, stream, context, path)
        except (cs.ConstructError, *VALUE_ERRORS) as e:
            err = as_construct_error(e)
            mark(err, self.name, None)
            raise err from None


class Required(cs.Subconstruct):  # type: ignore[misc]
    """The field of a select arm that is taken: building it from ``None`` is an error."""

    def _build(self, obj: Any, stream: io.BytesIO, context: Any, path: str) -> Any:
        if obj is None:
            raise TLSError("this select arm requires the field")
        return self.subcon._build(obj, stream, context, path)


class Publish(cs.Construct):  # type: ignore[misc]
    """Zero bytes: puts this struct's ``field`` in ``env[key]``, where selects of other
    structs (``FramedContentAuthData.confirmation_tag``) find their discriminant."""

    def __init__(self, key: str, field: str) -> None:
        super().__init__()
        self.key, self.field = key, field
        self.flagbuildnone = True

    def _parse(self, stream: io.BytesIO, context: Any, path: str) -> None:
        env_of(context)[self.key] = context[self.field]

    def _build(self, obj: Any, stream: io.BytesIO, context: Any, path: str) -> None:
        env_of(context)[self.key] = context[self.field]

    def _sizeof(self, context: Any, path: str) -> int:
        return 0


class Record(cs.Adapter):  # type: ignore[misc]
    """A schema struct: construct's ``Struct`` of its fields, decoded to the schema class
    and encoded from any object with the fields as attributes."""

    def __init__(self, d: Type, members: list[cs.Construct]) -> None:
        super().__init__(cs.Struct(*members))
        self.cls = d.cls
        self.names = [f.name for f in d.fields]

    def _decode(self, obj: Any, context: Any, path: str) -> Any:
        return self.cls(**{name: obj[name] for name in self.names})

    def _encode(self, obj: Any, context: Any, path: str) -> dict[str, Any]:
        return {name: getattr(obj, name) for name in self.names}


def env_of(context: Any) -> dict[str, Any]:
    """The discriminants dict of this parse or build (``env=`` of parse/build), created
    empty for callers that use a construct directly without one."""
    env: dict[str, Any] = context["_params"].setdefault("env", {})
    return env


def external_discriminants() -> set[str]:
    """``Struct.field`` discriminants that a select of *another* struct refers to."""
    keys: set[str] = set()
    for tp in registered().values():
        d = describe(tp)
        if d.kind != "struct":
            continue
        for f in d.fields:
            if f.case is not None and f.case.on.split(".")[0] != d.name:
                keys.add(f.case.on)
    return keys


def condition(d: Type, f: SchemaField) -> Callable[[Any], bool]:
    """Whether field ``f``'s select arm is taken, as a construct context function."""
    assert f.case is not None
    case = f.case
    owner, *attrs = case.on.split(".")
    if case.otherwise:  # the arm for every value that no other arm names
        named = {v for g in d.fields if g.case and g.case.on == case.on for v in g.case.values}

        def test(value: Any) -> bool:
            return value not in named

    else:
        arms = frozenset(case.values)

        def test(value: Any) -> bool:
            return value in arms

    if owner != d.name:  # another struct's field: from env

        def external(ctx: Any) -> bool:
            env = env_of(ctx)
            if case.on not in env:
                raise TLSError(
                    f"needs the value of {case.on} from the enclosing message (pass it in context)"
                )
            return test(env[case.on])

        return external

    first, rest = attrs[0], attrs[1:]

    def internal(ctx: Any) -> bool:
        value = ctx[first]
        for a in rest:
            value = getattr(value, a)
        return test(value)

    return internal


class Deriver:
    """Builds (and caches) the construct of any schema type."""

    def __init__(self) -> None:
        self.records: dict[str, cs.Construct] = {}
        self.pending: set[str] = set()
        self._external: tuple[int, set[str]] = (-1, set())

    @property
    def external(self) -> set[str]:
        n = len(registered())  # recomputed when more types have been registered since
        if self._external[0] != n:
            self._external = (n, external_discriminants())
        return self._external[1]

    def of(self, t: Type) -> cs.Construct:
        k = t.kind
        if k == "uint":
            return UINTS[t.size]
        if k == "enum":
            return EnumValue(t.cls)
        if k == "opaque":
            return cs.Prefixed(Length(), Blob(cs.GreedyBytes))
        if k == "vector":
            assert t.elem is not None
            return cs.Prefixed(Length(), Elements(self.of(t.elem)))
        if k == "fixed":
            return Blob(cs.Bytes(t.size))
        if k == "padding":
            return ZeroPadding(cs.GreedyBytes)
        if k == "optional":
            assert t.elem is not None
            return Optional(self.of(t.elem))
        if k == "struct":
            return self.record(t)
        raise AssertionError(f"unknown schema kind {k!r}")

    def record(self, d: Type) -> cs.Construct:
        assert d.name is not None
        name = d.name
        if name in self.records:
            return self.records[name]
        if name in self.pending:  # a struct that (indirectly) contains itself
            return cs.LazyBound(lambda: self.records[name])
        self.pending.add(name)
        try:
            members: list[cs.Construct] = []
            for f in d.fields:
                sub = self.of(f.type)
                if f.case is not None:
                    sub = cs.If(condition(d, f), Required(sub))
                members.append(Field(f.name, sub))
                key = f"{name}.{f.name}"
                if key in self.external:
                    members.append(Publish(key, f.name))
            record = Record(d, members)
        finally:
            self.pending.discard(name)
        self.records[name] = record
        return record
