"""The MLS group engine (RFC 9420 §10-§12): clients, KeyPackages, groups, commits.

A sans-I/O engine: every method takes bytes (MLSMessages) and returns bytes or result
objects; nothing here does I/O. Randomness comes from an injectable ``rng``
(``rng(n) -> n bytes``), so runs are reproducible in tests.

>>> from mlswire.engine.group import Client
>>> alice, bob = Client.generate(b"alice"), Client.generate(b"bob")
>>> group = alice.create_group(b"team")
>>> out = group.add_members([bob.key_package()])
>>> group.merge_pending_commit()
>>> bob.join_group(out.welcome).process(group.encrypt(b"hi")).data
b'hi'

The modules, named after the RFC's operations (docs/GROUP_ENGINE.md has the map):
:mod:`.config`, :mod:`.results`, :mod:`.epoch`, :mod:`.client`, :mod:`.creation`,
:mod:`.group_info`, :mod:`.external`, :mod:`.resumption`, :mod:`.public` and
:mod:`.public_group` (no secrets), :mod:`.receive`, :mod:`.commit`, :mod:`.staged`,
:mod:`.lifecycle`, :mod:`.snapshot` and the core :mod:`.group`.
"""

from __future__ import annotations

from .client import Client, default_capabilities
from .config import DEFAULT_LIFETIME, MAX_LIFETIME, GroupConfig
from .external import external_proposal, external_senders_extension
from .group import Group
from .lifecycle import GroupStatus
from .public_group import PublicGroup
from .results import ApplicationMessage, CommitOutput, KeyPackageSecrets, Member, ProposalMessage
from .staged import PublicStagedCommit, StagedCommit

__all__ = [
    "DEFAULT_LIFETIME",
    "MAX_LIFETIME",
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
    "default_capabilities",
    "external_proposal",
    "external_senders_extension",
]
