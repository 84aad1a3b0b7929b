"""The cases, area by area (imported for their registration)."""

from __future__ import annotations

from . import commit, framing, leaf, resumption, welcome  # noqa: F401

__all__: list[str] = []
