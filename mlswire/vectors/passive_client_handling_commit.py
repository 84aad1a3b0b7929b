"""passive-client-handling-commit.json: join from a Welcome and follow the group (see _passive)."""

from __future__ import annotations

from ._passive import KEYS, check

FAMILY = "passive-client-handling-commit"

__all__ = ["FAMILY", "KEYS", "check"]
