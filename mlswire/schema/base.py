"""The vocabulary in which the RFC 9420 structures are declared.

A schema type is an ordinary annotated class: each field's annotation names its TLS
presentation type (``uint32``, ``opaque``, ``Vec[T]``, ``T | None`` for ``optional<T>``,
a nested struct or enum), and fields that only exist in some arms of a ``select`` carry a
:class:`Case` marker. Codecs never look at the classes directly; they ask
:func:`describe` for a tree of :class:`Type` descriptors and compile that once.
"""

from __future__ import annotations

import contextlib
import enum
import types
import typing
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, TypeVar, Union, get_args, get_origin

import msgspec

T = TypeVar("T")


# ---------------------------------------------------------------------------
# Markers placed in ``Annotated[...]`` metadata.


@dataclass(frozen=True)
class UInt:
    """A fixed-width big-endian unsigned integer of ``size`` bytes."""

    size: int


@dataclass(frozen=True)
class VarOpaque:
    """``opaque x<V>``: bytes behind a variable-length integer header."""


@dataclass(frozen=True)
class FixedOpaque:
    """``opaque x[n]``."""

    size: int


@dataclass(frozen=True)
class VarVector:
    """``T x<V>``: a vector of elements behind a variable-length byte-count header."""


@dataclass(frozen=True)
class Padding:
    """``opaque padding[length_of_padding]``: zero bytes up to the end of the input."""


@dataclass(frozen=True)
class Named:
    """Gives a type alias its RFC name (``HPKEPublicKey``, ``ProposalRef``...)."""

    name: str


@dataclass(frozen=True)
class Case:
    """Marks a field that exists only in some arms of a ``select``.

    ``on`` is the discriminant exactly as the RFC writes it: ``"Sender.sender_type"``
    (a field of this struct), ``"PublicMessage.content.sender.sender_type"`` (a path
    from this struct) or ``"FramedContent.content_type"`` written from inside another
    struct, in which case the value comes from the decoding context (the enclosing
    message, or the caller). ``values`` are the arms in which the field is present;
    ``otherwise=True`` makes it the arm for every value the schema does not name
    (how mlswire carries unknown proposal and credential types).
    """

    on: str
    values: tuple[int, ...] = ()
    otherwise: bool = False


def when(on: str, *values: int) -> Case:
    return Case(on, tuple(int(v) for v in values))


def otherwise(on: str) -> Case:
    return Case(on, (), True)


# ---------------------------------------------------------------------------
# The primitive types, as annotations.

uint8 = Annotated[int, UInt(1)]
uint16 = Annotated[int, UInt(2)]
uint32 = Annotated[int, UInt(4)]
uint64 = Annotated[int, UInt(8)]
opaque = Annotated[bytes, VarOpaque()]
padding = Annotated[bytes, Padding()]
Vec = Annotated[tuple[T, ...], VarVector()]


# ---------------------------------------------------------------------------
# Enums.


class Enum(enum.IntEnum):
    """An RFC 9420 ``enum``: a closed set; other values are a decode error.

    Subclasses set ``__wire_size__`` (bytes on the wire).
    """

    __wire_size__: ClassVar[int] = 1

    def __repr__(self) -> str:
        return f"{type(self).__name__}.{self.name}"

    __str__ = __repr__


class OpenEnum(Enum):
    """A ``uint16`` registry type (cipher suites, extension types, proposal types,
    credential types, wire formats): values the schema does not name, GREASE values
    included, are kept as members named ``unknown_0x....`` so they round-trip."""

    __wire_size__: ClassVar[int] = 2

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, int) or not 0 <= value < 1 << (8 * cls.__wire_size__):
            return None
        member = int.__new__(cls, value)
        member._name_ = f"unknown_0x{value:04x}"
        member._value_ = value
        # Cache so that the same unknown value always maps to the same object.
        return cls._value2member_map_.setdefault(value, member)

    @property
    def known(self) -> bool:
        return not self._name_.startswith("unknown_")


def is_grease(value: int) -> bool:
    """RFC 9420 §13.5: the fifteen GREASE values 0x0A0A, 0x1A1A, ..., 0xEAEA (0xFAFA lies
    in the private-use range 0xF000-0xFFFF and is not one)."""
    high = value >> 12
    return value & 0x0F0F == 0x0A0A and (value >> 4) & 0xF == high and high != 0xF


# ---------------------------------------------------------------------------
# Structs.


@typing.dataclass_transform(
    kw_only_default=True, frozen_default=True, field_specifiers=(msgspec.field,)
)
class _StructMeta(msgspec.StructMeta):
    # Every schema struct is immutable and keyword-only: RFC field order puts optional
    # ``select`` arms before required fields (LeafNode, PreSharedKeyID...), and
    # keywords keep construction readable.
    def __new__(mcls, name: str, bases: Any, ns: dict[str, Any], **kw: Any) -> Any:
        kw.setdefault("kw_only", True)
        kw.setdefault("frozen", True)
        return super().__new__(mcls, name, bases, ns, **kw)


class Struct(msgspec.Struct, metaclass=_StructMeta):
    """Base of every RFC 9420 struct: an immutable, typed value with a readable repr."""

    # The RFC name, when it differs from the class name.
    __rfc_name__: ClassVar[str | None] = None


# ---------------------------------------------------------------------------
# Descriptors: what codecs compile.


