"""The MLS data structures of RFC 9420, defined once (types only, no I/O)."""

from .base import (
    Case,
    Enum,
    OpenEnum,
    Struct,
    Type,
    describe,
    is_grease,
    lookup,
    registered,
)
from .rfc9420 import *  # noqa: F403
from .rfc9420 import __all__ as _rfc_names

__all__ = [
    "Case",
    "Enum",
    "OpenEnum",
    "Struct",
    "Type",
    "describe",
    "is_grease",
    "lookup",
    "registered",
    *_rfc_names,
]
