"""The MLS engine: the application-facing names in one import.

>>> from mlswire.engine import Client, GroupConfig
>>> client = Client.generate(b"alice", config=GroupConfig(max_past_epochs=2))
>>> client.create_group(b"team").config.max_past_epochs
2

The names load on first use (PEP 562), so importing one engine module (say
``mlswire.engine.tree_math``) does not load the whole group engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .group import (
        ApplicationMessage,
        Client,
        CommitOutput,
        Group,
        GroupConfig,
        GroupStatus,
        KeyPackageSecrets,
        Member,
        ProposalMessage,
        PublicGroup,
        PublicStagedCommit,
        StagedCommit,
        external_proposal,
        external_senders_extension,
    )
    from .validation import ValidationPolicy

_HOME = {
    "ApplicationMessage": "group",
    "Client": "group",
    "CommitOutput": "group",
    "Group": "group",
    "GroupConfig": "group",
    "GroupStatus": "group",
    "KeyPackageSecrets": "group",
    "Member": "group",
    "ProposalMessage": "group",
    "PublicGroup": "group",
    "PublicStagedCommit": "group",
    "StagedCommit": "group",
    "ValidationPolicy": "validation",
    "external_proposal": "group",
    "external_senders_extension": "group",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


__all__ = [
    "ApplicationMessage",
    "Client",
    "CommitOutput",
    "Group",
    "GroupConfig",
    "GroupStatus",
    "KeyPackageSecrets",
    "Member",
    "ProposalMessage",
    "PublicGroup",
    "PublicStagedCommit",
    "StagedCommit",
    "ValidationPolicy",
    "external_proposal",
    "external_senders_extension",
]
