"""The group's lifecycle: one status and one table of what each status allows, checked
in one place (:func:`require`), as h11 writes its connection states as tables.

=================  =====================================================================
status             allows
=================  =====================================================================
OPERATIONAL        process, encrypt, propose, commit, branch
PENDING_COMMIT     process, encrypt, merge_pending, branch (a commit of ours awaits merge
                   or its echo; proposing is refused: a proposal of this epoch would be
                   orphaned when our commit moves the group on, and a peer in the new
                   epoch would refuse it as too old)
REINIT             reinit_successor (a ReInit was merged: wait for, or create, the new
                   group)
REMOVED            nothing but views and persistence
=================  =====================================================================

Views (epoch, members, ``group_info()``, ``export_secret()``, ``to_bytes()``),
``clear_pending_commit()`` and ``clear_pending_proposals()`` are allowed in every status;
so is processing a late application message of a kept past epoch.
"""

from __future__ import annotations

import enum

from ...errors import UsageError


class GroupStatus(enum.Enum):
    OPERATIONAL = "operational"
    PENDING_COMMIT = "pending commit"
    REINIT = "reinit pending"
    REMOVED = "removed"


ALLOWED: dict[GroupStatus, frozenset[str]] = {
    GroupStatus.OPERATIONAL: frozenset({"process", "encrypt", "propose", "commit", "branch"}),
    GroupStatus.PENDING_COMMIT: frozenset({"process", "encrypt", "merge_pending", "branch"}),
    GroupStatus.REINIT: frozenset({"reinit_successor"}),
    GroupStatus.REMOVED: frozenset(),
}

OPERATIONS = frozenset().union(*ALLOWED.values())

_WHY = {
    GroupStatus.OPERATIONAL: "no commit of ours is pending",
    GroupStatus.PENDING_COMMIT: "a commit of ours is already pending: merge or clear it first",
    GroupStatus.REINIT: "",
    GroupStatus.REMOVED: "",
}


def require(status: GroupStatus, operation: str, inactive_reason: str) -> None:
    """Raise :class:`UsageError` unless ``status`` allows ``operation``."""
    assert operation in OPERATIONS, operation
    if operation in ALLOWED[status]:
        return
    if status in (GroupStatus.REINIT, GroupStatus.REMOVED):
        if operation == "reinit_successor":
            raise UsageError("no ReInit was committed in this group")
        raise UsageError(f"the group can no longer be used: {inactive_reason}")
    if operation == "reinit_successor":
        raise UsageError("no ReInit was committed in this group")
    raise UsageError(f"{operation} is not allowed while {_WHY[status]}")


__all__ = ["ALLOWED", "GroupStatus", "require"]
