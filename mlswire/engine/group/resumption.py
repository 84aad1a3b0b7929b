"""Resumption (§11.2 ReInit, §11.3 branch): the successor group's first commit with a
resumption PSK, and the joiner's check of a Welcome against the old group
(§12.4.3.1, last bullet)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ...crypto.primitives import Rng
from ...errors import StateError, UsageError, ValidationError
from ...schema import CipherSuite as SuiteId
from ...schema import (
    Extension,
    GroupContext,
    LeafNode,
    PreSharedKeyID,
    Proposal,
    ProposalType,
    ProtocolVersion,
    ReInit,
    ResumptionPSKUsage,
)
from .. import psk as psk_mod
from ..ratchet_tree import RatchetTree
from ..validation import ValidationPolicy
from ._wire import add_proposal, psk_proposal, random_bytes
from .commit import create_commit
from .config import GroupConfig
from .results import CommitOutput

if TYPE_CHECKING:
    from .client import Client
    from .group import Group


def check_resumed(
    psks: Sequence[PreSharedKeyID],
    context: GroupContext,
    tree: RatchetTree,
    old: Group | None,
    policy: ValidationPolicy,
) -> None:
    """§12.4.3.1, last bullet: a Welcome whose reinit/branch PSK ties the new group to
    an old one starts the group the old one allows."""
    psk = psk_mod.resumed_group_psk(psks)
    if psk is None:
        return
    usage = psk.usage
    assert usage is not None  # resumed_group_psk picks usage reinit or branch
    if old is None:
        raise UsageError(
            f"RFC 9420 §12.4.3.1: a Welcome with a {usage.name} PSK is checked against the "
            "old group: pass resumed_from=old_group"
        )
    if psk.psk_group_id != old.group_id:
        raise ValidationError(
            f"RFC 9420 §12.4.3.1: the {usage.name} PSK names the old group",
            f"names group {(psk.psk_group_id or b'').hex()}, resumed from {old.group_id.hex()}",
            "GroupSecrets.psks",
        )
    where = "GroupInfo.group_context"
    old_leaves, new_leaves = _leaf_nodes(old._state.tree), _leaf_nodes(tree)
    if usage == ResumptionPSKUsage.reinit:
        reinit = old.pending_reinit
        if reinit is None or psk.psk_epoch != old.epoch:
            raise ValidationError(
                "RFC 9420 §12.4.3.1: the last Commit to the old group contains a ReInit",
                f"PSK epoch {psk.psk_epoch}, old group at epoch {old.epoch}"
                + ("" if reinit else " with no ReInit committed"),
                "GroupSecrets.psks",
            )
        for name, got, want in (
            ("group_id", context.group_id, reinit.group_id),
            ("version", context.version, reinit.version),
            ("cipher_suite", context.cipher_suite, reinit.cipher_suite),
            ("extensions", tuple(context.extensions), tuple(reinit.extensions)),
        ):
            if got != want:
                raise ValidationError(
                    "RFC 9420 §12.4.3.1: the new group matches the old group's ReInit",
                    f"{name} differs",
                    f"{where}.{name}",
                )
        missing = policy.missing_clients(old_leaves, new_leaves)
        rule = "every member of the old group is a member of the reinitialized group"
    else:
        was = old._state.context
        if (context.version, context.cipher_suite) != (was.version, was.cipher_suite):
            raise ValidationError(
                "RFC 9420 §12.4.3.1: a branch keeps the old group's version and cipher_suite",
                f"0x{int(context.cipher_suite):04x} from 0x{int(was.cipher_suite):04x}",
                where,
            )
        missing = policy.missing_clients(new_leaves, old_leaves)
        rule = "the members of a branch are members of the old group"
    if missing:
        raise ValidationError(
            f"RFC 9420 §12.4.3.1: {rule}",
            f"{len(missing)} not, e.g. {missing[0].credential!r}",
            "GroupInfo.extensions.ratchet_tree",
        )


def _leaf_nodes(tree: RatchetTree) -> list[LeafNode]:
    return [leaf for i in tree.members() if (leaf := tree.leaf(i)) is not None]


def reinit_proposal(
    group: Group,
    group_id: bytes | None,
    suite: int | None,
    extensions: Sequence[Extension],
    rng: Rng | None,
) -> Proposal:
    return Proposal(
        proposal_type=ProposalType.reinit,
        reinit=ReInit(
            group_id=group_id if group_id is not None else random_bytes(rng, 16),
            version=ProtocolVersion.mls10,
            cipher_suite=SuiteId(suite if suite is not None else group.cipher_suite),
            extensions=tuple(extensions),
        ),
    )


def reinit_successor(
    group: Group,
    key_packages: Sequence[bytes],
    client: Client | None,
    config: GroupConfig | None,
) -> tuple[Group, CommitOutput]:
    reinit = group.pending_reinit
    if reinit is None:
        raise UsageError("no ReInit was committed in this group")
    owner = client or group.client
    if owner.suite_id != int(reinit.cipher_suite):
        raise UsageError(
            f"the ReInit asks for suite 0x{int(reinit.cipher_suite):04x}: pass a client "
            "of that suite"
        )
    return successor(
        group,
        owner,
        reinit.group_id,
        tuple(reinit.extensions),
        key_packages,
        ResumptionPSKUsage.reinit,
        config or group.config,
    )


def successor(
    group: Group,
    owner: Client,
    group_id: bytes,
    extensions: tuple[Extension, ...],
    key_packages: Sequence[bytes],
    usage: ResumptionPSKUsage,
    config: GroupConfig,
) -> tuple[Group, CommitOutput]:
    """A new group owned by ``owner`` whose first commit adds ``key_packages`` and ties
    it to ``group``'s current epoch by a resumption PSK with ``usage``."""
    rng = group._rng
    new = owner.create_group(group_id, extensions=extensions, config=config, rng=rng)
    epoch = group.epoch
    psk_value = group._resumption.get(epoch)
    if psk_value is None:  # pragma: no cover - the current epoch's is always kept
        raise StateError(f"no resumption PSK for epoch {epoch}")
    new._foreign_psks[(group.group_id, epoch)] = psk_value
    psk = psk_mod.resumption_psk_id(
        usage, group.group_id, epoch, psk_mod.fresh_psk_nonce(new._state.suite, rng)
    )
    proposals = [add_proposal(kp) for kp in key_packages]
    proposals.append(psk_proposal(psk))
    out = create_commit(new, proposals, update_path=False, psk_usages=(usage,))
    new.merge_pending_commit()
    new._foreign_psks.clear()
    return new, out


__all__ = ["check_resumed", "reinit_proposal", "reinit_successor", "successor"]
