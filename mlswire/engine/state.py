"""Former home of the group's persistent format, kept so that imports keep working:
the format now lives in :mod:`mlswire.engine.group.snapshot`."""

from __future__ import annotations

from .group.snapshot import FORMAT, FORMAT_VERSION, GroupSnapshot, decode_snapshot, encode_snapshot

__all__ = ["FORMAT", "FORMAT_VERSION", "GroupSnapshot", "decode_snapshot", "encode_snapshot"]