@dataclass(eq=False)
class Type:
    """A node of the descriptor tree. ``kind`` is one of: uint, opaque, fixed, vector,
    optional, enum, struct, padding. ``name`` is the RFC name where the type has one."""

    kind: str
    name: str | None = None
    size: int = 0  # uint / fixed / enum: byte width or length
    elem: Type | None = None  # vector / optional element
    cls: Any = None  # enum class or struct class
    fields: list[Field] = field(default_factory=list)  # struct fields, filled lazily

    def rfc(self) -> str:
        """The type as the RFC presentation language writes it."""
        if self.name:
            return self.name
        if self.kind == "uint":
            return f"uint{8 * self.size}"
        if self.kind in ("opaque", "fixed", "padding"):
            return "opaque"
        if self.kind == "optional":
            assert self.elem is not None
            return f"optional<{self.elem.rfc()}>"
        if self.kind == "vector":
            assert self.elem is not None
            return self.elem.rfc()
        return self.kind

    def suffix(self) -> str:
        """What follows the field name: ``<V>`` or ``[n]`` (nothing for a named alias,
        whose own definition carries it)."""
        if self.name:
            return ""
        if self.kind in ("opaque", "vector"):
            return "<V>"
        if self.kind == "fixed":
            return f"[{self.size}]"
        if self.kind == "padding":
            return "[length_of_padding]"
        return ""


@dataclass(eq=False)
class Field:
    name: str
    type: Type
    case: Case | None = None
    default: Any = msgspec.NODEFAULT


_descriptors: dict[Any, Type] = {}


def describe(tp: Any) -> Type:
    """The descriptor of an annotation or schema class (cached)."""
    try:
        return _descriptors[tp]
    except (KeyError, TypeError):
        pass
    desc = _describe(tp)
    with contextlib.suppress(TypeError):  # unhashable annotations are not cached
        _descriptors[tp] = desc
    return desc


def _describe(tp: Any) -> Type:
    if get_origin(tp) is Annotated:
        base, *meta = get_args(tp)
        name = next((m.name for m in meta if isinstance(m, Named)), None)
        for m in meta:
            if isinstance(m, UInt):
                return Type("uint", name, size=m.size)
            if isinstance(m, VarOpaque):
                return Type("opaque", name)
            if isinstance(m, FixedOpaque):
                return Type("fixed", name, size=m.size)
            if isinstance(m, Padding):
                return Type("padding", name)
            if isinstance(m, VarVector):
                (elem,) = get_args(base)[:1]
                return Type("vector", name, elem=describe(elem))
        inner = describe(base)
        if name is None:
            return inner
        renamed = Type(inner.kind, name, inner.size, inner.elem, inner.cls)
        renamed.fields = inner.fields
        return renamed
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"unsupported union {tp!r}")
        return Type("optional", elem=describe(args[0]))
    if isinstance(tp, type) and issubclass(tp, Enum):
        return Type("enum", tp.__name__, size=tp.__wire_size__, cls=tp)
    if isinstance(tp, type) and issubclass(tp, Struct):
        desc = Type("struct", tp.__rfc_name__ or tp.__name__, cls=tp)
        # Register before resolving fields so that references resolve to this object.
        _descriptors[tp] = desc
        desc.fields = _struct_fields(tp)
        return desc
    raise TypeError(f"not a schema type: {tp!r}")


def _struct_fields(cls: type[Struct]) -> list[Field]:
    hints = typing.get_type_hints(cls, include_extras=True)
    defaults = dict(
        zip(
            cls.__struct_fields__[len(cls.__struct_fields__) - len(cls.__struct_defaults__) :],
            cls.__struct_defaults__,
            strict=True,
        )
    )
    out = []
    for name in cls.__struct_fields__:
        tp = hints[name]
        case = None
        if get_origin(tp) is Annotated:
            base, *meta = get_args(tp)
            cases = [m for m in meta if isinstance(m, Case)]
            if cases:
                case = cases[0]
                rest = [m for m in meta if not isinstance(m, Case)]
                tp = Annotated[(base, *rest)] if rest else base
                # A select arm is present or absent; its Python type is ``X | None``.
                if get_origin(tp) in (Union, types.UnionType):
                    (tp,) = [a for a in get_args(tp) if a is not type(None)]
        out.append(Field(name, describe(tp), case, defaults.get(name, msgspec.NODEFAULT)))
    return out


# ---------------------------------------------------------------------------
# The registry of named types (structs, enums and aliases), by RFC name.

_registry: dict[str, Any] = {}


def _register_primitives() -> None:
    for name, tp in (
        ("uint8", uint8),
        ("uint16", uint16),
        ("uint32", uint32),
        ("uint64", uint64),
        ("opaque", opaque),
    ):
        _registry[name] = tp


def register(module: types.ModuleType) -> None:
    """Register every schema type a module defines (classes and ``Named`` aliases)."""
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, (Struct, Enum))
            and value
            not in (
                Struct,
                Enum,
                OpenEnum,
            )
        ):
            _registry[getattr(value, "__rfc_name__", None) or value.__name__] = value
        elif get_origin(value) is Annotated:
            names = [m.name for m in get_args(value)[1:] if isinstance(m, Named)]
            if names:
                _registry[names[0]] = value


def lookup(name_or_type: Any) -> Any:
    """The schema type for an RFC name (``"MLSMessage"``) or the type itself."""
    if isinstance(name_or_type, str):
        try:
            return _registry[name_or_type]
        except KeyError:
            raise KeyError(f"unknown MLS type {name_or_type!r}") from None
    return name_or_type


def registered() -> dict[str, Any]:
    """Every registered type, by RFC name."""
    return dict(_registry)


_register_primitives()
